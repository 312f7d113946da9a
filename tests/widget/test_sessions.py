"""Opening a widget session from the host page: which origins may, what a refusal looks like
(no CORS header, counted for the agent's page), the preflight, and unknown keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hushdesk.conversations.models import WidgetRefusal, WidgetSession
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.privacy.pii import NameLexicon
from hushdesk.web.widget_api import REFUSALS_COUNTED_PER_ADDRESS
from tests.widget.conftest import KeyedVisitor, WidgetWorld, build_world, count_rows

SESSIONS = "/widget/v1/sessions"
UNKNOWN_KEY = "hd_pk_" + "a" * 26
# The peer address TestClient reports for every request.
TESTCLIENT_ADDRESS = "testclient"


def _open(world: WidgetWorld, origin: str | None, *, key: str | None = None) -> Any:
    headers = {} if origin is None else {"origin": origin}
    return world.client.post(SESSIONS, json={"agent": key or world.widget_key}, headers=headers)


def _refusals(world: WidgetWorld) -> list[WidgetRefusal]:
    with unit_of_work(world.sessions) as session:
        rows = list(session.scalars(select(WidgetRefusal)))
        session.expunge_all()
        return rows


def _refusal_count(world: WidgetWorld) -> int:
    return sum(row.count for row in _refusals(world))


def _assert_refused(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers


@pytest.fixture
def production_widget(
    sqlite_engine: Engine, tmp_path: Path, name_lexicon: NameLexicon
) -> Iterator[WidgetWorld]:
    yield from build_world(sqlite_engine, tmp_path, names=name_lexicon, env="production")


def test_exact_allowed_origin_gets_a_bootstrap_with_cors_for_it(widget: WidgetWorld) -> None:
    response = _open(widget, "https://shop.example.com")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bootstrap"].startswith("hdw1.")
    assert body["frame_url"].endswith(f"/widget/v1/frame/{widget.widget_key}")
    assert body["expires_in"] in (59, 60)
    assert response.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert "origin" in response.headers["vary"].lower()
    assert count_rows(widget, WidgetSession) == 1


def test_subdomain_of_a_wildcard_entry_is_allowed(shared_widget: WidgetWorld) -> None:
    for origin in ("https://store.acme.example", "https://eu.store.acme.example:8443"):
        response = _open(shared_widget, origin)
        assert response.status_code == 200, (origin, response.text)
        assert response.headers["access-control-allow-origin"] == origin


def test_apex_of_a_wildcard_entry_is_refused(shared_widget: WidgetWorld) -> None:
    _assert_refused(_open(shared_widget, "https://acme.example"))


def test_missing_origin_is_refused(shared_widget: WidgetWorld) -> None:
    before = count_rows(shared_widget, WidgetSession)
    _assert_refused(_open(shared_widget, None))
    assert count_rows(shared_widget, WidgetSession) == before


def test_null_origin_is_refused(shared_widget: WidgetWorld) -> None:
    _assert_refused(_open(shared_widget, "null"))


def test_lookalike_origins_are_refused(shared_widget: WidgetWorld) -> None:
    before = count_rows(shared_widget, WidgetSession)
    for origin in (
        "https://shop.example.com.evil.example",
        "https://evilshop.example.com",
        "https://notacme.example",
        "ftp://shop.example.com",
        "https://shop.example.com/path",
    ):
        _assert_refused(_open(shared_widget, origin))
    assert count_rows(shared_widget, WidgetSession) == before


def test_plain_http_origin_is_allowed_outside_production(shared_widget: WidgetWorld) -> None:
    response = _open(shared_widget, "http://shop.example.com")
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "http://shop.example.com"


def test_plain_http_origin_is_refused_in_production(production_widget: WidgetWorld) -> None:
    _assert_refused(_open(production_widget, "http://shop.example.com"))
    assert _open(production_widget, "https://shop.example.com").status_code == 200


def test_refusals_are_counted_with_the_last_origin(widget: WidgetWorld) -> None:
    _open(widget, "https://evil.example.net")
    _open(widget, None)
    _open(widget, "https://second.example.net")
    [row] = _refusals(widget)
    assert row.count == 3
    assert row.last_origin == "https://second.example.net"
    assert count_rows(widget, WidgetSession) == 0


def test_refusals_past_the_per_address_limit_are_not_counted(shared_widget: WidgetWorld) -> None:
    limiter = shared_widget.app.state.rate_limiter
    # This address has used up its counted refusals for the minute (30).
    for _ in range(30):
        assert limiter.hit(REFUSALS_COUNTED_PER_ADDRESS, TESTCLIENT_ADDRESS).allowed
    before = _refusal_count(shared_widget)
    _assert_refused(_open(shared_widget, "https://evil.example.net"))
    assert _refusal_count(shared_widget) == before


def test_refusals_stop_being_counted_after_thirty_in_a_minute(shared_widget: WidgetWorld) -> None:
    before = _refusal_count(shared_widget)
    for _ in range(30):
        _assert_refused(_open(shared_widget, "https://evil.example.net"))
    # The 31st request of the minute from this address is over the session limit itself.
    assert _open(shared_widget, "https://later.example.net").status_code == 429
    assert _refusal_count(shared_widget) == before + 30
    [row] = _refusals(shared_widget)
    assert row.last_origin == "https://evil.example.net"


def test_refusal_origin_is_stored_cut_and_printable(shared_widget: WidgetWorld) -> None:
    _open(shared_widget, "https://shop.example.com\x07" + "x" * 300)
    [row] = _refusals(shared_widget)
    assert row.last_origin.startswith("https://shop.example.com?x")
    assert len(row.last_origin) == 255


def test_preflight_for_an_allowed_origin_is_answered_with_cors(shared_widget: WidgetWorld) -> None:
    response = shared_widget.client.options(
        SESSIONS,
        params={"agent": shared_widget.widget_key},
        headers={
            "origin": "https://shop.example.com",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    assert "origin" in response.headers["vary"].lower()


def test_preflight_for_a_refused_origin_has_no_cors_and_is_counted(shared_widget: WidgetWorld) -> None:
    before = _refusal_count(shared_widget)
    response = shared_widget.client.options(
        SESSIONS,
        params={"agent": shared_widget.widget_key},
        headers={"origin": "https://evil.example.net", "access-control-request-method": "POST"},
    )
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    # A browser stops at the refused preflight: this is where its attempt is counted.
    assert _refusal_count(shared_widget) == before + 1
    [row] = _refusals(shared_widget)
    assert row.last_origin == "https://evil.example.net"


def test_preflight_for_an_unknown_key_is_not_found(shared_widget: WidgetWorld) -> None:
    response = shared_widget.client.options(
        SESSIONS, params={"agent": UNKNOWN_KEY}, headers={"origin": "https://shop.example.com"}
    )
    assert response.status_code == 404
    assert "access-control-allow-origin" not in response.headers


def test_unknown_widget_key_is_not_found(shared_widget: WidgetWorld) -> None:
    response = _open(shared_widget, "https://shop.example.com", key=UNKNOWN_KEY)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("key", ["nope", "hd_pk_" + "A" * 26, "hd_pk_" + "a" * 25, "hd_pk_" + "1" * 26])
def test_malformed_widget_key_is_not_found(shared_widget: WidgetWorld, key: str) -> None:
    response = _open(shared_widget, "https://shop.example.com", key=key)
    assert response.status_code == 404
    assert "access-control-allow-origin" not in response.headers


def test_another_workspaces_agent_refuses_this_origin(shared_widget: WidgetWorld) -> None:
    _assert_refused(_open(shared_widget, "https://shop.example.com", key=shared_widget.other_widget_key))
    allowed = KeyedVisitor(
        shared_widget, origin="https://other.example.org", widget_key=shared_widget.other_widget_key
    )
    assert allowed.open().status_code == 200
    # And the other way round: this agent does not allow the other workspace's site.
    _assert_refused(_open(shared_widget, "https://other.example.org"))
