"""What signing in and being signed in cost, on a real server.

The server is this file run with ``--serve``: exactly what ``hushdesk serve`` runs (the same
settings, JSON logging, database start-up, ``create_app`` and uvicorn configuration) plus one
route for this benchmark, ``GET /bench/signed-in``, declared with
``requires(Permission.ACCOUNT_SELF)`` and returning ``{}``. It listens on 127.0.0.1 with its
data in a temporary folder. The owner is made by first-run setup over HTTP and enrols an
authenticator app over HTTP (owners must), as a browser would.

(a) Password sign-in: ``POST /login`` over HTTP (httpx, one request at a time) in three cases:
    the owner's right password (303 to the second-factor step), the owner with a wrong password
    (401), and an address with no account (401). The two refusals must run the same argon2
    verification (an unknown account is checked against a dummy hash): that is the defence
    against telling accounts apart by time, and the ratio of their medians is the figure.
    Beside them, in this process, ``verify_password`` alone with the stored hash (right,
    wrong) and with no hash (the dummy path): what of a sign-in is argon2. The server's
    throttle table is emptied before every attempt, outside the timed region, so that no
    attempt is answered 429. All six cases interleave in rotating order, round by round.
(b) An authenticated request, with wrk (as bench/http_load.py runs it): ``GET /healthz`` (no
    session), ``GET /bench/signed-in`` (session lookup by token hash, the user, workspace, role
    and second-factor state, the permission check) and ``GET /dashboard`` (that, plus a member
    count and a Jinja2 render), each checked to answer 200 (not a redirect) before it is
    measured; a warm-up per target, then runs interleaved across the targets in rotating order.
    The figures are the ratios to ``/healthz`` and the added latency, in the same run.

Usage: .venv/bin/python bench/auth_bench.py [--login-rounds 30] [--duration 6 --repetitions 5
       --connections 1]
Results: printed, and written to bench/results/auth-<time>.json.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import argon2
import httpx
import uvicorn
from sqlalchemy import delete, event, select

from harness import (
    Served,
    free_loopback_port,
    machine_facts,
    median,
    owner_with_second_factor,
    print_table,
    running,
    write_result,
)
from http_load import WRK_REPORT_LUA, Run, Target, run_wrk
from hushdesk.app import create_app
from hushdesk.bootstrap import setup_link
from hushdesk.cli.options import start_database
from hushdesk.identity.models import LoginThrottle, User
from hushdesk.identity.passwords import hash_password, verify_password
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import access_session
from hushdesk.infra.db.engine import create_db_engine, read_only
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.settings import Settings
from hushdesk.web.authz import requires

OWNER_EMAIL = "owner@bench.example"
PASSWORD = "bench password for sign-in timing"
WRONG_PASSWORD = "not the bench password at all"
UNKNOWN_EMAIL = "nobody@bench.example"
SESSION_COOKIE = "hushdesk_session"
SIGNED_IN_ROUTE = "/bench/signed-in"
HEALTHZ = "GET /healthz (no session)"
VERIFY_WRONG = "verify_password alone, wrong password"


# ---- the server ------------------------------------------------------------------------------


def server_settings(port: int, workdir: Path) -> Settings:
    """What ``hushdesk serve --port P --data-dir W/var --keys-dir W/keys`` reads (the harness
    runs it in ``workdir`` with no HUSHDESK_* variables, so nothing else applies)."""
    return Settings(_env_file=None, port=port, data_dir=workdir / "var", keys_dir=workdir / "keys")


def serve(port: int, workdir: Path) -> None:
    """``hushdesk serve`` (hushdesk.cli.server.serve) step by step, plus SIGNED_IN_ROUTE."""
    settings = server_settings(port, workdir)
    engine = start_database(settings)
    link = setup_link(settings, engine)
    application = create_app(settings, engine=engine)

    @application.get(SIGNED_IN_ROUTE, dependencies=[requires(Permission.ACCOUNT_SELF)])
    def signed_in() -> dict[str, str]:
        return {}

    print(f"First-run setup (one-time link, valid {settings.setup_link_ttl_minutes} minutes): {link}")
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


def serve_command(port: int, workdir: Path) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        "--port",
        str(port),
        "--workdir",
        str(workdir),
    ]


# ---- (a) sign-in -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One way of doing the thing measured; ``run`` does it once and checks the answer."""

    name: str
    run: Callable[[], object]


def sign_in_cases(client: httpx.Client, stored_hash: str) -> list[Case]:
    def attempt(email: str, password: str, status: int) -> Callable[[], object]:
        def run() -> object:
            client.cookies.clear()
            response = client.post("/login", data={"email": email, "password": password})
            if response.status_code != status:
                raise RuntimeError(f"POST /login {email}: {response.status_code}, expected {status}")
            return response

        return run

    def verify(password_hash: str | None, password: str, expected: bool) -> Callable[[], object]:
        def run() -> object:
            if verify_password(password_hash, password) is not expected:
                raise RuntimeError(f"verify_password did not give {expected}")
            return expected

        return run

    return [
        Case("POST /login, known account, right password", attempt(OWNER_EMAIL, PASSWORD, 303)),
        Case("POST /login, known account, wrong password", attempt(OWNER_EMAIL, WRONG_PASSWORD, 401)),
        Case("POST /login, unknown account", attempt(UNKNOWN_EMAIL, PASSWORD, 401)),
        Case("verify_password alone, right password", verify(stored_hash, PASSWORD, True)),
        Case(VERIFY_WRONG, verify(stored_hash, WRONG_PASSWORD, False)),
        Case("verify_password alone, no account (dummy hash)", verify(None, PASSWORD, False)),
    ]


def measure_sign_in(served: Served, workdir: Path, *, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per attempt; every case once per round, in rotating order."""
    settings = server_settings(served.port, workdir)
    engine = create_db_engine(settings.resolved_database_url)
    times: dict[str, list[float]] = {}
    try:
        with engine.connect() as connection:
            stored_hash = connection.scalar(select(User.password_hash).where(User.email == OWNER_EMAIL))
        if stored_hash is None:
            raise RuntimeError("the owner's account is missing")
        with httpx.Client(base_url=served.url, headers={"Host": served.host_header}, timeout=30.0) as client:
            cases = sign_in_cases(client, stored_hash)
            times = {case.name: [] for case in cases}
            for number in range(warmup + rounds):
                shift = number % len(cases)
                for case in cases[shift:] + cases[:shift]:
                    with engine.begin() as connection:
                        connection.execute(delete(LoginThrottle))
                    started = time.perf_counter()
                    case.run()
                    elapsed = time.perf_counter() - started
                    if number >= warmup:
                        times[case.name].append(elapsed)
    finally:
        engine.dispose()
    return times


# ---- (b) authenticated requests ----------------------------------------------------------------


def request_targets(served: Served, cookie: str) -> list[Target]:
    signed_in = {"Cookie": f"{SESSION_COOKIE}={cookie}", "Accept": "text/html"}
    targets = [
        Target(HEALTHZ, served, "/healthz"),
        Target(f"GET {SIGNED_IN_ROUTE} (requires account:self)", served, SIGNED_IN_ROUTE, signed_in),
        Target("GET /dashboard (signed in)", served, "/dashboard", signed_in),
    ]
    with httpx.Client(base_url=served.url, headers={"Host": served.host_header}, timeout=30.0) as client:
        for target in targets:
            answer = client.get(target.path, headers=target.headers)
            if answer.status_code != 200:
                raise RuntimeError(f"{target.name} answered {answer.status_code}, not 200")
    return targets


def measure_requests(
    served: Served, cookie: str, workdir: Path, arguments: argparse.Namespace
) -> dict[str, list[Run]]:
    lua_script = workdir / "report.lua"
    lua_script.write_text(WRK_REPORT_LUA)
    targets = request_targets(served, cookie)
    connections = arguments.connections
    for target in targets:
        print(f"warm-up {target.name} ({arguments.warmup}s)", file=sys.stderr)
        run_wrk(target, duration_s=arguments.warmup, connections=connections, lua_script=lua_script)
    runs: dict[str, list[Run]] = {target.name: [] for target in targets}
    for repetition in range(arguments.repetitions):
        shift = repetition % len(targets)
        for target in targets[shift:] + targets[:shift]:
            print(f"run {repetition + 1}/{arguments.repetitions} {target.name}", file=sys.stderr)
            runs[target.name].append(
                run_wrk(target, duration_s=arguments.duration, connections=connections, lua_script=lua_script)
            )
    return runs


def measure_session_lookup(
    served: Served, workdir: Path, cookie: str, *, batches: int, batch_size: int
) -> dict[str, Any]:
    """``access_session`` alone, in this process, on the server's database file: one
    read-only transaction per lookup, as a request has. Seconds per lookup (one figure per
    batch), and the SQL statements one lookup sends."""
    settings = server_settings(served.port, workdir)
    engine = create_db_engine(settings.resolved_database_url)
    sessions = make_sessionmaker(read_only(engine))
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    try:
        event.listen(engine, "before_cursor_execute", count)
        with unit_of_work(sessions) as session:
            if access_session(session, cookie) is None:
                raise RuntimeError("the session cookie does not resolve")
        event.remove(engine, "before_cursor_execute", count)
        per_lookup = []
        for _ in range(batches):
            started = time.perf_counter()
            for _ in range(batch_size):
                with unit_of_work(sessions) as session:
                    access_session(session, cookie)
            per_lookup.append((time.perf_counter() - started) / batch_size)
    finally:
        engine.dispose()
    return {"per_lookup_s": per_lookup, "statements": statements}


# ---- summaries ---------------------------------------------------------------------------------


def deciles(values: Sequence[float]) -> tuple[float, float]:
    """(p10, p90)."""
    cuts = statistics.quantiles(values, n=10, method="inclusive")
    return cuts[0], cuts[-1]


def summarise_sign_in(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    reference = median(times[VERIFY_WRONG])
    summary = {}
    for name, values in times.items():
        low, high = deciles(values)
        summary[name] = {
            "median_ms": round(median(values) * 1000, 1),
            "p10_ms": round(low * 1000, 1),
            "p90_ms": round(high * 1000, 1),
            "vs_verify": round(median(values) / reference, 3),
            "added_ms": round((median(values) - reference) * 1000, 1),
        }
    return summary


def compare_refusals(times: dict[str, list[float]]) -> dict[str, float]:
    """Unknown account against known account with a wrong password: the ratio of medians, and
    the median of the per-round differences (each round runs both within a second or so, so a
    slow moment on a shared machine hits both and cancels out)."""
    unknown = times["POST /login, unknown account"]
    known = times["POST /login, known account, wrong password"]
    differences = [a - b for a, b in zip(unknown, known, strict=True)]
    low, high = deciles(differences)
    return {
        "ratio_of_medians": round(median(unknown) / median(known), 3),
        "paired_median_ms": round(median(differences) * 1000, 1),
        "paired_p10_ms": round(low * 1000, 1),
        "paired_p90_ms": round(high * 1000, 1),
    }


def summarise_requests(runs: dict[str, list[Run]]) -> dict[str, dict[str, Any]]:
    base = runs[HEALTHZ]
    base_rps = median([run.requests_per_s for run in base])
    base_p50 = median([run.p50_ms for run in base])
    summary = {}
    for name, target_runs in runs.items():
        rps = median([run.requests_per_s for run in target_runs])
        p50 = median([run.p50_ms for run in target_runs])
        summary[name] = {
            "requests_per_s": round(rps, 1),
            "requests_per_s_range": [
                round(min(run.requests_per_s for run in target_runs), 1),
                round(max(run.requests_per_s for run in target_runs), 1),
            ],
            "p50_ms": round(p50, 3),
            "p99_ms": round(median([run.p99_ms for run in target_runs]), 3),
            "healthz_rps_over_this": round(base_rps / rps, 2),
            "p50_added_ms": round(p50 - base_p50, 3),
            "timeouts": sum(run.timeouts for run in target_runs),
        }
    return summary


def argon2_parameters() -> dict[str, Any]:
    """The parameters ``hash_password`` uses, read back from a hash it made."""
    parameters = argon2.extract_parameters(hash_password("parameters probe"))
    return {
        "type": parameters.type.name,
        "version": parameters.version,
        "time_cost": parameters.time_cost,
        "memory_cost_kib": parameters.memory_cost,
        "parallelism": parameters.parallelism,
        "hash_len": parameters.hash_len,
        "salt_len": parameters.salt_len,
    }


def report(
    arguments: argparse.Namespace,
    params: dict[str, Any],
    sign_in: dict[str, dict[str, float]],
    enumeration: dict[str, float],
    requests: dict[str, dict[str, Any]],
) -> None:
    print(
        f"\nargon2 ({params['type']}, v{params['version']}): time_cost={params['time_cost']}, "
        f"memory_cost={params['memory_cost_kib']} KiB, parallelism={params['parallelism']}"
    )
    print(f"\nsign-in, {arguments.login_rounds} rounds (ms)")
    print_table(
        ["case", "median ms", "p10-p90 ms", "vs argon2 verify", "added ms"],
        [
            [
                name,
                f"{s['median_ms']:.1f}",
                f"{s['p10_ms']:.1f}-{s['p90_ms']:.1f}",
                f"{s['vs_verify']:.2f}",
                f"{s['added_ms']:+.1f}",
            ]
            for name, s in sign_in.items()
        ],
    )
    print(
        f"unknown account / known account (wrong password), medians: {enumeration['ratio_of_medians']:.3f}; "
        f"paired per round: median {enumeration['paired_median_ms']:+.1f} ms "
        f"(p10 {enumeration['paired_p10_ms']:+.1f}, p90 {enumeration['paired_p90_ms']:+.1f})"
    )
    print(
        f"\nwrk, 1 thread, {arguments.connections} connection(s), {arguments.repetitions} x "
        f"{arguments.duration}s per target (medians)"
    )
    print_table(
        ["target", "req/s", "req/s range", "p50 ms", "p99 ms", "/healthz req/s over this", "p50 added ms"],
        [
            [
                name,
                f"{s['requests_per_s']:.0f}",
                f"{s['requests_per_s_range'][0]:.0f}-{s['requests_per_s_range'][1]:.0f}",
                f"{s['p50_ms']:.2f}",
                f"{s['p99_ms']:.2f}",
                f"{s['healthz_rps_over_this']:.2f}",
                f"{s['p50_added_ms']:+.2f}",
            ]
            for name, s in requests.items()
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--login-rounds", type=int, default=30, help="measured sign-in rounds (default 30)")
    parser.add_argument("--login-warmup", type=int, default=2, help="sign-in warm-up rounds (default 2)")
    parser.add_argument("--duration", type=int, default=6, help="seconds per wrk run (default 6)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of wrk warm-up per target (default 3)")
    parser.add_argument("--repetitions", type=int, default=5, help="wrk runs per target (default 5)")
    parser.add_argument("--connections", type=int, default=1, help="wrk connections (default 1)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.port, arguments.workdir)
        return 0
    if shutil.which("wrk") is None:
        print(
            "wrk is missing: install it with `sudo apt-get install -y wrk` (Debian/Ubuntu)", file=sys.stderr
        )
        return 2

    facts = machine_facts()
    params = argon2_parameters()
    with tempfile.TemporaryDirectory(prefix="hushdesk-bench-auth-") as tmp:
        workdir = Path(tmp)
        port = free_loopback_port()
        with running("hushdesk-auth", serve_command(port, workdir), port=port, workdir=workdir) as served:
            cookie = owner_with_second_factor(served, password=PASSWORD, owner_email=OWNER_EMAIL)
            sign_in_times = measure_sign_in(
                served, workdir, rounds=arguments.login_rounds, warmup=arguments.login_warmup
            )
            request_runs = measure_requests(served, cookie, workdir, arguments)
            lookup = measure_session_lookup(served, workdir, cookie, batches=30, batch_size=200)

    sign_in = summarise_sign_in(sign_in_times)
    enumeration = compare_refusals(sign_in_times)
    requests = summarise_requests(request_runs)
    lookup_us = round(median(lookup["per_lookup_s"]) * 1e6, 1)
    report(arguments, params, sign_in, enumeration, requests)
    print(
        f"\naccess_session alone, in a read-only transaction of its own "
        f"({len(lookup['statements'])} SQL statements): {lookup_us:.0f} µs median"
    )
    path = write_result(
        "auth",
        {
            "machine": facts,
            "versions": {
                name: importlib.metadata.version(name)
                for name in (
                    "argon2-cffi",
                    "argon2-cffi-bindings",
                    "fastapi",
                    "starlette",
                    "uvicorn",
                    "sqlalchemy",
                )
            },
            "argon2": params,
            "settings": {
                key: value
                for key, value in vars(arguments).items()
                if key not in {"serve", "port", "workdir"}
            },
            "sign_in": sign_in,
            "unknown_vs_known_account": enumeration,
            "requests": requests,
            "session_lookup": {"median_us": lookup_us, "statements": lookup["statements"]},
            "raw": {
                "sign_in_s": sign_in_times,
                "session_lookup_s": lookup["per_lookup_s"],
                "wrk_runs": {name: [asdict(run) for run in runs] for name, runs in request_runs.items()},
            },
        },
    )
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
