"""The widget's iframe page: framable only by the agent's allowed domains (CSP
frame-ancestors, no X-Frame-Options), the elements and settings widget.js needs, escaped
agent text; and the loader script as the one resource other sites may load."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hushdesk.conversations.consent import DEFAULT_CONSENT_NOTICE
from hushdesk.privacy.pii import NameLexicon
from tests.widget.conftest import WidgetWorld, build_world, update_agent

FRAME = "/widget/v1/frame/{key}"
ELEMENT_IDS = (
    "hd-greeting",
    "hd-consent",
    "hd-consent-accept",
    "hd-log",
    "hd-form",
    "hd-text",
    "hd-file",
    "hd-notice",
    "hd-handoff",
)


def _frame_ancestors(policy: str) -> list[str]:
    [directive] = [part.strip() for part in policy.split(";") if part.strip().startswith("frame-ancestors")]
    return directive.split()[1:]


@pytest.fixture
def production_widget(
    sqlite_engine: Engine, tmp_path: Path, name_lexicon: NameLexicon
) -> Iterator[WidgetWorld]:
    yield from build_world(sqlite_engine, tmp_path, names=name_lexicon, env="production")


def test_frame_is_framable_only_by_the_allowed_domains(shared_widget: WidgetWorld) -> None:
    response = shared_widget.client.get(FRAME.format(key=shared_widget.widget_key))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert _frame_ancestors(response.headers["content-security-policy"]) == [
        "https://shop.example.com:*",
        "http://shop.example.com:*",
        "https://*.acme.example:*",
        "http://*.acme.example:*",
    ]
    assert "x-frame-options" not in response.headers


def test_frame_in_production_lists_only_https_ancestors(production_widget: WidgetWorld) -> None:
    response = production_widget.client.get(FRAME.format(key=production_widget.widget_key))
    assert response.status_code == 200
    assert _frame_ancestors(response.headers["content-security-policy"]) == [
        "https://shop.example.com:*",
        "https://*.acme.example:*",
    ]


def test_frame_page_carries_what_the_widget_script_needs(shared_widget: WidgetWorld) -> None:
    html = shared_widget.client.get(FRAME.format(key=shared_widget.widget_key)).text
    body = re.search(r"<body([^>]*)>", html)
    assert body is not None
    attributes = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', body.group(1)))
    assert attributes["data-agent-name"] == "Support"
    assert attributes["data-api"] == "/widget/v1"
    assert attributes["data-consent-mode"] == "accept"
    for element_id in ELEMENT_IDS:
        assert f'id="{element_id}"' in html, element_id
    assert DEFAULT_CONSENT_NOTICE in html
    policy = shared_widget.client.get(FRAME.format(key=shared_widget.widget_key)).headers[
        "content-security-policy"
    ]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in html  # no inline script: the CSP would refuse it


def test_frame_escapes_the_agents_own_text(shared_widget: WidgetWorld) -> None:
    update_agent(
        shared_widget, name='Shop "<b>" <script>alert(1)</script>', greeting="<img src=x onerror=alert(1)>"
    )
    try:
        html = shared_widget.client.get(FRAME.format(key=shared_widget.widget_key)).text
    finally:
        update_agent(shared_widget, name="Support", greeting=None)
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_frame_skips_unusable_domain_entries(shared_widget: WidgetWorld) -> None:
    update_agent(
        shared_widget, allowed_domains=["shop.example.com", "*", "*.com", "a.example https://evil.example"]
    )
    try:
        response = shared_widget.client.get(FRAME.format(key=shared_widget.widget_key))
    finally:
        update_agent(shared_widget, allowed_domains=["shop.example.com", "*.acme.example"])
    assert _frame_ancestors(response.headers["content-security-policy"]) == [
        "https://shop.example.com:*",
        "http://shop.example.com:*",
    ]


def test_frame_of_an_agent_without_domains_may_not_be_framed(shared_widget: WidgetWorld) -> None:
    update_agent(shared_widget, allowed_domains=[])
    try:
        response = shared_widget.client.get(FRAME.format(key=shared_widget.widget_key))
    finally:
        update_agent(shared_widget, allowed_domains=["shop.example.com", "*.acme.example"])
    assert response.status_code == 200
    assert _frame_ancestors(response.headers["content-security-policy"]) == ["'none'"]


@pytest.mark.parametrize("key", ["hd_pk_" + "a" * 26, "not-a-key"])
def test_frame_of_an_unknown_key_is_not_found_and_not_framable(shared_widget: WidgetWorld, key: str) -> None:
    response = shared_widget.client.get(FRAME.format(key=key), headers={"accept": "text/html"})
    assert response.status_code == 404
    assert _frame_ancestors(response.headers["content-security-policy"]) == ["'none'"]
    assert response.headers["x-frame-options"] == "DENY"


def test_loader_script_may_be_loaded_by_other_sites(shared_widget: WidgetWorld) -> None:
    response = shared_widget.client.get("/static/widget/loader.js")
    assert response.status_code == 200
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"


@pytest.mark.parametrize(
    "path", ["/static/widget/widget.js", "/static/widget/widget.css", "/static/hushdesk.css"]
)
def test_other_static_files_stay_same_origin(shared_widget: WidgetWorld, path: str) -> None:
    response = shared_widget.client.get(path)
    assert response.status_code == 200
    assert response.headers["cross-origin-resource-policy"] == "same-origin"
