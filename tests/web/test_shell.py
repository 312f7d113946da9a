"""The web shell: health probes, errors, security headers and refusal of bad input."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from hushdesk.app import create_app
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.workspaces.models import Workspace
from tests.conftest import make_settings
from tests.web.helpers import issue_token, setup_form

HTML = {"accept": "text/html,application/xhtml+xml"}
JSON = {"accept": "application/json"}


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


def test_readyz_is_503_when_a_dependency_is_down(app: FastAPI, client: TestClient) -> None:
    def broken() -> None:
        raise ConnectionError("secret detail: host=db.internal password=hunter2")

    app.state.readiness_checks["database"] = broken
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "unavailable", "jobs": "ok"}}
    assert "hunter2" not in response.text


@pytest.mark.parametrize("path", ["/healthz", "/login", "/nope", "/static/hushdesk.css"])
def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    response = client.get(path, headers=HTML)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "camera=()" in response.headers["permissions-policy"]
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers  # plain HTTP here
    assert response.headers["x-request-id"]


def test_pages_have_no_inline_script_or_style(client: TestClient, sqlite_engine: Engine) -> None:
    # Scripts come only from our own files (``<script src=...>``); nothing inline, no handlers.
    inline_script = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    for path in (f"/setup/{issue_token(sqlite_engine)}", "/login", "/nope"):
        body = client.get(path, headers=HTML).text
        assert inline_script.search(body) is None
        assert handler.search(body) is None
        assert "style=" not in body
        assert "<style" not in body


def test_unknown_route_is_404_in_json_or_html(client: TestClient) -> None:
    as_json = client.get("/no/such/page", headers=JSON)
    assert as_json.status_code == 404
    assert as_json.json() == {"error": {"code": "not_found", "message": "Not found."}}
    as_html = client.get("/no/such/page", headers=HTML)
    assert as_html.status_code == 404
    assert as_html.headers["content-type"].startswith("text/html")
    assert "Page not found" in as_html.text


def test_wrong_method_is_405(client: TestClient) -> None:
    response = client.delete("/healthz", headers=JSON)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_unknown_host_is_refused(client: TestClient) -> None:
    response = client.get("/healthz", headers={"host": "evil.example", **JSON})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_host"
    html = client.get("/healthz", headers={"host": "evil.example", **HTML})
    assert html.status_code == 400
    assert html.headers["content-type"].startswith("text/html")


def test_oversized_body_is_413_and_changes_nothing(client: TestClient, sqlite_engine: Engine) -> None:
    token = issue_token(sqlite_engine)
    form = setup_form(workspace_name="x" * 2_000_000)
    response = client.post(f"/setup/{token}", data=form, headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert _workspaces(sqlite_engine) == 0


def test_oversized_chunked_body_is_413(client: TestClient, sqlite_engine: Engine) -> None:
    token = issue_token(sqlite_engine)

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"workspace_name=" + b"x" * 65_536

    response = client.post(
        f"/setup/{token}",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded", **JSON},
    )
    assert response.status_code == 413
    assert _workspaces(sqlite_engine) == 0


def test_wrong_content_type_is_a_4xx(client: TestClient, sqlite_engine: Engine) -> None:
    token = issue_token(sqlite_engine)
    response = client.post(
        f"/setup/{token}",
        content=json.dumps(setup_form()),
        headers={"content-type": "application/json", **JSON},
    )
    assert 400 <= response.status_code < 500
    assert _workspaces(sqlite_engine) == 0


def test_malformed_form_body_is_a_4xx(client: TestClient, sqlite_engine: Engine) -> None:
    token = issue_token(sqlite_engine)
    response = client.post(
        f"/setup/{token}",
        content=b"\xff\xfe%%%=&&&\x00",
        headers={"content-type": "multipart/form-data; boundary=nope", **JSON},
    )
    assert 400 <= response.status_code < 500
    assert _workspaces(sqlite_engine) == 0


def test_malformed_json_is_400(tmp_path: Path, sqlite_engine: Engine) -> None:
    app = create_app(make_settings(tmp_path), engine=sqlite_engine)

    @app.post("/echo-json")
    def echo(payload: dict[str, int]) -> dict[str, int]:
        return payload

    with TestClient(app) as client:
        bad = client.post("/echo-json", content=b'{"a": 1,,}', headers={"content-type": "application/json"})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "bad_request"
        wrong_type = client.post("/echo-json", json={"a": "password=hunter2"})
        assert wrong_type.status_code == 422
        assert "hunter2" not in wrong_type.text
        assert wrong_type.json()["error"]["details"]["fields"][0]["field"] == "a"


def test_unexpected_error_is_500_with_correlation_id_and_no_detail(
    tmp_path: Path, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(tmp_path), engine=sqlite_engine)

    @app.get("/explode")
    def explode() -> None:
        raise RuntimeError("internal detail: connection string postgres://user:pw@db")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get("/explode", headers=JSON)
        html = client.get("/explode", headers=HTML)
    assert response.status_code == 500
    body = response.json()["error"]
    assert body["code"] == "internal_error"
    assert "internal detail" not in response.text
    assert "Traceback" not in response.text
    assert body["correlation_id"] == response.headers["x-request-id"]
    assert response.headers["content-security-policy"]
    assert any(getattr(r, "request_id", None) or "unhandled error" in r.getMessage() for r in caplog.records)
    assert html.status_code == 500
    assert html.headers["x-request-id"] in html.text
    assert "internal detail" not in html.text


def test_proxy_headers_are_ignored_from_untrusted_peers(client: TestClient) -> None:
    response = client.get(
        "/healthz", headers={"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9"}
    )
    assert "strict-transport-security" not in response.headers


def test_proxy_headers_are_honoured_only_from_a_trusted_proxy(tmp_path: Path, sqlite_engine: Engine) -> None:
    settings = make_settings(tmp_path, trusted_proxies=["10.0.0.0/8"])
    app = create_app(settings, engine=sqlite_engine)
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9"}
    with TestClient(app, client=("10.1.2.3", 50000)) as via_proxy:
        response = via_proxy.get("/healthz", headers=forwarded)
    assert response.headers["strict-transport-security"].startswith("max-age=")
    with TestClient(app, client=("192.0.2.7", 50000)) as direct:
        response = direct.get("/healthz", headers=forwarded)
    assert "strict-transport-security" not in response.headers


def _workspaces(engine: Engine) -> int:
    with unit_of_work(make_sessionmaker(engine)) as session:
        return int(session.scalar(select(func.count()).select_from(Workspace)) or 0)
