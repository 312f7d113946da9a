"""Fixtures for the browser tests: the real ``hushdesk serve`` in a subprocess, and headless
Chromium from Debian driven by Playwright.

Playwright's own browser download is not used: ``scripts/ensure-chromium`` installs Debian's
``chromium`` at /usr/bin/chromium (override with HUSHDESK_TEST_CHROMIUM). When it is missing
the tests are skipped with the reason, except under CI=true, where they fail.

Nothing here reaches the network: the server listens on 127.0.0.1 only, the test process
talks to it over loopback (which pytest-socket allows), Playwright talks to Chromium over a
pipe, and Chromium is told to resolve no host name but localhost.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Response, sync_playwright

from tests.conftest import NAME_CACHE

CHROMIUM = Path(os.environ.get("HUSHDESK_TEST_CHROMIUM", "/usr/bin/chromium"))
IN_CI = os.environ.get("CI", "").lower() == "true"
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    # Belt and braces against any request leaving the machine: every host name except
    # localhost fails to resolve inside the browser.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]

SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 15.0
PAGE_TIMEOUT_MS = 20_000
_SETUP_LINE = re.compile(
    r"First-run setup \(one-time link, valid \d+ minutes\): (?P<link>http://\S+/setup/\S+)"
)


@dataclass(frozen=True)
class RunningServer:
    """A ``hushdesk serve`` process answering on loopback."""

    base_url: str
    setup_link: str
    log_path: Path


def free_loopback_port() -> int:
    """A port that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pump_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Read the server's stdout until it closes, so the pipe never fills and blocks it."""
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _hermetic_env() -> dict[str, str]:
    """The current environment without any HUSHDESK_* settings, so only the command line counts
    (and the shared cache folder)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUSHDESK_")}
    env["PYTHONUNBUFFERED"] = "1"
    # The PII engine's name lists, built once per checkout (tests/conftest.py), not per server.
    env["HUSHDESK_CACHE_DIR"] = str(NAME_CACHE)
    return env


def _wait_for_setup_link(
    process: subprocess.Popen[str], lines: queue.Queue[str | None], deadline: float, log_path: Path
) -> str:
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        match = _SETUP_LINE.search(line)
        if match:
            return match.group("link")
    process.poll()
    raise AssertionError(
        f"the server printed no setup link (exit status {process.returncode});\n"
        f"stdout: {seen}\nlog tail:\n{_tail(log_path)}"
    )


def _wait_until_healthy(process: subprocess.Popen[str], port: int, deadline: float, log_path: Path) -> None:
    with httpx.Client(timeout=2.0, headers={"Host": f"localhost:{port}"}) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise AssertionError(
        f"the server did not answer /healthz (exit status {process.poll()});\nlog tail:\n{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@contextmanager
def hushdesk_server(workdir: Path) -> Iterator[RunningServer]:
    """Run ``hushdesk serve`` on a free loopback port with its data and keys under ``workdir``;
    stop it (SIGTERM, then SIGKILL) on the way out, whatever happened."""
    port = free_loopback_port()
    log_path = workdir / "server.log"
    command = [
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
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,  # no stray .env from the repository
            env=_hermetic_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    pump = threading.Thread(target=_pump_lines, args=(process.stdout, lines), daemon=True)
    try:
        pump.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        link = _wait_for_setup_link(process, lines, deadline, log_path)
        _wait_until_healthy(process, port, deadline, log_path)
        yield RunningServer(base_url=f"http://localhost:{port}", setup_link=link, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        if pump.is_alive():
            pump.join(timeout=SERVER_STOP_TIMEOUT_S)  # stdout is at EOF once the process is gone
        process.stdout.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh server with an empty data folder: no owner yet, a new setup link."""
    with hushdesk_server(tmp_path) as running:
        yield running
    logged_errors = [line for line in running.log_path.read_text().splitlines() if '"level": "error"' in line]
    assert logged_errors == [], "the server logged errors:\n" + "\n".join(logged_errors)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} is missing: run scripts/ensure-chromium (installs Debian's chromium)"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: browser tests must run)")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


class ConsoleWatch:
    """Collects console errors and uncaught page errors from every page of one context into
    ``problems``.

    Chromium reports Content-Security-Policy violations as console errors ("... violates the
    following Content Security Policy directive ..."), so an empty list also means no CSP
    violation. Chromium also logs "Failed to load resource: ... status of N" for a page
    document that answered 4xx; those are left to the test, which asserts the document's
    status itself. The same message for a sub-resource (a missing stylesheet) is a problem.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        self.document_urls: set[str] = set()

    def attach(self, page: Page) -> None:
        page.on("response", lambda response: self._on_response(page, response))
        page.on("console", lambda message: self._on_console(page, message))
        page.on("pageerror", lambda error: self.problems.append(f"uncaught error on {page.url}: {error}"))

    def _on_response(self, page: Page, response: Response) -> None:
        if response.request.is_navigation_request() and response.frame == page.main_frame:
            self.document_urls.add(response.url)

    def _on_console(self, page: Page, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        source_url = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and source_url in self.document_urls:
            return
        self.problems.append(f"console error on {page.url}: {message.text} (source: {source_url or '-'})")


@pytest.fixture
def console_problems() -> list[str]:
    """Console errors, CSP violations and uncaught errors seen so far by ``context``'s pages.
    The ``context`` fixture fails the test if any are left at the end."""
    return []


@pytest.fixture
def context(browser: Browser, console_problems: list[str]) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) whose pages all report to ``console_problems``."""
    watch = ConsoleWatch(console_problems)
    new_context = browser.new_context(viewport={"width": 1200, "height": 800}, service_workers="block")
    new_context.set_default_timeout(PAGE_TIMEOUT_MS)
    new_context.on("page", watch.attach)
    try:
        yield new_context
    finally:
        new_context.close()
    assert console_problems == [], "\n".join(console_problems)


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def base_url(server: RunningServer) -> str:
    """http://localhost:PORT of this test's server."""
    return server.base_url


@pytest.fixture
def setup_link(server: RunningServer) -> str:
    """The one-time setup link this test's server printed at start."""
    return server.setup_link


@pytest.fixture
def save_screenshot() -> Callable[[Page, str], Path]:
    """``save_screenshot(page, name)`` writes artifacts/screenshots/<name>.png (git-ignored)."""

    def save(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
