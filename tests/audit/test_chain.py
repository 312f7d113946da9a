"""Appending to the chain and detecting every kind of tampering, on both engines."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.audit.chain import GENESIS_HASH, ChainHead, EventFields, VerifyReport, event_hash, verify_chain
from hushdesk.audit.models import INSTANCE_CHAIN, ActorKind, AuditEvent, chain_for
from hushdesk.audit.service import InvalidAuditEventError, do_record_event
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.audit.conftest import events, execute, record, rehash_from
from tests.conftest import empty_all_tables


def _verify(sessions: sessionmaker[Session], chain: str, checkpoint: ChainHead | None = None) -> VerifyReport:
    with unit_of_work(sessions) as session:
        return verify_chain(session, chain, checkpoint=checkpoint)


def test_appended_events_form_a_valid_chain(sessions: sessionmaker[Session], workspace_id: uuid.UUID) -> None:
    record(sessions, workspace_id, 3)
    chain = chain_for(workspace_id)
    stored = events(sessions, chain)
    assert [event.seq for event in stored] == [1, 2, 3]
    assert stored[0].prev_hash == GENESIS_HASH
    assert [event.prev_hash for event in stored[1:]] == [event.hash for event in stored[:-1]]
    assert all(event_hash(EventFields.of(event)) == event.hash for event in stored)
    with unit_of_work(sessions) as session:
        report = verify_chain(session, chain)
    assert report.ok
    assert report.events_checked == 3
    assert report.head == ChainHead(chain, 3, stored[-1].hash)


def test_instance_events_form_their_own_chain(
    sessions: sessionmaker[Session], workspace_id: uuid.UUID
) -> None:
    record(sessions, workspace_id, 2)
    record(sessions, None, 1)
    (instance_event,) = events(sessions, INSTANCE_CHAIN)
    assert instance_event.workspace_id is None
    assert instance_event.seq == 1
    assert instance_event.prev_hash == GENESIS_HASH
    with unit_of_work(sessions) as session:
        assert verify_chain(session, INSTANCE_CHAIN).ok


def test_rolled_back_transaction_leaves_no_event(
    sessions: sessionmaker[Session], workspace_id: uuid.UUID
) -> None:
    with pytest.raises(RuntimeError, match="the change failed"), unit_of_work(sessions) as session:
        do_record_event(
            session, workspace_id=workspace_id, actor_kind=ActorKind.USER, actor_id="u1", action="auth.login"
        )
        raise RuntimeError("the change failed")
    assert events(sessions, chain_for(workspace_id)) == []


@pytest.mark.parametrize(
    "data",
    [{"ratio": 0.5}, {"nested": {"a": 1}}, {"note": "x" * 3000}],
    ids=["float", "nested", "too-large"],
)
def test_data_that_is_not_small_flat_identifiers_is_refused(
    sessions: sessionmaker[Session], data: dict[str, object]
) -> None:
    with pytest.raises(InvalidAuditEventError), unit_of_work(sessions) as session:
        do_record_event(
            session,
            workspace_id=None,
            actor_kind=ActorKind.SYSTEM,
            actor_id=None,
            action="a.b",
            data=data,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize("action", ["Keys.Rotate", "rotate", "a." + "b" * 70])
def test_malformed_action_is_refused(sessions: sessionmaker[Session], action: str) -> None:
    with pytest.raises(InvalidAuditEventError), unit_of_work(sessions) as session:
        do_record_event(session, workspace_id=None, actor_kind=ActorKind.SYSTEM, actor_id=None, action=action)


def test_edited_event_is_detected(
    engine: Engine, sessions: sessionmaker[Session], workspace_id: uuid.UUID
) -> None:
    record(sessions, workspace_id, 4)
    chain = chain_for(workspace_id)
    execute(
        engine, "UPDATE audit_event SET actor_id = 'someone' WHERE chain = :chain AND seq = 2", chain=chain
    )
    report = _verify(sessions, chain)
    assert not report.ok
    assert report.first_bad_seq == 2
    assert report.first_bad_id == events(sessions, chain)[1].id
    assert "edited" in (report.problem or "")


def test_deleted_event_is_detected(
    engine: Engine, sessions: sessionmaker[Session], workspace_id: uuid.UUID
) -> None:
    record(sessions, workspace_id, 4)
    chain = chain_for(workspace_id)
    execute(engine, "DELETE FROM audit_event WHERE chain = :chain AND seq = 2", chain=chain)
    report = _verify(sessions, chain)
    assert report.first_bad_seq == 3
    assert "gap" in (report.problem or "")


def test_inserted_event_is_detected(
    engine: Engine, sessions: sessionmaker[Session], workspace_id: uuid.UUID
) -> None:
    record(sessions, workspace_id, 3)
    chain = chain_for(workspace_id)
    first = events(sessions, chain)[0]
    # Make room at seq 2 in two steps (a unique constraint may be checked row by row).
    execute(engine, "UPDATE audit_event SET seq = seq + 1000 WHERE chain = :chain AND seq >= 2", chain=chain)
    execute(
        engine, "UPDATE audit_event SET seq = seq - 999 WHERE chain = :chain AND seq >= 1000", chain=chain
    )
    fields = EventFields(
        chain=chain,
        seq=2,
        id=uuid.uuid4(),
        occurred_at=dt.datetime.now(dt.UTC),
        actor_kind="user",
        actor_id="forger",
        action="auth.login",
        target_kind=None,
        target_id=None,
        data={},
        prev_hash=first.hash,
    )
    with unit_of_work(sessions) as session:
        session.add(
            AuditEvent(
                **{f: getattr(fields, f) for f in fields.__slots__},
                workspace_id=workspace_id,
                hash=event_hash(fields),
            )
        )
    report = _verify(sessions, chain)
    # The forged event itself links correctly; the original it displaced does not.
    assert report.first_bad_seq == 3


def test_reordered_events_are_detected(
    engine: Engine, sessions: sessionmaker[Session], workspace_id: uuid.UUID
) -> None:
    record(sessions, workspace_id, 4)
    chain = chain_for(workspace_id)
    execute(engine, "UPDATE audit_event SET seq = 1002 WHERE chain = :chain AND seq = 2", chain=chain)
    execute(engine, "UPDATE audit_event SET seq = 2 WHERE chain = :chain AND seq = 3", chain=chain)
    execute(engine, "UPDATE audit_event SET seq = 3 WHERE chain = :chain AND seq = 1002", chain=chain)
    report = _verify(sessions, chain)
    assert report.first_bad_seq == 2
    assert "prev_hash" in (report.problem or "")


def test_rewritten_and_rehashed_chain_passes_links_but_fails_the_checkpoint(
    engine: Engine, sessions: sessionmaker[Session], workspace_id: uuid.UUID
) -> None:
    record(sessions, workspace_id, 4)
    chain = chain_for(workspace_id)
    signed_head = ChainHead(chain, 3, events(sessions, chain)[2].hash)
    execute(
        engine, "UPDATE audit_event SET actor_id = 'someone' WHERE chain = :chain AND seq = 2", chain=chain
    )
    rehash_from(engine, sessions, chain, 2)
    assert _verify(sessions, chain).ok
    report = _verify(sessions, chain, signed_head)
    assert report.first_bad_seq == 3
    assert "checkpoint" in (report.problem or "")


def test_chain_cut_short_before_the_checkpoint_is_detected(
    engine: Engine, sessions: sessionmaker[Session], workspace_id: uuid.UUID
) -> None:
    record(sessions, workspace_id, 3)
    chain = chain_for(workspace_id)
    signed_head = ChainHead(chain, 3, events(sessions, chain)[2].hash)
    execute(engine, "DELETE FROM audit_event WHERE chain = :chain AND seq = 3", chain=chain)
    assert _verify(sessions, chain).ok
    report = _verify(sessions, chain, signed_head)
    assert report.first_bad_seq == 3
    assert "deleted" in (report.problem or "")


@pytest.mark.postgres
def test_concurrent_appends_on_postgres_do_not_fork_the_chain(postgres_engine: Engine) -> None:
    sessions = make_sessionmaker(postgres_engine)
    threads_count = 8
    try:
        with unit_of_work(sessions) as session:
            workspace_id = do_create_workspace(session, name="Busy", region=Region.EU).id
        start = threading.Barrier(threads_count)
        failures: list[BaseException] = []

        def append() -> None:
            try:
                start.wait()
                with unit_of_work(sessions) as session:
                    do_record_event(
                        session,
                        workspace_id=workspace_id,
                        actor_kind=ActorKind.SYSTEM,
                        actor_id=None,
                        action="x.y",
                    )
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which asserts none
                failures.append(exc)

        threads = [threading.Thread(target=append) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        chain = chain_for(workspace_id)
        with unit_of_work(sessions) as session:
            seqs = list(
                session.scalars(
                    select(AuditEvent.seq).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
                )
            )
            report = verify_chain(session, chain)
        assert seqs == list(range(1, threads_count + 1))
        assert report.ok
    finally:
        empty_all_tables(postgres_engine)
