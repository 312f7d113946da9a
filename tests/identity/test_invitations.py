"""Invitations: one-time, expiring, bound to an address, on both engines."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from hushdesk.audit.models import AuditEvent
from hushdesk.identity.invitations import (
    INVITATION_LIFETIME,
    AccountPasswordMismatch,
    AlreadyMember,
    InvitationUnavailable,
    NewInvitation,
    access_invitation,
    do_accept_as_existing_account,
    do_accept_as_new_account,
    do_invite_member,
    do_revoke_invitation,
)
from hushdesk.identity.members import OwnerRequired
from hushdesk.identity.models import Invitation, Membership, Role, User
from hushdesk.identity.passwords import WeakPasswordError, hash_password
from hushdesk.identity.principal import Principal
from hushdesk.identity.tokens import token_digest
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.infra.errors import NotFound, PermissionDenied, ValidationFailed
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.identity.test_members import Team, recorder, while_holding

PASSWORD = "plum orchard wintry lantern"


@pytest.fixture
def team(engine: Engine) -> Team:
    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as session:
        workspace_id = do_create_workspace(session, name="Acme", region=Region.EU).id
        other_id = do_create_workspace(session, name="Other", region=Region.EU).id
    return Team(sessions, workspace_id, other_id)


def _invite(
    team: Team,
    inviter: Principal,
    email: str,
    role: Role = Role.SUPPORT,
    agents: list[uuid.UUID] | None = None,
) -> NewInvitation:
    with unit_of_work(team.sessions) as session:
        return do_invite_member(
            session, inviter, email=email, role=role, agent_ids=agents or [], record=recorder(session)
        )


def _accept_new(session: Session, token: str, name: str = "Max Manager") -> object:
    return do_accept_as_new_account(
        session, token=token, display_name=name, password=PASSWORD, record=recorder(session)
    )


def _memberships(team: Team) -> int:
    return team.count(Membership)


def test_an_invitation_keeps_only_the_digest_of_a_256_bit_secret_for_72_hours(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    before = utcnow()
    new = _invite(team, owner, "  Max@Example.COM ")
    assert len(new.token) >= 43  # 32 random bytes, URL-safe base64
    with unit_of_work(team.sessions) as session:
        row = session.scalars(select(Invitation)).one()
        assert row.token_hash == token_digest(new.token)
        assert new.token not in str(row.__dict__)
        assert row.email == "max@example.com"
        assert before + INVITATION_LIFETIME <= row.expires_at <= utcnow() + INVITATION_LIFETIME
        assert row.invited_by_id == owner.id


def test_an_invitation_works_once(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    new = _invite(team, owner, "max@example.com", Role.MANAGER)
    with unit_of_work(team.sessions) as session:
        accepted = do_accept_as_new_account(
            session, token=new.token, display_name="Max", password=PASSWORD, record=recorder(session)
        )
        assert accepted.membership.role == "manager"
        assert accepted.user.email == "max@example.com"
    with unit_of_work(team.sessions) as session, pytest.raises(InvitationUnavailable):
        access_invitation(session, new.token)
    with unit_of_work(team.sessions) as session, pytest.raises(InvitationUnavailable):
        do_accept_as_existing_account(session, token=new.token, password=PASSWORD, record=recorder(session))
    assert _memberships(team) == 2


def test_accepting_twice_at_once_lets_only_one_through(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    new = _invite(team, owner, "max@example.com")
    error = while_holding(
        team.sessions,
        lambda session: _accept_new(session, new.token),
        lambda session: _accept_new(session, new.token),
    )
    assert isinstance(error, InvitationUnavailable)
    assert _memberships(team) == 2
    assert team.count(User) == 2


def test_expired_and_revoked_invitations_are_unavailable(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    expired = _invite(team, owner, "max@example.com")
    with unit_of_work(team.sessions) as session:
        session.execute(update(Invitation).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    revoked = _invite(team, owner, "sam@example.com")
    with unit_of_work(team.sessions) as session:
        invitation_id = session.scalars(
            select(Invitation.id).where(Invitation.email == "sam@example.com")
        ).one()
        do_revoke_invitation(session, owner, invitation_id=invitation_id, record=recorder(session))
    for token in (expired.token, revoked.token, "unknown"):
        with unit_of_work(team.sessions) as session, pytest.raises(InvitationUnavailable):
            _accept_new(session, token)
    assert team.count(User) == 1


def test_a_newer_invitation_for_the_same_address_revokes_the_older(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    older = _invite(team, owner, "max@example.com")
    elsewhere_owner = team.add("ada@example.com", Role.OWNER, workspace_id=team.other_workspace_id)
    elsewhere = _invite(team, elsewhere_owner, "max@example.com")
    newer = _invite(team, owner, "MAX@example.com", Role.MANAGER)
    with unit_of_work(team.sessions) as session:
        with pytest.raises(InvitationUnavailable):
            access_invitation(session, older.token)
        assert access_invitation(session, newer.token).role == "manager"
        # Another workspace's invitation is another matter.
        assert access_invitation(session, elsewhere.token).workspace_id == team.other_workspace_id


def test_an_invitation_is_bound_to_its_address(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    with unit_of_work(team.sessions) as session:
        session.add(User(email="max@example.com", display_name="Max", password_hash=hash_password(PASSWORD)))
        session.add(
            User(email="eve@example.com", display_name="Eve", password_hash=hash_password("eve's password!"))
        )
    new = _invite(team, owner, "max@example.com")
    # Eve's password does not open Max's invitation: only the invited address's account can join.
    with unit_of_work(team.sessions) as session, pytest.raises(AccountPasswordMismatch):
        do_accept_as_existing_account(
            session, token=new.token, password="eve's password!", record=recorder(session)
        )
    with unit_of_work(team.sessions) as session:
        accepted = do_accept_as_existing_account(
            session, token=new.token, password=PASSWORD, record=recorder(session)
        )
        assert accepted.user.email == "max@example.com"
        assert accepted.created_account is False


def test_a_wrong_password_or_weak_new_one_changes_nothing(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    new = _invite(team, owner, "max@example.com")
    with unit_of_work(team.sessions) as session, pytest.raises(WeakPasswordError):
        do_accept_as_new_account(
            session,
            token=new.token,
            display_name="Max",
            password="max@example.com!",
            record=recorder(session),
        )
    with unit_of_work(team.sessions) as session, pytest.raises(ValidationFailed):
        do_accept_as_new_account(
            session, token=new.token, display_name="  ", password=PASSWORD, record=recorder(session)
        )
    with unit_of_work(team.sessions) as session:
        assert access_invitation(session, new.token).accepted_at is None
        assert (
            session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "member.joined")
            )
            == 0
        )
    assert team.count(User) == 1


def test_someone_already_in_the_workspace_is_not_invited_again(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    team.add("max@example.com", Role.SUPPORT)
    with pytest.raises(AlreadyMember):
        _invite(team, owner, "MAX@example.com")
    assert team.count(Invitation) == 0


def test_only_an_owner_invites_an_owner(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    admin = team.add("ann@example.com", Role.ADMIN)
    manager = team.add("max@example.com", Role.MANAGER)
    with pytest.raises(OwnerRequired):
        _invite(team, admin, "olga@example.com", Role.OWNER)
    with pytest.raises(PermissionDenied):
        _invite(team, manager, "sam@example.com", Role.SUPPORT)
    _invite(team, admin, "bob@example.com", Role.ADMIN)
    owner_invitation = _invite(team, owner, "olga@example.com", Role.OWNER)
    with unit_of_work(team.sessions) as session, pytest.raises(OwnerRequired):
        do_revoke_invitation(
            session, admin, invitation_id=owner_invitation.invitation.id, record=recorder(session)
        )
    assert team.count(Invitation) == 2


def test_an_inviter_acts_with_the_role_they_have_now(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    admin = team.add("ann@example.com", Role.ADMIN)
    with unit_of_work(team.sessions) as session:
        session.execute(update(Membership).where(Membership.id == admin.membership_id).values(role="support"))
    with pytest.raises(PermissionDenied):
        _invite(team, admin, "sam@example.com")
    assert team.count(Invitation) == 0
    _invite(team, owner, "sam@example.com")
    assert team.count(Invitation) == 1


def test_agents_are_kept_for_managers_and_support_people_only(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    agent_id = uuid.uuid4()
    with pytest.raises(ValidationFailed):
        _invite(team, owner, "ann@example.com", Role.ADMIN, [agent_id])
    new = _invite(team, owner, "max@example.com", Role.MANAGER, [agent_id, agent_id])
    assert new.invitation.agent_ids == [str(agent_id)]
    with unit_of_work(team.sessions) as session:
        accepted = do_accept_as_new_account(
            session, token=new.token, display_name="Max", password=PASSWORD, record=recorder(session)
        )
        assert accepted.agent_ids == [agent_id]


def test_another_workspaces_invitation_cannot_be_revoked(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    rival = team.add("eve@example.com", Role.OWNER, workspace_id=team.other_workspace_id)
    theirs = _invite(team, rival, "max@example.com")
    with unit_of_work(team.sessions) as session, pytest.raises(NotFound):
        do_revoke_invitation(session, owner, invitation_id=theirs.invitation.id, record=recorder(session))
    with unit_of_work(team.sessions) as session:
        assert access_invitation(session, theirs.token).revoked_at is None
