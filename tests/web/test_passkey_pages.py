"""The passkey routes, on both engines: registering (as a first factor too), signing in with a
passkey, the second-factor step, step-up, removal, CSRF and origin checks, throttling, bad
input, and the partials the pages include. WebAuthn answers come from a software
authenticator (tests/identity/soft_authenticator.py)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from starlette.requests import Request

from hushdesk.app import create_app
from hushdesk.audit.models import AuditEvent
from hushdesk.identity.models import User, WebSession
from hushdesk.identity.passkey_challenges import PasskeyChallenge
from hushdesk.identity.passkeys import PasskeyCredential
from hushdesk.identity.sessions import csrf_token_for
from hushdesk.identity.tokens import token_digest
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.web.passkey_pages import relying_party
from tests.conftest import make_settings
from tests.identity.soft_authenticator import SoftAuthenticator, from_b64url
from tests.web.helpers import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    add_member,
    app_sessions,
    complete_setup,
    csrf_from,
    sign_in_directly,
    workspace_id_of,
)

COOKIE = "hushdesk_session"
HTML = {"accept": "text/html"}
RP_ID = "testserver"
ORIGIN = "http://testserver"


@pytest.fixture
def web(tmp_path: Path, engine: Engine) -> Iterator[TestClient]:
    """The app on each engine, with a client."""
    with TestClient(create_app(make_settings(tmp_path), engine=engine)) as client:
        yield client


@pytest.fixture
def owner(web: TestClient, engine: Engine) -> TestClient:
    """First-run setup done: the owner is signed in, with no second factor yet (so they must
    enrol one)."""
    complete_setup(web, engine)
    return web


def _token(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": csrf_token_for(client.cookies[COOKIE])}


def _register(client: TestClient, authenticator: SoftAuthenticator, name: str = "Laptop") -> Any:
    offered = client.post("/account/passkeys/options", headers=_token(client))
    assert offered.status_code == 200, offered.text
    body = offered.json()
    answer = authenticator.create(body["publicKey"])
    return client.post(
        "/account/passkeys",
        json={"challenge_id": body["challenge_id"], "credential": answer, "name": name},
        headers=_token(client),
    )


def _enrolled_owner(client: TestClient) -> SoftAuthenticator:
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    assert _register(client, authenticator).status_code == 200
    return authenticator


def _passkey_sign_in(client: TestClient, authenticator: SoftAuthenticator, **wrong: str) -> Any:
    offered = client.post("/login/passkey/options")
    assert offered.status_code == 200, offered.text
    body = offered.json()
    answer = authenticator.get(body["publicKey"], **wrong)
    return client.post("/login/passkey", json={"challenge_id": body["challenge_id"], "credential": answer})


def _ceremony(client: TestClient, base: str, authenticator: SoftAuthenticator, **extra: str) -> Any:
    offered = client.post(f"{base}/options", headers=_token(client))
    assert offered.status_code == 200, offered.text
    body = offered.json()
    answer = authenticator.get(body["publicKey"])
    return client.post(
        base,
        json={"challenge_id": body["challenge_id"], "credential": answer, **extra},
        headers=_token(client),
    )


def _actions(client: TestClient, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    with unit_of_work(app_sessions(client)) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like(f"{prefix}%")).order_by(AuditEvent.occurred_at)
        )
        return [(event.action, dict(event.data)) for event in events]


def _passkeys(client: TestClient) -> list[PasskeyCredential]:
    with unit_of_work(app_sessions(client)) as session:
        return list(session.scalars(select(PasskeyCredential).order_by(PasskeyCredential.created_at)))


def _challenges(client: TestClient) -> int:
    with unit_of_work(app_sessions(client)) as session:
        return session.scalar(select(func.count()).select_from(PasskeyChallenge)) or 0


def _session_row(client: TestClient, secret: str) -> WebSession | None:
    with unit_of_work(app_sessions(client)) as session:
        return session.scalar(select(WebSession).where(WebSession.token_hash == token_digest(secret)))


def _backdate_second_factor(client: TestClient, minutes: int = 30) -> None:
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(WebSession).values(second_factor_at=utcnow() - dt.timedelta(minutes=minutes)))


def _password_sign_in(client: TestClient) -> str:
    client.cookies.clear()
    response = client.post(
        "/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303
    return str(response.headers["location"])


# -- registering -------------------------------------------------------------------------------


def test_an_owner_who_must_enrol_can_register_a_passkey_as_their_first_factor(owner: TestClient) -> None:
    assert (
        owner.get("/dashboard", headers=HTML, follow_redirects=False).headers["location"]
        == "/account/security"
    )
    before = owner.cookies[COOKIE]
    offered = owner.post("/account/passkeys/options", headers=_token(owner))
    assert offered.headers["cache-control"] == "no-store"
    public_key = offered.json()["publicKey"]
    assert public_key["rp"]["id"] == RP_ID
    with unit_of_work(app_sessions(owner)) as session:
        owner_id = session.scalars(select(User.id)).one()
    assert from_b64url(public_key["user"]["id"]) == owner_id.bytes
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    answer = authenticator.create(public_key)
    done = owner.post(
        "/account/passkeys",
        json={"challenge_id": offered.json()["challenge_id"], "credential": answer, "name": "Work laptop"},
        headers=_token(owner),
    )
    assert done.status_code == 200
    assert done.json()["ok"] is True
    assert done.json()["redirect"] == "/account/security"
    [passkey] = _passkeys(owner)
    assert (passkey.name, str(passkey.id)) == ("Work laptop", done.json()["passkey_id"])
    # The new factor counts as presented: the session is complete, under a new id.
    after = owner.cookies[COOKIE]
    assert after != before
    revoked = _session_row(owner, before)
    assert revoked is None or revoked.revoked_at is not None
    assert owner.get("/dashboard", headers=HTML).status_code == 200
    row = _session_row(owner, after)
    assert row is not None
    assert row.second_factor_at is not None
    assert [action for action, _ in _actions(owner, "mfa.passkey")] == ["mfa.passkey_registered"]


def test_registration_needs_the_csrf_header(owner: TestClient) -> None:
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        refused = owner.post("/account/passkeys/options", headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"
        answer = {"challenge_id": str(uuid.uuid4()), "credential": {}}
        assert owner.post("/account/passkeys", json=answer, headers=headers).status_code == 403
    assert _challenges(owner) == 0


def test_a_cross_site_registration_is_refused(owner: TestClient) -> None:
    headers = {**_token(owner), "origin": "https://evil.example"}
    assert owner.post("/account/passkeys/options", headers=headers).status_code == 403


def test_adding_another_passkey_needs_a_fresh_second_factor(owner: TestClient) -> None:
    _enrolled_owner(owner)
    _backdate_second_factor(owner)
    refused = owner.post("/account/passkeys/options", headers=_token(owner))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_required"
    assert _challenges(owner) == 0


def test_a_second_passkey_does_not_rotate_the_session(owner: TestClient) -> None:
    _enrolled_owner(owner)
    before = owner.cookies[COOKIE]
    second = _register(owner, SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN), name="Phone")
    assert second.status_code == 200
    assert "set-cookie" not in second.headers
    assert owner.cookies[COOKIE] == before
    assert [passkey.name for passkey in _passkeys(owner)] == ["Laptop", "Phone"]


def test_a_failed_registration_stores_nothing_but_uses_up_the_challenge(owner: TestClient) -> None:
    before = owner.cookies[COOKIE]
    offered = owner.post("/account/passkeys/options", headers=_token(owner)).json()
    answer = SoftAuthenticator(rp_id=RP_ID, origin="http://evil.example").create(offered["publicKey"])
    refused = owner.post(
        "/account/passkeys",
        json={"challenge_id": offered["challenge_id"], "credential": answer},
        headers=_token(owner),
    )
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "code": "passkey_verification_failed",
        "message": "That passkey could not be verified. Try again.",
    }
    assert _passkeys(owner) == []
    assert _challenges(owner) == 0
    assert owner.cookies[COOKIE] == before
    assert owner.get("/dashboard", headers=HTML, follow_redirects=False).status_code == 303


def test_a_session_awaiting_its_second_factor_cannot_register(owner: TestClient) -> None:
    _enrolled_owner(owner)
    assert _password_sign_in(owner) == "/login/verify"
    refused = owner.post("/account/passkeys/options", headers=_token(owner))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "second_factor_required"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "bad_request"),
        ('["a list"]', 422, "validation_failed"),
        ('{"challenge_id": "not-a-uuid", "credential": {}}', 422, "validation_failed"),
        ('{"challenge_id": "0190f0c4-2f6e-7000-8000-000000000000"}', 422, "validation_failed"),
        (
            '{"challenge_id": "0190f0c4-2f6e-7000-8000-000000000000", "credential": [], "x": 1}',
            422,
            "validation_failed",
        ),
        (
            '{"challenge_id": "0190f0c4-2f6e-7000-8000-000000000000", "credential": {"id": 1}}',
            422,
            "passkey_verification_failed",
        ),
    ],
    ids=["bad-json", "not-an-object", "bad-uuid", "no-credential", "extra-field", "malformed-credential"],
)
def test_bad_bodies_get_a_json_4xx_and_change_nothing(
    owner: TestClient, body: str, status: int, code: str
) -> None:
    headers = {**_token(owner), "content-type": "application/json"}
    for path in ("/account/passkeys", "/login/passkey"):
        response = owner.post(path, content=body, headers=headers)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), path
    assert _passkeys(owner) == []


def test_a_too_long_name_is_refused(owner: TestClient) -> None:
    response = _register(owner, SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN), name="x" * 81)
    assert response.status_code == 422
    assert _passkeys(owner) == []


# -- signing in with a passkey -----------------------------------------------------------------


def test_signing_in_with_a_passkey_starts_a_complete_session_and_ends_the_old_one(owner: TestClient) -> None:
    authenticator = _enrolled_owner(owner)
    planted = owner.cookies[COOKIE]
    response = _passkey_sign_in(owner, authenticator)
    assert response.status_code == 200
    assert response.json() == {"redirect": "/dashboard"}
    fresh = owner.cookies[COOKIE]
    assert fresh != planted
    old = _session_row(owner, planted)
    assert old is not None
    assert old.revoked_at is not None
    row = _session_row(owner, fresh)
    assert row is not None
    assert (row.awaiting_second_factor, row.second_factor_at is not None) == (False, True)
    assert owner.get("/dashboard", headers=HTML).status_code == 200
    assert _actions(owner, "auth.login")[-1] == ("auth.login", {"address": "testclient", "method": "passkey"})
    assert _passkeys(owner)[0].sign_count == 1


def test_passkey_sign_in_needs_no_session_and_no_csrf_token(owner: TestClient) -> None:
    authenticator = _enrolled_owner(owner)
    owner.cookies.clear()
    assert _passkey_sign_in(owner, authenticator).status_code == 200
    assert owner.get("/dashboard", headers=HTML).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}],
    ids=["origin", "fetch-metadata", "null-origin"],
)
def test_a_cross_site_passkey_sign_in_is_refused(owner: TestClient, headers: dict[str, str]) -> None:
    authenticator = _enrolled_owner(owner)
    owner.cookies.clear()
    assert owner.post("/login/passkey/options", headers=headers).status_code == 403
    offered = owner.post("/login/passkey/options").json()
    answer = {"challenge_id": offered["challenge_id"], "credential": authenticator.get(offered["publicKey"])}
    assert owner.post("/login/passkey", json=answer, headers=headers).status_code == 403
    assert COOKIE not in owner.cookies


def test_failed_passkey_sign_ins_are_recorded_and_slowed_down(owner: TestClient) -> None:
    authenticator = _enrolled_owner(owner)
    owner.cookies.clear()
    statuses = [
        _passkey_sign_in(owner, authenticator, origin="https://evil.example").status_code for _ in range(3)
    ]
    assert statuses == [422, 422, 422]
    assert _challenges(owner) == 0
    throttled = owner.post("/login/passkey/options")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "rate_limited"
    assert int(throttled.headers["retry-after"]) >= 1
    failures = [data for action, data in _actions(owner, "auth.login_failed")]
    assert failures == [{"address": "testclient", "method": "passkey"}] * 3
    assert COOKIE not in owner.cookies


def test_a_passkey_sign_in_answer_works_once(owner: TestClient) -> None:
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, counts=False)
    assert _register(owner, authenticator).status_code == 200
    owner.cookies.clear()
    offered = owner.post("/login/passkey/options").json()
    answer = {"challenge_id": offered["challenge_id"], "credential": authenticator.get(offered["publicKey"])}
    assert owner.post("/login/passkey", json=answer).status_code == 200
    owner.cookies.clear()
    replay = owner.post("/login/passkey", json=answer)
    assert replay.status_code == 422
    assert COOKIE not in owner.cookies


def test_the_relying_party_follows_the_public_url(tmp_path: Path, engine: Engine) -> None:
    settings = make_settings(tmp_path, public_url="https://support.example.com")
    with TestClient(create_app(settings, engine=engine)) as client:
        complete_setup(client, engine)
        offered = client.post("/account/passkeys/options", headers=_token(client)).json()
        assert offered["publicKey"]["rp"]["id"] == "support.example.com"
        local = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN).create(offered["publicKey"])
        refused = client.post(
            "/account/passkeys",
            json={"challenge_id": offered["challenge_id"], "credential": local},
            headers=_token(client),
        )
        assert refused.status_code == 422
        assert (
            _register(
                client, SoftAuthenticator(rp_id="support.example.com", origin="https://support.example.com")
            ).status_code
            == 200
        )


@pytest.mark.parametrize(
    ("public_url", "scheme", "host", "expected"),
    [
        ("", "http", "localhost:8000", ("localhost", "http://localhost:8000")),
        ("", "https", "desk.example.com:443", ("desk.example.com", "https://desk.example.com")),
        ("", "http", "Desk.Example.com", ("desk.example.com", "http://desk.example.com")),
        (
            "https://support.example.com/",
            "http",
            "10.0.0.5:8000",
            ("support.example.com", "https://support.example.com"),
        ),
        (
            "https://support.example.com:8443",
            "http",
            "localhost",
            ("support.example.com", "https://support.example.com:8443"),
        ),
    ],
)
def test_the_rp_id_is_the_host_name_and_the_origin_keeps_a_non_default_port(
    tmp_path: Path, public_url: str, scheme: str, host: str, expected: tuple[str, str]
) -> None:
    app = FastAPI()
    app.state.settings = make_settings(tmp_path, public_url=public_url)
    scope = {
        "type": "http",
        "app": app,
        "scheme": scheme,
        "method": "POST",
        "path": "/login/passkey/options",
        "query_string": b"",
        "headers": [(b"host", host.encode())],
        "server": ("127.0.0.1", 8000),
    }
    assert tuple(relying_party(Request(scope))) == expected


# -- the second factor after a password, and step-up -------------------------------------------


def test_a_password_then_a_passkey_completes_the_sign_in(owner: TestClient) -> None:
    authenticator = _enrolled_owner(owner)
    assert _password_sign_in(owner) == "/login/verify"
    page = owner.get("/login/verify", headers=HTML)
    assert 'data-passkey="second-factor"' in page.text
    assert f'data-csrf-token="{csrf_from(page.text)}"' in page.text
    pending = owner.cookies[COOKIE]
    done = _ceremony(owner, "/login/verify/passkey", authenticator)
    assert done.status_code == 200
    assert done.json() == {"redirect": "/dashboard"}
    assert owner.cookies[COOKIE] != pending
    assert owner.get("/dashboard", headers=HTML).status_code == 200
    # The old cookie replaced, not added beside the new one (whose domain the server set).
    owner.cookies.clear()
    owner.cookies.set(COOKIE, pending)
    assert owner.get("/dashboard", headers=HTML, follow_redirects=False).status_code == 303
    assert _actions(owner, "auth.login")[-1] == ("auth.login", {"address": "testclient", "method": "passkey"})


def test_a_wrong_passkey_answer_leaves_the_session_waiting(owner: TestClient) -> None:
    _enrolled_owner(owner)
    assert _password_sign_in(owner) == "/login/verify"
    stranger = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    refused = _ceremony(owner, "/login/verify/passkey", stranger)
    assert refused.status_code == 422
    assert (
        owner.get("/dashboard", headers=HTML, follow_redirects=False).headers["location"] == "/login/verify"
    )
    assert _actions(owner, "auth.second_factor_failed") == [
        ("auth.second_factor_failed", {"address": "testclient", "method": "passkey"})
    ]


def test_the_second_factor_step_is_only_for_sessions_waiting_for_it(owner: TestClient) -> None:
    _enrolled_owner(owner)
    refused = owner.post("/login/verify/passkey/options", headers=_token(owner))
    assert refused.status_code == 409
    assert _challenges(owner) == 0
    assert owner.post("/login/verify/passkey/options", headers={}).status_code == 403


def test_an_account_without_a_passkey_gets_no_passkey_challenge(web: TestClient, engine: Engine) -> None:
    complete_setup(web, engine)
    add_member(
        web, workspace_id=workspace_id_of(web, email=OWNER_EMAIL), email="sam@example.com", role="support"
    )
    sign_in_directly(web, email="sam@example.com")
    refused = web.post("/account/step-up/passkey/options", headers=_token(web))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "passkey_verification_failed"
    assert _challenges(web) == 0
    assert 'data-passkey="step-up"' not in web.get("/account/step-up", headers=HTML).text


def test_a_step_up_with_a_passkey_unlocks_a_sensitive_action(owner: TestClient) -> None:
    authenticator = _enrolled_owner(owner)
    [passkey] = _passkeys(owner)
    _backdate_second_factor(owner)
    removal = {"csrf_token": csrf_token_for(owner.cookies[COOKIE])}
    asked = owner.post(
        f"/account/passkeys/{passkey.id}/delete",
        data=removal,
        headers={**HTML, "referer": "http://testserver/account/security"},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    assert asked.headers["location"] == "/account/step-up?next=/account/security"
    assert len(_passkeys(owner)) == 1
    page = owner.get(asked.headers["location"], headers=HTML)
    assert 'data-passkey="step-up"' in page.text
    assert 'data-next="/account/security"' in page.text
    done = _ceremony(owner, "/account/step-up/passkey", authenticator, next="/account/security")
    assert done.json() == {"redirect": "/account/security"}
    assert _actions(owner, "auth.step_up") == [("auth.step_up", {"method": "passkey"})]
    removed = owner.post(
        f"/account/passkeys/{passkey.id}/delete",
        data={"csrf_token": csrf_token_for(owner.cookies[COOKIE])},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert removed.headers["location"] == "/account/security"
    assert _passkeys(owner) == []
    assert [action for action, _ in _actions(owner, "mfa.passkey")] == [
        "mfa.passkey_registered",
        "mfa.passkey_removed",
    ]


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "javascript:alert(1)", ""])
def test_a_step_up_never_sends_the_browser_off_site(owner: TestClient, target: str) -> None:
    authenticator = _enrolled_owner(owner)
    done = _ceremony(owner, "/account/step-up/passkey", authenticator, next=target)
    assert done.json() == {"redirect": "/dashboard"}


# -- removal -----------------------------------------------------------------------------------


def test_another_users_passkey_is_not_found_like_a_missing_one(owner: TestClient) -> None:
    _enrolled_owner(owner)
    [mine] = _passkeys(owner)
    add_member(
        owner, workspace_id=workspace_id_of(owner, email=OWNER_EMAIL), email="sam@example.com", role="support"
    )
    sign_in_directly(owner, email="sam@example.com")
    form = {"csrf_token": csrf_token_for(owner.cookies[COOKIE])}
    foreign = owner.post(f"/account/passkeys/{mine.id}/delete", data=form)
    missing = owner.post(f"/account/passkeys/{uuid.uuid4()}/delete", data=form)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert [passkey.id for passkey in _passkeys(owner)] == [mine.id]


def test_removal_needs_the_csrf_token(owner: TestClient) -> None:
    _enrolled_owner(owner)
    [passkey] = _passkeys(owner)
    refused = owner.post(f"/account/passkeys/{passkey.id}/delete", data={"csrf_token": "0" * 64})
    assert refused.status_code == 403
    assert len(_passkeys(owner)) == 1


# -- the partials ------------------------------------------------------------------------------


def test_the_security_page_lists_passkeys_with_a_remove_button_each(owner: TestClient) -> None:
    page = owner.get("/account/security", headers=HTML)
    assert "No passkeys yet." in page.text
    assert "Add a passkey" in page.text
    _enrolled_owner(owner)
    page = owner.get("/account/security", headers=HTML)
    [passkey] = _passkeys(owner)
    assert f'action="/account/passkeys/{passkey.id}/delete"' in page.text
    assert 'aria-label="Remove Laptop"' in page.text
    assert "Never" in page.text
    assert f'data-csrf-token="{csrf_from(page.text)}"' in page.text
    assert '<script src="http://testserver/static/passkeys.js" defer></script>' in page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "no inline script under the CSP"


def test_the_sign_in_partial_offers_a_passkey_to_anyone(web: TestClient) -> None:
    app = web.app
    assert isinstance(app, FastAPI)
    scope = {
        "type": "http",
        "app": app,
        "router": app.router,
        "scheme": "http",
        "method": "GET",
        "path": "/login",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "root_path": "",
    }
    html = app.state.templates.get_template("_passkey_sign_in.html").render(user=None, request=Request(scope))
    assert 'data-passkey="sign-in"' in html
    assert 'data-options-url="/login/passkey/options"' in html
    assert 'data-verify-url="/login/passkey"' in html
    assert 'data-csrf-token=""' in html
    assert "Sign in with a passkey" in html
    assert 'role="alert"' in html


def test_the_script_is_served_from_static(web: TestClient) -> None:
    script = web.get("/static/passkeys.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "navigator.credentials.get" in script.text
    assert "X-CSRF-Token" in script.text
