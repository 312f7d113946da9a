"""What the benchmarks share: starting and stopping servers on loopback, the machine's facts,
medians, and writing results to bench/results/ (git-ignored).

Every server here listens on 127.0.0.1 only and is stopped (SIGTERM, then SIGKILL) on the way
out, whatever happened.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from hushdesk.identity.totp import hotp_code, totp_step

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
SETUP_LINE = re.compile(
    r"First-run setup \(one-time link, valid \d+ minutes\): (?P<link>http://\S+/setup/\S+)"
)


@dataclass(frozen=True)
class Served:
    """A server process answering on ``http://127.0.0.1:port``."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    stdout_path: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def host_header(self) -> str:
        """A Host the server accepts (hushdesk answers to its loopback names only)."""
        return f"localhost:{self.port}"

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(errors="replace")


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def hermetic_env() -> dict[str, str]:
    """This environment without HUSHDESK_* settings: only the command line counts."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUSHDESK_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def hushdesk_serve_command(port: int, workdir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hushdesk",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(workdir / "var"),
        "--keys-dir",
        str(workdir / "keys"),
    ]


def bare_app_command(port: int) -> list[str]:
    return [sys.executable, str(BENCH_DIR / "bare_app.py"), "--port", str(port)]


def spawn(name: str, command: Sequence[str], *, port: int, workdir: Path) -> Served:
    """Start ``command`` with its output in files under ``workdir`` (never a pipe that could
    fill up and stall the server under load)."""
    workdir.mkdir(parents=True, exist_ok=True)
    stdout_path = workdir / f"{name}.stdout"
    log_path = workdir / f"{name}.log"
    with stdout_path.open("wb") as stdout, log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=workdir,  # no stray .env from the repository
            env=hermetic_env(),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=log,
        )
    return Served(name=name, port=port, process=process, stdout_path=stdout_path, log_path=log_path)


def wait_until_healthy(served: Served, *, timeout_s: float = START_TIMEOUT_S, poll_s: float = 0.005) -> float:
    """Poll ``/healthz`` until it answers 200; return the monotonic time it did.

    Raises ``RuntimeError`` if the process exits or the timeout passes first."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0, headers={"Host": served.host_header}) as client:
        while time.monotonic() < deadline:
            if served.process.poll() is not None:
                break
            try:
                if client.get(f"{served.url}/healthz").status_code == 200:
                    return time.monotonic()
            except httpx.TransportError:
                pass
            time.sleep(poll_s)
    raise RuntimeError(
        f"{served.name} did not answer /healthz (exit status {served.process.poll()}); "
        f"log tail:\n{tail(served.log_path)}"
    )


def stop(served: Served) -> None:
    if served.process.poll() is None:
        served.process.terminate()
    try:
        served.process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def running(name: str, command: Sequence[str], *, port: int, workdir: Path) -> Iterator[Served]:
    served = spawn(name, command, port=port, workdir=workdir)
    try:
        wait_until_healthy(served)
        yield served
    finally:
        stop(served)


def setup_link_of(served: Served) -> str:
    match = SETUP_LINE.search(served.stdout_text())
    if match is None:
        raise RuntimeError(f"{served.name} printed no setup link:\n{served.stdout_text()}")
    return match.group("link")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine_facts() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu_model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    ram_gib: float | None = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_gib": ram_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the working tree had uncommitted changes."""

    def git(*arguments: str) -> str:
        completed = subprocess.run(
            ["git", *arguments], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False
        )
        return completed.stdout.strip() if completed.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def write_result(kind: str, result: dict[str, Any]) -> Path:
    """Write ``result`` (with the time and the code's version) to bench/results/<kind>-<time>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    payload = {
        "benchmark": kind,
        "measured_at": now.isoformat(timespec="seconds"),
        "code": code_version(),
        **result,
    }
    path = RESULTS_DIR / f"{kind}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    print(line.format(*headers))
    print(line.format(*("-" * width for width in widths)))
    for row in rows:
        print(line.format(*row))


# ---- a signed-in owner -----------------------------------------------------------------------

SESSION_COOKIE = "hushdesk_session"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
_FACTOR = re.compile(r'name="factor_id" value="([0-9a-f-]+)"')
_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')


def _found(pattern: re.Pattern[str], page: httpx.Response, what: str) -> str:
    match = pattern.search(page.text)
    if match is None:
        raise RuntimeError(f"no {what} on {page.request.url.path} ({page.status_code})")
    return match.group(1)


def owner_with_second_factor(
    served: Served,
    *,
    password: str,
    workspace_name: str = "Bench Workspace",
    owner_email: str = "owner@bench.example",
) -> str:
    """First-run setup, then an authenticator app enrolled through /account/security, over
    HTTP. Returns the session cookie, whose second factor is presented and fresh."""
    form = {
        "workspace_name": workspace_name,
        "region": "eu",
        "owner_name": "Bench Owner",
        "owner_email": owner_email,
        "password": password,
        "password_confirm": password,
    }
    with httpx.Client(base_url=served.url, headers={"Host": served.host_header}, timeout=30.0) as client:
        created = client.post(urlsplit(setup_link_of(served)).path, data=form)
        if created.status_code != 303:
            raise RuntimeError(f"setup failed: {created.status_code} {created.text[:300]}")
        security = client.get("/account/security")
        begun = client.post("/account/totp", data={"csrf_token": _found(_CSRF, security, "CSRF token")})
        key = _found(_SECRET, begun, "TOTP key").replace(" ", "")
        secret = base64.b32decode(key + "=" * (-len(key) % 8))
        confirmed = client.post(
            "/account/totp/confirm",
            data={
                "csrf_token": _found(_CSRF, begun, "CSRF token"),
                "factor_id": _found(_FACTOR, begun, "factor id"),
                "code": hotp_code(secret, counter=totp_step(int(time.time()))),
            },
        )
        if confirmed.status_code != 200:
            raise RuntimeError(f"TOTP confirmation failed: {confirmed.status_code}")
        return str(client.cookies[SESSION_COOKIE])
