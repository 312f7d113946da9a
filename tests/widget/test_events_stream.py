"""The widget's event stream (``GET /widget/v1/events``) through the real app: the backlog
after ``?after=``, an assistant reply as ``delta`` pieces and then its ``message``, a reply
arriving live while the stream is open, and the stream ending once its token stops working."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from hushdesk.conversations.live import conversation_topic
from hushdesk.conversations.models import Conversation, WidgetSession
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from tests.widget.conftest import Visitor, WidgetWorld

EVENTS = "/widget/v1/events"
QUESTION = "How many business days until refunds are paid back?"
WAIT_SECONDS = 10.0
MESSAGE_KEYS = {"id", "seq", "author", "text", "created_at", "citations", "attachment"}


@dataclass(frozen=True, slots=True)
class Sse:
    event: str
    data: Any


def _parse(lines: Iterator[str]) -> Iterator[Sse]:
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if line.startswith(":"):
            continue  # a keep-alive comment
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif line == "" and event is not None:
            yield Sse(event, json.loads("\n".join(data)))
            event, data = None, []


def _is_message(event: Sse, *, author: str) -> bool:
    return event.event == "message" and event.data["author"] == author


def _stream_until(
    visitor: Visitor,
    stop: Callable[[list[Sse]], bool],
    *,
    after: int = 0,
    started: threading.Event | None = None,
) -> list[Sse]:
    """Read the visitor's stream until ``stop`` says enough (or the server ends it)."""
    seen: list[Sse] = []
    with visitor.world.client.stream(
        "GET", EVENTS, params={"after": after}, headers=visitor.auth
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        if started is not None:
            started.set()
        for event in _parse(response.iter_lines()):
            seen.append(event)
            if stop(seen):
                break
    return seen


class _Reader:
    """A stream read in its own thread, each event handed over as it arrives; it stops once
    ``stop`` says enough, or the server ends the stream."""

    _END = object()

    def __init__(self, visitor: Visitor, stop: Callable[[list[Sse]], bool]) -> None:
        self._events: queue.Queue[Any] = queue.Queue()
        started = threading.Event()
        stop_and_hand_over = self._handing_over(stop)

        def read() -> None:
            try:
                _stream_until(visitor, stop_and_hand_over, started=started)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which raises it
                self._events.put(exc)
            finally:
                self._events.put(self._END)
                started.set()

        threading.Thread(target=read, daemon=True).start()
        assert started.wait(WAIT_SECONDS), "the stream did not open"

    def _handing_over(self, stop: Callable[[list[Sse]], bool]) -> Callable[[list[Sse]], bool]:
        def check(seen: list[Sse]) -> bool:
            self._events.put(seen[-1])
            return stop(seen)

        return check

    def until(self, wanted: Callable[[Sse], bool]) -> list[Sse]:
        """The events up to the first ``wanted`` one (waiting at most WAIT_SECONDS in all)."""
        got: list[Sse] = []
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                item = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"not on the stream within {WAIT_SECONDS} s: {got}") from None
            if isinstance(item, BaseException):
                raise item
            if item is self._END:
                raise AssertionError(f"the stream ended early: {got}")
            got.append(item)
            if wanted(item):
                return got


def _answered(world: WidgetWorld) -> Visitor:
    visitor = world.visitor().start()
    assert visitor.say(QUESTION).status_code == 202
    assert {result.outcome.value for result in world.run_replies()} == {"done"}
    return visitor


def _has_assistant_message(seen: list[Sse]) -> bool:
    return any(_is_message(event, author="assistant") for event in seen)


def test_backlog_is_sent_as_stored_messages_with_the_reply_in_deltas(shared_widget: WidgetWorld) -> None:
    visitor = _answered(shared_widget)
    events = _stream_until(visitor, _has_assistant_message)
    messages = [event.data for event in events if event.event == "message"]
    assert [(m["seq"], m["author"]) for m in messages] == [(1, "customer"), (2, "assistant")]
    for message in messages:
        assert set(message) == MESSAGE_KEYS
    assert messages[0]["text"] == QUESTION
    # The stream's messages are the ones the frame gets on a reload.
    assert messages == visitor.refresh().json()["messages"]
    reply = messages[1]
    assert "5 business days" in reply["text"]
    assert reply["citations"]
    assert reply["citations"][0]["source"] == "help.md"
    deltas = [event.data for event in events if event.event == "delta"]
    assert deltas, "the reply came in pieces"
    assert {delta["message_id"] for delta in deltas} == {reply["id"]}
    assert "".join(delta["text"] for delta in deltas) == reply["text"]
    # Every piece comes before the whole message.
    kinds = [event.event for event in events if event.event in ("delta", "message")]
    assert kinds == ["message", *["delta"] * len(deltas), "message"]


def test_after_skips_what_the_frame_has_seen(shared_widget: WidgetWorld) -> None:
    visitor = _answered(shared_widget)
    events = _stream_until(visitor, _has_assistant_message, after=1)
    messages = [event.data for event in events if event.event == "message"]
    assert [m["seq"] for m in messages] == [2]
    assert events[0].event == "delta"


def test_stream_without_a_token_is_refused(shared_widget: WidgetWorld) -> None:
    response = shared_widget.client.get(EVENTS)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "widget_token_invalid"


def test_stream_with_a_bootstrap_token_is_refused(shared_widget: WidgetWorld) -> None:
    bootstrap = shared_widget.visitor().open().json()["bootstrap"]
    response = shared_widget.client.get(EVENTS, headers={"authorization": f"Bearer {bootstrap}"})
    assert response.status_code == 401


def test_stream_with_a_negative_after_is_refused(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    response = shared_widget.client.get(EVENTS, params={"after": -1}, headers=visitor.auth)
    assert response.status_code == 422


def test_reply_arrives_live_on_an_open_stream(shared_widget: WidgetWorld) -> None:
    visitor = _answered(shared_widget)
    reader = _Reader(visitor, lambda seen: sum(_is_message(e, author="assistant") for e in seen) == 2)
    backlog = reader.until(lambda event: _is_message(event, author="assistant"))
    assert [e.data["seq"] for e in backlog if e.event == "message"] == [1, 2]
    # The stream is now waiting for news: what follows can only come live.
    assert visitor.say("Where do orders ship from?").status_code == 202
    assert {r.outcome.value for r in shared_widget.run_replies()} == {"done"}
    live = reader.until(lambda event: _is_message(event, author="assistant"))
    messages = [event.data for event in live if event.event == "message"]
    assert [(m["seq"], m["author"]) for m in messages] == [(3, "customer"), (4, "assistant")]
    assert messages[1]["text"]
    deltas = "".join(event.data["text"] for event in live if event.event == "delta")
    assert deltas == messages[1]["text"]
    assert Sse("status", {"state": "typing", "text": None}) in live


def test_first_message_opens_the_conversation_on_a_waiting_stream(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    # Opened before the conversation exists: the stream follows it once the first message makes it.
    reader = _Reader(visitor, _has_assistant_message)
    assert visitor.say(QUESTION).status_code == 202
    assert {r.outcome.value for r in shared_widget.run_replies()} == {"done"}
    events = reader.until(lambda event: _is_message(event, author="assistant"))
    assert [e.data["seq"] for e in events if e.event == "message"] == [1, 2]


def _conversation_id(visitor: Visitor) -> uuid.UUID:
    """The visitor's conversation, as a reload shows it (which rotates the visitor's token)."""
    refreshed = visitor.refresh()
    assert refreshed.status_code == 200, refreshed.text
    return uuid.UUID(refreshed.json()["conversation"]["id"])


def _stream_then(
    world: WidgetWorld, visitor: Visitor, conversation_id: uuid.UUID, change: Callable[[], None]
) -> list[Sse]:
    """Open the stream, wait for the backlog, make ``change``, nudge the stream with an event
    of the conversation, and return what it sent before it ended."""
    seen: list[Sse] = []
    deadline = time.monotonic() + WAIT_SECONDS
    with world.client.stream("GET", EVENTS, headers=visitor.auth) as response:
        assert response.status_code == 200
        events = _parse(response.iter_lines())
        for event in events:
            seen.append(event)
            if event.event == "message":
                break
        change()
        world.app.state.events.publish(conversation_topic(conversation_id), {"kind": "message", "seq": 99})
        for event in events:
            seen.append(event)
            assert time.monotonic() < deadline, "the stream did not end"
    return seen


def test_stream_ends_when_the_session_ends(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    assert visitor.say("hello").status_code == 202
    conversation_id = _conversation_id(visitor)

    def end_session() -> None:
        with unit_of_work(shared_widget.sessions) as session:
            session_id = session.get_one(Conversation, conversation_id).widget_session_id
            session.execute(
                update(WidgetSession).where(WidgetSession.id == session_id).values(ended_at=utcnow())
            )

    seen = _stream_then(shared_widget, visitor, conversation_id, end_session)
    assert [event.event for event in seen] == ["message"]


def test_stream_of_a_rotated_token_ends(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    assert visitor.say("hello").status_code == 202
    conversation_id = _conversation_id(visitor)
    old = Visitor(shared_widget, token=visitor.token)

    def rotate() -> None:
        assert visitor.refresh().status_code == 200

    seen = _stream_then(shared_widget, old, conversation_id, rotate)
    assert [event.event for event in seen] == ["message"]
