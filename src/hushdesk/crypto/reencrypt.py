"""Re-encrypting a workspace after its data key is rotated, then destroying the old key.

``keys rotate-workspace`` retires the workspace's data key (it still opens what it sealed) and
makes a new active one; this module then re-seals, batch by batch, every value the retiring key
still seals, and destroys the retiring key once none is left.

Which values: every mapped class of the given registry with encrypted columns
(``EncryptedModel``) and a ``workspace_id`` column; of those columns, the ones sealed by the
workspace data key (a column with a ``contact_attribute`` is sealed by contact keys and is
left alone). A value is still sealed by a key when bytes 2 to 17 of its ciphertext (the key id
in the v1 header) are that key's id: ``substr`` on a SQLite blob and on a PostgreSQL bytea.

How: each batch (``batch_size`` rows, ordered by id, after the stored cursor) is one
transaction that loads the rows (they open with the retiring key), flags the affected
attributes as modified and flushes; the sealing hook re-seals them under the active key. The
cursor (``ReencryptionProgress``) is written in the same transaction, so a crash resumes after
the last committed batch, and re-running is harmless: a value already re-sealed no longer
matches.

Concurrent writers lose nothing. Writers read the active key on every write
(``Keyring.data_key_for_writing``), so once the rotation has committed they seal with the new
key. On PostgreSQL a batch locks its rows (``FOR UPDATE``): a writer updating one of them waits
and then writes its own value over the re-sealed one, or, if it went first, the batch re-reads
its committed value and re-seals only what is still under the retiring key. On SQLite writers
run one at a time (``BEGIN IMMEDIATE``). A writer that read the old key just before the
rotation committed counts its encryption on the old key's row, which locks that row until it
commits; the final step locks the same row before counting what is left, so it sees such a
value and walks the tables again instead of destroying the key under it.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, Row, delete, func, inspect, or_, select
from sqlalchemy.orm import Session, registry, sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from hushdesk.crypto.columns import KEYRING_INFO_KEY
from hushdesk.crypto.errors import CryptoError
from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.models import DataKeyRecord, KeyPurpose, KeyStatus
from hushdesk.crypto.reencryption_models import ReencryptionProgress
from hushdesk.infra.db.uow import unit_of_work

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
# Passes over the tables before giving up (a pass is only repeated when a value sealed by the
# retiring key appeared behind the cursor, which needs a writer that read the key before the
# rotation committed): the job then fails and is retried later.
MAX_PASSES = 5
_KEY_ID_OFFSET = 2  # SQL substr is 1-based; byte 0 of a ciphertext is its version
_KEY_ID_BYTES = 16

Finishing = Callable[[], AbstractContextManager[Session]]


class ReencryptionRefusedError(CryptoError):
    """The key cannot be re-encrypted away: unknown, another workspace's, not a data key, or
    still active. Retrying does not help."""


class ValuesRemainError(CryptoError):
    """Values sealed by the retiring key kept appearing behind the cursor; try again later."""


class _StillSealedError(Exception):
    """A value sealed by the retiring key appeared behind the cursor: walk the tables again."""


@dataclass(frozen=True, slots=True)
class EncryptedTable:
    """A mapped class with encrypted columns and its attributes sealed by the data key."""

    model: type[Any]
    attributes: tuple[str, ...]

    @property
    def name(self) -> str:
        return str(inspect(self.model).local_table.name)

    def column(self, attribute: str) -> Any:
        return getattr(self.model, attribute)


@dataclass(frozen=True, slots=True)
class ReencryptionReport:
    values_resealed: int
    passes: int
    key_destroyed: bool


def data_key_tables(mappers_of: registry) -> list[EncryptedTable]:
    """Every class of ``mappers_of`` with a ``workspace_id`` column and at least one encrypted
    column sealed by the workspace data key, by table name. Configures the registry first (the
    encrypted columns are found when mappers are configured)."""
    mappers_of.configure()
    tables: list[EncryptedTable] = []
    for mapper in mappers_of.mappers:
        columns = getattr(mapper.class_, "__encrypted_columns__", None)
        if not columns or "workspace_id" not in mapper.column_attrs:
            continue
        attributes = tuple(
            sorted(name for name, (_column, kind) in columns.items() if kind.contact_attribute is None)
        )
        if attributes:
            tables.append(EncryptedTable(mapper.class_, attributes))
    return sorted(tables, key=lambda table: table.name)


def sealed_by(column: Any, key_id: uuid.UUID) -> ColumnElement[bool]:
    """True where ``column`` holds a ciphertext whose header names ``key_id``."""
    header_key = func.substr(column, _KEY_ID_OFFSET, _KEY_ID_BYTES, type_=LargeBinary)
    return header_key == key_id.bytes


def values_sealed_by(
    session: Session, *, tables: Sequence[EncryptedTable], workspace_id: uuid.UUID, key_id: uuid.UUID
) -> int:
    """How many values of ``workspace_id`` in ``tables`` are sealed by ``key_id``. Read-only."""
    total = 0
    for table in tables:
        for attribute in table.attributes:
            column = table.column(attribute)
            total += (
                session.scalar(
                    select(func.count())
                    .select_from(table.model)
                    .where(table.model.workspace_id == workspace_id, sealed_by(column, key_id))
                )
                or 0
            )
    return total


@dataclass(frozen=True, slots=True)
class KeyState:
    """One key of a workspace, as ``keys status`` shows it. ``values_remaining`` is set for a
    retiring data key only: how many values it still seals."""

    id: uuid.UUID
    purpose: str
    status: str
    encryptions: int
    created_at: dt.datetime
    values_remaining: int | None


def workspace_key_states(
    session: Session, *, workspace_id: uuid.UUID, tables: Sequence[EncryptedTable]
) -> list[KeyState]:
    """The keys of ``workspace_id``, oldest first. Read-only; opens no key."""
    records = session.scalars(
        select(DataKeyRecord)
        .where(DataKeyRecord.workspace_id == workspace_id)
        .order_by(DataKeyRecord.created_at, DataKeyRecord.id)
    )
    states: list[KeyState] = []
    for record in records:
        remaining = None
        if record.status == KeyStatus.RETIRING and record.purpose == KeyPurpose.DATA:
            remaining = values_sealed_by(session, tables=tables, workspace_id=workspace_id, key_id=record.id)
        states.append(
            KeyState(
                id=record.id,
                purpose=record.purpose,
                status=record.status,
                encryptions=record.encryptions,
                created_at=record.created_at,
                values_remaining=remaining,
            )
        )
    return states


def reencrypt_workspace(
    sessions: sessionmaker[Session],
    *,
    tables: Sequence[EncryptedTable],
    workspace_id: uuid.UUID,
    key_id: uuid.UUID,
    batch_size: int = DEFAULT_BATCH_SIZE,
    between_batches: Callable[[], None] | None = None,
    finishing: Finishing | None = None,
) -> ReencryptionReport:
    """Re-seal under the active key every value of ``workspace_id`` that the retiring data key
    ``key_id`` seals, then destroy that key, in the transaction ``finishing`` opens (a job's
    ``completing()``; default a unit of work of ``sessions``, which must carry the keyring).

    Idempotent and resumable (see the module docstring). Scoped to ``workspace_id``: rows of
    other workspaces are never selected. ``between_batches`` runs after each committed batch
    (a job renews its lease there). Raises ``ReencryptionRefusedError`` for a key that is not
    this workspace's retiring data key, ``ValuesRemainError`` after ``MAX_PASSES`` passes.
    A key destroyed already is a finished job: nothing is done and the report says so.
    """
    finish = finishing or (lambda: unit_of_work(sessions))
    with unit_of_work(sessions) as session:
        status = _check_retiring(session, workspace_id=workspace_id, key_id=key_id)
    if status is KeyStatus.DESTROYED:
        with finish():
            pass
        return ReencryptionReport(values_resealed=0, passes=0, key_destroyed=True)
    resealed = 0
    for passes in range(1, MAX_PASSES + 1):
        for table in tables:
            resealed += _reencrypt_table(
                sessions, table, workspace_id, key_id, batch_size, between_batches or _nothing
            )
        try:
            with finish() as session:
                _destroy_if_unused(session, tables=tables, workspace_id=workspace_id, key_id=key_id)
        except _StillSealedError:
            _forget_cursors(sessions, key_id)
            continue
        log.info(
            "retired workspace key destroyed",
            extra={"workspace_id": str(workspace_id), "key_id": str(key_id), "values_resealed": resealed},
        )
        return ReencryptionReport(values_resealed=resealed, passes=passes, key_destroyed=True)
    raise ValuesRemainError("values sealed by the retiring key keep appearing; retry later")


def _check_retiring(session: Session, *, workspace_id: uuid.UUID, key_id: uuid.UUID) -> KeyStatus:
    record = session.get(DataKeyRecord, key_id)
    if record is None or record.workspace_id != workspace_id or record.purpose != KeyPurpose.DATA:
        raise ReencryptionRefusedError("no such data key in this workspace")
    status = KeyStatus(record.status)
    if status is KeyStatus.ACTIVE:
        raise ReencryptionRefusedError("the key is still active: rotate the workspace key first")
    return status


def _reencrypt_table(
    sessions: sessionmaker[Session],
    table: EncryptedTable,
    workspace_id: uuid.UUID,
    key_id: uuid.UUID,
    batch_size: int,
    between_batches: Callable[[], None],
) -> int:
    """Re-seal ``table`` batch by batch from its cursor until a batch finds nothing."""
    resealed = 0
    while True:
        with unit_of_work(sessions) as session:
            progress = session.get(ReencryptionProgress, (key_id, table.name))
            if progress is None:
                progress = ReencryptionProgress(
                    key_id=key_id, table_name=table.name, workspace_id=workspace_id, values_resealed=0
                )
                session.add(progress)
            _lock_active_key(session, workspace_id)
            rows = _select_batch(session, table, workspace_id, key_id, progress.last_id, batch_size)
            if not rows:
                return resealed
            count = _reseal(table, rows, key_id)
            session.flush()
            progress.last_id = rows[-1][0].id
            progress.values_resealed += count
            total = progress.values_resealed
        resealed += count
        log.info(
            "re-encryption progress",
            extra={
                "workspace_id": str(workspace_id),
                "key_id": str(key_id),
                "table": table.name,
                "values_resealed": total,
            },
        )
        between_batches()


def _lock_active_key(session: Session, workspace_id: uuid.UUID) -> None:
    """Lock the active key's row before any data row (PostgreSQL): a writer locks it first too
    (counting its encryptions in ``before_flush``) and its data row second, so taking them in
    the same order cannot deadlock. Writers of this workspace wait for the batch to commit."""
    session.execute(
        select(DataKeyRecord.id)
        .where(
            DataKeyRecord.workspace_id == workspace_id,
            DataKeyRecord.purpose == KeyPurpose.DATA.value,
            DataKeyRecord.status == KeyStatus.ACTIVE.value,
        )
        .with_for_update()
    )


def _select_batch(
    session: Session,
    table: EncryptedTable,
    workspace_id: uuid.UUID,
    key_id: uuid.UUID,
    after: uuid.UUID | None,
    batch_size: int,
) -> Sequence[Row[Any]]:
    model = table.model
    matches = [sealed_by(table.column(attribute), key_id) for attribute in table.attributes]
    statement = select(model, *matches).where(model.workspace_id == workspace_id, or_(*matches))
    if after is not None:
        statement = statement.where(model.id > after)
    # FOR UPDATE (PostgreSQL; SQLite ignores it and serialises writers instead): a concurrent
    # update of a row waits for this batch, or this batch re-reads the row it committed.
    return session.execute(statement.order_by(model.id).limit(batch_size).with_for_update()).all()


def _reseal(table: EncryptedTable, rows: Sequence[Row[Any]], key_id: uuid.UUID) -> int:
    """Flag every attribute still sealed by ``key_id``; the flush re-seals them."""
    count = 0
    for row in rows:
        instance = row[0]
        flags: tuple[object, ...] = tuple(row[1:])
        for attribute, still_sealed in zip(table.attributes, flags, strict=True):
            if still_sealed:
                flag_modified(instance, attribute)
                count += 1
    return count


def _destroy_if_unused(
    session: Session, *, tables: Sequence[EncryptedTable], workspace_id: uuid.UUID, key_id: uuid.UUID
) -> None:
    """Destroy the key and its cursors; ``_StillSealedError`` (rolling the block back, so a
    job is not marked done) while a value is still sealed by it."""
    # Locked first: a writer that sealed with this key holds this row (its encryption count)
    # until it commits, so the count below sees its value.
    session.execute(select(DataKeyRecord.id).where(DataKeyRecord.id == key_id).with_for_update())
    if values_sealed_by(session, tables=tables, workspace_id=workspace_id, key_id=key_id):
        raise _StillSealedError
    keyring = session.info.get(KEYRING_INFO_KEY)
    if not isinstance(keyring, Keyring):
        raise ReencryptionRefusedError("this session has no keyring")
    keyring.destroy_workspace_key(session, key_id)
    session.execute(delete(ReencryptionProgress).where(ReencryptionProgress.key_id == key_id))


def _forget_cursors(sessions: sessionmaker[Session], key_id: uuid.UUID) -> None:
    with unit_of_work(sessions) as session:
        session.execute(delete(ReencryptionProgress).where(ReencryptionProgress.key_id == key_id))


def _nothing() -> None:
    return None
