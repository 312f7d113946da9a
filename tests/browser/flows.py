"""Steps the browser tests share: first-run setup, enrolling an authenticator app through the
pages, and signing in with a password and a TOTP code."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass

from playwright.sync_api import Page, expect

from hushdesk.identity.totp import hotp_code, totp_step


@dataclass
class Authenticator:
    """An authenticator app in the test: the shared secret and the last step it gave a code
    for (a code is accepted once, so the next one must come from a later step)."""

    secret: bytes
    last_step: int = -1

    def next_code(self) -> str:
        step = max(totp_step(int(time.time())), self.last_step + 1)
        self.last_step = step
        return hotp_code(self.secret, counter=step)


def enrol_authenticator_app(page: Page) -> Authenticator:
    """From /account/security: set up an authenticator app, confirm it with a code, see the
    recovery codes and continue to the dashboard."""
    expect(page).to_have_url(re.compile(r"/account/security$"))
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator(".qr svg")).to_be_visible()
    typed = page.locator("#totp-secret").inner_text().replace(" ", "")
    authenticator = Authenticator(base64.b32decode(typed + "=" * (-len(typed) % 8)))
    page.get_by_label("The 6-digit code your app shows").fill(authenticator.next_code())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="Continue").click()
    return authenticator


def sign_in_with_totp(page: Page, base_url: str, *, email: str, password: str, app: Authenticator) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{base_url}/login/verify")
    page.get_by_label("Code from your authenticator app").fill(app.next_code())
    page.get_by_role("button", name="Verify").click()
