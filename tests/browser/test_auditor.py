"""An auditor in a real browser: invited by the owner, reads the audit log, filters it, exports
it after a second factor, and reaches nothing else.

The owner completes first-run setup and enrols an authenticator app (owners must), invites an
auditor on /team and signs out; the auditor joins through the one-time link. Codes are computed
from the key the enrolment page shows. Every page must load without a console error or a
Content-Security-Policy violation (the ``context`` fixture checks).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hushdesk.audit.chain import GENESIS_HASH, EventFields, event_hash
from hushdesk.identity.totp import hotp_code, totp_step

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WORKSPACE = "Acme Plumbing Ltd"
OWNER_EMAIL = "ada@acme.example"
OWNER_PASSWORD = "correct horse battery staple"
AUDITOR_NAME = "Ava Auditor"
AUDITOR_EMAIL = "ava@audit.example"
AUDITOR_PASSWORD = "quiet ledger maple thunder"

Screenshot = Callable[[Page, str], Path]


def current_code(page: Page) -> str:
    """The code an authenticator app would show now for the key on the enrolment page."""
    key = re.sub(r"\s+", "", page.locator("#totp-secret").inner_text()).upper()
    secret = base64.b32decode(key + "=" * (-len(key) % 8))
    return hotp_code(secret, counter=totp_step(int(time.time())))


def enrol_authenticator(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/account/security")
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("#totp-secret")).to_be_visible()
    page.locator("input[name=code]").fill(current_code(page))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("ecovery codes")


def owner_sets_up_and_invites_an_auditor(page: Page, base_url: str, setup_link: str) -> str:
    """Returns the auditor's one-time invitation link."""
    page.goto(setup_link)
    page.get_by_label("Business or team name").fill(WORKSPACE)
    page.get_by_label("Your name").fill("Ada Owner")
    page.get_by_label("Email").fill(OWNER_EMAIL)
    page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    page.get_by_label("Password again").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Create workspace").click()
    # An owner must enrol a second factor before anything else.
    expect(page).to_have_url(re.compile(r"/account/security$"))
    enrol_authenticator(page, base_url)

    page.goto(f"{base_url}/team")
    page.get_by_label("Their email").fill(AUDITOR_EMAIL)
    page.get_by_label("Role").select_option("auditor")
    page.get_by_role("button", name="Make invitation link").click()
    link = page.locator("#invite-link").inner_text().strip()
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(f"{base_url}/login")
    return link


def auditor_joins(page: Page, invite_link: str) -> None:
    page.goto(invite_link)
    page.get_by_label("Your name").fill(AUDITOR_NAME)
    page.get_by_label("Password", exact=True).fill(AUDITOR_PASSWORD)
    page.get_by_label("Password again").fill(AUDITOR_PASSWORD)
    page.get_by_role("button", name="Create account and join").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def test_an_auditor_reads_filters_and_exports_the_log_and_nothing_else(
    page: Page,
    base_url: str,
    setup_link: str,
    console_problems: list[str],
    save_screenshot: Screenshot,
    tmp_path: Path,
) -> None:
    invite_link = owner_sets_up_and_invites_an_auditor(page, base_url, setup_link)
    auditor_joins(page, invite_link)

    nav = page.get_by_role("navigation", name="Main").get_by_role("link")
    expect(nav).to_have_text(["Audit log", "My security"])

    nav.filter(has_text="Audit log").click()
    expect(page).to_have_url(f"{base_url}/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    rows = page.locator("table.audit-table tbody tr")
    expect(rows.last).to_contain_text("workspace.create")
    expect(rows.last).to_contain_text("Ada Owner")
    expect(page.locator("table.audit-table")).to_contain_text("mfa.totp_enrolled")
    seqs = [int(text) for text in page.locator("td.audit-seq").all_inner_texts()]
    assert seqs == sorted(seqs, reverse=True)
    assert seqs[-1] == 1
    save_screenshot(page, "audit-01-log")

    # Filtering: every auth.* event, nothing else.
    page.get_by_label("Action").fill("auth.")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/audit\?.*action=auth\."))
    actions = page.locator("table.audit-table tbody tr td:nth-child(3)").all_inner_texts()
    assert actions
    assert all(action.startswith("auth.") for action in actions)

    # A malformed date is refused with the form shown again, not an error page.
    with page.expect_response(lambda response: "/audit?" in response.url) as refused:
        page.goto(f"{base_url}/audit?from=2026-02-30")
    assert refused.value.status == 422
    expect(page.get_by_role("alert")).to_contain_text("is not a date")
    expect(page.get_by_label("From")).to_be_visible()
    save_screenshot(page, "audit-02-bad-filter")

    # Nothing else is reachable.
    for path in ("/agents", "/team", "/settings/api-keys", "/settings/security"):
        response = page.goto(f"{base_url}{path}")
        assert response is not None
        assert response.status == 403, path

    # An export asks for a recent second factor; the auditor has none yet, so they enrol one
    # (which counts as presenting it) and export the whole chain.
    page.goto(f"{base_url}/audit")
    page.get_by_role("link", name=re.compile("^Export")).click()
    expect(page).to_have_url(re.compile(r"/account/step-up\?next=/audit/export\.jsonl"))
    enrol_authenticator(page, base_url)
    page.goto(f"{base_url}/audit")
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("^Export")).click()
    download = download_info.value
    assert re.fullmatch(r"hushdesk-audit-acme-plumbing-ltd-\d{8}T\d{6}Z\.jsonl", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    lines = [json.loads(line) for line in saved.read_text().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    prev_hash = GENESIS_HASH
    for line in lines:
        assert bytes.fromhex(line["prev_hash"]) == prev_hash
        fields = EventFields(
            chain=line["chain"],
            seq=line["seq"],
            id=uuid.UUID(line["id"]),
            occurred_at=dt.datetime.fromisoformat(line["occurred_at"]),
            actor_kind=line["actor_kind"],
            actor_id=line["actor_id"],
            action=line["action"],
            target_kind=line["target_kind"],
            target_id=line["target_id"],
            data=line["data"],
            prev_hash=prev_hash,
        )
        assert event_hash(fields).hex() == line["hash"]
        prev_hash = bytes.fromhex(line["hash"])

    # The export is itself on the record, by the auditor.
    page.goto(f"{base_url}/audit?action=audit.exported")
    expect(page.locator("table.audit-table tbody tr")).to_have_count(1)
    expect(page.locator("table.audit-table tbody tr")).to_contain_text(AUDITOR_NAME)
    save_screenshot(page, "audit-03-exported")
    assert console_problems == []
