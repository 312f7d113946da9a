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

from hushdesk.identity.errors import SignInAgainRequired, StepUpRequired
from hushdesk.identity.login import second_factor_exists
from hushdesk.identity.models import Membership, Role, User, WebSession
from hushdesk.identity.principal import Principal, user_principal
from hushdesk.identity.tokens import new_token, token_digest
from hushdesk.infra.db.base import utcnow
from hushdesk.workspaces.models import Workspace

# Defaults; each workspace may set its own (``Workspace.session_idle_minutes`` and
# ``session_absolute_minutes``), within the bounds below.
IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)
IDLE_MINUTES_RANGE = (5, 24 * 60)
ABSOLUTE_MINUTES_RANGE = (15, 30 * 24 * 60)
# A session that has presented only a password has this long to present the second factor.
SECOND_FACTOR_WINDOW = dt.timedelta(minutes=10)
# Sensitive actions (exports, erasure, key rotation, adding an admin, API keys, security policy)
# need a second factor presented at most this long ago.
STEP_UP_WINDOW = dt.timedelta(minutes=5)
# A first second factor may be added this long after signing in, no later.
ENROLMENT_WINDOW = dt.timedelta(minutes=30)
# Owners and admins must have a second factor before they can do anything else.
ROLES_REQUIRING_MFA = frozenset({Role.OWNER, Role.ADMIN})
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
    principal: Principal
    # The password was right; the second factor is still to come.
    awaiting_second_factor: bool
    # When this session last presented a second factor (None: never).
    second_factor_at: dt.datetime | None
    # The user has a confirmed TOTP factor or a passkey.
    has_mfa: bool
    # When this session was started (by a password, a passkey, setup or an invitation).
    signed_in_at: dt.datetime

    @property
    def must_enrol_mfa(self) -> bool:
        """Owners and admins, and everyone in a workspace that enforces MFA, must set up a
        second factor before anything else."""
        return not self.has_mfa and (self.role in ROLES_REQUIRING_MFA or bool(self.workspace.mfa_required))

    def check_may_add_second_factor(self, now: dt.datetime | None = None) -> None:
        """Adding a second factor is a way to keep access to the account, so it needs proof
        that the account's owner is at the keyboard: a second factor presented within the
        step-up window, or, for the first factor, a sign-in within ``ENROLMENT_WINDOW``.
        Raises ``StepUpRequired`` or ``SignInAgainRequired``."""
        if self.has_mfa:
            if not self.second_factor_is_fresh(now):
                raise StepUpRequired("/account/security")
        elif not self.signed_in_recently(now):
            raise SignInAgainRequired()

    def signed_in_recently(self, now: dt.datetime | None = None) -> bool:
        return (now or utcnow()) - self.signed_in_at < ENROLMENT_WINDOW

    def second_factor_is_fresh(self, now: dt.datetime | None = None) -> bool:
        """Whether a second factor was presented within ``STEP_UP_WINDOW``."""
        if self.second_factor_at is None:
            return False
        return (now or utcnow()) - self.second_factor_at < STEP_UP_WINDOW


def do_start_session(
    session: Session,
    *,
    user_id: uuid.UUID,
    workspace_id: uuid.UUID,
    awaiting_second_factor: bool = False,
    second_factor_presented: bool = False,
    user_agent: str | None = None,
    address: str | None = None,
) -> str:
    """Create a session and return the cookie secret. A session awaiting its second factor
    lives at most ``SECOND_FACTOR_WINDOW``; any other lives the workspace's absolute timeout.
    Flushes; never commits."""
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise LookupError("no such workspace")
    secret = new_token()
    now = utcnow()
    lifetime = SECOND_FACTOR_WINDOW if awaiting_second_factor else absolute_timeout(workspace)
    session.add(
        WebSession(
            token_hash=token_digest(secret),
            user_id=user_id,
            workspace_id=workspace_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            awaiting_second_factor=awaiting_second_factor,
            second_factor_at=now if second_factor_presented else None,
            user_agent=(user_agent or "")[:200] or None,
            address=(address or "")[:64] or None,
        )
    )
    session.flush()
    return secret


def do_complete_second_factor(session: Session, *, session_id: uuid.UUID) -> str:
    """Record that the session presented its second factor (at sign-in or a step-up), and
    rotate its id: a privilege change, so the old cookie stops working. Returns the new cookie
    secret. A session that was awaiting its second factor now lives the workspace's absolute
    timeout from its start. Flushes; never commits."""
    row = session.get(WebSession, session_id)
    if row is None or row.revoked_at is not None:
        raise LookupError("no such live session")
    workspace = session.get(Workspace, row.workspace_id)
    assert workspace is not None
    now = utcnow()
    if row.awaiting_second_factor:
        row.awaiting_second_factor = False
        row.expires_at = row.created_at + absolute_timeout(workspace)
    row.second_factor_at = now
    row.last_seen_at = now
    secret = new_token()
    row.token_hash = token_digest(secret)
    session.flush()
    return secret


def do_rotate_session(session: Session, *, session_id: uuid.UUID) -> str:
    """Give a live session a new id (cookie secret) and return it; the old one stops working.
    Used at every privilege change of the session's own user. Flushes; never commits."""
    row = session.get(WebSession, session_id)
    if row is None or row.revoked_at is not None:
        raise LookupError("no such live session")
    secret = new_token()
    row.token_hash = token_digest(secret)
    session.flush()
    return secret


def idle_timeout(workspace: Workspace) -> dt.timedelta:
    return dt.timedelta(minutes=workspace.session_idle_minutes)


def absolute_timeout(workspace: Workspace) -> dt.timedelta:
    return dt.timedelta(minutes=workspace.session_absolute_minutes)


def access_session(session: Session, secret: str) -> SignedIn | None:
    """The signed-in principal for a cookie secret, or None if the session is unknown,
    revoked, idle too long or past its absolute lifetime. Reads only: the caller resets the
    idle clock with ``do_touch_session`` when ``needs_touch`` says so."""
    row = session.scalar(select(WebSession).where(WebSession.token_hash == token_digest(secret)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    has_mfa = second_factor_exists(User.id).label("has_mfa")
    found = session.execute(
        select(User, Workspace, Membership.id, Membership.role, has_mfa)
        .join(Membership, Membership.user_id == User.id)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(User.id == row.user_id, Workspace.id == row.workspace_id)
    ).one_or_none()
    if found is None:
        return None
    user, workspace, membership_id, role, mfa = found
    # The workspace's own timeouts; the absolute one counts from the session's start.
    if (
        row.last_seen_at + idle_timeout(workspace) <= now
        or row.created_at + absolute_timeout(workspace) <= now
    ):
        return None
    return SignedIn(
        session_id=row.id,
        user=user,
        workspace=workspace,
        role=role,
        csrf_token=csrf_token_for(secret),
        needs_touch=now - row.last_seen_at >= _TOUCH_INTERVAL,
        principal=user_principal(
            workspace_id=workspace.id, user_id=user.id, membership_id=membership_id, role=role
        ),
        awaiting_second_factor=row.awaiting_second_factor,
        second_factor_at=row.second_factor_at,
        has_mfa=bool(mfa),
        signed_in_at=row.created_at,
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


def do_end_sessions_in_workspace(session: Session, *, user_id: uuid.UUID, workspace_id: uuid.UUID) -> int:
    """End every live session of ``user_id`` in ``workspace_id`` (their role there changed or
    they were removed). Returns how many. Flushes; never commits."""
    result = session.execute(
        update(WebSession)
        .where(
            WebSession.user_id == user_id,
            WebSession.workspace_id == workspace_id,
            WebSession.revoked_at.is_(None),
        )
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
