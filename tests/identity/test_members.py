"""Role changes and removal under the team rules, on both engines."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.agents.models import Agent, AgentAssignment
from hushdesk.audit.models import ActorKind, AuditEvent
from hushdesk.audit.service import do_record_event
from hushdesk.identity.api_keys import do_create_api_key
from hushdesk.identity.members import (
    LastOwnerRefused,
    OwnerRequired,
    OwnMembershipRefused,
    access_membership_by_id,
    do_change_role,
    do_remove_member,
    role_is_lowered,
)
from hushdesk.identity.mfa import RecordEvent
from hushdesk.identity.models import ApiKey, Membership, Role, User, WebSession
from hushdesk.identity.principal import Principal, user_principal
from hushdesk.identity.sessions import do_start_session
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.infra.errors import HushdeskError, NotFound, PermissionDenied, ValidationFailed
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace


@dataclass
class Team:
    sessions: sessionmaker[Session]
    workspace_id: uuid.UUID
    other_workspace_id: uuid.UUID

    def add(self, email: str, role: Role, *, workspace_id: uuid.UUID | None = None) -> Principal:
        """A member (a new account, or the existing one with ``email``) and its principal."""
        workspace = workspace_id or self.workspace_id
        with unit_of_work(self.sessions) as session:
            user = session.scalar(select(User).where(User.email == email))
            if user is None:
                user = User(email=email, display_name=email.split("@")[0], password_hash="unused")
                session.add(user)
                session.flush()
            membership = Membership(workspace_id=workspace, user_id=user.id, role=role.value)
            session.add(membership)
            session.flush()
            return user_principal(
                workspace_id=workspace, user_id=user.id, membership_id=membership.id, role=role.value
            )

    def role_of(self, principal: Principal) -> str | None:
        with unit_of_work(self.sessions) as session:
            return session.scalar(select(Membership.role).where(Membership.id == principal.membership_id))

    def count(self, model: type[Any]) -> int:
        with unit_of_work(self.sessions) as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def live_sessions(self, principal: Principal) -> int:
        with unit_of_work(self.sessions) as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(WebSession)
                    .where(WebSession.user_id == principal.id, WebSession.revoked_at.is_(None))
                )
                or 0
            )


@pytest.fixture
def team(engine: Engine) -> Team:
    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as session:
        workspace_id = do_create_workspace(session, name="Acme", region=Region.EU).id
        other_id = do_create_workspace(session, name="Other", region=Region.EU).id
    return Team(sessions, workspace_id, other_id)


def recorder(session: Session) -> RecordEvent:
    return functools.partial(do_record_event, session, actor_kind=ActorKind.USER)


def _start_session(team: Team, principal: Principal) -> None:
    with unit_of_work(team.sessions) as session:
        do_start_session(session, user_id=principal.id, workspace_id=principal.workspace_id)


def _change(team: Team, actor: Principal, target: Principal, role: Role) -> Any:
    assert target.membership_id is not None
    with unit_of_work(team.sessions) as session:
        return do_change_role(
            session, actor, membership_id=target.membership_id, role=role, record=recorder(session)
        )


def _remove(team: Team, actor: Principal, target: Principal) -> Any:
    assert target.membership_id is not None
    with unit_of_work(team.sessions) as session:
        return do_remove_member(session, actor, membership_id=target.membership_id, record=recorder(session))


def while_holding(
    sessions: sessionmaker[Session], first: Callable[[Session], object], second: Callable[[Session], object]
) -> HushdeskError | None:
    """Run ``first`` in a transaction and, before it commits, ``second`` in another thread's
    transaction, which must wait for the first's locks. Returns what ``second`` raised."""
    outcome: dict[str, HushdeskError | None] = {}

    def run_second() -> None:
        try:
            with unit_of_work(sessions) as session:
                second(session)
        except HushdeskError as exc:
            outcome["error"] = exc
        else:
            outcome["error"] = None

    thread = threading.Thread(target=run_second)
    with unit_of_work(sessions) as session:
        first(session)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second transaction did not wait for the first's locks"
    thread.join(timeout=30)
    assert not thread.is_alive()
    return outcome["error"]


# -- what a role change does ----------------------------------------------------------------------


def test_a_role_change_ends_the_members_sessions_in_that_workspace_only(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    admin = team.add("ann@example.com", Role.ADMIN)
    elsewhere = team.add("ann@example.com", Role.ADMIN, workspace_id=team.other_workspace_id)
    _start_session(team, admin)
    _start_session(team, admin)
    _start_session(team, elsewhere)
    change = _change(team, owner, admin, Role.MANAGER)
    assert change.sessions_ended == 2
    assert team.live_sessions(admin) == 1  # the other workspace's
    assert team.role_of(admin) == "manager"
    assert team.role_of(elsewhere) == "admin"


def test_a_lowered_role_revokes_the_members_keys_and_a_raised_one_keeps_them(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    admin = team.add("ann@example.com", Role.ADMIN)
    with unit_of_work(team.sessions) as session:
        do_create_api_key(
            session,
            creator=admin,
            name="crm",
            scopes=["agent:read"],
            expires_at=utcnow() + dt.timedelta(days=30),
        )
    raised = _change(team, owner, admin, Role.OWNER)
    assert raised.keys_revoked == 0
    lowered = _change(team, owner, admin, Role.AUDITOR)
    assert lowered.keys_revoked == 1
    with unit_of_work(team.sessions) as session:
        assert session.scalars(select(ApiKey.revoked_at)).one() is not None
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "member.role_changed").order_by(AuditEvent.seq)
        ).all()
    assert [(e.data["from"], e.data["to"], e.data["keys_revoked"]) for e in events] == [
        ("admin", "owner", 0),
        ("owner", "auditor", 1),
    ]


@pytest.mark.parametrize(
    ("previous", "new", "lowered"),
    [
        ("owner", "admin", True),
        ("admin", "owner", False),
        ("admin", "manager", True),
        ("manager", "support", True),
        ("support", "manager", True),
        ("manager", "admin", False),
        ("auditor", "manager", True),
        ("support", "auditor", True),
    ],
)
def test_a_role_is_lowered_whenever_it_loses_a_permission(previous: str, new: str, lowered: bool) -> None:
    assert role_is_lowered(previous, new) is lowered


def test_giving_the_same_role_again_is_refused(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    admin = team.add("ann@example.com", Role.ADMIN)
    _start_session(team, admin)
    with pytest.raises(ValidationFailed):
        _change(team, owner, admin, Role.ADMIN)
    assert team.live_sessions(admin) == 1


# -- the rules ------------------------------------------------------------------------------------


def test_the_last_owner_can_never_be_demoted_or_removed(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    with pytest.raises(LastOwnerRefused):
        _change(team, owner, owner, Role.ADMIN)
    with pytest.raises(LastOwnerRefused):
        _remove(team, owner, owner)
    assert team.role_of(owner) == "owner"


def test_nobody_changes_their_own_role_or_removes_themselves(team: Team) -> None:
    team.add("ada@example.com", Role.OWNER)
    second_owner = team.add("olga@example.com", Role.OWNER)
    admin = team.add("ann@example.com", Role.ADMIN)
    with pytest.raises(OwnMembershipRefused):
        _change(team, second_owner, second_owner, Role.ADMIN)
    with pytest.raises(OwnMembershipRefused):
        _remove(team, admin, admin)
    assert (team.role_of(second_owner), team.role_of(admin)) == ("owner", "admin")


def test_only_an_owner_makes_changes_or_removes_an_owner(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    admin = team.add("ann@example.com", Role.ADMIN)
    other_admin = team.add("bob@example.com", Role.ADMIN)
    support = team.add("sam@example.com", Role.SUPPORT)
    with pytest.raises(OwnerRequired):
        _change(team, admin, owner, Role.ADMIN)
    with pytest.raises(OwnerRequired):
        _remove(team, admin, owner)
    with pytest.raises(OwnerRequired):
        _change(team, admin, support, Role.OWNER)
    # Admins manage admins and below.
    _change(team, admin, other_admin, Role.MANAGER)
    _change(team, admin, support, Role.ADMIN)
    assert (team.role_of(owner), team.role_of(other_admin), team.role_of(support)) == (
        "owner",
        "manager",
        "admin",
    )


def test_people_without_member_manage_change_nothing(team: Team) -> None:
    team.add("ada@example.com", Role.OWNER)
    manager = team.add("max@example.com", Role.MANAGER)
    support = team.add("sam@example.com", Role.SUPPORT)
    with pytest.raises(PermissionDenied):
        _change(team, manager, support, Role.MANAGER)
    with pytest.raises(PermissionDenied):
        _remove(team, manager, support)
    assert team.role_of(support) == "support"


def test_a_principal_acts_with_the_role_it_has_now(team: Team) -> None:
    first = team.add("ada@example.com", Role.OWNER)
    second = team.add("olga@example.com", Role.OWNER)
    _change(team, first, second, Role.SUPPORT)
    # ``second`` still says "owner": the rules read the role as it is now.
    with pytest.raises(PermissionDenied):
        _remove(team, second, first)
    assert team.role_of(first) == "owner"


def test_two_owners_demoting_each_other_at_once_leave_one_owner(team: Team) -> None:
    first = team.add("ada@example.com", Role.OWNER)
    second = team.add("olga@example.com", Role.OWNER)
    assert first.membership_id is not None
    assert second.membership_id is not None
    first_id, second_id = first.membership_id, second.membership_id

    def demote(actor: Principal, target_id: uuid.UUID) -> Callable[[Session], object]:
        return lambda session: do_change_role(
            session, actor, membership_id=target_id, role=Role.ADMIN, record=recorder(session)
        )

    error = while_holding(team.sessions, demote(first, second_id), demote(second, first_id))
    assert isinstance(error, OwnerRequired)
    assert (team.role_of(first), team.role_of(second)) == ("owner", "admin")


def test_memberships_of_another_workspace_are_not_found(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    stranger = team.add("eve@example.com", Role.SUPPORT, workspace_id=team.other_workspace_id)
    assert stranger.membership_id is not None
    with unit_of_work(team.sessions) as session, pytest.raises(NotFound):
        access_membership_by_id(session, owner, stranger.membership_id)
    with unit_of_work(team.sessions) as session, pytest.raises(NotFound):
        access_membership_by_id(session, owner, uuid.uuid4())
    with pytest.raises(NotFound):
        _change(team, owner, stranger, Role.ADMIN)
    with pytest.raises(NotFound):
        _remove(team, owner, stranger)
    assert team.role_of(stranger) == "support"


# -- removal ------------------------------------------------------------------------------------


def test_removal_ends_sessions_revokes_keys_and_deletes_assignments(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    admin = team.add("ann@example.com", Role.ADMIN)
    manager = team.add("max@example.com", Role.MANAGER)
    with unit_of_work(team.sessions) as session:
        do_create_api_key(
            session,
            creator=admin,
            name="crm",
            scopes=["agent:read"],
            expires_at=utcnow() + dt.timedelta(days=30),
        )
        agent = Agent(workspace_id=team.workspace_id, name="Billing bot", slug="billing-bot")
        session.add(agent)
        session.flush()
        session.add(
            AgentAssignment(
                workspace_id=team.workspace_id, agent_id=agent.id, membership_id=manager.membership_id
            )
        )
    _start_session(team, manager)
    removed = _remove(team, owner, manager)
    assert (removed.sessions_ended, removed.role) == (1, "manager")
    assert team.count(AgentAssignment) == 0
    assert _remove(team, owner, admin).keys_revoked == 1
    assert team.count(Membership) == 1


def test_removal_deletes_the_account_only_with_its_last_membership(team: Team) -> None:
    owner = team.add("ada@example.com", Role.OWNER)
    team.add("ada@example.com", Role.OWNER, workspace_id=team.other_workspace_id)
    twice = team.add("ann@example.com", Role.SUPPORT)
    team.add("ann@example.com", Role.SUPPORT, workspace_id=team.other_workspace_id)
    once = team.add("sam@example.com", Role.SUPPORT)
    assert _remove(team, owner, twice).account_deleted is False
    assert _remove(team, owner, once).account_deleted is True
    with unit_of_work(team.sessions) as session:
        emails = set(session.scalars(select(User.email)))
    assert emails == {"ada@example.com", "ann@example.com"}
