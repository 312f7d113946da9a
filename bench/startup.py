"""Server start time: from spawning ``hushdesk serve`` until ``/healthz`` answers 200.

Scenarios (each the median of several starts, the server stopped between them):

- fresh: an empty data folder each time (the server creates and migrates the database);
- migrated, empty: a migrated database with no rows;
- migrated, 100k rows: a migrated database seeded with 100,000 rows (10k workspaces, 10k
  users, 10k owner memberships, 70k web sessions) by SQLAlchemy Core bulk inserts of the
  app's own models, with UUIDv7 ids from ``hushdesk.infra.ids.uuid7``.

A reference row times ``python -c "import hushdesk.cli"``: the interpreter and imports alone.

Usage: .venv/bin/python bench/startup.py [--runs 7]
Results: printed, and written to bench/results/startup-<time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

from harness import (
    free_loopback_port,
    hermetic_env,
    hushdesk_serve_command,
    machine_facts,
    median,
    print_table,
    spawn,
    stop,
    wait_until_healthy,
    write_result,
)
from hushdesk.bootstrap import open_database, prepare_folders
from hushdesk.identity.models import Membership, Role, User, WebSession
from hushdesk.identity.passwords import hash_password
from hushdesk.infra.ids import uuid7
from hushdesk.settings import Settings
from hushdesk.workspaces.models import Region, Workspace

WORKSPACES = 10_000
SESSIONS_PER_USER = 7  # 10k workspaces + 10k users + 10k memberships + 70k sessions = 100k rows
CHUNK = 10_000


def settings_for(workdir: Path) -> Settings:
    """The settings ``hushdesk serve --data-dir workdir/var --keys-dir workdir/keys`` would use."""
    return Settings(_env_file=None, data_dir=workdir / "var", keys_dir=workdir / "keys")


def migrate(workdir: Path) -> Engine:
    settings = settings_for(workdir)
    prepare_folders(settings)
    return open_database(settings, migrate=True)


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def seed_rows(engine: Engine) -> dict[str, int]:
    """Insert 100k rows; return the row count of each table afterwards."""
    now = dt.datetime.now(dt.UTC)
    password_hash = hash_password("bench password, never used to sign in")
    regions = [region.value for region in Region]
    workspaces: list[dict[str, Any]] = []
    users: list[dict[str, Any]] = []
    memberships: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    for number in range(WORKSPACES):
        workspace_id, user_id = uuid7(), uuid7()
        workspaces.append(
            {
                "id": workspace_id,
                "created_at": now,
                "name": f"Workspace {number}",
                "slug": f"workspace-{number}",
                "region": regions[number % len(regions)],
            }
        )
        users.append(
            {
                "id": user_id,
                "created_at": now,
                "email": f"owner{number}@bench.example",
                "display_name": f"Owner {number}",
                "password_hash": password_hash,
            }
        )
        memberships.append(
            {
                "id": uuid7(),
                "created_at": now,
                "workspace_id": workspace_id,
                "user_id": user_id,
                "role": Role.OWNER.value,
            }
        )
        for _ in range(SESSIONS_PER_USER):
            sessions.append(
                {
                    "id": uuid7(),
                    "created_at": now,
                    "token_hash": hashlib.sha256(os.urandom(32)).hexdigest(),
                    "user_id": user_id,
                    "workspace_id": workspace_id,
                    "last_seen_at": now,
                    "expires_at": now + dt.timedelta(hours=12),
                    "revoked_at": None,
                }
            )
    models: list[tuple[type[Any], list[dict[str, Any]]]] = [
        (Workspace, workspaces),
        (User, users),
        (Membership, memberships),
        (WebSession, sessions),
    ]
    with engine.begin() as connection:
        for model, rows in models:
            for chunk in _chunks(rows):
                connection.execute(insert(model), chunk)
    with engine.connect() as connection:
        return {
            model.__tablename__: int(connection.scalar(select(func.count()).select_from(model)) or 0)
            for model, _ in models
        }


def time_start(workdir: Path) -> float:
    """Seconds from spawning ``hushdesk serve`` until /healthz answers 200; stops the server."""
    port = free_loopback_port()
    started = time.monotonic()
    served = spawn("hushdesk", hushdesk_serve_command(port, workdir), port=port, workdir=workdir)
    try:
        healthy = wait_until_healthy(served)
    finally:
        stop(served)
    return float(healthy - started)


def time_imports() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import hushdesk.cli"], env=hermetic_env(), check=True)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="starts per scenario (default 7)")
    arguments = parser.parse_args()
    runs: int = arguments.runs
    facts = machine_facts()
    with tempfile.TemporaryDirectory(prefix="hushdesk-bench-") as tmp:
        root = Path(tmp)
        empty, populated = root / "empty", root / "populated"
        migrate(empty).dispose()
        engine = migrate(populated)
        seed_started = time.monotonic()
        seeded = seed_rows(engine)
        seed_seconds = time.monotonic() - seed_started
        engine.dispose()
        print(f"seeded {sum(seeded.values())} rows in {seed_seconds:.1f} s: {seeded}", file=sys.stderr)

        measures: dict[str, Callable[[int], float]] = {
            "interpreter + imports only": lambda _: time_imports(),
            "fresh data folder (creates + migrates)": lambda number: time_start(root / f"fresh-{number}"),
            "migrated, empty": lambda _: time_start(empty),
            "migrated, 100k rows": lambda _: time_start(populated),
        }
        scenarios: dict[str, list[float]] = {name: [] for name in measures}
        # Interleaved, so that a burst of load from a neighbour hits every scenario alike.
        for number in range(runs):
            for name, measure_once in measures.items():
                scenarios[name].append(measure_once(number))
                print(
                    f"run {number + 1}/{runs}: {name}: {scenarios[name][-1] * 1000:.0f} ms", file=sys.stderr
                )

    rows = [
        [name, f"{median(times) * 1000:.0f}", f"{min(times) * 1000:.0f}-{max(times) * 1000:.0f}"]
        for name, times in scenarios.items()
    ]
    print(f"\nspawn until /healthz answers 200, median of {runs} starts")
    print_table(["scenario", "median ms", "range ms"], rows)
    path = write_result(
        "startup",
        {
            "machine": facts,
            "runs_per_scenario": runs,
            "seeded_rows": seeded,
            "seed_seconds": round(seed_seconds, 2),
            "results": {
                name: {
                    "median_ms": round(median(times) * 1000, 1),
                    "runs_ms": [round(t * 1000, 1) for t in times],
                }
                for name, times in scenarios.items()
            },
        },
    )
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
