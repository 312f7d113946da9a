"""Passkeys in a real browser: Chromium's virtual authenticator (DevTools protocol, WebAuthn
domain) stands in for a platform authenticator with a resident key and user verification.

The owner sets up the workspace, is sent to /account/security to enrol a second factor, adds
a passkey there, and then signs in with it alone ("Sign in with a passkey") or after the
password ("Use a passkey" on /login/verify). Every page must load without a console error or
a Content-Security-Policy violation (the ``context`` fixture checks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, CDPSession, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WORKSPACE = "Acme Plumbing Ltd"
EMAIL = "ada@acme.example"
PASSWORD = "correct horse battery staple"
PASSKEY_NAME = "Test laptop"

Screenshot = Callable[[Page, str], Path]


def virtual_authenticator(context: BrowserContext, page: Page) -> tuple[CDPSession, str]:
    """A CTAP2 platform authenticator with a resident key and user verification, attached to
    ``page``; it answers every ceremony at once, as if the person touched it."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(added["authenticatorId"])


def credentials_on(cdp: CDPSession, authenticator_id: str) -> list[dict[str, Any]]:
    found = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    return list(found["credentials"])


def set_up_workspace(page: Page, setup_link: str) -> None:
    """First run: the owner has no second factor yet, so they land on their security page."""
    response = page.goto(setup_link)
    assert response is not None
    assert response.status == 200
    page.get_by_label("Business or team name").fill(WORKSPACE)
    page.get_by_label("Where its data lives").select_option("eu")
    page.get_by_label("Your name").fill("Ada Owner")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create workspace").click()
    expect(page).to_have_url(re.compile(r"/account/security$"))


def add_passkey(page: Page) -> None:
    expect(page.get_by_text("No passkeys yet.")).to_be_visible()
    page.get_by_label("Name for a new passkey (optional)").fill(PASSKEY_NAME)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("button", name=f"Remove {PASSKEY_NAME}")).to_be_visible()
    expect(page.get_by_role("cell", name="Never")).to_be_visible()


def sign_out(page: Page, base_url: str) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(f"{base_url}/login")


def expect_dashboard(page: Page) -> None:
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(WORKSPACE)


def test_owner_adds_a_passkey_and_signs_in_with_it_alone(
    page: Page,
    context: BrowserContext,
    base_url: str,
    setup_link: str,
    console_problems: list[str],
    save_screenshot: Screenshot,
) -> None:
    cdp, authenticator_id = virtual_authenticator(context, page)
    set_up_workspace(page, setup_link)
    add_passkey(page)
    save_screenshot(page, "passkeys-01-added")

    [credential] = credentials_on(cdp, authenticator_id)
    assert credential["isResidentCredential"] is True
    assert credential["rpId"] == "localhost"
    # The passkey was the owner's first second factor: this session is complete now.
    page.goto(f"{base_url}/dashboard")
    expect_dashboard(page)

    sign_out(page, base_url)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect_dashboard(page)
    save_screenshot(page, "passkeys-02-signed-in")
    [after] = credentials_on(cdp, authenticator_id)
    assert after["signCount"] > credential["signCount"]

    page.goto(f"{base_url}/account/security")
    expect(page.get_by_role("cell", name="Never")).to_have_count(0)
    assert console_problems == []


def test_owner_signs_in_with_a_password_then_a_passkey_and_removes_it(
    page: Page,
    context: BrowserContext,
    base_url: str,
    setup_link: str,
    console_problems: list[str],
    save_screenshot: Screenshot,
) -> None:
    cdp, authenticator_id = virtual_authenticator(context, page)
    set_up_workspace(page, setup_link)
    add_passkey(page)
    sign_out(page, base_url)

    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{base_url}/login/verify")
    save_screenshot(page, "passkeys-03-verify")
    page.get_by_role("button", name="Use a passkey").click()
    expect_dashboard(page)

    # The passkey was presented just now, so removing it needs no step-up.
    page.goto(f"{base_url}/account/security")
    page.get_by_role("button", name=f"Remove {PASSKEY_NAME}").click()
    expect(page).to_have_url(re.compile(r"/account/security$"))
    expect(page.get_by_text("No passkeys yet.")).to_be_visible()
    # Gone from the server: signing in with it no longer works, and says so.
    sign_out(page, base_url)
    assert len(credentials_on(cdp, authenticator_id)) == 1
    with page.expect_response(lambda response: response.url.endswith("/login/passkey")) as answered:
        page.get_by_role("button", name="Sign in with a passkey").click()
    assert answered.value.status == 422
    expect(page.get_by_role("alert")).to_have_text("That passkey could not be verified. Try again.")
    expect(page).to_have_url(f"{base_url}/login")
    # Chromium logs the refused fetch as a console error; it is the outcome this test expects.
    expected = [problem for problem in console_problems if "status of 422" in problem]
    assert len(expected) == 1, console_problems
    console_problems.remove(expected[0])
    assert console_problems == []
