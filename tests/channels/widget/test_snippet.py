"""The embed snippet, exactly as documented and escaped; the signing example, run for real."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hushdesk.channels.widget.identity import (
    InvalidIdentityTokenError,
    generate_identity_secret,
    verify_identity_token,
)
from hushdesk.channels.widget.snippet import (
    IDENTITY_SIGNING_EXAMPLE,
    embed_snippet,
    identified_embed_snippet,
)

KEY = "hd_pk_abcdefghijklmnopqrstuvwxyz"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "widget.md"


def test_the_snippet_is_the_two_documented_lines() -> None:
    assert embed_snippet(base_url="https://support.example.com", widget_key=KEY) == (
        '<script src="https://support.example.com/static/widget/loader.js" defer\n'
        '        data-hushdesk-agent="hd_pk_abcdefghijklmnopqrstuvwxyz"></script>'
    )


def test_a_trailing_slash_of_the_base_url_is_not_doubled() -> None:
    snippet = embed_snippet(base_url="http://localhost:8000/", widget_key=KEY)
    assert snippet.startswith('<script src="http://localhost:8000/static/widget/loader.js" defer\n')


def test_attribute_values_are_escaped_so_nothing_can_leave_its_attribute() -> None:
    snippet = embed_snippet(
        base_url='https://x.example/"><img src=x onerror=alert(1)>', widget_key="k\" onload='steal()' &"
    )
    # Exactly the tag's own quotes remain: two per attribute.
    assert snippet.count('"') == 4
    assert "<img" not in snippet
    assert "'" not in snippet
    agent_value = re.search(r'data-hushdesk-agent="([^"]*)"', snippet)
    assert agent_value is not None
    assert html.unescape(agent_value.group(1)) == "k\" onload='steal()' &"


def test_the_identified_snippet_adds_the_user_token_line() -> None:
    snippet = identified_embed_snippet(
        base_url="https://support.example.com", widget_key=KEY, user_token='a"b'
    )
    lines = snippet.splitlines()
    assert lines[:2] == [
        '<script src="https://support.example.com/static/widget/loader.js" defer',
        '        data-hushdesk-agent="hd_pk_abcdefghijklmnopqrstuvwxyz"',
    ]
    assert lines[2] == '        data-hushdesk-user="a&quot;b"></script>'


def _example_signer() -> Callable[..., str]:
    namespace: dict[str, Any] = {}
    # The documented example, run as a business would run it.
    exec(compile(IDENTITY_SIGNING_EXAMPLE, "example", "exec"), namespace)
    signer: Callable[..., str] = namespace["hushdesk_user_token"]
    return signer


def test_the_signing_example_makes_a_token_that_verifies() -> None:
    secret = generate_identity_secret()
    token = _example_signer()("customer-42", secret)
    identity = verify_identity_token(token, secret=secret, now=dt.datetime.now(dt.UTC))
    assert identity.user_id == "customer-42"
    assert identity.expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=10, seconds=5)


def test_the_signing_example_never_makes_a_token_for_more_than_an_hour() -> None:
    secret = generate_identity_secret()
    token = _example_signer()("customer-42", secret, lifetime_seconds=10 * 3600)
    identity = verify_identity_token(token, secret=secret, now=dt.datetime.now(dt.UTC))
    assert identity.expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1, seconds=5)


def test_a_token_from_the_example_does_not_verify_under_another_secret() -> None:
    token = _example_signer()("customer-42", generate_identity_secret())
    with pytest.raises(InvalidIdentityTokenError):
        verify_identity_token(token, secret=generate_identity_secret(), now=dt.datetime.now(dt.UTC))


def test_the_documentation_shows_the_tested_example() -> None:
    assert IDENTITY_SIGNING_EXAMPLE in DOCS.read_text(encoding="utf-8")
