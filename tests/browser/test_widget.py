"""The website widget in a real browser, on a business's own site.

A real ``hushdesk serve`` runs on localhost; a small static site (``host_page``) carries the
embed snippet copied from the agent's page. A Chromium of its own maps ``shop.test`` and
``evil.test`` to 127.0.0.1, so the same page is reached as the agent's allowed domain and as a
foreign site, each its own origin, while every other name still fails to resolve.

Once per module the owner sets up the workspace, creates an agent from a document and allows
``shop.test`` on its settings page. Each test then uses a fresh visitor profile:

- on shop.test the chat opens, asks for consent, streams a cited answer, and the host page's
  scripts cannot read any of it;
- on evil.test nothing is shown, the session request is unreadable to the page, the chat
  page refuses to be framed, and the agent's page counts the refusal;
- asking for a person hands the conversation to a support person's live inbox, whose reply
  reaches the visitor.

Console errors and CSP violations fail a test (``ConsoleWatch``), except those a refusal is
expected to cause on evil.test, which that test names and requires.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, FilePayload, FrameLocator, Page, expect

from hushdesk.privacy.pii import NameLexicon
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_TIMEOUT_MS,
    SCREENSHOTS,
    ConsoleWatch,
    RunningServer,
    hushdesk_server,
)
from tests.browser.host_page import HostPage, serve_host_page, snippet
from tests.browser.test_manager import create_agent, owner_sets_up

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ALLOWED_HOST = "shop.test"
FOREIGN_HOST = "evil.test"
AGENT_NAME = "Front desk"
SUPPORT_NAME = "Sam Support"
SUPPORT_EMAIL = "sam@acme.example"
SUPPORT_PASSWORD = "tidal quartz meadow copper"
WAIT_MS = PAGE_TIMEOUT_MS  # every wait: generous on a slow shared machine, but bounded
RETURNS = b"""# Returns

You can return unworn boots within 30 days of delivery for a full refund.

# Shipping to Namibia

Orders to Namibia travel by road freight and arrive in 4 to 6 working days.
"""
WIDGET_KEY = re.compile(r"hd_pk_[a-z2-7]{26}")
# The widget browser resolves the two test sites to loopback and, like CHROMIUM_ARGS, no other
# name but localhost.
HOST_RULES = (
    f"--host-resolver-rules=MAP {ALLOWED_HOST} 127.0.0.1, MAP {FOREIGN_HOST} 127.0.0.1, "
    "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"
)
# What Chromium logs, as errors, when a foreign page's requests are refused as they should be.
CORS_REFUSAL = re.compile(r"has been blocked by CORS policy")
FRAME_REFUSAL = re.compile(r"violates the following Content Security Policy directive: \"frame-ancestors ")
FAILED_LOAD = re.compile(r"Failed to load resource: net::ERR_(FAILED|BLOCKED_BY_RESPONSE)")


@dataclass(frozen=True)
class Shop:
    """The module's world: the server, the owner's signed-in page, the agent, and the site."""

    server: RunningServer
    database: Path
    owner: Page
    agent_url: str
    widget_key: str
    site: HostPage

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def frame_url(self) -> str:
        return f"{self.server.base_url}/widget/v1/frame/{self.widget_key}"


def read_database(database: Path, query: str, *params: object) -> list[tuple[object, ...]]:
    """Rows from the running server's SQLite database, opened read-only."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10.0)) as connection:
        return list(connection.execute(query, params).fetchall())


def new_profile(browser: Browser, problems: list[str]) -> BrowserContext:
    """A fresh profile (no cookies, no storage) whose pages report to ``problems``."""
    watch = ConsoleWatch(problems)
    profile = browser.new_context(viewport={"width": 1200, "height": 800}, service_workers="block")
    profile.set_default_timeout(WAIT_MS)
    profile.on("page", watch.attach)
    return profile


@pytest.fixture(scope="module")
def widget_server(
    tmp_path_factory: pytest.TempPathFactory, name_lexicon: NameLexicon
) -> Iterator[RunningServer]:
    """One server for the module (``name_lexicon`` builds the shared name cache first)."""
    with hushdesk_server(tmp_path_factory.mktemp("widget")) as running:
        yield running
    logged_errors = [line for line in running.log_path.read_text().splitlines() if '"level": "error"' in line]
    assert logged_errors == [], "the server logged errors:\n" + "\n".join(logged_errors)


@pytest.fixture(scope="module")
def widget_browser(browser: Browser) -> Iterator[Browser]:
    """A second Chromium, from the same Playwright, whose resolver knows the two test sites."""
    args = [arg for arg in CHROMIUM_ARGS if not arg.startswith("--host-resolver-rules=")]
    launched = browser.browser_type.launch(
        executable_path=str(CHROMIUM), args=[*args, HOST_RULES], headless=True
    )
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture(scope="module")
def owner_problems() -> list[str]:
    return []


@pytest.fixture(scope="module")
def shop(widget_browser: Browser, widget_server: RunningServer, owner_problems: list[str]) -> Iterator[Shop]:
    """The owner's setup through the pages: workspace, agent with a document, ``shop.test``
    allowed; the snippet the agent's page shows (for the key in the database) pasted into the
    shop's site."""
    profile = new_profile(widget_browser, owner_problems)
    try:
        owner = profile.new_page()
        owner_sets_up(owner, widget_server.setup_link)
        agent_url = create_agent(owner, widget_server.base_url, AGENT_NAME)

        owner.goto(f"{agent_url}/knowledge")
        owner.locator("input#files").set_input_files(
            FilePayload(name="returns.md", mimeType="text/markdown", buffer=RETURNS)
        )
        owner.get_by_role("button", name="Upload").click()
        expect(owner.locator("#documents-heading").locator("xpath=..")).to_contain_text(
            "returns.md", timeout=WAIT_MS
        )

        owner.goto(f"{agent_url}/settings")
        owner.get_by_label("Website domains").fill(ALLOWED_HOST)
        owner.get_by_role("button", name="Save settings").click()
        expect(owner.get_by_role("status")).to_contain_text("Saved as version", timeout=WAIT_MS)
        expect(owner.get_by_label("Website domains")).to_have_value(ALLOWED_HOST)

        database = widget_server.log_path.parent / "var" / "hushdesk.sqlite3"
        rows = read_database(database, "SELECT widget_key FROM agent WHERE name = ?", AGENT_NAME)
        assert len(rows) == 1
        widget_key = str(rows[0][0])
        assert WIDGET_KEY.fullmatch(widget_key)

        owner.goto(agent_url)
        embed = owner.locator("#embed-snippet").inner_text(timeout=WAIT_MS)
        assert embed == snippet(hushdesk_base=widget_server.base_url, widget_key=widget_key)
        expect(owner.locator("#widget-refusals")).to_contain_text("No request was refused")

        with serve_host_page(embed=embed, hushdesk_base=widget_server.base_url) as site:
            yield Shop(widget_server, database, owner, agent_url, widget_key, site)
    finally:
        profile.close()
    assert owner_problems == [], "\n".join(owner_problems)


@pytest.fixture
def visitor_problems() -> list[str]:
    return []


@pytest.fixture
def visitor(widget_browser: Browser, visitor_problems: list[str]) -> Iterator[BrowserContext]:
    """A visitor's fresh profile; the test itself checks ``visitor_problems``."""
    profile = new_profile(widget_browser, visitor_problems)
    try:
        yield profile
    finally:
        profile.close()


@pytest.fixture
def screenshots_on_failure(request: pytest.FixtureRequest) -> Iterator[list[tuple[Page, str]]]:
    """Pages the test registers as ``(page, name)`` are saved to artifacts/screenshots/ when
    the test fails (the call phase is reported, so counted, before fixtures are torn down)."""
    pages: list[tuple[Page, str]] = []
    failed_before = request.session.testsfailed
    yield pages
    if request.session.testsfailed > failed_before:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for page, name in pages:
            if not page.is_closed():
                page.screenshot(path=str(SCREENSHOTS / f"widget-failed-{name}.png"), full_page=True)


def open_chat(page: Page, url: str) -> FrameLocator:
    """Open the site, see the launcher, open the chat; returns the chat frame."""
    page.goto(url)
    launcher = page.locator("#hushdesk-launcher")
    expect(launcher).to_be_visible(timeout=WAIT_MS)
    expect(launcher).to_have_text("Chat with us")
    expect(page.locator("#hushdesk-frame")).to_be_hidden()
    launcher.click()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#hushdesk-frame")).to_be_visible(timeout=WAIT_MS)
    return page.frame_locator("#hushdesk-frame")


def accept_consent(chat: FrameLocator) -> None:
    """The notice shows with its button and no form; accepting it shows the form."""
    expect(chat.locator("#hd-consent")).to_be_visible(timeout=WAIT_MS)
    expect(chat.locator("#hd-consent-text")).not_to_be_empty()
    expect(chat.locator("#hd-form")).to_be_hidden()
    chat.locator("#hd-consent-accept").click()
    expect(chat.locator("#hd-form")).to_be_visible(timeout=WAIT_MS)
    expect(chat.locator("#hd-consent-accept")).to_be_hidden()


def say(chat: FrameLocator, text: str) -> None:
    """Send ``text`` and see it in the log as the visitor's own, no longer pending."""
    chat.locator("#hd-text").fill(text)
    chat.locator("#hd-send").click()
    mine = chat.locator("#hd-log .hd-msg-customer").filter(has_text=text)
    expect(mine).to_have_count(1, timeout=WAIT_MS)
    expect(mine).not_to_have_class(re.compile(r"hd-msg-(pending|failed)"), timeout=WAIT_MS)


def test_on_the_allowed_site_the_chat_streams_a_cited_answer_the_page_cannot_read(
    shop: Shop,
    visitor: BrowserContext,
    visitor_problems: list[str],
    screenshots_on_failure: list[tuple[Page, str]],
) -> None:
    page = visitor.new_page()
    screenshots_on_failure.append((page, "allowed-site"))
    chat = open_chat(page, shop.site.url(ALLOWED_HOST))
    # The frame is Hushdesk's own page, and has already taken the bootstrap out of its address.
    frame = page.locator("#hushdesk-frame").element_handle().content_frame()
    assert frame is not None
    expect(chat.locator("#hd-title")).to_have_text(AGENT_NAME)
    assert frame.url == shop.frame_url

    accept_consent(chat)
    say(chat, "How many days do I have to return my boots?")
    answer = chat.locator("#hd-log .hd-msg-assistant").last
    expect(answer.locator(".hd-msg-text")).to_contain_text("30 days", timeout=WAIT_MS)
    expect(answer.locator(".hd-citations-list li")).to_have_text(["Returns"], timeout=WAIT_MS)
    # The stored reply has replaced the streamed pieces.
    expect(answer).not_to_have_class(re.compile(r"hd-msg-provisional"), timeout=WAIT_MS)

    # The conversation lives in another origin: the shop's scripts cannot reach into it.
    isolation = page.evaluate(
        """() => {
            const frame = document.getElementById("hushdesk-frame");
            let windowDocument;
            try {
                windowDocument = frame.contentWindow.document ? "readable" : "empty";
            } catch (error) {
                windowDocument = error.name;
            }
            return {contentDocument: frame.contentDocument, windowDocument: windowDocument};
        }"""
    )
    assert isolation == {"contentDocument": None, "windowDocument": "SecurityError"}
    assert "30 days" not in page.content()
    assert visitor_problems == []


def test_on_a_foreign_site_nothing_shows_the_api_is_unreadable_and_the_chat_cannot_be_framed(
    shop: Shop,
    visitor: BrowserContext,
    visitor_problems: list[str],
    screenshots_on_failure: list[tuple[Page, str]],
) -> None:
    page = visitor.new_page()
    screenshots_on_failure.append((page, "foreign-site"))
    with page.expect_console_message(
        lambda message: message.type == "warning" and message.text.startswith("Hushdesk:"), timeout=WAIT_MS
    ) as warned:
        page.goto(shop.site.url(FOREIGN_HOST))
    assert warned.value.text == "Hushdesk: the chat widget is not available on this page (request refused)."
    page.wait_for_load_state("networkidle", timeout=WAIT_MS)
    expect(page.locator("#hushdesk-widget")).to_have_count(0)
    expect(page.locator("iframe")).to_have_count(0)

    # The page's own script, asking as the loader does, gets no readable answer: a CORS
    # failure, not even a status.
    outcome = page.evaluate(
        """async ([url, key]) => {
            try {
                const response = await fetch(url, {
                    method: "POST",
                    mode: "cors",
                    credentials: "omit",
                    headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({agent: key}),
                });
                return "status " + response.status;
            } catch (error) {
                return error.name;
            }
        }""",
        [f"{shop.base_url}/widget/v1/sessions?agent={shop.widget_key}", shop.widget_key],
    )
    assert outcome == "TypeError"

    # Framing the chat page directly is refused by its frame-ancestors.
    with page.expect_console_message(
        lambda message: message.type == "error" and bool(FRAME_REFUSAL.search(message.text)), timeout=WAIT_MS
    ):
        page.evaluate(
            """(src) => {
                const probe = document.createElement("iframe");
                probe.id = "probe";
                probe.src = src;
                document.body.appendChild(probe);
            }""",
            shop.frame_url,
        )
    expect(page.frame_locator("#probe").locator("#hd-log")).to_have_count(0)
    policy = httpx.get(shop.frame_url, timeout=10.0).headers["content-security-policy"]
    ancestors = [part.strip() for part in policy.split(";") if part.strip().startswith("frame-ancestors")]
    assert ancestors == [f"frame-ancestors https://{ALLOWED_HOST}:* http://{ALLOWED_HOST}:*"]

    expected = [problem for problem in visitor_problems if _expected_refusal(problem)]
    assert any(CORS_REFUSAL.search(problem) for problem in expected)
    assert any(FRAME_REFUSAL.search(problem) for problem in expected)
    assert [problem for problem in visitor_problems if problem not in expected] == []

    # The refusals are counted for the agent, and its page says so.
    rows = read_database(
        shop.database,
        "SELECT r.count, r.last_origin FROM widget_refusal r JOIN agent a ON a.id = r.agent_id"
        " WHERE a.widget_key = ?",
        shop.widget_key,
    )
    assert [last_origin for _count, last_origin in rows] == [shop.site.origin(FOREIGN_HOST)]
    count = rows[0][0]
    assert isinstance(count, int)
    assert count >= 1
    shop.owner.goto(shop.agent_url)
    refusals = shop.owner.locator("#widget-refusals")
    expect(refusals).to_contain_text(f"{count} request")
    expect(refusals).to_contain_text(shop.site.origin(FOREIGN_HOST))


def _expected_refusal(problem: str) -> bool:
    return bool(CORS_REFUSAL.search(problem) or FRAME_REFUSAL.search(problem) or FAILED_LOAD.search(problem))


@pytest.fixture
def support_problems() -> list[str]:
    return []


@pytest.fixture
def support_profile(widget_browser: Browser, support_problems: list[str]) -> Iterator[BrowserContext]:
    """The support person's own profile; the test itself checks ``support_problems``."""
    profile = new_profile(widget_browser, support_problems)
    try:
        yield profile
    finally:
        profile.close()


def invite_support_person(shop: Shop) -> str:
    """The owner invites a support person assigned to the agent; returns the one-time link."""
    owner = shop.owner
    owner.goto(f"{shop.base_url}/team")
    owner.get_by_label("Their email").fill(SUPPORT_EMAIL)
    owner.get_by_label("Role").select_option("support")
    owner.get_by_label(AGENT_NAME).check()
    owner.get_by_role("button", name="Make invitation link").click()
    link = owner.locator("#invite-link").inner_text(timeout=WAIT_MS).strip()
    assert link.startswith(f"{shop.base_url}/invite/")
    return link


def join(page: Page, link: str) -> None:
    page.goto(link)
    expect(page.locator("#invited-email")).to_have_text(SUPPORT_EMAIL)
    page.get_by_label("Your name").fill(SUPPORT_NAME)
    page.get_by_label("Password", exact=True).fill(SUPPORT_PASSWORD)
    page.get_by_label("Password again").fill(SUPPORT_PASSWORD)
    page.get_by_role("button", name="Create account and join").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"), timeout=WAIT_MS)


def test_asking_for_a_person_reaches_the_live_inbox_and_the_reply_reaches_the_visitor(
    shop: Shop,
    visitor: BrowserContext,
    visitor_problems: list[str],
    support_profile: BrowserContext,
    support_problems: list[str],
    screenshots_on_failure: list[tuple[Page, str]],
) -> None:
    link = invite_support_person(shop)
    support = support_profile.new_page()
    screenshots_on_failure.append((support, "handoff-support"))
    join(support, link)
    support.goto(f"{shop.base_url}/inbox")
    expect(support.get_by_role("heading", level=1)).to_have_text("Inbox")
    waiting_before = set(
        support.locator(".hd-inbox-row").evaluate_all("rows => rows.map(r => r.dataset.conversationId)")
    )
    # Marks this page load: still there later means the inbox changed without a reload.
    support.evaluate("() => { window.hdSameLoad = true; }")

    page = visitor.new_page()
    screenshots_on_failure.append((page, "handoff-visitor"))
    chat = open_chat(page, shop.site.url(ALLOWED_HOST))
    accept_consent(chat)
    say(chat, "I want to talk to a person")
    expect(chat.locator("#hd-handoff")).to_be_visible(timeout=WAIT_MS)
    expect(chat.locator("#hd-handoff")).to_have_text("A person from our team will reply here.")
    expect(chat.locator("#hd-log .hd-msg-assistant").last).to_contain_text("our team")

    new_rows = support.locator(
        ".hd-inbox-row" + "".join(f':not([data-conversation-id="{known}"])' for known in waiting_before)
    )
    expect(new_rows).to_have_count(1, timeout=WAIT_MS)
    expect(new_rows).to_contain_text(AGENT_NAME)
    assert support.evaluate("() => window.hdSameLoad === true")

    new_rows.get_by_role("link").click()
    expect(support).to_have_url(re.compile(r"/conversations/[0-9a-f-]{36}$"), timeout=WAIT_MS)
    expect(support.locator("#hd-transcript")).to_contain_text("I want to talk to a person")
    form = support.locator("form#hd-reply-form")
    form.locator("textarea[name=text]").fill("Hello, this is Sam from the team. How can I help?")
    form.get_by_role("button", name="Send reply").click()
    expect(support.locator("#hd-transcript")).to_contain_text("Hello, this is Sam", timeout=WAIT_MS)

    reply = chat.locator("#hd-log .hd-msg-person").last
    expect(reply).to_contain_text("Hello, this is Sam from the team. How can I help?", timeout=WAIT_MS)
    expect(reply.locator(".hd-msg-author")).to_have_text("Team")
    assert visitor_problems == []
    assert support_problems == []
