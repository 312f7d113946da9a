"""The session cookie under TLS: ``__Host-`` prefixed, Secure, HttpOnly, SameSite=Lax, for
path / and no Domain; the rotated id after the second factor keeps the same attributes."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.web.helpers import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    csrf_from,
    current_totp,
    enrol_totp_directly,
    issue_token,
    setup_form,
)


def _attributes(header: str) -> tuple[str, set[str]]:
    name_value, *attributes = [part.strip() for part in header.split(";")]
    return name_value.split("=", 1)[0], {attribute.lower() for attribute in attributes}


def test_over_tls_the_cookie_is_host_prefixed_secure_http_only_and_lax(
    app: FastAPI, sqlite_engine: Engine
) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        created = client.post(
            f"/setup/{issue_token(sqlite_engine)}", data=setup_form(), follow_redirects=False
        )
        name, attributes = _attributes(created.headers["set-cookie"])
        assert name == "__Host-hushdesk_session"
        assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes
        assert not any(attribute.startswith("domain") for attribute in attributes)

        secret = enrol_totp_directly(client, email=OWNER_EMAIL)
        client.cookies.clear()
        client.post("/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD}, follow_redirects=False)
        page = client.get("/login/verify", headers={"accept": "text/html"})
        done = client.post(
            "/login/verify",
            data={"csrf_token": csrf_from(page.text), "code": current_totp(secret), "method": "totp"},
            follow_redirects=False,
        )
        assert done.headers["location"] == "/dashboard"
        name, attributes = _attributes(done.headers["set-cookie"])
        assert name == "__Host-hushdesk_session"
        assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes


def test_over_tls_the_plain_cookie_name_is_not_accepted(app: FastAPI, sqlite_engine: Engine) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        client.post(f"/setup/{issue_token(sqlite_engine)}", data=setup_form(), follow_redirects=False)
        secret = client.cookies["__Host-hushdesk_session"]
        client.cookies.clear()
        client.cookies.set("hushdesk_session", secret)
        refused = client.get("/account/security", headers={"accept": "text/html"}, follow_redirects=False)
        assert refused.headers["location"] == "/login"
