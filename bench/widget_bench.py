"""The website widget end to end, through the real ``hushdesk serve``: widget messages stored and
answered per second with p50/p99 latency, and the time to the first streamed token, on SQLite
and on PostgreSQL, for 1, 10 and 100 visitors at once.

The installation (per engine, in a temporary folder; on PostgreSQL a fresh database on
127.0.0.1:5432, dropped afterwards) is migrated and holds one workspace and one agent with the
default configuration (the offline extractive responder: no model; lexical retrieval),
embedded on shop.example.com, whose knowledge base is bench/retrieval_set's 40 help-centre
articles. The questions are the set's questions that this agent answers (outcome "answered")
when asked on their own, found in-process with the product's own reply pipeline before the
server starts: a question it could not answer would count towards the hand-off rule, and a
conversation handed to a person gets no more replies.

The server is ``python -m hushdesk serve`` on 127.0.0.1 with its in-process job runner (the
default two worker threads) answering, ``HUSHDESK_TRUSTED_PROXIES=127.0.0.1`` so that each
visitor's ``X-Forwarded-For`` is its own address (the per-address rate limits then apply per
visitor, as with real visitors, each run using fresh addresses), and the per-agent message
limit raised out of the way. The per-visitor limit (15 messages a minute) stays: a visitor
sends at most 12 messages.

Each visitor (asyncio, with its own ``httpx.AsyncClient``, as each browser has its own
connections) does what the loader and widget.js do: ``POST /widget/v1/sessions`` with
``Origin: https://shop.example.com``, the exchange, consent, and ``GET /widget/v1/events`` read
as a stream in a task (fetch-style: the token in the Authorization header). Once every visitor
is ready they all start (or, with ``--arrival-ms``, one after another at that interval); each
sends its questions one after another, the next when the previous one is answered (and, with
``--think-s``, that many seconds later). Per question, from t0 just before
``POST /widget/v1/messages``:

- answered: the assistant's ``event: message`` for the reply (stored, then read back and sent);
- first token: the reply's first ``event: delta``. The extractive responder runs no model, so
  this excludes any model; and the stream sends a reply's pieces once the reply is stored, so
  here first token and answer are the same moment but for the pieces' transmission;
- picked up: the ``status: typing`` event a job worker publishes when it takes the reply up.

Percentiles are nearest-rank over every answered question of a run. Throughput is answers over
the wall time from the start signal to the last visitor's last answer. Errors: non-2xx answers,
replies not seen within ``--reply-timeout`` seconds, hand-offs, and visitors that could not
start. Each run also records what the server's own log says it spent per route and per job.
Before the measured runs one untimed visitor asks two questions: the server's first reply
loads the PII engine's name lists and builds the agent's search index.

Visitors, the server and its job workers share the machine's cores: at 100 visitors the
client's event loop is part of what is measured.

Usage: .venv/bin/python bench/widget_bench.py [--engines sqlite,postgres] [--visitors 1,10,100]
       [--messages 10] [--arrival-ms 0] [--think-s 0] [--reply-timeout 30] [--quick] [--json OUT]
Results: printed, and written to bench/results/widget-<time>.json (or to OUT).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from harness import (
    REPO_ROOT,
    Served,
    code_version,
    free_loopback_port,
    hermetic_env,
    hushdesk_serve_command,
    machine_facts,
    print_table,
    stop,
    tail,
    wait_until_healthy,
    write_result,
)
from hushdesk.agents.assistant.reply import Outcome
from hushdesk.agents.config import Actor, do_record_first_version
from hushdesk.agents.knowledge.ingest import do_store_document, prepare_text
from hushdesk.agents.models import Agent
from hushdesk.agents.runtime import ready_agent, reply
from hushdesk.agents.service import do_create_agent
from hushdesk.audit.models import ActorKind
from hushdesk.bootstrap import (
    assistant_services,
    build_keyring,
    encrypted_sessions,
    open_database,
    prepare_folders,
)
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.settings import Settings
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace

ENGINES = ("sqlite", "postgres")
SHOP_ORIGIN = "https://shop.example.com"
SHOP_DOMAIN = "shop.example.com"
RETRIEVAL_SET = REPO_ROOT / "bench" / "retrieval_set"
NAME_CACHE = REPO_ROOT / ".cache"  # the PII engine's name lists, shared with the tests
POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
OPERATOR = Actor(ActorKind.OPERATOR, "os:bench")
# The per-visitor limit is 15 messages a minute.
MAX_MESSAGES_PER_VISITOR = 12
AGENT_MESSAGES_PER_MINUTE = 1_000_000
REQUEST_TIMEOUT_S = 30.0
WARM_UP_MESSAGES = 2
# --quick, the smoke test's run: SQLite only, 1 and 3 visitors, 2 messages each.
QUICK_ENGINES = ("sqlite",)
QUICK_VISITORS = (1, 3)
QUICK_MESSAGES = 2


_STARTED = time.monotonic()


def progress(text: str) -> None:
    """A line on stderr, with the seconds since the benchmark started."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {text}", file=sys.stderr, flush=True)


# ---- the installation -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Installation:
    """What the visitors need to know of the prepared installation."""

    engine: str
    widget_key: str
    questions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Store:
    """The installation's database (migrated) and keyring, open in this process."""

    settings: Settings
    sessions: sessionmaker[Session]


def _settings(workdir: Path, database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=workdir / "var",
        keys_dir=workdir / "keys",
        database_url=database_url,
        cache_dir=NAME_CACHE,
    )


def _all_questions() -> list[str]:
    lines = (RETRIEVAL_SET / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


@contextlib.contextmanager
def open_store(*, workdir: Path, database_url: str) -> Iterator[Store]:
    """The folders, the database migrated to head and the keyring, exactly where the server
    will find them (``workdir/var``, ``workdir/keys``, ``database_url``; empty: SQLite in the
    data folder). Made before the server starts: the master key file and the contact key store
    are created here, once, not by two processes at the same moment."""
    settings = _settings(workdir, database_url)
    prepare_folders(settings)
    db_engine = open_database(settings, migrate=True)
    try:
        keyring = build_keyring(settings)
        try:
            yield Store(settings, encrypted_sessions(db_engine, keyring))
        finally:
            keyring.contact_keys.dispose()
    finally:
        db_engine.dispose()


def populate(store: Store, *, engine: str, wanted: int) -> Installation:
    """The workspace, its agent (default configuration, allowed on shop.example.com) and the
    agent's knowledge base of 40 articles; then, in the set's order, up to ``wanted`` questions
    the agent answers when asked on their own (through the product's reply pipeline, with the
    extractive responder). Raises ``RuntimeError`` if it answers none."""
    files = EncryptedFileStore(store.settings.uploads_dir)
    with unit_of_work(store.sessions) as session:
        workspace = do_create_workspace(session, name="Bench Shop", region=Region.EU)
        agent = do_create_agent(session, workspace_id=workspace.id, name="Shop help")
        agent.allowed_domains = [SHOP_DOMAIN]
        do_record_first_version(session, agent, actor=OPERATOR)
        agent_id, widget_key = agent.id, agent.widget_key
    for path in sorted((RETRIEVAL_SET / "docs").glob("*.md")):
        # Parsed before the transaction, as `hushdesk kb ingest` does.
        prepared = prepare_text(source=path.name, text=path.read_text(encoding="utf-8"))
        with unit_of_work(store.sessions) as session:
            found = session.scalars(select(Agent).where(Agent.id == agent_id)).one()
            do_store_document(session, found, prepared, files=files, actor=OPERATOR, max_file_bytes=2**22)
    services = assistant_services(store.settings)
    with unit_of_work(store.sessions) as session:
        found = session.scalars(select(Agent).where(Agent.id == agent_id)).one()
        ready = ready_agent(session, found, services=services)
    answered: list[str] = []
    for question in _all_questions():
        if reply(ready, history=(), message=question, services=services).outcome is Outcome.ANSWERED:
            answered.append(question)
            if len(answered) >= wanted:
                break
    if not answered:
        raise RuntimeError("the agent answered none of the set's questions")
    return Installation(engine, widget_key, tuple(answered))


def postgres_unreachable() -> str | None:
    """Why the PostgreSQL server at 127.0.0.1:5432 cannot be used, or None when it can."""
    try:
        with psycopg.connect(POSTGRES_ADMIN_DSN, connect_timeout=5):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at {POSTGRES_ADMIN_DSN} is unreachable: {str(exc).strip().splitlines()[0]}"


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on 127.0.0.1:5432 (user postgres, trust), dropped afterwards even
    if a server still holds connections to it (``WITH (FORCE)``). Raises
    ``psycopg.OperationalError`` when PostgreSQL is unreachable."""
    name = f"hushdesk_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def serving(*, workdir: Path, database_url: str) -> Iterator[Served]:
    """``hushdesk serve`` spawned on a free loopback port with its data under ``workdir``
    (``database_url``: empty for SQLite), stopped (SIGTERM, then SIGKILL) on the way out. Not
    waited for: call ``wait_until_healthy``. Output goes to files in ``workdir`` (a pipe could
    fill up and stall the server)."""
    port = free_loopback_port()
    env = hermetic_env()
    env.update(
        {
            "HUSHDESK_CACHE_DIR": str(NAME_CACHE),
            "HUSHDESK_TRUSTED_PROXIES": "127.0.0.1",
            "HUSHDESK_WIDGET_AGENT_MESSAGES_PER_MINUTE": str(AGENT_MESSAGES_PER_MINUTE),
        }
    )
    if database_url:
        env["HUSHDESK_DATABASE_URL"] = database_url
    stdout_path, log_path = workdir / "server.stdout", workdir / "server.log"
    with stdout_path.open("wb") as stdout, log_path.open("wb") as log:
        process = subprocess.Popen(
            hushdesk_serve_command(port, workdir),
            cwd=workdir,  # no stray .env from the repository
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=log,
        )
    served = Served(name="hushdesk", port=port, process=process, stdout_path=stdout_path, log_path=log_path)
    try:
        yield served
    finally:
        stop(served)


_JOB_DONE = re.compile(r"hushdesk\.infra\.jobs\.queue\.work: \S+ executed in (?P<seconds>[0-9.]+)s")


def server_timings(served: Served, *, since: dt.datetime, until: dt.datetime) -> dict[str, dict[str, Any]]:
    """What the server's own log says about the requests and jobs it finished between ``since``
    and ``until``: per route (``METHOD /path``; not the event stream) and for the job runner's
    work items (almost all reply jobs here), their count and p50/p99 duration in ms."""
    durations: dict[str, list[float]] = {}
    for line in served.log_path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
            at = dt.datetime.fromisoformat(record["time"])
        except (ValueError, KeyError, TypeError):
            continue  # a traceback's continuation, or not a record
        if not since <= at <= until:
            continue
        if record.get("logger") == "hushdesk.access" and "duration_ms" in record:
            if record.get("route") == "/widget/v1/events":
                continue  # a stream lasts as long as its visitor stays: not a latency
            key = f"{record.get('method')} {record.get('route')}"
            durations.setdefault(key, []).append(float(record["duration_ms"]))
        elif record.get("logger") == "huey" and (done := _JOB_DONE.search(str(record.get("message", "")))):
            durations.setdefault("job", []).append(float(done.group("seconds")) * 1000)
    return {key: {"count": len(values), **_spread(values)} for key, values in sorted(durations.items())}


def logged_errors(served: Served) -> list[str]:
    text = served.log_path.read_text(errors="replace") if served.log_path.exists() else ""
    return [line for line in text.splitlines() if '"level": "error"' in line]


# ---- a visitor ----------------------------------------------------------------------------------


class VisitorError(Exception):
    """A visitor's request was refused, or its reply did not come; ``kind`` names which."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class StreamEvent:
    at: float  # time.perf_counter() when the event's blank line was read
    name: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Timing:
    """One answered question, in milliseconds from t0."""

    answered_ms: float
    first_token_ms: float
    picked_up_ms: float | None


@dataclass(slots=True)
class Visitor:
    """A started visitor: its client, token, and the task reading its event stream into
    ``events``."""

    client: httpx.AsyncClient
    token: str
    events: asyncio.Queue[StreamEvent]
    reader: asyncio.Task[None]
    timings: list[Timing] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError, VisitorError):
            await self.reader
        await self.client.aclose()


def _checked(response: httpx.Response, what: str, *expected: int) -> httpx.Response:
    if response.status_code not in expected:
        raise VisitorError(f"{what} {response.status_code}")
    return response


async def read_stream(
    client: httpx.AsyncClient, token: str, events: asyncio.Queue[StreamEvent], opened: asyncio.Future[None]
) -> None:
    """Read ``GET /widget/v1/events`` as widget.js does (one fetch, the token in a header) and
    put each complete event on ``events`` with the time it was read. ``opened`` resolves once
    the stream answered 200, or fails with ``VisitorError``."""
    try:
        async with client.stream(
            "GET",
            "/widget/v1/events",
            params={"after": 0},
            headers={"authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(REQUEST_TIMEOUT_S, read=None),
        ) as response:
            _checked(response, "events", 200)
            opened.set_result(None)
            name, data = "", []
            async for line in response.aiter_lines():
                if line:
                    if line.startswith("event:"):
                        name = line.removeprefix("event:").strip()
                    elif line.startswith("data:"):
                        data.append(line.removeprefix("data:").strip())
                    continue  # ": keep-alive" comments are skipped too
                if name and data:
                    events.put_nowait(StreamEvent(time.perf_counter(), name, json.loads("\n".join(data))))
                name, data = "", []
    except (httpx.HTTPError, VisitorError) as exc:
        if not opened.done():
            opened.set_exception(exc if isinstance(exc, VisitorError) else VisitorError("events transport"))
        raise


async def _send(client: httpx.AsyncClient, token: str, text: str) -> int:
    """``POST /widget/v1/messages``; the stored message's ``seq``. Raises ``VisitorError``."""
    try:
        response = await client.post(
            "/widget/v1/messages",
            json={"client_id": str(uuid.uuid4()), "text": text},
            headers={"authorization": f"Bearer {token}"},
        )
    except httpx.HTTPError as exc:
        raise VisitorError(f"messages transport {type(exc).__name__}") from exc
    return int(_checked(response, "messages", 202).json()["message"]["seq"])


async def _reply(
    events: asyncio.Queue[StreamEvent], *, after_seq: int, started: float, within_s: float
) -> Timing:
    """Wait on the stream for the assistant's reply to the message ``after_seq`` (the first
    assistant message with a later ``seq``). Raises ``VisitorError``."""
    first_delta: dict[str, float] = {}
    picked_up: float | None = None
    deadline = started + within_s
    while True:
        try:
            event = await asyncio.wait_for(events.get(), max(0.0, deadline - time.perf_counter()))
        except TimeoutError:
            raise VisitorError("reply timeout") from None
        if event.name == "status":
            state = event.data.get("state")
            if state == "typing" and picked_up is None:
                picked_up = event.at
            elif state == "handed_off":
                raise VisitorError("handed off")
        elif event.name == "delta":
            first_delta.setdefault(str(event.data["message_id"]), event.at)
        elif (
            event.name == "message" and event.data["author"] == "assistant" and event.data["seq"] > after_seq
        ):
            first = first_delta.get(str(event.data["id"]), event.at)
            return Timing(
                answered_ms=(event.at - started) * 1000,
                first_token_ms=(first - started) * 1000,
                picked_up_ms=None if picked_up is None else (picked_up - started) * 1000,
            )


async def start_visitor(served: Served, *, widget_key: str, address: str) -> Visitor:
    """The loader's session request, the frame's exchange and consent, and the open event
    stream. Raises ``VisitorError`` (the client is closed then)."""
    client = httpx.AsyncClient(
        base_url=served.url,
        headers={"host": served.host_header, "x-forwarded-for": address},
        timeout=REQUEST_TIMEOUT_S,
    )
    try:
        opened = _checked(
            await client.post(
                "/widget/v1/sessions", json={"agent": widget_key}, headers={"origin": SHOP_ORIGIN}
            ),
            "sessions",
            200,
        ).json()
        state = _checked(
            await client.post("/widget/v1/session/exchange", json={"bootstrap": opened["bootstrap"]}),
            "exchange",
            200,
        ).json()
        token = state["token"]
        _checked(
            await client.post(
                "/widget/v1/consent",
                json={"version": state["consent"]["version"]},
                headers={"authorization": f"Bearer {token}"},
            ),
            "consent",
            204,
        )
        events: asyncio.Queue[StreamEvent] = asyncio.Queue()
        stream_open: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        reader = asyncio.create_task(read_stream(client, token, events, stream_open))
        visitor = Visitor(client=client, token=token, events=events, reader=reader)
        try:
            await asyncio.wait_for(asyncio.shield(stream_open), REQUEST_TIMEOUT_S)
        except TimeoutError as exc:
            await visitor.close()
            raise VisitorError("events timeout") from exc
        except VisitorError:
            await visitor.close()
            raise
        return visitor
    except httpx.HTTPError as exc:
        await client.aclose()
        raise VisitorError(f"transport {type(exc).__name__}") from exc
    except VisitorError:
        await client.aclose()
        raise


async def ask(visitor: Visitor, text: str, *, reply_timeout: float) -> Timing:
    """Send ``text`` and wait on the stream for the assistant's reply to it. Raises
    ``VisitorError``."""
    while not visitor.events.empty():  # leftovers of the previous reply (status events)
        visitor.events.get_nowait()
    started = time.perf_counter()
    seq = await _send(visitor.client, visitor.token, text)
    return await _reply(visitor.events, after_seq=seq, started=started, within_s=reply_timeout)


async def converse(
    visitor: Visitor, questions: Sequence[str], *, reply_timeout: float, think_s: float
) -> None:
    """Ask ``questions`` in turn, each once the previous one is answered (or failed) and
    ``think_s`` seconds have passed; outcomes go to ``visitor.timings`` and ``.errors``."""
    for turn, question in enumerate(questions):
        if turn and think_s:
            await asyncio.sleep(think_s)
        try:
            visitor.timings.append(await ask(visitor, question, reply_timeout=reply_timeout))
        except VisitorError as exc:
            visitor.errors.append(exc.kind)
            if exc.kind == "handed off":
                return  # the agent answers no more in this conversation


# ---- a run ------------------------------------------------------------------------------------


def nearest_rank(values: Sequence[float], percent: float) -> float | None:
    """The nearest-rank percentile (the smallest value with at least ``percent`` % of the
    values at or below it); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": nearest_rank(values, 50), "p99": nearest_rank(values, 99)}


def _turns(questions: Sequence[str], visitor_number: int, count: int) -> list[str]:
    """Visitor ``visitor_number``'s ``count`` questions: the next ones of the set, in turn."""
    return [questions[(visitor_number * count + turn) % len(questions)] for turn in range(count)]


async def run_level(
    served: Served,
    installation: Installation,
    *,
    visitors: int,
    messages: int,
    run_number: int,
    reply_timeout: float,
    arrival_s: float = 0.0,
    think_s: float = 0.0,
) -> dict[str, Any]:
    """``visitors`` visitors, each asking ``messages`` questions in turn once all have
    started: all at once, or one every ``arrival_s`` seconds (the i-th ``i * arrival_s`` late,
    both to start and to ask its first question), each pausing ``think_s`` seconds between an
    answer and its next question. Addresses 10.<run>.x.y are this run's
    own, so no earlier run's rate-limit counts apply."""
    turns = [_turns(installation.questions, number, messages) for number in range(visitors)]
    offsets = [number * arrival_s for number in range(visitors)]

    async def start(number: int) -> Visitor:
        await asyncio.sleep(offsets[number])
        return await start_visitor(
            served,
            widget_key=installation.widget_key,
            address=f"10.{run_number}.{number // 250}.{number % 250 + 1}",
        )

    async def talk(number: int, visitor: Visitor) -> None:
        await asyncio.sleep(offsets[number])
        await converse(visitor, turns[number], reply_timeout=reply_timeout, think_s=think_s)

    started = await asyncio.gather(*(start(number) for number in range(visitors)), return_exceptions=True)
    ready = [(number, visitor) for number, visitor in enumerate(started) if isinstance(visitor, Visitor)]
    setup_errors = [
        outcome.kind if isinstance(outcome, VisitorError) else type(outcome).__name__
        for outcome in started
        if not isinstance(outcome, Visitor)
    ]
    began = time.perf_counter()
    try:
        await asyncio.gather(*(talk(number, visitor) for number, visitor in ready))
        wall = time.perf_counter() - began
    finally:
        await asyncio.gather(*(visitor.close() for _, visitor in ready))
    timings = [timing for _, visitor in ready for timing in visitor.timings]
    # A visitor that could not start counts one error, and none of its messages was sent.
    errors = Counter(setup_errors + [kind for _, visitor in ready for kind in visitor.errors])
    return {
        "engine": installation.engine,
        "visitors": visitors,
        "arrival_interval_s": arrival_s,
        "think_s": think_s,
        "visitors_started": len(ready),
        "messages_per_visitor": messages,
        "planned": visitors * messages,
        "sent": len(ready) * messages,  # by the visitors that started
        "answered": len(timings),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "wall_s": wall,
        "messages_per_s": len(timings) / wall if wall > 0 else 0.0,
        "answered_ms": _spread([timing.answered_ms for timing in timings]),
        "first_token_ms": _spread([timing.first_token_ms for timing in timings]),
        "picked_up_ms": _spread([t.picked_up_ms for t in timings if t.picked_up_ms is not None]),
        "picked_up_seen": sum(timing.picked_up_ms is not None for timing in timings),
        "load_average_after": list(os.getloadavg()),
    }


def run_engine(
    engine: str,
    *,
    visitor_counts: Sequence[int],
    messages: int,
    reply_timeout: float,
    arrival_s: float,
    think_s: float,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every visitor count in turn against one installation and one server, after the untimed
    warm-up visitor. The server is spawned once the database is migrated and imports while the
    agent and its knowledge are written (SQLite takes both writers in turn; PostgreSQL needs its
    schema before the server starts). Returns the runs and facts about the installation."""
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"widget-bench-{engine}-")))
        database_url = stack.enter_context(
            fresh_postgres_database() if engine == "postgres" else contextlib.nullcontext("")
        )
        progress(f"[{engine}] migrating; then the workspace, the agent and its 40 articles")
        store = stack.enter_context(open_store(workdir=workdir, database_url=database_url))
        served = stack.enter_context(serving(workdir=workdir, database_url=database_url))
        began = time.perf_counter()
        installation = populate(store, engine=engine, wanted=max(visitor_counts) * messages)
        facts: dict[str, Any] = {
            "populate_s": time.perf_counter() - began,
            "questions_used": len(installation.questions),
            "questions_in_set": len(_all_questions()),
        }
        progress(
            f"[{engine}] {len(installation.questions)} questions the agent answers "
            f"(of the set's {facts['questions_in_set']}); waiting for the server"
        )
        wait_until_healthy(served)
        facts["server_ready_after_s"] = time.perf_counter() - began
        warm = asyncio.run(
            run_level(
                served,
                installation,
                visitors=1,
                messages=WARM_UP_MESSAGES,
                run_number=0,
                reply_timeout=max(reply_timeout, 60.0),
            )
        )
        facts["warm_up"] = {"answered": warm["answered"], "wall_s": warm["wall_s"]}
        progress(f"[{engine}] warm-up: {warm['answered']} answered in {warm['wall_s']:.2f} s")
        runs: list[dict[str, Any]] = []
        for run_number, visitors in enumerate(visitor_counts, start=1):
            since = dt.datetime.now(dt.UTC)
            result = asyncio.run(
                run_level(
                    served,
                    installation,
                    visitors=visitors,
                    messages=messages,
                    run_number=run_number,
                    reply_timeout=reply_timeout,
                    arrival_s=arrival_s,
                    think_s=think_s,
                )
            )
            result["server_ms"] = server_timings(served, since=since, until=dt.datetime.now(dt.UTC))
            runs.append(result)
            progress(
                f"[{engine}] {visitors} visitors: {result['answered']}/{result['planned']} answered "
                f"in {result['wall_s']:.2f} s, {result['messages_per_s']:.1f}/s, {result['errors']} errors"
            )
        errors = logged_errors(served)
        facts["server_logged_errors"] = len(errors)
        if errors:
            progress(
                f"[{engine}] the server logged {len(errors)} errors; last lines:\n{tail(served.log_path)}"
            )
        progress(f"[{engine}] stopping the server")
    return runs, facts


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table_rows(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            run["engine"],
            str(run["visitors"]),
            f"{run['arrival_interval_s'] * 1000:g}",
            f"{run['think_s']:g}",
            f"{run['answered']}/{run['planned']}",
            f"{run['wall_s']:.2f}",
            f"{run['messages_per_s']:.1f}",
            _ms(run["answered_ms"]["p50"]),
            _ms(run["answered_ms"]["p99"]),
            _ms(run["first_token_ms"]["p50"]),
            _ms(run["first_token_ms"]["p99"]),
            _ms(run["picked_up_ms"]["p50"]),
            str(run["errors"]),
        ]
        for run in runs
    ]


HEADERS = [
    "engine",
    "visitors",
    "arrival ms",
    "think s",
    "answered",
    "wall s",
    "msg/s",
    "p50 ms",
    "p99 ms",
    "1st token p50",
    "1st token p99",
    "picked up p50",
    "errors",
]


def _counts(text: str) -> list[int]:
    counts = [int(item) for item in text.split(",") if item.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("visitor counts are positive integers, comma-separated")
    return counts


def _engines(text: str) -> list[str]:
    engines = [item.strip() for item in text.split(",") if item.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if not engines or unknown:
        raise argparse.ArgumentTypeError(f"engines are among {', '.join(ENGINES)}")
    return engines


def _messages(text: str) -> int:
    count = int(text)
    if not 1 <= count <= MAX_MESSAGES_PER_VISITOR:
        raise argparse.ArgumentTypeError(
            f"1 to {MAX_MESSAGES_PER_VISITOR} (the per-visitor limit is 15 messages a minute)"
        )
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engines", type=_engines, default=list(ENGINES))
    parser.add_argument("--visitors", type=_counts, default=[1, 10, 100])
    parser.add_argument("--messages", type=_messages, default=10, help="per visitor, sent one after another")
    parser.add_argument(
        "--arrival-ms",
        type=float,
        default=0.0,
        help="one visitor arrives (starts, then asks its first question) every this many ms; 0: all at once",
    )
    parser.add_argument(
        "--think-s",
        type=float,
        default=0.0,
        help="each visitor's pause between an answer and its next question",
    )
    parser.add_argument("--reply-timeout", type=float, default=30.0, help="seconds to wait for each reply")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: SQLite only, 1 and 3 visitors, 2 messages each",
    )
    parser.add_argument("--json", type=Path, help="write the results here instead of bench/results/")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.engines = list(QUICK_ENGINES)
        arguments.visitors = list(QUICK_VISITORS)
        arguments.messages = QUICK_MESSAGES
    facts = machine_facts()
    load = ", ".join(f"{value:.2f}" for value in facts["load_average_at_start"])
    print(f"{facts['cpu_model']}, {facts['nproc']} cores, Python {facts['python']}, load average {load}")
    runs: list[dict[str, Any]] = []
    installations: dict[str, Any] = {}
    if "postgres" in arguments.engines and (reason := postgres_unreachable()):
        progress(reason)
        return 2
    for engine in arguments.engines:
        engine_runs, installations[engine] = run_engine(
            engine,
            visitor_counts=arguments.visitors,
            messages=arguments.messages,
            reply_timeout=arguments.reply_timeout,
            arrival_s=arguments.arrival_ms / 1000,
            think_s=arguments.think_s,
        )
        runs.extend(engine_runs)
    print_table(HEADERS, table_rows(runs))
    result = {
        "machine": facts,
        "command": ["bench/widget_bench.py", *(sys.argv[1:] if argv is None else argv)],
        "settings": {
            "messages_per_visitor": arguments.messages,
            "reply_timeout_s": arguments.reply_timeout,
            "arrival_interval_ms": arguments.arrival_ms,
            "think_s": arguments.think_s,
            "job_workers": Settings.model_fields["job_workers"].default,
            "agent_messages_per_minute": AGENT_MESSAGES_PER_MINUTE,
        },
        "installations": installations,
        "runs": runs,
    }
    if arguments.json is None:
        path = write_result("widget", result)
    else:
        path = arguments.json
        measured = {
            "benchmark": "widget",
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        path.write_text(json.dumps({**measured, "code": code_version(), **result}, indent=2) + "\n")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
