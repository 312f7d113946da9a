"""A manager in a real browser: invited by the owner to one of two agents, joins through the
one-time link in a browser of their own and sees only that agent.

The owner completes first-run setup, enrols an authenticator app (owners must), creates two
agents and invites the manager on /team; the link is shown once, on the page. The manager opens
it in a fresh browser profile. Every page must load without a console error or a
Content-Security-Policy violation (the ``context`` fixtures check).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import PAGE_TIMEOUT_MS, ConsoleWatch
from tests.browser.flows import enrol_authenticator_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WORKSPACE = "Acme Plumbing Ltd"
OWNER_EMAIL = "ada@acme.example"
OWNER_PASSWORD = "correct horse battery staple"
MANAGER_NAME = "Max Manager"
MANAGER_EMAIL = "max@acme.example"
MANAGER_PASSWORD = "plum orchard wintry lantern"

Screenshot = Callable[[Page, str], Path]


@pytest.fixture
def manager_context(browser: Browser, console_problems: list[str]) -> Iterator[BrowserContext]:
    """A second, separate browser profile (no cookies shared with the owner's)."""
    watch = ConsoleWatch(console_problems)
    fresh = browser.new_context(viewport={"width": 1200, "height": 800}, service_workers="block")
    fresh.set_default_timeout(PAGE_TIMEOUT_MS)
    fresh.on("page", watch.attach)
    try:
        yield fresh
    finally:
        fresh.close()


def owner_sets_up(page: Page, setup_link: str) -> None:
    page.goto(setup_link)
    page.get_by_label("Business or team name").fill(WORKSPACE)
    page.get_by_label("Your name").fill("Ada Owner")
    page.get_by_label("Email").fill(OWNER_EMAIL)
    page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    page.get_by_label("Password again").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Create workspace").click()
    # An owner must enrol a second factor before anything else.
    enrol_authenticator_app(page)


def create_agent(page: Page, base_url: str, name: str) -> str:
    """Returns the agent's page URL."""
    page.goto(f"{base_url}/agents")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create agent").click()
    expect(page).to_have_url(re.compile(r"/agents/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    return page.url


def test_a_manager_joins_through_the_link_and_sees_only_the_assigned_agent(
    page: Page,
    manager_context: BrowserContext,
    base_url: str,
    setup_link: str,
    console_problems: list[str],
    save_screenshot: Screenshot,
) -> None:
    owner_sets_up(page, setup_link)
    create_agent(page, base_url, "Billing helper")
    sales_url = create_agent(page, base_url, "Sales helper")

    page.goto(f"{base_url}/team")
    page.get_by_label("Their email").fill(MANAGER_EMAIL)
    page.get_by_label("Role").select_option("manager")
    page.get_by_label("Billing helper").check()
    page.get_by_role("button", name="Make invitation link").click()
    link = page.locator("#invite-link").inner_text().strip()
    assert link.startswith(f"{base_url}/invite/")
    expect(page.get_by_role("table").nth(1)).to_contain_text(MANAGER_EMAIL)
    save_screenshot(page, "manager-01-invitation-link")

    manager = manager_context.new_page()
    response = manager.goto(link)
    assert response is not None
    assert response.status == 200
    expect(manager.locator("#invited-email")).to_have_text(MANAGER_EMAIL)
    expect(manager.locator("input[name=email]")).to_have_count(0)
    manager.get_by_label("Your name").fill(MANAGER_NAME)
    manager.get_by_label("Password", exact=True).fill(MANAGER_PASSWORD)
    manager.get_by_label("Password again").fill(MANAGER_PASSWORD)
    save_screenshot(manager, "manager-02-accept-invitation")
    manager.get_by_role("button", name="Create account and join").click()
    expect(manager).to_have_url(re.compile(r"/dashboard$"))

    manager.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    expect(manager).to_have_url(f"{base_url}/agents")
    expect(manager.locator(".agent-list li")).to_have_text(["Billing helper"])
    expect(manager.get_by_role("button", name="Create agent")).to_have_count(0)
    save_screenshot(manager, "manager-03-assigned-agents")
    other = manager.goto(sales_url)
    assert other is not None
    assert other.status == 404

    # The link worked once: opening it again is a clear "no longer valid" page.
    again = manager.goto(link)
    assert again is not None
    assert again.status == 410
    expect(manager.get_by_text("invalid, expired or already used")).to_be_visible()

    # The owner's team page now lists the manager with their agent, and no pending invitation.
    page.goto(f"{base_url}/team")
    row = page.get_by_role("row").filter(has_text=MANAGER_EMAIL)
    expect(row).to_contain_text("manager")
    expect(row).to_contain_text("Billing helper")
    assert console_problems == []
