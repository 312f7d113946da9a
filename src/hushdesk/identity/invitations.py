"""Invitations: one-time links that let a named person join a workspace with a given role.

There is no mail server in the embedded default, so ``do_invite_member`` returns the link's
secret for the inviter to pass on; it is never stored, only its SHA-256 (``token_digest``). A
link holds 256 random bits, lives ``INVITATION_LIFETIME``, works once, and is bound to the
normalised email it was made for: whoever opens it joins as that address and no other (the
accept page shows the address and never takes one). A new invitation for the same address in
the same workspace revokes the older one.

Accepting either creates the account (no account has the address yet) or, when one exists,
asks for that account's password, then adds the membership. The caller assigns the
invitation's agents (``hushdesk.agents`` sits above this package) and starts the session.

Audit through ``record`` (see ``hushdesk.identity.mfa``); services flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hushdesk.identity.members import check_may_grant, issuer_may_still_act
from hushdesk.identity.mfa import RecordEvent
from hushdesk.identity.models import Invitation, Membership, Role, User
from hushdesk.identity.passwords import check_password_policy, hash_password, verify_password
from hushdesk.identity.principal import AGENT_SCOPED_ROLES, Principal
from hushdesk.identity.setup import normalise_email
from hushdesk.identity.tokens import new_token, token_digest
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.errors import Conflict, Gone, HushdeskError, NotFound, PermissionDenied, ValidationFailed
from hushdesk.infra.text import has_control_characters
from hushdesk.workspaces.models import Workspace

INVITATION_LIFETIME = dt.timedelta(hours=72)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_DISPLAY_NAME = 120


class InvitationUnavailable(Gone):
    """Unknown, expired, used or revoked: one error for all, so the page tells nobody which."""

    code = "invitation_unavailable"
    default_message = (
        "This invitation link is invalid, expired or already used."
        " Ask the person who invited you for a new one."
    )


class AlreadyMember(Conflict):
    code = "already_member"
    default_message = "That person is already a member of this workspace."


class AccountPasswordMismatch(HushdeskError):
    """The password given for the invited address's existing account is wrong. Not an
    ``Unauthenticated``: the accept form is shown again, nobody is sent to sign in."""

    code = "wrong_password"
    status = 401
    default_message = "That is not the password of this account."


class AccountExists(Conflict):
    """An account with the invited address appeared after the form was shown."""

    code = "account_exists"
    default_message = "An account with this address exists now: sign in to it with its password to join."


class NoAccountYet(Conflict):
    code = "no_account"
    default_message = "There is no account with this address yet: choose a name and a password to join."


@dataclass(frozen=True, slots=True)
class NewInvitation:
    invitation: Invitation
    # The link's secret: shown once to the inviter, never stored.
    token: str


@dataclass(frozen=True, slots=True)
class AcceptedInvitation:
    user: User
    membership: Membership
    invitation: Invitation
    # The agents to assign (as stored at invitation time; the caller checks they still exist).
    agent_ids: list[uuid.UUID]
    created_account: bool


def check_invitation_email(email: str) -> str:
    """The address, normalised. Raises ``ValidationFailed`` for one that is not an address."""
    clean = normalise_email(email)
    if len(clean) > 254 or not _EMAIL.match(clean) or has_control_characters(clean):
        raise ValidationFailed("Enter the email address of the person to invite.")
    return clean


def check_display_name(name: str) -> str:
    clean = " ".join(name.split())
    if not 1 <= len(clean) <= MAX_DISPLAY_NAME or has_control_characters(clean):
        raise ValidationFailed(
            f"Enter your name (1 to {MAX_DISPLAY_NAME} characters, no control characters)."
        )
    return clean


def do_invite_member(
    session: Session,
    principal: Principal,
    *,
    email: str,
    role: Role,
    agent_ids: Iterable[uuid.UUID],
    record: RecordEvent,
) -> NewInvitation:
    """Invite ``email`` to the principal's workspace as ``role``, to be assigned to
    ``agent_ids`` on joining (the caller has checked that they are the workspace's agents).

    Revokes any live invitation for the same address in the workspace. Records
    ``invitation.created`` (ids and counts; not the address, not the link). Raises
    ``ValidationFailed`` (bad address; agents for a role that is not assigned to agents),
    ``PermissionDenied``/``OwnerRequired`` (the inviter's current role may not grant ``role``)
    or ``AlreadyMember``, before changing anything. Flushes; never commits."""
    clean_email = check_invitation_email(email)
    agents = sorted(set(agent_ids))
    if agents and role not in AGENT_SCOPED_ROLES:
        raise ValidationFailed("Only managers and support people are assigned to agents.")
    actor = _current_membership(session, principal)
    check_may_grant(actor.role, role)
    member = session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == principal.workspace_id, User.email == clean_email)
    )
    if member is not None:
        raise AlreadyMember()
    now = utcnow()
    older = session.execute(
        update(Invitation)
        .where(
            Invitation.workspace_id == principal.workspace_id,
            Invitation.email == clean_email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    token = new_token()
    invitation = Invitation(
        workspace_id=principal.workspace_id,
        email=clean_email,
        role=role.value,
        agent_ids=[str(agent_id) for agent_id in agents],
        token_hash=token_digest(token),
        invited_by_id=principal.id,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    session.flush()
    record(
        workspace_id=principal.workspace_id,
        actor_id=str(principal.id),
        action="invitation.created",
        target_kind="invitation",
        target_id=str(invitation.id),
        data={
            "role": role.value,
            "agents": len(agents),
            "revoked_older": int(getattr(older, "rowcount", 0) or 0),
        },
    )
    return NewInvitation(invitation=invitation, token=token)


def list_pending_invitations(session: Session, principal: Principal) -> list[Invitation]:
    """The principal's workspace's live invitations, newest first."""
    return list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.workspace_id == principal.workspace_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.created_at.desc())
        )
    )


def access_invitation_by_id(session: Session, principal: Principal, invitation_id: uuid.UUID) -> Invitation:
    """The invitation ``invitation_id`` of the principal's workspace; ``NotFound`` for a
    missing one and another workspace's alike."""
    invitation = session.scalar(
        select(Invitation).where(
            Invitation.id == invitation_id, Invitation.workspace_id == principal.workspace_id
        )
    )
    if invitation is None:
        raise NotFound()
    return invitation


def do_revoke_invitation(
    session: Session, principal: Principal, *, invitation_id: uuid.UUID, record: RecordEvent
) -> Invitation:
    """Revoke a pending invitation of the principal's workspace. Records
    ``invitation.revoked``. Raises ``NotFound``, ``OwnerRequired`` (an owner invitation, and
    the actor is not an owner) or ``Conflict`` (no longer pending) before changing anything.
    Flushes; never commits."""
    invitation = session.scalar(
        select(Invitation)
        .where(Invitation.id == invitation_id, Invitation.workspace_id == principal.workspace_id)
        .with_for_update()
    )
    if invitation is None:
        raise NotFound()
    check_may_grant(_current_membership(session, principal).role, _role_of(invitation))
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise Conflict("That invitation is no longer pending.")
    invitation.revoked_at = utcnow()
    session.flush()
    record(
        workspace_id=principal.workspace_id,
        actor_id=str(principal.id),
        action="invitation.revoked",
        target_kind="invitation",
        target_id=str(invitation.id),
        data={"role": invitation.role},
    )
    return invitation


def access_invitation(session: Session, token: str, *, for_update: bool = False) -> Invitation:
    """The live invitation the link's secret names. Raises ``InvitationUnavailable`` for an
    unknown, expired, accepted or revoked one. ``for_update`` row-locks it (PostgreSQL; SQLite
    writers hold the database's write lock), so two acceptances queue and the second finds it
    used."""
    query = select(Invitation).where(Invitation.token_hash == token_digest(token))
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    invitation = session.scalar(query)
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= utcnow()
    ):
        raise InvitationUnavailable()
    return invitation


def account_for(session: Session, invitation: Invitation) -> User | None:
    """The account that already has the invited address, if any."""
    return session.scalar(select(User).where(User.email == invitation.email))


def workspace_of(session: Session, invitation: Invitation) -> Workspace:
    workspace = session.get(Workspace, invitation.workspace_id)
    assert workspace is not None  # the foreign key cascades: no invitation outlives its workspace
    return workspace


def do_accept_as_new_account(
    session: Session, *, token: str, display_name: str, password: str, record: RecordEvent
) -> AcceptedInvitation:
    """Accept the invitation by creating the account for its address with ``display_name``
    and ``password``, and the membership. Raises ``InvitationUnavailable``, ``AccountExists``,
    ``ValidationFailed`` (name) or ``WeakPasswordError`` before changing anything. Locks the
    invitation row. Flushes; never commits."""
    name = check_display_name(display_name)
    invitation = access_invitation(session, token, for_update=True)
    if account_for(session, invitation) is not None:
        raise AccountExists()
    workspace = workspace_of(session, invitation)
    check_password_policy(
        password, personal=[name, invitation.email, *invitation.email.split("@"), workspace.name]
    )
    user = User(email=invitation.email, display_name=name, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return _join(session, invitation, user, created_account=True, record=record)


def do_accept_as_existing_account(
    session: Session, *, token: str, password: str, record: RecordEvent
) -> AcceptedInvitation:
    """Accept the invitation for the existing account with its address, proved by that
    account's password, by adding the membership. Raises ``InvitationUnavailable``,
    ``NoAccountYet``, ``AccountPasswordMismatch`` or ``AlreadyMember`` before changing
    anything. The caller throttles wrong passwords as at sign-in. Locks the invitation row.
    Flushes; never commits."""
    invitation = access_invitation(session, token, for_update=True)
    user = account_for(session, invitation)
    if user is None:
        raise NoAccountYet()
    if not verify_password(user.password_hash, password):
        raise AccountPasswordMismatch()
    already = session.scalar(
        select(Membership.id).where(
            Membership.workspace_id == invitation.workspace_id, Membership.user_id == user.id
        )
    )
    if already is not None:
        raise AlreadyMember("You are already a member of this workspace: sign in instead.")
    return _join(session, invitation, user, created_account=False, record=record)


def _join(
    session: Session, invitation: Invitation, user: User, *, created_account: bool, record: RecordEvent
) -> AcceptedInvitation:
    role = _role_of(invitation)
    # The inviter's authority as it is now: an invitation from someone since demoted or removed
    # grants nothing (their links are revoked then too; this is the backstop).
    if not issuer_may_still_act(
        session,
        issuer_id=invitation.invited_by_id,
        workspace_id=invitation.workspace_id,
        target_role=None,
        granting=role,
    ):
        raise InvitationUnavailable()
    membership = Membership(workspace_id=invitation.workspace_id, user_id=user.id, role=role.value)
    session.add(membership)
    invitation.accepted_at = utcnow()
    session.flush()
    agent_ids = _agent_ids(invitation.agent_ids)
    record(
        workspace_id=invitation.workspace_id,
        actor_id=str(user.id),
        action="member.joined",
        target_kind="membership",
        target_id=str(membership.id),
        data={
            "user_id": str(user.id),
            "role": role.value,
            "invitation_id": str(invitation.id),
            "invited_by": str(invitation.invited_by_id) if invitation.invited_by_id else None,
            "new_account": created_account,
            "agents": len(agent_ids),
        },
    )
    return AcceptedInvitation(
        user=user,
        membership=membership,
        invitation=invitation,
        agent_ids=agent_ids,
        created_account=created_account,
    )


def _current_membership(session: Session, principal: Principal) -> Membership:
    """The principal's own membership as it is now (its role may have changed since the
    principal was loaded)."""
    if principal.membership_id is None:
        raise PermissionDenied()
    membership = session.scalar(
        select(Membership)
        .where(Membership.id == principal.membership_id, Membership.workspace_id == principal.workspace_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if membership is None:
        raise PermissionDenied()
    return membership


def _role_of(invitation: Invitation) -> Role:
    try:
        return Role(invitation.role)
    except ValueError as exc:
        raise InvitationUnavailable() from exc


def _agent_ids(values: Iterable[str]) -> list[uuid.UUID]:
    found = []
    for value in values:
        try:
            found.append(uuid.UUID(value))
        except ValueError:
            continue  # not an id: nothing to assign
    return found
