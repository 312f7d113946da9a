"""A resend racing its original (the same client id, at the same moment) is stored once. On
PostgreSQL only: SQLite's writers queue for one lock (BEGIN IMMEDIATE), so there is no race."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hushdesk.conversations.models import Conversation, Message
from hushdesk.conversations.service import StoredInbound, do_store_customer_message
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.privacy.pii import NameLexicon
from tests.conftest import empty_all_tables
from tests.widget.conftest import WidgetWorld, build_world


@pytest.fixture
def pg_widget(postgres_engine: Engine, tmp_path: Path, name_lexicon: NameLexicon) -> Iterator[WidgetWorld]:
    try:
        yield from build_world(postgres_engine, tmp_path, names=name_lexicon)
    finally:
        empty_all_tables(postgres_engine)


@pytest.mark.postgres
def test_the_same_client_id_sent_twice_at_once_is_stored_once(pg_widget: WidgetWorld) -> None:
    widget = pg_widget
    visitor = widget.visitor().start()
    assert visitor.say("Hello").status_code == 202
    with unit_of_work(widget.sessions) as session:
        conversation_id = session.scalars(select(Conversation.id)).one()
    client_id = str(uuid.uuid4())
    barrier = threading.Barrier(2)
    results: list[StoredInbound] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            with unit_of_work(widget.sessions) as session:
                conversation = session.get_one(Conversation, conversation_id)
                barrier.wait(timeout=10)
                stored = do_store_customer_message(
                    session,
                    bus=widget.app.state.events,
                    conversation=conversation,
                    text="Again",
                    client_message_id=client_id,
                )
                results.append(stored)
        except BaseException as exc:  # noqa: BLE001  # a thread's failure is reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(result.created for result in results) == [False, True]
    assert len({result.message.id for result in results}) == 1
    with unit_of_work(widget.sessions) as session:
        rows = session.scalars(select(Message).where(Message.client_message_id == client_id)).all()
        assert len(rows) == 1
        assert session.get_one(Conversation, conversation_id).last_seq == 2
