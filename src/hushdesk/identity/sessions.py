"""Server-side dashboard sessions.

The cookie carries a random secret; the database stores only its SHA-256, so a copy of the
database cannot be replayed as a cookie. A session ends at the idle timeout, the absolute
timeout or logout, whichever comes first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hushdesk.identity.models import Membership, User, WebSession
from hushdesk.identity.tokens import new_token, token_digest
from hushdesk.infra.db.base import utcnow
from hushdesk.workspaces.models import Workspace

IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)
# Writing last_seen_at on every request would turn every page view into a write; a minute of
# slack on a 30-minute idle timeout is immaterial.
_TOUCH_INTERVAL = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The principal behind a dashboard request."""

    session_id: uuid.UUID
    user: User
    workspace: Workspace
    role: str
    csrf_token: str
    # The idle clock is due a reset (see ``do_touch_session``).
    needs_touch: bool


def do_start_session(session: Session, *, user_id: uuid.UUID, workspace_id: uuid.UUID) -> str:
    """Create a session and return the cookie secret. Flushes; never commits."""
    secret = new_token()
    now = utcnow()
    session.add(
        WebSession(
            token_hash=token_digest(secret),
            user_id=user_id,
            workspace_id=workspace_id,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_TIMEOUT,
        )
    )
    session.flush()
    return secret


def access_session(session: Session, secret: str) -> SignedIn | None:
    """The signed-in principal for a cookie secret, or None if the session is unknown,
    revoked, idle too long or past its absolute lifetime. Reads only: the caller resets the
    idle clock with ``do_touch_session`` when ``needs_touch`` says so."""
    row = session.scalar(select(WebSession).where(WebSession.token_hash == token_digest(secret)))
    now = utcnow()
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= now
        or row.last_seen_at + IDLE_TIMEOUT <= now
    ):
        return None
    found = session.execute(
        select(User, Workspace, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(User.id == row.user_id, Workspace.id == row.workspace_id)
    ).one_or_none()
    if found is None:
        return None
    user, workspace, role = found
    return SignedIn(
        session_id=row.id,
        user=user,
        workspace=workspace,
        role=role,
        csrf_token=csrf_token_for(secret),
        needs_touch=now - row.last_seen_at >= _TOUCH_INTERVAL,
    )


def do_touch_session(session: Session, *, session_id: uuid.UUID) -> None:
    """Reset the idle clock of a live session. Idempotent; flushes, never commits."""
    session.execute(
        update(WebSession)
        .where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
        .values(last_seen_at=utcnow())
    )


def do_end_session(session: Session, *, session_id: uuid.UUID) -> None:
    row = session.get(WebSession, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()


def do_end_all_sessions(session: Session, *, user_id: uuid.UUID) -> int:
    """End every live session of ``user_id`` ("sign out everywhere"). Returns how many."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def do_end_session_by_secret(session: Session, *, secret: str) -> None:
    """End the session a cookie secret names, if any (used at sign-in, so that a session id
    planted before sign-in can never become a signed-in one)."""
    session.execute(
        update(WebSession)
        .where(WebSession.token_hash == token_digest(secret), WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def csrf_token_for(secret: str) -> str:
    """The CSRF token of a session: derived from the cookie secret, so it needs no storage and
    a page from one session cannot be replayed against another."""
    return hashlib.sha256(b"hushdesk-csrf:" + secret.encode("utf-8")).hexdigest()


def csrf_token_matches(secret: str, presented: str) -> bool:
    return hmac.compare_digest(csrf_token_for(secret), presented)
