"""Workspace key rotation: how fast ``reencrypt_workspace`` re-seals a workspace, in rows per second.

On a database migrated to head (so ``data_key`` exists), with a small encrypted model of this
benchmark's own (``bench_message``: id, workspace_id, contact_id and one ``EncryptedText`` body
of 200 characters, on its own metadata) and one workspace made by ``do_create_workspace``:

1. Seeding: ``--rows`` messages written through the real encrypted sessions (the keyring and
   the sealing hooks of ``install_encryption``), ``--seed-batch`` rows per transaction. Its
   rate is encryption-on-write throughput (ORM insert + seal + commit).
2. Rotation: ``Keyring.rotate_workspace_key`` retires the active data key and makes a new one.
3. Re-encryption: ``reencrypt_workspace`` (what the ``reencrypt-workspace`` work item runs after
   ``hushdesk keys rotate-workspace``), with its default batch of ``DEFAULT_BATCH_SIZE`` rows
   per transaction unless ``--batch-size`` says otherwise, run to completion (every value
   re-sealed, the old key destroyed); timed with ``time.perf_counter``.
4. Checks: the report counts every row and says the key is destroyed; no value in the table
   names the old key in its header (every ciphertext read raw, and ``values_sealed_by``); and
   ``--sample`` random rows read back through a fresh keyring (empty cache, as another process)
   are identical to what was written.

The embedded default (a SQLite file in a temporary folder) always; with ``--postgres`` also
PostgreSQL at ``--postgres-url`` (a database ``hushdesk_bench_<random>`` created and dropped).
``--profile`` runs the re-encryption under cProfile instead (slower; for reading what
dominates, not for the figure).

Usage: .venv/bin/python bench/rotation_bench.py [--rows 100000 --seed-batch 5000 --sample 1000 --postgres]
Results: printed, and written to bench/results/rotation-<time>.json.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import random
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy
from sqlalchemy import Engine, MetaData, Table, Uuid, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from harness import machine_facts, print_table, write_result
from hushdesk.crypto.aead import key_id_bytes
from hushdesk.crypto.columns import EncryptedModel, EncryptedText, install_encryption
from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.keystore import ContactKeyStore
from hushdesk.crypto.models import DataKeyRecord, KeyPurpose, KeyStatus
from hushdesk.crypto.providers.local import LocalKeyProvider
from hushdesk.crypto.reencrypt import (
    DEFAULT_BATCH_SIZE,
    data_key_tables,
    reencrypt_workspace,
    values_sealed_by,
)
from hushdesk.infra.db.engine import create_db_engine
from hushdesk.infra.db.migrate import upgrade_to_head
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.infra.ids import uuid7
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace

BODY_CHARS = 200
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class BenchBase(DeclarativeBase):
    metadata = MetaData()


class BenchMessage(EncryptedModel, BenchBase):
    __tablename__ = "bench_message"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    body: Mapped[str] = mapped_column(EncryptedText())


MESSAGE_TABLE: Table = BenchMessage.__table__  # type: ignore[assignment]


def body_of(number: int) -> str:
    """Message ``number``'s text: 200 characters, different for every row."""
    digest = hashlib.sha256(number.to_bytes(8, "big")).hexdigest()
    return f"message {number:07d}: {digest}{digest}"[:BODY_CHARS]


def keyring_in(keys_dir: Path) -> Keyring:
    """A keyring as a process opens it: the local master key and the contact key store."""
    return Keyring(
        provider=LocalKeyProvider.from_keys_dir(keys_dir),
        contact_keys=ContactKeyStore.open(f"sqlite:///{keys_dir / 'contact-keys.sqlite3'}"),
    )


def active_key(engine: Engine, workspace_id: uuid.UUID) -> uuid.UUID:
    with engine.connect() as connection:
        key_id: uuid.UUID = connection.execute(
            select(DataKeyRecord.id).where(
                DataKeyRecord.workspace_id == workspace_id,
                DataKeyRecord.purpose == KeyPurpose.DATA.value,
                DataKeyRecord.status == KeyStatus.ACTIVE.value,
            )
        ).scalar_one()
        return key_id


def run_engine(
    name: str,
    engine: Engine,
    workdir: Path,
    *,
    rows: int,
    seed_batch: int,
    batch_size: int,
    sample: int,
    profile: bool,
) -> dict[str, Any]:
    """Seed, rotate, re-encrypt and check on ``engine`` (migrated, empty); the figures."""
    keys_dir = workdir / "keys"
    keys_dir.mkdir(mode=0o700)
    keyring = keyring_in(keys_dir)
    sessions = make_sessionmaker(engine)
    install_encryption(sessions, keyring)
    BenchBase.metadata.create_all(engine)
    with unit_of_work(make_sessionmaker(engine)) as session:
        workspace_id = do_create_workspace(session, name="Bench", region=Region.EU).id

    # 1. Seeding through the encrypted sessions.
    written: list[uuid.UUID] = []
    seed_started = time.perf_counter()
    for first in range(0, rows, seed_batch):
        with unit_of_work(sessions) as session:
            for number in range(first, min(first + seed_batch, rows)):
                message_id = uuid7()
                session.add(
                    BenchMessage(
                        id=message_id,
                        workspace_id=workspace_id,
                        contact_id=uuid.uuid4(),
                        body=body_of(number),
                    )
                )
                written.append(message_id)
    seed_s = time.perf_counter() - seed_started
    print(f"  {name}: seeded {rows} rows in {seed_s:.1f} s")

    # 2. Rotation.
    old_key = active_key(engine, workspace_id)
    rotate_started = time.perf_counter()
    with unit_of_work(sessions) as session:
        new_key = keyring.rotate_workspace_key(session, workspace_id=workspace_id).id
    rotate_s = time.perf_counter() - rotate_started

    # 3. Re-encryption to completion.
    tables = data_key_tables(BenchBase.registry)
    profiler = cProfile.Profile() if profile else None
    reencrypt_started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    report = reencrypt_workspace(
        sessions, tables=tables, workspace_id=workspace_id, key_id=old_key, batch_size=batch_size
    )
    if profiler is not None:
        profiler.disable()
    reencrypt_s = time.perf_counter() - reencrypt_started
    print(f"  {name}: re-encrypted {report.values_resealed} values in {reencrypt_s:.1f} s")
    profile_top = ""
    if profiler is not None:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(20)
        profile_top = stream.getvalue()
        print(profile_top)

    # 4. Checks.
    assert report.key_destroyed, report
    assert report.values_resealed == rows, report
    with engine.connect() as connection:
        headers = connection.execute(
            select(MESSAGE_TABLE.c.body).where(MESSAGE_TABLE.c.workspace_id == workspace_id)
        ).scalars()
        key_counts: dict[bytes, int] = {}
        for sealed in headers:
            header = key_id_bytes(sealed.ciphertext)
            key_counts[header] = key_counts.get(header, 0) + 1
        status = connection.execute(
            select(DataKeyRecord.status).where(DataKeyRecord.id == old_key)
        ).scalar_one()
    assert key_counts == {new_key.bytes: rows}, {uuid.UUID(bytes=k): n for k, n in key_counts.items()}
    assert status == KeyStatus.DESTROYED.value, status
    with unit_of_work(sessions) as session:
        remaining = values_sealed_by(session, tables=tables, workspace_id=workspace_id, key_id=old_key)
    assert remaining == 0, remaining
    chosen = sorted(random.Random(0).sample(range(rows), min(sample, rows)))
    expected = {written[number]: body_of(number) for number in chosen}
    fresh_keyring = keyring_in(keys_dir)
    fresh_sessions = make_sessionmaker(engine)
    install_encryption(fresh_sessions, fresh_keyring)
    with unit_of_work(fresh_sessions) as session:
        read_back = {
            message.id: message.body
            for message in session.scalars(select(BenchMessage).where(BenchMessage.id.in_(list(expected))))
        }
    assert read_back == expected, "a sampled row did not read back identical"
    fresh_keyring.contact_keys.dispose()
    keyring.contact_keys.dispose()

    return {
        "engine": name,
        "rows": rows,
        "seed_batch": seed_batch,
        "reencrypt_batch": batch_size,
        "seed_s": seed_s,
        "seed_rows_per_s": rows / seed_s,
        "rotate_s": rotate_s,
        "reencrypt_s": reencrypt_s,
        "reencrypt_rows_per_s": rows / reencrypt_s,
        "values_resealed": report.values_resealed,
        "passes": report.passes,
        "old_key_destroyed": report.key_destroyed,
        "values_under_old_key": remaining,
        "sampled_rows_identical": len(read_back),
        "profiled": profile,
        "profile_top": profile_top or None,
    }


@contextmanager
def sqlite_engine(workdir: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{workdir / 'var' / 'hushdesk.sqlite3'}")
    try:
        upgrade_to_head(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def postgres_engine(admin_url: str) -> Iterator[Engine]:
    """A new database ``hushdesk_bench_<random>`` on the server of ``admin_url``, dropped after."""
    name = f"hushdesk_bench_{secrets.token_hex(4)}"
    admin = make_url(admin_url)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # a generated name
    engine = create_db_engine(admin.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade_to_head(engine)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed-batch", type=int, default=5_000, help="rows per seeding transaction")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rows per re-encryption transaction"
    )
    parser.add_argument("--sample", type=int, default=1_000, help="rows read back and compared")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--profile", action="store_true", help="cProfile the re-encryption")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary folder")
    arguments = parser.parse_args()

    facts = machine_facts()
    knobs = {
        "rows": arguments.rows,
        "seed_batch": arguments.seed_batch,
        "batch_size": arguments.batch_size,
        "sample": arguments.sample,
        "profile": arguments.profile,
    }
    runs: list[dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix="hushdesk-rotation-", dir=arguments.dir))
    try:
        with sqlite_engine(workdir / "sqlite") as engine:
            runs.append(run_engine("sqlite", engine, workdir / "sqlite", **knobs))
        if arguments.postgres:
            with postgres_engine(arguments.postgres_url) as engine:
                (workdir / "postgresql").mkdir()
                runs.append(run_engine("postgresql", engine, workdir / "postgresql", **knobs))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print_table(
        ["engine", "rows", "seed s", "seed rows/s", "re-encrypt s", "re-encrypt rows/s", "checks"],
        [
            [
                run["engine"],
                f"{run['rows']:,}",
                f"{run['seed_s']:.1f}",
                f"{run['seed_rows_per_s']:,.0f}",
                f"{run['reencrypt_s']:.1f}",
                f"{run['reencrypt_rows_per_s']:,.0f}",
                f"{run['values_under_old_key']} left under old key (destroyed), "
                f"{run['sampled_rows_identical']} sampled rows identical",
            ]
            for run in runs
        ],
    )
    path = write_result(
        "rotation",
        {
            "machine": facts,
            "sqlalchemy": sqlalchemy.__version__,
            "parameters": {**knobs, "body_chars": BODY_CHARS, "postgres": arguments.postgres},
            "runs": runs,
        },
    )
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
