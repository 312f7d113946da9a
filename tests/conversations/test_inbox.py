"""The hand-off inbox's domain: who reaches a conversation, what the inbox lists, which reads
are audited, and the team's actions, on conversations made through the real widget API.

The team and the hand-off built here are shared by the inbox pages' and the API's tests."""

from __future__ import annotations

import gc
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hushdesk.agents.models import Agent, AgentAssignment
from hushdesk.agents.service import do_create_agent
from hushdesk.audit.models import AuditEvent
from hushdesk.conversations.inbox import (
    access_conversation_by_id,
    check_status_filter,
    do_hand_back_conversation,
    do_reply,
    do_resolve_conversation,
    do_take,
    is_answering_person,
    list_inbox,
    read_attachment,
    read_transcript,
)
from hushdesk.conversations.models import Attachment, Conversation, ConversationStatus, Message, Resolution
from hushdesk.conversations.service import ConversationClosed, MessageEmpty
from hushdesk.identity.models import Membership
from hushdesk.identity.principal import Principal, PrincipalKind, user_principal
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hushdesk.infra.events import EventBus
from hushdesk.privacy.pii import NameLexicon
from tests.web.helpers import add_member, enrol_totp_directly
from tests.widget.conftest import Visitor, WidgetWorld, build_world

OWNER = "olive@acme.example"
SUPPORT = "sam@acme.example"
OTHER_SUPPORT = "una@acme.example"
MANAGER = "max@acme.example"
OTHER_OWNER = "oscar@other.example"
AUDITOR = "ada.auditor@acme.example"
ASK_FOR_A_PERSON = "I want to talk to a person"
# The smallest PNG the attachment check accepts: signature, IHDR, IEND.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201a0e3d2a50000000049454e44ae426082"
)


@dataclass(frozen=True, slots=True)
class Team:
    """People of the widget world's workspace (Acme) and of the other one."""

    owner: Principal
    support: Principal  # assigned to the agent
    other_support: Principal  # assigned to nothing
    manager: Principal  # assigned to the agent
    other_owner: Principal  # owner of the other workspace


def _principal(session: Session, user_id: uuid.UUID) -> Principal:
    membership = session.scalars(select(Membership).where(Membership.user_id == user_id)).one()
    return user_principal(
        workspace_id=membership.workspace_id,
        user_id=user_id,
        membership_id=membership.id,
        role=membership.role,
    )


def build_team(world: WidgetWorld) -> Team:
    """An owner (with a second factor, so that the pages let them in), a support person and a
    manager assigned to the agent, a support person assigned to nothing, and the owner of the
    other workspace."""
    client = world.client
    with unit_of_work(world.sessions) as session:
        other_workspace = session.scalars(
            select(Agent.workspace_id).where(Agent.workspace_id != world.workspace_id)
        ).one()
    ids = {
        "owner": add_member(client, workspace_id=world.workspace_id, email=OWNER, role="owner", name="Olive"),
        "support": add_member(
            client, workspace_id=world.workspace_id, email=SUPPORT, role="support", name="Sam"
        ),
        "other_support": add_member(
            client, workspace_id=world.workspace_id, email=OTHER_SUPPORT, role="support", name="Una"
        ),
        "manager": add_member(
            client, workspace_id=world.workspace_id, email=MANAGER, role="manager", name="Max"
        ),
        "other_owner": add_member(
            client, workspace_id=other_workspace, email=OTHER_OWNER, role="owner", name="Oscar"
        ),
    }
    enrol_totp_directly(client, email=OWNER)
    enrol_totp_directly(client, email=OTHER_OWNER)
    with unit_of_work(world.sessions) as session:
        principals = {name: _principal(session, user_id) for name, user_id in ids.items()}
        for name in ("support", "manager"):
            membership_id = principals[name].membership_id
            assert membership_id is not None
            session.add(
                AgentAssignment(
                    workspace_id=world.workspace_id, agent_id=world.agent_id, membership_id=membership_id
                )
            )
    return Team(**principals)


def handed_off(world: WidgetWorld) -> tuple[Visitor, uuid.UUID]:
    """A visitor who asked for a person: the agent's reply handed the conversation off."""
    visitor = world.visitor().start()
    assert visitor.say(ASK_FOR_A_PERSON).status_code == 202
    world.run_replies()
    with unit_of_work(world.sessions) as session:
        conversation = session.scalars(select(Conversation).order_by(Conversation.started_at.desc())).first()
        assert conversation is not None
        assert conversation.status == ConversationStatus.HANDED_OFF.value
        return visitor, conversation.id


def send_png(visitor: Visitor, name: str = "receipt.png") -> Any:
    """Send ``TINY_PNG`` through ``POST /widget/v1/attachments``."""
    sent = visitor.post(
        "/widget/v1/attachments",
        files={"file": (name, TINY_PNG, "image/png")},
        data={"client_id": str(uuid.uuid4())},
    )
    assert sent.status_code == 202, sent.text
    return sent


def audit_actions(world: WidgetWorld, action: str) -> list[AuditEvent]:
    with unit_of_work(world.sessions) as session:
        return list(
            session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        )


def _bus(world: WidgetWorld) -> EventBus:
    bus: EventBus = world.app.state.events
    return bus


@pytest.fixture
def widget(engine: Engine, tmp_path: Path, name_lexicon: NameLexicon) -> Iterator[WidgetWorld]:
    yield from build_world(engine, tmp_path, names=name_lexicon)


@pytest.fixture
def team(widget: WidgetWorld) -> Team:
    return build_team(widget)


# ---- reach --------------------------------------------------------------------------------


def test_owner_and_assigned_people_reach_a_conversation_others_get_the_same_not_found(
    widget: WidgetWorld, team: Team
) -> None:
    _visitor, conversation_id = handed_off(widget)
    with unit_of_work(widget.sessions) as session:
        for principal in (team.owner, team.support, team.manager):
            assert access_conversation_by_id(session, principal, conversation_id).id == conversation_id
        refusals = []
        for principal, wanted in (
            (team.other_support, conversation_id),
            (team.other_owner, conversation_id),
            (team.owner, uuid.uuid4()),
        ):
            with pytest.raises(NotFound) as refused:
                access_conversation_by_id(session, principal, wanted)
            refusals.append((refused.value.code, refused.value.public_message))
    assert len(set(refusals)) == 1


# ---- the inbox ----------------------------------------------------------------------------


def test_the_inbox_lists_handed_off_conversations_of_visible_agents_newest_first(
    widget: WidgetWorld, team: Team
) -> None:
    _first, first_id = handed_off(widget)
    _second, second_id = handed_off(widget)
    with_agent = widget.visitor().start()
    assert with_agent.say("How many business days until refunds are paid back?").status_code == 202
    widget.run_replies()
    with unit_of_work(widget.sessions) as session:
        rows = list_inbox(session, team.support, status=None)
        assert [row.id for row in rows] == [second_id, first_id]
        assert rows[0].agent_name == "Support"
        assert rows[0].status == "handed_off"
        assert rows[0].assigned_name is None
        assert rows[0].message_count == 2  # the question and the agent's hand-off reply
        assert rows[0].handoff_reason == "requested"
        assert [row.id for row in list_inbox(session, team.owner, status=None)] == [second_id, first_id]
        assert len(list_inbox(session, team.owner, status="bot")) == 1
        assert len(list_inbox(session, team.owner, status="all")) == 3
        assert list_inbox(session, team.owner, status="resolved") == []
        assert list_inbox(session, team.other_support, status="all") == []
        assert list_inbox(session, team.other_owner, status="all") == []


def test_listing_the_inbox_is_not_an_audited_read(widget: WidgetWorld, team: Team) -> None:
    handed_off(widget)
    before = len(audit_actions(widget, "conversation.transcript.read"))
    with unit_of_work(widget.sessions) as session:
        assert list_inbox(session, team.owner, status=None)
    assert len(audit_actions(widget, "conversation.transcript.read")) == before == 0


def test_an_unknown_status_filter_is_refused() -> None:
    assert check_status_filter(None) == "handed_off"
    assert check_status_filter("resolved") == "resolved"
    with pytest.raises(ValidationFailed):
        check_status_filter("deleted")


def test_a_manager_sees_only_the_conversations_of_agents_assigned_to_them(
    widget: WidgetWorld, team: Team
) -> None:
    handed_off(widget)
    with unit_of_work(widget.sessions) as session:
        elsewhere = do_create_agent(session, workspace_id=widget.workspace_id, name="Billing")
        session.flush()
        contact_conversation = session.scalars(select(Conversation)).one()
        moved = Conversation(
            workspace_id=widget.workspace_id,
            agent_id=elsewhere.id,
            contact_id=contact_conversation.contact_id,
            channel="widget",
            status=ConversationStatus.HANDED_OFF.value,
        )
        session.add(moved)
        session.flush()
        moved_id = moved.id
    with unit_of_work(widget.sessions) as session:
        assert moved_id not in [row.id for row in list_inbox(session, team.manager, status=None)]
        assert moved_id in [row.id for row in list_inbox(session, team.owner, status=None)]
        with pytest.raises(NotFound):
            access_conversation_by_id(session, team.manager, moved_id)


# ---- transcript reads ---------------------------------------------------------------------


def test_reading_a_transcript_is_audited_except_for_the_assigned_support_person(
    widget: WidgetWorld, team: Team
) -> None:
    _visitor, conversation_id = handed_off(widget)
    with unit_of_work(widget.sessions) as session:
        conversation = access_conversation_by_id(session, team.support, conversation_id, for_update=True)
        do_take(session, bus=_bus(widget), principal=team.support, conversation=conversation)
    for reader in (team.owner, team.manager, team.support):
        with unit_of_work(widget.sessions) as session:
            conversation = access_conversation_by_id(session, reader, conversation_id)
            messages = read_transcript(session, reader, conversation)
            assert [m.author for m in messages] == ["customer", "assistant"]
            assert messages[0].body == ASK_FOR_A_PERSON
    events = audit_actions(widget, "conversation.transcript.read")
    assert [(event.actor_kind, event.actor_id) for event in events] == [
        ("user", str(team.owner.id)),
        ("user", str(team.manager.id)),
    ]
    assert events[0].target_kind == "conversation"
    assert events[0].target_id == str(conversation_id)
    assert events[0].data == {"agent_id": str(widget.agent_id)}


def test_a_support_person_not_assigned_the_conversation_is_audited(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    with unit_of_work(widget.sessions) as session:
        conversation = access_conversation_by_id(session, team.support, conversation_id)
        assert not is_answering_person(team.support, conversation)  # nobody has taken it yet
        read_transcript(session, team.support, conversation)
    (event,) = audit_actions(widget, "conversation.transcript.read")
    assert event.actor_id == str(team.support.id)


def test_an_api_key_reading_a_transcript_is_always_audited(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    key = Principal(
        workspace_id=widget.workspace_id,
        kind=PrincipalKind.API_KEY,
        id=uuid.uuid4(),
        permissions=team.owner.permissions,
    )
    with unit_of_work(widget.sessions) as session:
        conversation = access_conversation_by_id(session, key, conversation_id)
        read_transcript(session, key, conversation)
    (event,) = audit_actions(widget, "conversation.transcript.read")
    assert (event.actor_kind, event.actor_id) == ("api_key", str(key.id))


def test_reading_an_attachment_is_audited_and_scoped_to_its_conversation(
    widget: WidgetWorld, team: Team
) -> None:
    visitor, conversation_id = handed_off(widget)
    send_png(visitor)
    with unit_of_work(widget.sessions) as session:
        conversation = access_conversation_by_id(session, team.owner, conversation_id)
        found_id = session.scalars(select(Attachment.id)).one()
        with pytest.raises(NotFound):
            read_attachment(session, team.owner, conversation, uuid.uuid4())
        attachment = read_attachment(session, team.owner, conversation, found_id)
        assert attachment.file_name == "receipt.png"
    (event,) = audit_actions(widget, "conversation.attachment.read")
    assert event.data == {"agent_id": str(widget.agent_id), "attachment_id": str(found_id)}


def test_sending_an_attachment_closes_its_temporary_file(widget: WidgetWorld) -> None:
    visitor = widget.visitor().start()
    assert visitor.say(ASK_FOR_A_PERSON).status_code == 202
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        sent = visitor.post(
            "/widget/v1/attachments",
            files={"file": ("receipt.png", TINY_PNG, "image/png")},
            data={"client_id": str(uuid.uuid4())},
        )
        gc.collect()
    assert sent.status_code == 202
    assert [str(item.message) for item in caught if issubclass(item.category, ResourceWarning)] == []


# ---- actions ------------------------------------------------------------------------------


def test_taking_assigns_without_a_reply_and_is_audited_once(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    for _ in range(2):
        with unit_of_work(widget.sessions) as session:
            conversation = access_conversation_by_id(session, team.support, conversation_id, for_update=True)
            do_take(session, bus=_bus(widget), principal=team.support, conversation=conversation)
    with unit_of_work(widget.sessions) as session:
        conversation = session.get_one(Conversation, conversation_id)
        assert conversation.assigned_membership_id == team.support.membership_id
        assert conversation.last_seq == 2
        with pytest.raises(Conflict):
            do_take(session, bus=_bus(widget), principal=team.owner, conversation=conversation)
    (event,) = audit_actions(widget, "conversation.taken")
    assert event.actor_id == str(team.support.id)
    assert event.data == {"agent_id": str(widget.agent_id), "from_agent": False}


def test_taking_a_conversation_from_the_agent_hands_it_off_and_cancels_pending_answers(
    widget: WidgetWorld, team: Team
) -> None:
    visitor = widget.visitor().start()
    assert visitor.say("How many business days until refunds are paid back?").status_code == 202
    with unit_of_work(widget.sessions) as session:
        conversation = session.scalars(select(Conversation)).one()
        do_take(session, bus=_bus(widget), principal=team.owner, conversation=conversation)
    widget.run_replies()
    with unit_of_work(widget.sessions) as session:
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.status == ConversationStatus.HANDED_OFF.value
        assert conversation.handoff_reason == "taken_over"
        authors = session.scalars(select(Message.author).order_by(Message.seq)).all()
    assert authors == ["customer"]  # the agent did not answer after all
    (event,) = audit_actions(widget, "conversation.taken")
    assert event.data["from_agent"] is True


def test_a_reply_is_a_message_not_an_audit_event_and_needs_a_person(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    key = Principal(
        workspace_id=widget.workspace_id, kind=PrincipalKind.API_KEY, id=uuid.uuid4(), permissions=frozenset()
    )
    with unit_of_work(widget.sessions) as session:
        conversation = access_conversation_by_id(session, team.support, conversation_id, for_update=True)
        with pytest.raises(MessageEmpty):
            do_reply(session, bus=_bus(widget), principal=team.support, conversation=conversation, text="  ")
        with pytest.raises(PermissionDenied):
            do_reply(session, bus=_bus(widget), principal=key, conversation=conversation, text="Hello")
        message = do_reply(
            session,
            bus=_bus(widget),
            principal=team.support,
            conversation=conversation,
            text="Hello, Sam here.",
        )
        assert message.author == "person"
        assert message.author_membership_id == team.support.membership_id
    with unit_of_work(widget.sessions) as session:
        assert (
            session.get_one(Conversation, conversation_id).assigned_membership_id
            == team.support.membership_id
        )
        actions = set(session.scalars(select(AuditEvent.action)))
    assert not any(action.startswith("conversation.") for action in actions)


def test_resolving_fixes_the_end_and_is_audited_once(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    for _ in range(2):
        with unit_of_work(widget.sessions) as session:
            conversation = access_conversation_by_id(session, team.support, conversation_id, for_update=True)
            do_resolve_conversation(
                session, bus=_bus(widget), principal=team.support, conversation=conversation
            )
    with unit_of_work(widget.sessions) as session:
        conversation = session.get_one(Conversation, conversation_id)
        assert conversation.status == ConversationStatus.RESOLVED.value
        assert conversation.resolution == Resolution.RESOLVED_BY_PERSON.value
        assert conversation.ended_at is not None
        assert conversation.duration.total_seconds() >= 0
        with pytest.raises(ConversationClosed):
            do_take(session, bus=_bus(widget), principal=team.support, conversation=conversation)
    assert len(audit_actions(widget, "conversation.resolved")) == 1


def test_handing_back_returns_the_conversation_to_the_agent(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    with unit_of_work(widget.sessions) as session:
        conversation = access_conversation_by_id(session, team.support, conversation_id, for_update=True)
        do_take(session, bus=_bus(widget), principal=team.support, conversation=conversation)
        do_hand_back_conversation(
            session, bus=_bus(widget), principal=team.support, conversation=conversation
        )
    with unit_of_work(widget.sessions) as session:
        conversation = session.get_one(Conversation, conversation_id)
        assert conversation.status == ConversationStatus.BOT.value
        assert conversation.assigned_membership_id is None
        with pytest.raises(Conflict):
            do_hand_back_conversation(
                session, bus=_bus(widget), principal=team.support, conversation=conversation
            )
    (event,) = audit_actions(widget, "conversation.handed_back")
    assert event.data == {"agent_id": str(widget.agent_id), "was_assigned": True}
