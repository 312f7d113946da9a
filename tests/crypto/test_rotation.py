"""Key rotation: the master key re-wraps every key; a workspace key rotation re-seals every
value under the new key, resumably and without losing concurrent writes, then destroys the
old key."""

from __future__ import annotations

import datetime as dt
import random
import threading
import uuid
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Table, func, select

from hushdesk.crypto.aead import column_binding, encrypt, key_id_of
from hushdesk.crypto.columns import Sealed
from hushdesk.crypto.errors import KeyUnavailableError
from hushdesk.crypto.models import DataKeyRecord, KeyStatus
from hushdesk.crypto.reencrypt import (
    ReencryptionRefusedError,
    data_key_tables,
    reencrypt_workspace,
    values_sealed_by,
    workspace_key_states,
)
from hushdesk.crypto.reencryption_models import ReencryptionProgress
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.jobs.backend import create_job_queue
from hushdesk.infra.jobs.models import WorkItem, WorkState
from hushdesk.infra.jobs.queue import Outcome, enqueue_work
from hushdesk.tasks import REENCRYPT_WORKSPACE, reencrypt_workspace_handler
from tests.crypto.conftest import Vault
from tests.crypto.encrypted_models import Dossier, FixtureBase

DOSSIER = cast(Table, Dossier.__table__)
TABLES = data_key_tables(FixtureBase.registry)


def _add(vault: Vault, count: int, *, workspace_id: uuid.UUID | None = None) -> dict[uuid.UUID, str]:
    """``count`` dossiers with every column set; returns their bodies by id."""
    bodies: dict[uuid.UUID, str] = {}
    with unit_of_work(vault.sessions) as session:
        for number in range(count):
            dossier = Dossier(
                workspace_id=workspace_id or vault.workspace_id,
                contact_id=uuid.uuid4(),
                body=f"body {number}",
                details={"n": number},
                attachment=bytes([number % 256]),
                phone=f"+2782{number:07d}",
            )
            session.add(dossier)
            session.flush()
            bodies[dossier.id] = f"body {number}"
    return bodies


def _active_key(vault: Vault, workspace_id: uuid.UUID | None = None) -> uuid.UUID:
    with unit_of_work(vault.sessions) as session:
        return session.scalars(
            select(DataKeyRecord.id).where(
                DataKeyRecord.workspace_id == (workspace_id or vault.workspace_id),
                DataKeyRecord.status == KeyStatus.ACTIVE.value,
            )
        ).one()


def _rotate(vault: Vault) -> tuple[uuid.UUID, uuid.UUID]:
    """Rotate the workspace's data key; returns (retiring id, new id)."""
    old = _active_key(vault)
    with unit_of_work(vault.sessions) as session:
        new = vault.keyring.rotate_workspace_key(session, workspace_id=vault.workspace_id)
    return old, new.id


def _key_ids(vault: Vault, column: str) -> list[uuid.UUID]:
    with vault.engine.connect() as connection:
        values = connection.execute(
            select(DOSSIER.c[column]).where(
                DOSSIER.c.workspace_id == vault.workspace_id, DOSSIER.c[column].is_not(None)
            )
        ).scalars()
        return [key_id_of(value.ciphertext) for value in values]


def _status(vault: Vault, key_id: uuid.UUID) -> str:
    with unit_of_work(vault.sessions) as session:
        record = session.get(DataKeyRecord, key_id)
        assert record is not None
        return record.status


def _read_all(vault: Vault) -> dict[uuid.UUID, Dossier]:
    with unit_of_work(vault.fresh_keyring_sessions()) as session:
        rows = session.scalars(select(Dossier).where(Dossier.workspace_id == vault.workspace_id))
        return {row.id: row for row in rows}


# ---- master key ------------------------------------------------------------------------------


def test_rotate_master_rewraps_every_key_and_data_stays_readable(vault: Vault) -> None:
    bodies = _add(vault, 3)
    _add(vault, 1, workspace_id=vault.other_workspace_id)
    new_kek = vault.provider.rotate()
    seen: list[tuple[int, int]] = []
    with unit_of_work(vault.sessions) as session:
        total = vault.keyring.rewrap_all(session, progress=lambda done, of: seen.append((done, of)))
    assert total == 2 + 4  # two workspace keys, four contact keys
    assert seen[-1] == (total, total)
    with unit_of_work(vault.sessions) as session:
        assert set(session.scalars(select(DataKeyRecord.kek_id))) == {new_kek}
    assert {stored.kek_id for stored in vault.contact_keys.all_keys()} == {new_kek}
    assert {row_id: row.body for row_id, row in _read_all(vault).items()} == bodies


# ---- workspace key ---------------------------------------------------------------------------


def test_tables_are_found_with_their_data_key_columns_only() -> None:
    assert [(table.model, table.attributes) for table in TABLES] == [
        (Dossier, ("attachment", "body", "details"))
    ]


def test_reencryption_reseals_data_values_destroys_the_old_key_and_leaves_contact_values(
    vault: Vault,
) -> None:
    bodies = _add(vault, 5)
    phones_before = _key_ids(vault, "phone")
    old, new = _rotate(vault)
    _add(vault, 1, workspace_id=vault.other_workspace_id)
    other_before = _active_key(vault, vault.other_workspace_id)
    report = reencrypt_workspace(
        vault.sessions, tables=TABLES, workspace_id=vault.workspace_id, key_id=old, batch_size=2
    )
    assert report.values_resealed == 15
    assert report.key_destroyed
    for column in ("body", "details", "attachment"):
        assert set(_key_ids(vault, column)) == {new}
    assert _key_ids(vault, "phone") == phones_before
    assert _status(vault, old) == KeyStatus.DESTROYED
    assert _status(vault, other_before) == KeyStatus.ACTIVE
    rows = _read_all(vault)
    assert {row_id: row.body for row_id, row in rows.items()} == bodies
    assert sorted(row.details["n"] for row in rows.values()) == [0, 1, 2, 3, 4]
    with unit_of_work(vault.sessions) as session, pytest.raises(KeyUnavailableError):
        vault.keyring.data_key_for_reading(session, old)


def test_reencryption_is_idempotent(vault: Vault) -> None:
    _add(vault, 2)
    old, _new = _rotate(vault)
    reencrypt_workspace(vault.sessions, tables=TABLES, workspace_id=vault.workspace_id, key_id=old)
    again = reencrypt_workspace(vault.sessions, tables=TABLES, workspace_id=vault.workspace_id, key_id=old)
    assert again.values_resealed == 0
    assert again.key_destroyed


def test_reencryption_refuses_the_active_key_and_another_workspaces_key(vault: Vault) -> None:
    _add(vault, 1)
    active = _active_key(vault)
    with pytest.raises(ReencryptionRefusedError):
        reencrypt_workspace(vault.sessions, tables=TABLES, workspace_id=vault.workspace_id, key_id=active)
    with pytest.raises(ReencryptionRefusedError):
        reencrypt_workspace(
            vault.sessions, tables=TABLES, workspace_id=vault.other_workspace_id, key_id=active
        )
    assert _status(vault, active) == KeyStatus.ACTIVE


class _Crash(Exception):
    pass


def test_a_crash_after_one_batch_resumes_from_the_cursor(vault: Vault) -> None:
    bodies = _add(vault, 5)
    old, new = _rotate(vault)

    def crash() -> None:
        raise _Crash

    with pytest.raises(_Crash):
        reencrypt_workspace(
            vault.sessions,
            tables=TABLES,
            workspace_id=vault.workspace_id,
            key_id=old,
            batch_size=2,
            between_batches=crash,
        )
    first_two = sorted(bodies)[:2]
    with unit_of_work(vault.sessions) as session:
        progress = session.get(ReencryptionProgress, (old, "test_dossier"))
        assert progress is not None
        assert (progress.last_id, progress.values_resealed) == (first_two[1], 6)
        assert values_sealed_by(session, tables=TABLES, workspace_id=vault.workspace_id, key_id=old) == 9
    assert _status(vault, old) == KeyStatus.RETIRING
    resumed = reencrypt_workspace(
        vault.sessions, tables=TABLES, workspace_id=vault.workspace_id, key_id=old, batch_size=2
    )
    assert resumed.values_resealed == 9
    assert resumed.key_destroyed
    assert set(_key_ids(vault, "body")) == {new}
    assert {row_id: row.body for row_id, row in _read_all(vault).items()} == bodies
    with unit_of_work(vault.sessions) as session:
        assert session.scalar(select(func.count()).select_from(ReencryptionProgress)) == 0


def test_a_value_sealed_by_the_old_key_behind_the_cursor_is_found_by_another_pass(vault: Vault) -> None:
    bodies = _add(vault, 4)
    old, new = _rotate(vault)
    first = sorted(bodies)[0]
    injected = False

    def late_writer() -> None:
        # A writer that read the old key before the rotation committed, writing behind the cursor.
        nonlocal injected
        if injected:
            return
        injected = True
        with unit_of_work(vault.sessions) as session:
            old_key = vault.keyring.data_key_for_reading(session, old)
            bound_to = column_binding(
                workspace_id=vault.workspace_id, table="test_dossier", column="body", row_id=first
            )
            sealed = encrypt(old_key, b"late value", bound_to=bound_to)
            session.connection().execute(
                DOSSIER.update().where(DOSSIER.c.id == first).values(body=Sealed(sealed))
            )

    report = reencrypt_workspace(
        vault.sessions,
        tables=TABLES,
        workspace_id=vault.workspace_id,
        key_id=old,
        batch_size=2,
        between_batches=late_writer,
    )
    assert report.passes == 2
    assert report.key_destroyed
    assert set(_key_ids(vault, "body")) == {new}
    assert _read_all(vault)[first].body == "late value"


def test_keys_status_counts_the_values_a_retiring_key_still_seals(vault: Vault) -> None:
    _add(vault, 2)
    old, new = _rotate(vault)
    with unit_of_work(vault.sessions) as session:
        states = workspace_key_states(session, workspace_id=vault.workspace_id, tables=TABLES)
    assert [(state.id, state.status, state.values_remaining) for state in states] == [
        (old, KeyStatus.RETIRING, 6),
        (new, KeyStatus.ACTIVE, None),
    ]
    assert states[0].encryptions == 6


def test_the_work_handler_reencrypts_and_marks_the_item_done_with_the_key_destroyed(
    vault: Vault, tmp_path: Path
) -> None:
    bodies = _add(vault, 3)
    queue = create_job_queue(
        engine=vault.engine,
        sqlite_queue_file=tmp_path / "var" / "jobs.sqlite3",
        lease=dt.timedelta(seconds=30),
        sessions=vault.sessions,
    )
    queue.register_handler(
        REENCRYPT_WORKSPACE, reencrypt_workspace_handler(vault.sessions, models=FixtureBase.registry)
    )
    try:
        old = _active_key(vault)
        with unit_of_work(vault.sessions) as session:
            new = vault.keyring.rotate_workspace_key(session, workspace_id=vault.workspace_id)
            item_id = enqueue_work(
                session,
                queue=queue,
                kind=REENCRYPT_WORKSPACE,
                idempotency_key=str(old),
                payload={"workspace_id": str(vault.workspace_id), "key_id": str(old)},
                workspace_id=vault.workspace_id,
            )
        assert queue.run_work_item(item_id).outcome is Outcome.DONE
    finally:
        queue.close()
    with unit_of_work(vault.sessions) as session:
        item = session.get(WorkItem, item_id)
        assert item is not None
        assert item.state == WorkState.DONE
    assert _status(vault, old) == KeyStatus.DESTROYED
    assert set(_key_ids(vault, "body")) == {new.id}
    assert {row_id: row.body for row_id, row in _read_all(vault).items()} == bodies


def test_rotation_under_concurrent_writes_loses_nothing(vault: Vault) -> None:
    expected = _add(vault, 20)
    old, new = _rotate(vault)
    done, wrote = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        chooser = random.Random(7)
        round_number = 0
        try:
            while not done.is_set() or round_number < 10:
                round_number += 1
                expected.update(_add(vault, 1))
                target = chooser.choice(sorted(expected))
                with unit_of_work(vault.sessions) as session:
                    dossier = session.get(Dossier, target)
                    assert dossier is not None
                    dossier.body = f"updated {round_number}"
                expected[target] = f"updated {round_number}"
                wrote.set()
        except Exception as exc:  # noqa: BLE001 - handed to the main thread, which fails the test
            failures.append(exc)
            wrote.set()

    def interleave() -> None:
        # Between batches, let the writer insert and update at least once.
        assert wrote.wait(timeout=30)
        wrote.clear()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        report = reencrypt_workspace(
            vault.sessions,
            tables=TABLES,
            workspace_id=vault.workspace_id,
            key_id=old,
            batch_size=3,
            between_batches=interleave,
        )
    finally:
        done.set()
        thread.join(timeout=60)
    assert not failures, failures
    assert report.key_destroyed
    assert _status(vault, old) == KeyStatus.DESTROYED
    for column in ("body", "details", "attachment"):
        assert set(_key_ids(vault, column)) == {new}
    assert {row_id: row.body for row_id, row in _read_all(vault).items()} == expected
