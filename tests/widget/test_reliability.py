"""A failing model provider, as the customer and the team live it: the message is kept, the
customer is told the answer is delayed, the reply job is retried, and the answer arrives once
the provider is back; when it never comes back, the last attempt apologises and hands off.

The app is the real one (``create_app``, its job queue and its in-process event bus). Only the
network is replaced: the outbound client factory the assistant uses
(``hushdesk.bootstrap.outbound_client``) is swapped for the product's own client over an
``httpx.MockTransport`` that speaks the OpenAI Chat Completions wire format. Jobs are run by
the test, one attempt at a time; a retry's back-off is skipped by making the item due now.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select, update

from hushdesk import __version__, bootstrap
from hushdesk.agents.assistant import wording
from hushdesk.agents.provider_setup import ProviderChoice, do_set_provider
from hushdesk.agents.providers.registry import check_provider_settings
from hushdesk.agents.providers.retries import DEFAULT_RETRY_POLICY
from hushdesk.conversations.live import conversation_topic, inbox_topic
from hushdesk.conversations.models import Conversation, Message
from hushdesk.conversations.replies import DELAYED_NOTICE, REPLY_ATTEMPTS
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.events import Event, EventBus
from hushdesk.infra.http import build_http_client
from hushdesk.infra.jobs.models import WorkItem
from hushdesk.infra.jobs.queue import Outcome, RunResult
from hushdesk.privacy.pii import NameLexicon
from hushdesk.settings import Settings, outbound_policy
from tests.agents.providers.wire import event_stream, json_reply, openai_error, openai_stream_body
from tests.widget.conftest import OPERATOR, WidgetWorld, build_world

BASE_URL = "https://models.example.test/v1"
API_KEY = "sk-selfhosted-Jq4wN8rT2vX6"
QUESTION = "How many business days until refunds are paid back?"
# The model's answer, streamed in two pieces; it cites the one passage it was given.
ANSWER = ("Refunds are paid back within 5 business days ", "after we receive the returned item [1].")

T = TypeVar("T")


class ModelEndpoint:
    """An OpenAI-compatible endpoint that is down (503, or 429 asking to come back in two
    minutes) until ``recover()``, then streams ``ANSWER``. Records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.failure = json_reply(
            503,
            openai_error(code=None, kind="server_error", message="The server is overloaded."),
        )
        self._up = False

    def rate_limit(self) -> None:
        """Fail with a rate limit whose Retry-After is too long to wait for inside one attempt."""
        self.failure = json_reply(
            429,
            openai_error(code="rate_limit_exceeded", kind="requests", message="Rate limit reached."),
            headers={"retry-after": "120"},
        )

    def recover(self) -> None:
        self._up = True

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self._up:
            return event_stream(openai_stream_body(*ANSWER))(request)
        return self.failure(request)


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> ModelEndpoint:
    """The endpoint in place of the network, for every outbound client the app makes from here."""
    endpoint = ModelEndpoint()

    def outbound_client(settings: Settings) -> httpx.Client:
        return build_http_client(
            outbound_policy(settings), version=__version__, transport=httpx.MockTransport(endpoint)
        )

    monkeypatch.setattr(bootstrap, "outbound_client", outbound_client)
    return endpoint


@pytest.fixture
def world(
    engine: Engine, tmp_path: Path, name_lexicon: NameLexicon, model: ModelEndpoint
) -> Iterator[WidgetWorld]:
    """The widget world, its outbound clients going to ``model``."""
    yield from build_world(engine, tmp_path, names=name_lexicon)


def _answer_through_the_endpoint(world: WidgetWorld) -> None:
    """Configure the agent as its admin would: the OpenAI-compatible provider at ``BASE_URL``,
    its facts acknowledged, its API key sealed in the secret store."""
    with unit_of_work(world.sessions) as session:
        settings = check_provider_settings(kind="openai-compatible", model="llama-3.1-8b", base_url=BASE_URL)
        choice = ProviderChoice(settings=settings, api_key=SecretStr(API_KEY), acknowledged=True)
        do_set_provider(session, world.agent(session), choice, workspace_region="eu", actor=OPERATOR)


def _watching(world: WidgetWorld, topics: list[str], action: Callable[[], T]) -> tuple[T, list[Event]]:
    """``action()`` run in a thread while subscribed to ``topics``; its result and every event
    published on them meanwhile, in order. The subscription lives in the test client's own
    event loop (its portal), as the app's streams do, never in the test's thread."""
    bus: EventBus = world.app.state.events

    async def run() -> tuple[T, list[Event]]:
        async with bus.subscribe(topics) as subscription:
            result = await asyncio.to_thread(action)
            seen: list[Event] = []
            while (event := await subscription.next(timeout=0)) is not None:
                seen.append(event)
            return result, seen

    portal = world.client.portal
    assert portal is not None
    return portal.call(run)


class Attempts:
    """Runs attempts of the one reply job of the world's conversation and records what the
    conversation's and the inbox's subscribers saw."""

    def __init__(self, world: WidgetWorld) -> None:
        self.world = world
        (self.item_id,) = world.pending_work()
        with unit_of_work(world.sessions) as session:
            item = session.get_one(WorkItem, self.item_id)
            message = session.get_one(Message, uuid.UUID(str(item.payload["message_id"])))
            self.conversation_id = message.conversation_id
        self.topics = [conversation_topic(self.conversation_id), inbox_topic(world.workspace_id)]

    def run_now(self) -> tuple[RunResult, list[Event]]:
        """One attempt, the item made due first (its retry back-off skipped)."""
        with unit_of_work(self.world.sessions) as session:
            session.execute(update(WorkItem).where(WorkItem.id == self.item_id).values(available_at=utcnow()))
        return _watching(self.world, self.topics, lambda: self.world.jobs.run_work_item(self.item_id))

    def item(self) -> WorkItem:
        with unit_of_work(self.world.sessions) as session:
            item = session.get_one(WorkItem, self.item_id)
            session.expunge(item)
            return item


def _statuses(events: list[Event], topic: str) -> list[tuple[object, object]]:
    return [
        (e.data["state"], e.data["notice"]) for e in events if e.topic == topic and e.data["kind"] == "status"
    ]


def _kinds(events: list[Event], topic: str) -> list[object]:
    return [e.data["kind"] for e in events if e.topic == topic]


def _messages(world: WidgetWorld) -> list[Message]:
    with unit_of_work(world.sessions) as session:
        messages = list(session.scalars(select(Message).order_by(Message.seq)))
        for message in messages:
            session.expunge(message)
        return messages


def _sent_to_model(request: httpx.Request) -> str:
    return "\n".join(str(message["content"]) for message in json.loads(request.content)["messages"])


def test_a_provider_outage_delays_the_reply_and_the_answer_arrives_once_it_recovers(
    world: WidgetWorld, model: ModelEndpoint
) -> None:
    _answer_through_the_endpoint(world)
    visitor = world.visitor().start()
    sent = visitor.say(QUESTION)
    assert sent.status_code == 202, sent.text
    [stored] = _messages(world)
    assert (stored.author, stored.body, stored.reply_state) == ("customer", QUESTION, "pending")
    attempts = Attempts(world)
    topic = conversation_topic(attempts.conversation_id)

    for attempt in (1, 2):
        before = len(model.requests)
        result, events = attempts.run_now()
        assert result.outcome is Outcome.RETRY
        # The provider adapter retried the 503 itself first; the job retries the whole reply later.
        assert len(model.requests) - before == 1 + DEFAULT_RETRY_POLICY.max_retries
        assert _statuses(events, topic) == [("typing", None), ("delayed", DELAYED_NOTICE)]
        assert "message" not in _kinds(events, topic), "nothing was stored, so nothing is announced"
        assert _kinds(events, inbox_topic(world.workspace_id)) == [], "the team is not involved yet"
        item = attempts.item()
        assert (item.state, item.attempts) == ("pending", attempt)
        assert item.available_at > utcnow(), "the retry waits for its back-off"
        assert item.last_error is not None
        assert "ProviderFailing" in item.last_error
        [waiting] = _messages(world)
        assert waiting.reply_state == "pending"

    # The customer's notice is ours, short and says nothing of the provider's failure.
    assert "503" not in DELAYED_NOTICE
    assert "overloaded" not in DELAYED_NOTICE.lower()

    model.recover()
    result, events = attempts.run_now()
    assert result.outcome is Outcome.DONE
    assert _statuses(events, topic) == [("typing", None)]
    assert [e.data for e in events if e.topic == topic and e.data["kind"] == "message"] == [
        {"kind": "message", "message_id": str(_messages(world)[1].id), "seq": 2}
    ]
    assert _kinds(events, inbox_topic(world.workspace_id)) == []

    customer, assistant = _messages(world)
    assert (customer.id, customer.reply_state) == (stored.id, "answered")
    assert assistant.author == "assistant"
    assert assistant.outcome == "answered"
    assert assistant.body == "".join(ANSWER), assistant.body
    assert assistant.citations == [{"title": "Refunds", "source": "help.md"}]
    item = attempts.item()
    assert (item.state, item.attempts, item.last_error) == ("done", 3, None)

    # Every request went to the configured endpoint with the stored key and the question.
    assert {str(request.url) for request in model.requests} == {f"{BASE_URL}/chat/completions"}
    assert {request.headers["authorization"] for request in model.requests} == {f"Bearer {API_KEY}"}
    assert QUESTION in _sent_to_model(model.requests[-1])

    # A late duplicate delivery of the same job writes nothing more.
    assert world.jobs.run_work_item(attempts.item_id).outcome is Outcome.NOT_CLAIMABLE
    assert [m.author for m in _messages(world)] == ["customer", "assistant"]
    with unit_of_work(world.sessions) as session:
        assert session.get_one(Conversation, attempts.conversation_id).status == "bot"


def test_when_every_attempt_fails_the_last_one_apologises_and_hands_off(
    world: WidgetWorld, model: ModelEndpoint
) -> None:
    _answer_through_the_endpoint(world)
    model.rate_limit()
    visitor = world.visitor().start()
    assert visitor.say(QUESTION).status_code == 202
    attempts = Attempts(world)
    topic = conversation_topic(attempts.conversation_id)
    inbox = inbox_topic(world.workspace_id)

    for attempt in range(1, REPLY_ATTEMPTS):
        result, events = attempts.run_now()
        assert result.outcome is Outcome.RETRY, f"attempt {attempt}"
        assert _statuses(events, topic) == [("typing", None), ("delayed", DELAYED_NOTICE)]
        assert _kinds(events, inbox) == []
        assert [m.author for m in _messages(world)] == ["customer"]
    # A Retry-After longer than the adapter waits for: one request per attempt.
    assert len(model.requests) == REPLY_ATTEMPTS - 1

    result, events = attempts.run_now()
    assert result.outcome is Outcome.DONE
    customer, apology = _messages(world)
    assert customer.reply_state == "answered"
    assert (apology.author, apology.body, apology.outcome) == (
        "assistant",
        wording.PROVIDER_FAILED,
        "handed_off",
    )
    assert not apology.citations
    assert _statuses(events, topic) == [("typing", None), ("handed_off", None)], "no 'delayed' at the end"
    assert [e.data for e in events if e.topic == topic and e.data["kind"] == "message"] == [
        {"kind": "message", "message_id": str(apology.id), "seq": 2}
    ]
    assert [e.data for e in events if e.topic == inbox] == [
        {
            "kind": "conversation",
            "conversation_id": str(attempts.conversation_id),
            "agent_id": str(world.agent_id),
            "status": "handed_off",
        }
    ]
    with unit_of_work(world.sessions) as session:
        conversation = session.get_one(Conversation, attempts.conversation_id)
        assert (conversation.status, conversation.handoff_reason) == ("handed_off", "provider_failed")
        assert conversation.handed_off_at is not None
    item = attempts.item()
    assert (item.state, item.attempts) == ("done", REPLY_ATTEMPTS)
    assert len(model.requests) == REPLY_ATTEMPTS

    # The agent stays quiet from here: the job is finished and nothing runs it again.
    assert world.jobs.run_work_item(attempts.item_id).outcome is Outcome.NOT_CLAIMABLE
    assert [m.author for m in _messages(world)] == ["customer", "assistant"]
