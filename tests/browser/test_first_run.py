"""First run in a real browser: the one-time setup link, the second factor the owner must set
up before anything else, the dashboard, signing out and in again with a TOTP code.

Each test gets its own ``hushdesk serve`` process with an empty data folder (fixtures in this
folder's conftest) and a fresh Chromium profile; every page must load without a console
error or a Content-Security-Policy violation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.flows import Authenticator, enrol_authenticator_app, sign_in_with_totp

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WORKSPACE = "Acme Plumbing Ltd"
OWNER = "Ada Owner"
EMAIL = "ada@acme.example"
PASSWORD = "correct horse battery staple"
SESSION_COOKIE = "hushdesk_session"

Screenshot = Callable[[Page, str], Path]


def fill_setup_form(page: Page, *, password: str, region: str = "us") -> None:
    page.get_by_label("Business or team name").fill(WORKSPACE)
    page.get_by_label("Where its data lives").select_option(region)
    page.get_by_label("Your name").fill(OWNER)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)


def submit_setup_form(page: Page) -> None:
    page.get_by_role("button", name="Create workspace").click()


def complete_setup(page: Page, setup_link: str) -> Authenticator:
    """Setup, then the authenticator app the owner must enrol; ends on the dashboard."""
    response = page.goto(setup_link)
    assert response is not None
    assert response.status == 200
    fill_setup_form(page, password=PASSWORD)
    submit_setup_form(page)
    app = enrol_authenticator_app(page)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    return app


def expect_dashboard(page: Page) -> None:
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(WORKSPACE)
    expect(page).to_have_title(f"{WORKSPACE} · Hushdesk")


def test_owner_completes_setup_and_lands_on_the_dashboard(
    page: Page,
    context: BrowserContext,
    setup_link: str,
    console_problems: list[str],
    save_screenshot: Screenshot,
) -> None:
    response = page.goto(setup_link)
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", name="Set up Hushdesk")).to_be_visible()
    save_screenshot(page, "01-setup-form")

    fill_setup_form(page, password=PASSWORD, region="us")
    submit_setup_form(page)

    # Owners must set up a second factor before anything else.
    expect(page).to_have_url(re.compile(r"/account/security$"))
    expect(page.get_by_role("alert")).to_contain_text("owners and admins must have a second factor")
    save_screenshot(page, "03a-mfa-required")
    enrol_authenticator_app(page)

    expect_dashboard(page)
    facts = page.locator("dl.facts")
    expect(facts.first).to_contain_text("US")
    expect(facts.nth(1)).to_contain_text(OWNER)
    expect(facts.nth(1)).to_contain_text(EMAIL)
    expect(facts.nth(1)).to_contain_text("owner")
    save_screenshot(page, "03-dashboard")
    assert console_problems == []


def test_session_cookie_is_http_only_and_same_site_lax(
    page: Page, context: BrowserContext, setup_link: str
) -> None:
    complete_setup(page, setup_link)

    cookies = {cookie.get("name"): cookie for cookie in context.cookies()}
    assert set(cookies) == {SESSION_COOKIE}
    session = cookies[SESSION_COOKIE]
    assert session.get("httpOnly") is True
    assert session.get("sameSite") == "Lax"
    assert session.get("path") == "/"
    # Served over plain HTTP on loopback here, so neither Secure nor the __Host- prefix applies.
    assert session.get("secure") is False
    assert page.evaluate("() => document.cookie") == "", "the session cookie must be hidden from scripts"


def test_setup_link_works_only_once(
    browser: Browser,
    page: Page,
    setup_link: str,
    console_problems: list[str],
    save_screenshot: Screenshot,
) -> None:
    complete_setup(page, setup_link)

    # Again from the same signed-in browser...
    response = page.goto(setup_link)
    assert response is not None
    assert response.status == 410
    expect(page.get_by_text("This setup link is invalid, expired or already used")).to_be_visible()
    save_screenshot(page, "05-setup-link-gone")

    # ...and from a stranger's browser that never saw the link's first use.
    stranger = browser.new_context()
    try:
        stranger_page = stranger.new_page()
        again = stranger_page.goto(setup_link)
        assert again is not None
        assert again.status == 410
        expect(stranger_page.get_by_role("button", name="Create workspace")).to_have_count(0)
    finally:
        stranger.close()
    assert console_problems == []


def test_too_short_password_shows_the_form_again_with_an_error(
    page: Page, setup_link: str, console_problems: list[str], save_screenshot: Screenshot
) -> None:
    page.goto(setup_link)
    fill_setup_form(page, password="short pw")

    # The browser's own check (minlength) stops the form first...
    submit_setup_form(page)
    assert page.get_by_label("Password", exact=True).evaluate("input => input.validity.tooShort") is True
    expect(page).to_have_url(setup_link)

    # ...and the server refuses it too when that check is absent (an old browser, a script).
    page.locator("form").evaluate("form => { form.noValidate = true; }")
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        submit_setup_form(page)
    assert posted.value.status == 422
    expect(page.get_by_role("alert")).to_have_text("Use at least 12 characters.")
    # What was typed is kept, except the passwords.
    expect(page.get_by_label("Business or team name")).to_have_value(WORKSPACE)
    expect(page.get_by_label("Where its data lives")).to_have_value("us")
    expect(page.get_by_label("Email")).to_have_value(EMAIL)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    save_screenshot(page, "02-setup-form-error")

    # Nothing was created and the link still works.
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    submit_setup_form(page)
    expect(page).to_have_url(re.compile(r"/account/security$"))
    assert console_problems == []


def test_owner_signs_out_and_signs_in_again(
    page: Page,
    context: BrowserContext,
    base_url: str,
    setup_link: str,
    console_problems: list[str],
    save_screenshot: Screenshot,
) -> None:
    app = complete_setup(page, setup_link)

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(f"{base_url}/login")
    assert [cookie for cookie in context.cookies() if cookie.get("name") == SESSION_COOKIE] == []
    page.goto(f"{base_url}/dashboard")
    expect(page).to_have_url(f"{base_url}/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    save_screenshot(page, "04-login")

    sign_in_with_totp(page, base_url, email=EMAIL, password=PASSWORD, app=app)
    expect_dashboard(page)
    save_screenshot(page, "04b-signed-in-with-totp")
    assert console_problems == []


def test_console_watch_reports_csp_violations(page: Page, base_url: str, console_problems: list[str]) -> None:
    """The "no console errors" checks above can fail: an inline script is refused by the CSP and
    the refusal reaches ``console_problems``."""
    page.goto(f"{base_url}/login")
    assert console_problems == []

    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "document.title = 'injected'";
            document.body.appendChild(script);
        }"""
    )

    expect(page).not_to_have_title("injected")
    for _ in range(50):  # the console event arrives asynchronously; wait at most ~5 s
        if console_problems:
            break
        page.wait_for_timeout(100)
    assert any("Content Security Policy" in problem for problem in console_problems), console_problems
    console_problems.clear()
