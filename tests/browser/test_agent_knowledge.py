"""An owner in a real browser builds an agent from a document and tries it: creates the agent,
uploads a Markdown file on its Knowledge page, asks the preview chat a question it answers
(cited) and one it cannot (a person offered), then asks for a person. Every page loads without
a console error or a Content-Security-Policy violation (the ``context`` fixture checks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, Page, expect

from hushdesk.privacy.pii import NameLexicon
from tests.browser.test_manager import create_agent, owner_sets_up

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Screenshot = Callable[[Page, str], Path]

RETURNS = b"""# Returns

You can return unworn boots within 30 days of delivery for a full refund.

# Shipping to Namibia

Orders to Namibia travel by road freight and arrive in 4 to 6 working days.
"""


def test_an_owner_builds_an_agent_from_a_document_and_previews_it(
    page: Page,
    base_url: str,
    setup_link: str,
    console_problems: list[str],
    save_screenshot: Screenshot,
    name_lexicon: NameLexicon,
) -> None:
    owner_sets_up(page, setup_link)
    agent_url = create_agent(page, base_url, "Front desk")

    page.goto(f"{agent_url}/knowledge")
    page.locator("input#files").set_input_files(
        FilePayload(name="returns.md", mimeType="text/markdown", buffer=RETURNS)
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#documents-heading").locator("xpath=..")).to_contain_text("returns.md")
    save_screenshot(page, "knowledge-01-uploaded")

    page.goto(f"{agent_url}/preview")
    page.get_by_label("Message").fill("How many days do I have to return my boots?")
    page.get_by_role("button", name="Send").click()
    conversation = page.locator("#conversation-heading").locator("xpath=..")
    expect(conversation).to_contain_text("30 days")
    expect(conversation).to_contain_text("returns.md")

    page.get_by_label("Message").fill("Do you have a shop in Lisbon?")
    page.get_by_role("button", name="Send").click()
    expect(conversation.locator("li").last).to_contain_text("person")
    expect(conversation.get_by_text("How many days do I have to return my boots?")).to_be_visible()

    page.get_by_label("Message").fill("I want to talk to a human please")
    page.get_by_role("button", name="Send").click()
    expect(conversation.locator("li").last).to_contain_text("Handed")
    save_screenshot(page, "knowledge-02-preview")
    assert console_problems == []
