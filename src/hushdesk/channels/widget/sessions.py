"""Widget sessions: a visitor's short-lived, rotating, signed tokens, bound to one agent and
to the origin of the page that opened them.

1. The loader, running in the host page, asks for a session. The request's Origin must be one
   of the agent's allowed domains; the answer is a bootstrap token (60 s, single use).
2. The iframe (on Hushdesk's own origin) exchanges the bootstrap token for a session token
   (15 minutes), which it keeps in memory: the host page's scripts never see it.
3. Before it expires the iframe refreshes it: the generation goes up and the old token stops
   working. The session itself ends ``SESSION_LIFETIME`` after it opened, however often it is
   refreshed.

Tokens are HMAC-SHA256 signed under the workspace's widget key; the session row is checked on
every use, so ending a session (or erasing its contact) stops its token at once.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hushdesk.agents.models import WIDGET_KEY_PREFIX, Agent
from hushdesk.channels.widget.identity import VerifiedIdentity
from hushdesk.channels.widget.tokens import (
    InvalidWidgetTokenError,
    TokenKind,
    WidgetClaims,
    peek_key_id,
    sign_widget_token,
    verify_widget_token,
)
from hushdesk.conversations.contacts import do_find_or_create_contact
from hushdesk.conversations.models import Channel, Contact, WidgetSession
from hushdesk.crypto.columns import KEYRING_INFO_KEY
from hushdesk.crypto.errors import CryptoError
from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.models import DataKeyRecord, KeyPurpose, KeyStatus
from hushdesk.infra.errors import HushdeskError, NotFound
from hushdesk.infra.ids import uuid7

BOOTSTRAP_LIFETIME = dt.timedelta(seconds=60)
TOKEN_LIFETIME = dt.timedelta(minutes=15)
SESSION_LIFETIME = dt.timedelta(hours=12)
_WIDGET_KEY = re.compile(re.escape(WIDGET_KEY_PREFIX) + r"[a-z2-7]{26}")


class WidgetTokenRefused(HushdeskError):
    """401 for every refused visitor token (never a redirect to the dashboard's sign-in)."""

    status = 401
    code = "widget_token_invalid"
    default_message = "This chat session has ended. Reload the page to start again."


@dataclass(frozen=True, slots=True)
class Visitor:
    """A verified session token: the session row and its agent, both of one workspace."""

    widget_session: WidgetSession
    agent: Agent
    claims: WidgetClaims


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime


def agent_by_widget_key(session: Session, widget_key: str) -> Agent:
    """The agent with this publishable key. Raises ``NotFound`` (also for a malformed key)."""
    if not _WIDGET_KEY.fullmatch(widget_key):
        raise NotFound()
    agent = session.scalar(select(Agent).where(Agent.widget_key == widget_key))
    if agent is None:
        raise NotFound()
    return agent


def _keyring(session: Session) -> Keyring:
    keyring = session.info.get(KEYRING_INFO_KEY)
    if not isinstance(keyring, Keyring):
        raise RuntimeError("widget sessions need a session with the keyring")
    return keyring


def _sign(session: Session, claims_without_key: WidgetClaims) -> str:
    key = _keyring(session).data_key_for_writing(
        session, workspace_id=claims_without_key.workspace_id, purpose=KeyPurpose.WIDGET
    )
    claims = WidgetClaims(
        kind=claims_without_key.kind,
        workspace_id=claims_without_key.workspace_id,
        agent_id=claims_without_key.agent_id,
        session_id=claims_without_key.session_id,
        origin=claims_without_key.origin,
        generation=claims_without_key.generation,
        expires_at=claims_without_key.expires_at,
        key_id=key.id,
    )
    return sign_widget_token(claims, key=key.material)


def _verify(session: Session, token: str, *, kind: TokenKind, now: dt.datetime) -> WidgetClaims:
    try:
        workspace_id, key_id = peek_key_id(token)
        record = session.scalar(
            select(DataKeyRecord).where(
                DataKeyRecord.id == key_id,
                DataKeyRecord.workspace_id == workspace_id,
                DataKeyRecord.purpose == KeyPurpose.WIDGET.value,
                DataKeyRecord.status == KeyStatus.ACTIVE.value,
            )
        )
        if record is None:
            raise WidgetTokenRefused()
        key = _keyring(session).data_key_for_reading(session, key_id)
        claims = verify_widget_token(token, key=key.material, kind=kind, now=now)
    except (InvalidWidgetTokenError, CryptoError) as exc:
        raise WidgetTokenRefused() from exc
    if claims.workspace_id != workspace_id:
        raise WidgetTokenRefused()
    return claims


def do_open_widget_session(
    session: Session, *, agent: Agent, origin: str, identity: VerifiedIdentity | None, now: dt.datetime
) -> IssuedToken:
    """A new session of ``agent`` for a page on ``origin`` (already matched against the
    agent's domains) and its bootstrap token. A verified identity finds (or makes) the
    business's customer as a contact at once; an anonymous visitor gets one at consent."""
    contact: Contact | None = None
    if identity is not None:
        contact = do_find_or_create_contact(
            session,
            workspace_id=agent.workspace_id,
            channel=Channel.WIDGET.value,
            identifier=f"user:{identity.user_id}",
            verified=True,
            display_name=identity.name,
        )
    widget_session = WidgetSession(
        id=uuid7(),
        workspace_id=agent.workspace_id,
        agent_id=agent.id,
        origin=origin,
        contact_id=contact.id if contact else None,
        verified=contact is not None,
        generation=0,
        expires_at=now + SESSION_LIFETIME,
        created_at=now,
    )
    session.add(widget_session)
    session.flush()
    expires_at = _whole_seconds(now + BOOTSTRAP_LIFETIME)
    token = _sign(
        session, _claims(widget_session, kind=TokenKind.BOOTSTRAP, generation=0, expires_at=expires_at)
    )
    return IssuedToken(token, expires_at)


def do_exchange_bootstrap(
    session: Session, *, bootstrap: str, now: dt.datetime
) -> tuple[Visitor, IssuedToken]:
    """Trade a bootstrap token for the first session token, once: a second exchange of the same
    bootstrap token (someone else who read it) is refused. Raises ``WidgetTokenRefused``."""
    claims = _verify(session, bootstrap, kind=TokenKind.BOOTSTRAP, now=now)
    claimed = session.execute(
        update(WidgetSession)
        .where(
            WidgetSession.id == claims.session_id,
            WidgetSession.workspace_id == claims.workspace_id,
            WidgetSession.agent_id == claims.agent_id,
            WidgetSession.exchanged_at.is_(None),
            WidgetSession.ended_at.is_(None),
            WidgetSession.expires_at > now,
        )
        .values(exchanged_at=now, generation=1)
        .execution_options(synchronize_session=False)
    )
    if not getattr(claimed, "rowcount", 0):
        raise WidgetTokenRefused()
    visitor = _visitor(session, claims)
    session.refresh(visitor.widget_session)
    return visitor, _session_token(session, visitor.widget_session, generation=1, now=now)


def authenticate_visitor(session: Session, *, token: str, now: dt.datetime) -> Visitor:
    """The visitor a session token names, if it is the session's current token and the session
    is still open. Raises ``WidgetTokenRefused`` (401)."""
    claims = _verify(session, token, kind=TokenKind.SESSION, now=now)
    visitor = _visitor(session, claims)
    row = visitor.widget_session
    if row.generation != claims.generation or row.ended_at is not None or row.expires_at <= now:
        raise WidgetTokenRefused()
    if row.origin != claims.origin:
        raise WidgetTokenRefused()
    return visitor


def do_refresh_token(session: Session, *, visitor: Visitor, now: dt.datetime) -> IssuedToken:
    """Rotate: the next generation's token; the presented one stops working. Two refreshes of
    one token race on the generation and only one wins."""
    current = visitor.claims.generation
    rotated = session.execute(
        update(WidgetSession)
        .where(
            WidgetSession.id == visitor.widget_session.id,
            WidgetSession.workspace_id == visitor.widget_session.workspace_id,
            WidgetSession.generation == current,
        )
        .values(generation=current + 1)
        .execution_options(synchronize_session=False)
    )
    if not getattr(rotated, "rowcount", 0):
        raise WidgetTokenRefused()
    session.refresh(visitor.widget_session)
    return _session_token(session, visitor.widget_session, generation=current + 1, now=now)


def do_attach_contact(session: Session, *, visitor: Visitor) -> Contact:
    """The session's contact, made for an anonymous visitor on first need (a random visitor
    id: nothing in it identifies anyone). Flushes."""
    row = visitor.widget_session
    if row.contact_id is not None:
        contact = session.scalar(
            select(Contact).where(Contact.id == row.contact_id, Contact.workspace_id == row.workspace_id)
        )
        if contact is None:
            raise WidgetTokenRefused()
        return contact
    contact = do_find_or_create_contact(
        session,
        workspace_id=row.workspace_id,
        channel=Channel.WIDGET.value,
        identifier=f"visitor:{uuid.uuid4()}",
    )
    row.contact_id = contact.id
    session.flush()
    return contact


def _visitor(session: Session, claims: WidgetClaims) -> Visitor:
    row = session.scalar(
        select(WidgetSession).where(
            WidgetSession.id == claims.session_id, WidgetSession.workspace_id == claims.workspace_id
        )
    )
    if row is None or row.agent_id != claims.agent_id:
        raise WidgetTokenRefused()
    agent = session.scalar(
        select(Agent).where(Agent.id == row.agent_id, Agent.workspace_id == row.workspace_id)
    )
    if agent is None:
        raise WidgetTokenRefused()
    return Visitor(row, agent, claims)


def _session_token(session: Session, row: WidgetSession, *, generation: int, now: dt.datetime) -> IssuedToken:
    expires_at = _whole_seconds(min(now + TOKEN_LIFETIME, row.expires_at))
    token = _sign(session, _claims(row, kind=TokenKind.SESSION, generation=generation, expires_at=expires_at))
    return IssuedToken(token, expires_at)


def _claims(row: WidgetSession, *, kind: TokenKind, generation: int, expires_at: dt.datetime) -> WidgetClaims:
    return WidgetClaims(
        kind=kind,
        workspace_id=row.workspace_id,
        agent_id=row.agent_id,
        session_id=row.id,
        origin=row.origin,
        generation=generation,
        expires_at=expires_at,
        key_id=uuid.UUID(int=0),
    )


def _whole_seconds(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)
