"""Password reset links issued by an owner or admin, and a member changing their own password.

There is no mail server in the embedded default, so a reset link is shown to whoever issued it
to pass on. A link holds 256 random bits (only their SHA-256 is stored), lives
``RESET_LIFETIME`` and works once; a newer link for the same person revokes the older ones.
Using it sets the password and ends every session of the account, everywhere. It does not
remove a second factor: an owner's or admin's account still asks for it at sign-in.

An account is installation-wide but a reset is issued from one workspace, so a link is only
issued for, and only works for, a person whose sole membership is in that workspace: an admin
of one business must not be able to take over someone's access to another.

Audit through ``record`` (see ``hushdesk.identity.mfa``); services flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hushdesk.identity.members import (
    LockedChange,
    OwnMembershipRefused,
    check_authority,
    issuer_may_still_act,
    lock_for_change,
)
from hushdesk.identity.mfa import RecordEvent
from hushdesk.identity.models import Membership, PasswordReset, User, WebSession
from hushdesk.identity.passwords import check_password_policy, hash_password, verify_password
from hushdesk.identity.principal import Principal
from hushdesk.identity.sessions import do_end_all_sessions, do_rotate_session
from hushdesk.identity.tokens import new_token, token_digest
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.errors import Conflict, Gone, HushdeskError, ValidationFailed
from hushdesk.workspaces.models import Workspace

RESET_LIFETIME = dt.timedelta(hours=1)


class ResetUnavailable(Gone):
    """Unknown, expired, used or revoked: one error for all."""

    code = "password_reset_unavailable"
    default_message = (
        "This password reset link is invalid, expired or already used. Ask an owner or admin for a new one."
    )


class ResetNotThisWorkspaces(Conflict):
    code = "reset_other_workspace"
    default_message = (
        "This person also belongs to another workspace, so their password is not this workspace's to "
        "reset: they can change it themselves on their account page."
    )


class CurrentPasswordMismatch(HushdeskError):
    """Not an ``Unauthenticated``: the form is shown again, nobody is signed out."""

    code = "wrong_password"
    status = 401
    default_message = "Your current password is not right."


@dataclass(frozen=True, slots=True)
class NewPasswordReset:
    reset: PasswordReset
    # The link's secret: shown once to the issuer, never stored.
    token: str


@dataclass(frozen=True, slots=True)
class PasswordChange:
    # The session's new cookie secret (its id rotated).
    session_secret: str
    sessions_ended: int


def do_issue_password_reset(
    session: Session, principal: Principal, *, membership_id: uuid.UUID, record: RecordEvent
) -> NewPasswordReset:
    """Issue a reset link for the member ``membership_id`` of the principal's workspace,
    revoking their older live links. The team rules apply as to a change of their role (only an
    owner resets an owner's password; nobody their own: they change it on their account page).
    Records ``auth.password_reset_issued``. Raises ``NotFound``, the rules' errors or
    ``ResetNotThisWorkspaces`` before changing anything. Locks as ``lock_for_change``. Flushes;
    never commits."""
    locked = lock_for_change(session, principal, membership_id)
    _check_may_reset(locked)
    target = locked.target
    if _belongs_elsewhere(session, user_id=target.user_id, workspace_id=target.workspace_id):
        raise ResetNotThisWorkspaces()
    now = utcnow()
    older = _revoke_live_resets(session, user_id=target.user_id, now=now)
    token = new_token()
    reset = PasswordReset(
        workspace_id=target.workspace_id,
        user_id=target.user_id,
        token_hash=token_digest(token),
        issued_by_id=principal.id,
        expires_at=now + RESET_LIFETIME,
    )
    session.add(reset)
    session.flush()
    record(
        workspace_id=target.workspace_id,
        actor_id=str(principal.id),
        action="auth.password_reset_issued",
        target_kind="user",
        target_id=str(target.user_id),
        data={"reset_id": str(reset.id), "revoked_older": older},
    )
    return NewPasswordReset(reset=reset, token=token)


def access_password_reset(session: Session, token: str, *, for_update: bool = False) -> PasswordReset:
    """The live reset link the secret names. Raises ``ResetUnavailable`` for an unknown,
    expired, used or revoked one, for a person who has since left the issuing workspace or
    joined another, and when its issuer could no longer issue it (left, demoted, or the person
    has since become an owner and the issuer is not one). ``for_update`` row-locks it
    (PostgreSQL; SQLite writers hold the write lock), so two uses queue and the second finds it
    used."""
    query = select(PasswordReset).where(PasswordReset.token_hash == token_digest(token))
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    reset = session.scalar(query)
    if (
        reset is None
        or reset.used_at is not None
        or reset.revoked_at is not None
        or reset.expires_at <= utcnow()
    ):
        raise ResetUnavailable()
    target_role = session.scalar(
        select(Membership.role).where(
            Membership.user_id == reset.user_id, Membership.workspace_id == reset.workspace_id
        )
    )
    if target_role is None or _belongs_elsewhere(
        session, user_id=reset.user_id, workspace_id=reset.workspace_id
    ):
        raise ResetUnavailable()
    # The issuer's authority is checked again as it is now: a link issued by an admin for a
    # manager who has since become an owner, or by someone since demoted, opens nothing.
    if not issuer_may_still_act(
        session,
        issuer_id=reset.issued_by_id,
        workspace_id=reset.workspace_id,
        target_role=target_role,
        granting=None,
    ):
        raise ResetUnavailable()
    return reset


def account_of(session: Session, reset: PasswordReset) -> User:
    user = session.get(User, reset.user_id)
    assert user is not None  # the foreign key cascades: no reset outlives its account
    return user


def do_reset_password(session: Session, *, token: str, password: str, record: RecordEvent) -> User:
    """Set the account's password through a reset link, mark the link used, revoke the
    account's other live links and end every session of the account. Records
    ``auth.password_reset``. Raises ``ResetUnavailable`` or ``WeakPasswordError`` before
    changing anything. Locks the link's row. Flushes; never commits."""
    reset = access_password_reset(session, token, for_update=True)
    user = account_of(session, reset)
    workspace = session.get(Workspace, reset.workspace_id)
    personal = [user.display_name, user.email, *user.email.split("@"), workspace.name if workspace else ""]
    check_password_policy(password, personal=personal)
    now = utcnow()
    user.password_hash = hash_password(password)
    reset.used_at = now
    session.flush()
    _revoke_live_resets(session, user_id=user.id, now=now)
    ended = do_end_all_sessions(session, user_id=user.id)
    record(
        workspace_id=reset.workspace_id,
        actor_id=str(user.id),
        action="auth.password_reset",
        target_kind="user",
        target_id=str(user.id),
        data={"reset_id": str(reset.id), "sessions_ended": ended},
    )
    return user


def do_change_password(
    session: Session,
    *,
    user: User,
    session_id: uuid.UUID,
    workspace_id: uuid.UUID,
    current_password: str,
    new_password: str,
    record: RecordEvent,
) -> PasswordChange:
    """Change the signed-in user's own password: ends every other session of the account
    (everywhere), gives this one a new id, and revokes live reset links for the account.
    Records ``auth.password_changed`` in ``workspace_id``. Raises ``CurrentPasswordMismatch``
    (the caller throttles it as a failed sign-in), ``ValidationFailed`` (the same password again)
    or ``WeakPasswordError`` before changing anything. Flushes; never commits."""
    if not verify_password(user.password_hash, current_password):
        raise CurrentPasswordMismatch()
    if new_password == current_password:
        raise ValidationFailed("Choose a password different from your current one.")
    workspace = session.get(Workspace, workspace_id)
    personal = [user.display_name, user.email, *user.email.split("@"), workspace.name if workspace else ""]
    check_password_policy(new_password, personal=personal)
    now = utcnow()
    user.password_hash = hash_password(new_password)
    session.flush()
    _revoke_live_resets(session, user_id=user.id, now=now)
    ended = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user.id, WebSession.id != session_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    ended_count = int(getattr(ended, "rowcount", 0) or 0)
    secret = do_rotate_session(session, session_id=session_id)
    record(
        workspace_id=workspace_id,
        actor_id=str(user.id),
        action="auth.password_changed",
        target_kind="user",
        target_id=str(user.id),
        data={"sessions_ended": ended_count},
    )
    return PasswordChange(session_secret=secret, sessions_ended=ended_count)


def _check_may_reset(locked: LockedChange) -> None:
    check_authority(locked)
    if locked.actor.id == locked.target.id:
        raise OwnMembershipRefused("Change your own password on your account page.")


def _belongs_elsewhere(session: Session, *, user_id: uuid.UUID, workspace_id: uuid.UUID) -> bool:
    others = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.user_id == user_id, Membership.workspace_id != workspace_id)
    )
    return bool(others)


def _revoke_live_resets(session: Session, *, user_id: uuid.UUID, now: dt.datetime) -> int:
    result = session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.user_id == user_id,
            PasswordReset.used_at.is_(None),
            PasswordReset.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
