"""Workspace members: listing them, changing their role and removing them, under the team rules.

The rules, for every change made through a principal (``check_member_change``):

- the acting member's role must hold ``member:manage`` *now* (it is read again under lock, so
  a principal loaded before a concurrent demotion acts with the role it has, not the one it had);
- only an owner may make an owner, or change or remove one; admins manage admins and below;
- the workspace's last owner can never be removed or demoted;
- nobody changes their own role or removes themselves.

Making someone an admin or an owner (here or by invitation) is a sensitive action: the web
layer asks for a fresh second factor first (``is_elevated_role``).

Any role change ends every session the member has in the workspace at once, so their next
request is made with the new role or not at all. A lowered role (one that loses any permission)
and a removal also revoke the API keys the member made in the workspace, since a key never
carries more than its creator's role held. Removal deletes the membership (its agent
assignments go with it, by foreign key) and the account itself when it was its last one.

Audit: ``hushdesk.identity`` may not import ``hushdesk.audit``, so the services take ``record``
(see ``hushdesk.identity.mfa``) and record in the caller's transaction. Services flush, never
commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from hushdesk.identity.api_keys import do_revoke_keys_created_by
from hushdesk.identity.login import second_factor_exists
from hushdesk.identity.mfa import RecordEvent
from hushdesk.identity.models import Invitation, Membership, PasswordReset, Role, User
from hushdesk.identity.permissions import ROLE_PERMISSIONS, Permission
from hushdesk.identity.principal import Principal
from hushdesk.identity.sessions import do_end_sessions_in_workspace
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

# Adding one of these is a sensitive action (a fresh second factor first).
ELEVATED_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class OwnMembershipRefused(PermissionDenied):
    code = "own_membership"
    default_message = "You cannot change your own role or remove yourself: ask another owner or admin."


class OwnerRequired(PermissionDenied):
    code = "owner_required"
    default_message = "Only an owner can make an owner, or change or remove one."


class LastOwnerRefused(Conflict):
    code = "last_owner"
    default_message = (
        "The workspace's last owner cannot be removed or demoted. Make someone else an owner first."
    )


@dataclass(frozen=True, slots=True)
class MemberRow:
    membership: Membership
    user: User
    has_second_factor: bool


@dataclass(frozen=True, slots=True)
class RoleChange:
    membership: Membership
    previous_role: str
    sessions_ended: int
    keys_revoked: int


@dataclass(frozen=True, slots=True)
class MemberRemoval:
    user_id: uuid.UUID
    role: str
    sessions_ended: int
    keys_revoked: int
    account_deleted: bool


def is_elevated_role(role: Role) -> bool:
    """Whether granting ``role`` is a sensitive action (owner or admin)."""
    return role in ELEVATED_ROLES


def permissions_of(role: str) -> frozenset[Permission]:
    """What ``role`` holds; an unknown role holds nothing."""
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()


def role_is_lowered(previous: str, new: str) -> bool:
    """Whether moving from ``previous`` to ``new`` loses any permission. Manager to support is
    lowered (support cannot change agents) and so is support to manager (managers cannot reply)."""
    return not permissions_of(new) >= permissions_of(previous)


def list_members(session: Session, principal: Principal) -> list[MemberRow]:
    """The members of the principal's workspace, owners first, then by name."""
    rank = {Role.OWNER.value: 0, Role.ADMIN.value: 1, Role.MANAGER.value: 2, Role.SUPPORT.value: 3}
    rows = session.execute(
        select(Membership, User, second_factor_exists(User.id))
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == principal.workspace_id)
        .order_by(User.display_name, User.email)
    ).all()
    members = [MemberRow(membership, user, bool(mfa)) for membership, user, mfa in rows]
    return sorted(members, key=lambda row: rank.get(row.membership.role, 4))


def access_membership_by_id(session: Session, principal: Principal, membership_id: uuid.UUID) -> Membership:
    """The membership ``membership_id`` of the principal's workspace. Raises ``NotFound`` for a
    missing one and for another workspace's alike."""
    membership = session.scalar(
        select(Membership).where(
            Membership.id == membership_id, Membership.workspace_id == principal.workspace_id
        )
    )
    if membership is None:
        raise NotFound()
    return membership


@dataclass(frozen=True, slots=True)
class LockedChange:
    """The acting member and the target, as they are now, with the workspace's owner count."""

    actor: Membership
    target: Membership
    owners: int


def lock_for_change(session: Session, principal: Principal, membership_id: uuid.UUID) -> LockedChange:
    """Lock, in one statement and in id order (so two changes never deadlock), the workspace's
    owner memberships, the actor's and the target's, and read them as they are now. On
    PostgreSQL a concurrent change to any of them waits for this transaction; on SQLite every
    writing transaction already holds the write lock. Raises ``NotFound`` when the target is not
    a membership of the principal's workspace, ``PermissionDenied`` when the principal is not a
    member (an API key)."""
    if principal.membership_id is None:
        raise PermissionDenied()
    rows = session.scalars(
        select(Membership)
        .where(
            Membership.workspace_id == principal.workspace_id,
            or_(
                Membership.role == Role.OWNER.value,
                Membership.id.in_([principal.membership_id, membership_id]),
            ),
        )
        .order_by(Membership.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    by_id = {row.id: row for row in rows}
    target = by_id.get(membership_id)
    if target is None:
        raise NotFound()
    actor = by_id.get(principal.membership_id)
    if actor is None:
        raise PermissionDenied()
    owners = sum(1 for row in rows if row.role == Role.OWNER.value)
    return LockedChange(actor=actor, target=target, owners=owners)


def check_may_grant(actor_role: str, role: Role) -> None:
    """Raises ``PermissionDenied`` when ``actor_role`` cannot manage members, and
    ``OwnerRequired`` when it would grant the owner role without being an owner."""
    if Permission.MEMBER_MANAGE not in permissions_of(actor_role):
        raise PermissionDenied()
    if role is Role.OWNER and actor_role != Role.OWNER.value:
        raise OwnerRequired()


def check_authority(locked: LockedChange, *, granting: Role | None = None) -> None:
    """Whether the actor may act on the target at all (and grant ``granting``, if given): their
    role must hold ``member:manage``, and only an owner acts on an owner or grants the owner
    role. Raises ``PermissionDenied`` or ``OwnerRequired``; checks only."""
    actor, target = locked.actor, locked.target
    if Permission.MEMBER_MANAGE not in permissions_of(actor.role):
        raise PermissionDenied()
    if actor.role != Role.OWNER.value and (target.role == Role.OWNER.value or granting is Role.OWNER):
        raise OwnerRequired()


def check_member_change(locked: LockedChange, *, new_role: Role | None) -> None:
    """The team rules for changing the target's role to ``new_role`` (None: removing them).
    Raises ``PermissionDenied``, ``OwnerRequired``, ``LastOwnerRefused`` or
    ``OwnMembershipRefused``; checks only, changes nothing."""
    check_authority(locked, granting=new_role)
    if locked.target.role == Role.OWNER.value and new_role is not Role.OWNER and locked.owners <= 1:
        raise LastOwnerRefused()
    if locked.actor.id == locked.target.id:
        raise OwnMembershipRefused()


def do_change_role(
    session: Session, principal: Principal, *, membership_id: uuid.UUID, role: Role, record: RecordEvent
) -> RoleChange:
    """Give the member ``membership_id`` of the principal's workspace the role ``role``.

    Ends all of their sessions in the workspace; revokes the API keys they made in it when the
    role is lowered. Records ``member.role_changed``. Raises ``NotFound``, ``ValidationFailed``
    (the member already has that role) or one of ``check_member_change``'s errors before
    changing anything. Locks as ``lock_for_change``. Flushes; never commits."""
    locked = lock_for_change(session, principal, membership_id)
    target = locked.target
    if target.role == role.value:
        raise ValidationFailed("They already have that role.")
    check_member_change(locked, new_role=role)
    previous = target.role
    target.role = role.value
    session.flush()
    ended = do_end_sessions_in_workspace(session, user_id=target.user_id, workspace_id=target.workspace_id)
    # A reset link issued for them under their old role must not open their new one.
    _revoke_resets_for(session, user_id=target.user_id, workspace_id=target.workspace_id)
    revoked = 0
    if role_is_lowered(previous, role.value):
        revoked = do_revoke_keys_created_by(session, user_id=target.user_id, workspace_id=target.workspace_id)
        do_revoke_links_issued_by(session, user_id=target.user_id, workspace_id=target.workspace_id)
    record(
        workspace_id=target.workspace_id,
        actor_id=str(principal.id),
        action="member.role_changed",
        target_kind="membership",
        target_id=str(target.id),
        data={
            "user_id": str(target.user_id),
            "from": previous,
            "to": role.value,
            "sessions_ended": ended,
            "keys_revoked": revoked,
        },
    )
    return RoleChange(membership=target, previous_role=previous, sessions_ended=ended, keys_revoked=revoked)


def do_remove_member(
    session: Session, principal: Principal, *, membership_id: uuid.UUID, record: RecordEvent
) -> MemberRemoval:
    """Remove the member ``membership_id`` from the principal's workspace.

    Ends their sessions in the workspace, revokes the API keys they made in it and their live
    password reset links from it, and deletes the membership (and its agent assignments). An
    account left with no membership at all is deleted too: it could not sign in, and nobody
    could reset its password. Records ``member.removed``. Raises ``NotFound`` or one of
    ``check_member_change``'s errors before changing anything. Locks as ``lock_for_change``.
    Flushes; never commits."""
    locked = lock_for_change(session, principal, membership_id)
    check_member_change(locked, new_role=None)
    target = locked.target
    user_id, workspace_id, role = target.user_id, target.workspace_id, target.role
    ended = do_end_sessions_in_workspace(session, user_id=user_id, workspace_id=workspace_id)
    revoked = do_revoke_keys_created_by(session, user_id=user_id, workspace_id=workspace_id)
    _revoke_resets_for(session, user_id=user_id, workspace_id=workspace_id)
    do_revoke_links_issued_by(session, user_id=user_id, workspace_id=workspace_id)
    session.delete(target)
    session.flush()
    remaining = session.scalar(
        select(func.count()).select_from(Membership).where(Membership.user_id == user_id)
    )
    account_deleted = not remaining
    if account_deleted:
        session.execute(delete(User).where(User.id == user_id).execution_options(synchronize_session=False))
    record(
        workspace_id=workspace_id,
        actor_id=str(principal.id),
        action="member.removed",
        target_kind="membership",
        target_id=str(membership_id),
        data={
            "user_id": str(user_id),
            "role": role,
            "sessions_ended": ended,
            "keys_revoked": revoked,
            "account_deleted": account_deleted,
        },
    )
    return MemberRemoval(
        user_id=user_id,
        role=role,
        sessions_ended=ended,
        keys_revoked=revoked,
        account_deleted=account_deleted,
    )


def do_revoke_links_issued_by(session: Session, *, user_id: uuid.UUID, workspace_id: uuid.UUID) -> int:
    """Revoke the live invitations and password reset links that ``user_id`` issued in
    ``workspace_id`` (their role was lowered or they were removed: what they handed out under
    their old role must not outlive it, as their API keys do not). Returns how many. Flushes;
    never commits."""
    now = utcnow()
    invitations = session.execute(
        update(Invitation)
        .where(
            Invitation.invited_by_id == user_id,
            Invitation.workspace_id == workspace_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    resets = session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.issued_by_id == user_id,
            PasswordReset.workspace_id == workspace_id,
            PasswordReset.used_at.is_(None),
            PasswordReset.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(invitations, "rowcount", 0) or 0) + int(getattr(resets, "rowcount", 0) or 0)


def issuer_may_still_act(
    session: Session,
    *,
    issuer_id: uuid.UUID | None,
    workspace_id: uuid.UUID,
    target_role: str | None,
    granting: Role | None,
) -> bool:
    """Whether the member who issued a link may, as their role is now, still act on a member of
    ``target_role`` (a reset) or grant ``granting`` (an invitation): they are still a member
    who holds ``member:manage``, and only an owner acts on or grants the owner role."""
    if issuer_id is None:
        return False
    role = session.scalar(
        select(Membership.role).where(
            Membership.user_id == issuer_id, Membership.workspace_id == workspace_id
        )
    )
    if role is None or Permission.MEMBER_MANAGE not in permissions_of(role):
        return False
    touches_owner = target_role == Role.OWNER.value or granting is Role.OWNER
    return role == Role.OWNER.value or not touches_owner


def _revoke_resets_for(session: Session, *, user_id: uuid.UUID, workspace_id: uuid.UUID) -> None:
    session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.user_id == user_id,
            PasswordReset.workspace_id == workspace_id,
            PasswordReset.used_at.is_(None),
            PasswordReset.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
