"""The second factor in the dashboard: the sign-in step, enrolment, recovery codes, step-up,
the workspace's MFA policy and its session timeouts."""

from __future__ import annotations

import base64
import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from hushdesk.audit.models import AuditEvent
from hushdesk.identity.mfa import RecoveryCode, TotpFactor
from hushdesk.identity.models import WebSession
from hushdesk.identity.totp import hotp_code, totp_step
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.workspaces.models import Workspace
from tests.web.helpers import (
    MEMBER_PASSWORD,
    OWNER_EMAIL,
    OWNER_PASSWORD,
    add_member,
    app_sessions,
    complete_setup,
    csrf_from,
    current_totp,
    enrol_totp_directly,
    sign_in_directly,
    signed_in_owner,
    workspace_id_of,
)

HTML = {"accept": "text/html"}
JSON = {"accept": "application/json"}


def _actions(client: TestClient) -> list[str]:
    with unit_of_work(app_sessions(client)) as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.chain, AuditEvent.seq)))


def _password_sign_in(client: TestClient, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD) -> str:
    client.cookies.clear()
    response = client.post("/login", data={"email": email, "password": password}, follow_redirects=False)
    assert response.status_code == 303
    return str(response.headers["location"])


def _verify(client: TestClient, code: str, method: str = "totp") -> TestClient:
    page = client.get("/login/verify", headers=HTML)
    assert page.status_code == 200
    client.post(
        "/login/verify",
        data={"csrf_token": csrf_from(page.text), "code": code, "method": method},
        follow_redirects=False,
    )
    return client


def _backdate_second_factor(client: TestClient, minutes: int) -> None:
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(WebSession).values(second_factor_at=utcnow() - dt.timedelta(minutes=minutes)))


def test_a_password_alone_does_not_complete_the_sign_in_of_an_account_with_a_second_factor(
    client: TestClient, sqlite_engine: Engine
) -> None:
    secret = signed_in_owner(client, sqlite_engine)
    assert _password_sign_in(client) == "/login/verify"
    for path in ("/dashboard", "/account/security", "/settings/security"):
        response = client.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login/verify"
    assert client.get("/dashboard", headers=JSON).json()["error"]["code"] == "second_factor_required"
    pending_cookie = client.cookies["hushdesk_session"]
    page = client.get("/login/verify", headers=HTML)
    done = client.post(
        "/login/verify",
        data={"csrf_token": csrf_from(page.text), "code": current_totp(secret), "method": "totp"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/dashboard"
    # The session id rotated: the cookie from before the second factor no longer works.
    assert client.cookies["hushdesk_session"] != pending_cookie
    assert client.get("/dashboard", headers=HTML).status_code == 200
    old = TestClient(client.app, cookies={"hushdesk_session": pending_cookie})
    assert old.get("/dashboard", headers=HTML, follow_redirects=False).headers["location"] == "/login"
    assert _actions(client)[-1] == "auth.login"


def test_a_totp_code_is_never_accepted_twice(client: TestClient, sqlite_engine: Engine) -> None:
    secret = signed_in_owner(client, sqlite_engine)
    code = current_totp(secret)
    _password_sign_in(client)
    _verify(client, code)
    assert client.get("/dashboard", headers=HTML).status_code == 200
    _password_sign_in(client)
    _verify(client, code)
    refused = client.get("/dashboard", headers=HTML, follow_redirects=False)
    assert refused.headers["location"] == "/login/verify"
    assert "auth.second_factor_failed" in _actions(client)


def test_wrong_codes_are_slowed_down_per_account_even_for_the_right_code(
    client: TestClient, sqlite_engine: Engine
) -> None:
    secret = signed_in_owner(client, sqlite_engine)
    _password_sign_in(client)
    statuses = []
    for _ in range(6):
        page = client.get("/login/verify", headers=HTML)
        response = client.post(
            "/login/verify", data={"csrf_token": csrf_from(page.text), "code": "000000", "method": "totp"}
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5
    page = client.get("/login/verify", headers=HTML)
    throttled = client.post(
        "/login/verify",
        data={"csrf_token": csrf_from(page.text), "code": current_totp(secret), "method": "totp"},
    )
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert (
        client.get("/dashboard", headers=HTML, follow_redirects=False).headers["location"] == "/login/verify"
    )


def test_a_recovery_code_signs_in_once(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    page = client.get("/account/security", headers=HTML)
    # New codes need a fresh second factor, which the owner has just presented.
    shown = client.post("/account/recovery-codes", data={"csrf_token": csrf_from(page.text)})
    assert shown.status_code == 200
    codes = re.findall(r"<code>([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})</code>", shown.text)
    assert len(codes) == 10
    _password_sign_in(client)
    _verify(client, codes[0].lower().replace("-", " "), method="recovery")
    assert client.get("/dashboard", headers=HTML).status_code == 200
    _password_sign_in(client)
    _verify(client, codes[0], method="recovery")
    assert (
        client.get("/dashboard", headers=HTML, follow_redirects=False).headers["location"] == "/login/verify"
    )
    with unit_of_work(app_sessions(client)) as session:
        used = session.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
    assert len(used) == 1


def test_an_owner_without_a_second_factor_can_only_enrol_one(
    client: TestClient, sqlite_engine: Engine
) -> None:
    complete_setup(client, sqlite_engine)
    for path in ("/dashboard", "/account/sessions", "/settings/security", "/account/step-up"):
        response = client.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/account/security"
    refused = client.get("/dashboard", headers=JSON)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "mfa_enrolment_required"
    assert client.get("/account/security", headers=HTML).status_code == 200


def test_enrolling_an_authenticator_app_through_the_pages(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    page = client.get("/account/security", headers=HTML)
    begun = client.post("/account/totp", data={"csrf_token": csrf_from(page.text)})
    assert begun.status_code == 200
    assert "<svg" in begun.text
    match = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', begun.text)
    assert match is not None
    secret = base64.b32decode(
        match.group(1).replace(" ", "") + "=" * (-len(match.group(1).replace(" ", "")) % 8)
    )
    factor_id = re.search(r'name="factor_id" value="([0-9a-f-]+)"', begun.text)
    assert factor_id is not None
    before = client.cookies["hushdesk_session"]
    wrong = client.post(
        "/account/totp/confirm",
        data={"csrf_token": csrf_from(begun.text), "factor_id": factor_id.group(1), "code": "123456"},
    )
    assert wrong.status_code == 422
    code = hotp_code(secret, counter=totp_step(int(utcnow().timestamp())))
    confirmed = client.post(
        "/account/totp/confirm",
        data={"csrf_token": csrf_from(begun.text), "factor_id": factor_id.group(1), "code": code},
    )
    assert confirmed.status_code == 200
    assert len(re.findall(r"<li><code>", confirmed.text)) == 10
    assert client.cookies["hushdesk_session"] != before
    # The page's sign-out form carries the new session's CSRF token.
    assert (
        client.post(
            "/logout", data={"csrf_token": csrf_from(confirmed.text)}, follow_redirects=False
        ).status_code
        == 303
    )
    assert "mfa.totp_enrolled" in _actions(client)


def test_enrolment_needs_the_csrf_token(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    assert client.post("/account/totp", data={"csrf_token": "0" * 64}).status_code == 403
    with unit_of_work(app_sessions(client)) as session:
        assert session.scalars(select(TotpFactor)).all() == []


def test_a_sensitive_action_asks_for_a_fresh_second_factor_and_changes_nothing_until_then(
    client: TestClient, sqlite_engine: Engine
) -> None:
    secret = signed_in_owner(client, sqlite_engine)
    _backdate_second_factor(client, minutes=6)
    page = client.get("/settings/security", headers=HTML)
    form = {"csrf_token": csrf_from(page.text), "idle_minutes": "15", "absolute_minutes": "600"}
    response = client.post(
        "/settings/security",
        data=form,
        headers={**HTML, "referer": "http://testserver/settings/security"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account/step-up?next=/settings/security"
    assert (
        client.post("/settings/security", data=form, headers=JSON).json()["error"]["code"]
        == "step_up_required"
    )
    with unit_of_work(app_sessions(client)) as session:
        assert session.scalars(select(Workspace.session_idle_minutes)).one() == 30
    step_up = client.get("/account/step-up?next=/settings/security", headers=HTML)
    done = client.post(
        "/account/step-up",
        data={
            "csrf_token": csrf_from(step_up.text),
            "code": current_totp(secret),
            "method": "totp",
            "next": "/settings/security",
        },
        follow_redirects=False,
    )
    assert done.headers["location"] == "/settings/security"
    page = client.get("/settings/security", headers=HTML)
    saved = client.post(
        "/settings/security", data={**form, "csrf_token": csrf_from(page.text)}, follow_redirects=False
    )
    assert saved.status_code == 303
    with unit_of_work(app_sessions(client)) as session:
        assert session.scalars(select(Workspace.session_idle_minutes)).one() == 15
    assert "auth.step_up" in _actions(client)
    assert _actions(client)[-1] == "settings.security_changed"


def test_the_step_up_never_redirects_off_site(client: TestClient, sqlite_engine: Engine) -> None:
    secret = signed_in_owner(client, sqlite_engine)
    page = client.get("/account/step-up", headers=HTML)
    done = client.post(
        "/account/step-up",
        data={
            "csrf_token": csrf_from(page.text),
            "code": current_totp(secret),
            "method": "totp",
            "next": "//evil.example/steal",
        },
        follow_redirects=False,
    )
    assert done.headers["location"] == "/dashboard"


def test_bad_policy_values_are_refused_and_change_nothing(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    page = client.get("/settings/security", headers=HTML)
    for idle, absolute in (("60", "30"), ("1", "600"), ("30", "999999")):
        response = client.post(
            "/settings/security",
            data={"csrf_token": csrf_from(page.text), "idle_minutes": idle, "absolute_minutes": absolute},
        )
        assert response.status_code == 422
    assert (
        client.post(
            "/settings/security",
            data={"csrf_token": csrf_from(page.text), "idle_minutes": "x", "absolute_minutes": "1"},
        ).status_code
        == 422
    )
    with unit_of_work(app_sessions(client)) as session:
        workspace = session.scalars(select(Workspace)).one()
        assert (workspace.session_idle_minutes, workspace.session_absolute_minutes) == (30, 720)


def test_a_workspace_can_require_a_second_factor_of_everyone(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    sign_in_directly(client, email="sam@example.com", second_factor=False)
    assert client.get("/dashboard", headers=HTML).status_code == 200
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(Workspace).values(mfa_required=True))
    response = client.get("/dashboard", headers=HTML, follow_redirects=False)
    assert response.headers["location"] == "/account/security"


def test_the_workspace_idle_timeout_ends_sessions(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(Workspace).values(session_idle_minutes=5))
        session.execute(update(WebSession).values(last_seen_at=utcnow() - dt.timedelta(minutes=6)))
    assert client.get("/dashboard", headers=HTML, follow_redirects=False).headers["location"] == "/login"


def test_the_workspace_absolute_timeout_ends_sessions(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(Workspace).values(session_absolute_minutes=60))
        session.execute(update(WebSession).values(created_at=utcnow() - dt.timedelta(minutes=61)))
    assert client.get("/dashboard", headers=HTML, follow_redirects=False).headers["location"] == "/login"


def test_a_session_waiting_for_its_second_factor_expires_in_minutes(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    _password_sign_in(client)
    with unit_of_work(app_sessions(client)) as session:
        pending = session.scalars(select(WebSession).where(WebSession.awaiting_second_factor.is_(True))).one()
        assert pending.expires_at - pending.created_at == dt.timedelta(minutes=10)


def test_people_end_their_own_sessions_only(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    owner_cookie = client.cookies["hushdesk_session"]
    add_member(
        client, workspace_id=workspace_id, email="sam@example.com", role="support", password=MEMBER_PASSWORD
    )
    sign_in_directly(client, email="sam@example.com")
    with unit_of_work(app_sessions(client)) as session:
        sam_session = session.scalars(
            select(WebSession.id)
            .where(WebSession.token_hash.is_not(None))
            .order_by(WebSession.created_at.desc())
        ).first()
    client.cookies.clear()
    client.cookies.set("hushdesk_session", owner_cookie)
    page = client.get("/account/sessions", headers=HTML)
    assert page.status_code == 200
    refused = client.post(f"/account/sessions/{sam_session}/end", data={"csrf_token": csrf_from(page.text)})
    assert refused.status_code == 404
    own = re.findall(r'action="/account/sessions/([0-9a-f-]+)/end"', page.text)
    assert len(own) == 1
    ended = client.post(
        f"/account/sessions/{own[0]}/end", data={"csrf_token": csrf_from(page.text)}, follow_redirects=False
    )
    assert ended.headers["location"] == "/login"
    assert client.get("/dashboard", headers=HTML, follow_redirects=False).headers["location"] == "/login"
    assert "session.revoke" in _actions(client)


def test_removing_the_authenticator_needs_a_fresh_second_factor(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    _backdate_second_factor(client, minutes=10)
    page = client.get("/account/security", headers=HTML)
    response = client.post("/account/totp/remove", data={"csrf_token": csrf_from(page.text)}, headers=JSON)
    assert response.status_code == 403
    with unit_of_work(app_sessions(client)) as session:
        assert len(session.scalars(select(TotpFactor)).all()) == 1


def test_enrol_directly_helper_leaves_a_usable_factor(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    secret = enrol_totp_directly(client, email=OWNER_EMAIL)
    assert len(secret) == 20


def test_a_first_factor_is_added_only_soon_after_signing_in(
    client: TestClient, sqlite_engine: Engine
) -> None:
    complete_setup(client, sqlite_engine)
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(WebSession).values(created_at=utcnow() - dt.timedelta(minutes=31)))
    page = client.get("/account/security", headers=HTML)
    assert "Sign in again" in page.text
    assert "Set up an authenticator app" not in page.text
    refused = client.post("/account/totp", data={"csrf_token": csrf_from(page.text)}, headers=JSON)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "sign_in_again"
    passkey = client.post("/account/passkeys/options", headers={**JSON, "x-csrf-token": csrf_from(page.text)})
    assert passkey.status_code == 403
    assert passkey.json()["error"]["code"] == "sign_in_again"
    with unit_of_work(app_sessions(client)) as session:
        assert session.scalars(select(TotpFactor)).all() == []


def _policy_form(client: TestClient, **fields: str) -> dict[str, str]:
    page = client.get("/settings/security", headers=HTML)
    return {"csrf_token": csrf_from(page.text), "idle_minutes": "30", "absolute_minutes": "720", **fields}


def _consent_mode(client: TestClient) -> str:
    with unit_of_work(app_sessions(client)) as session:
        return session.scalars(select(Workspace.consent_mode)).one()


def _security_events(client: TestClient) -> list[dict[str, object]]:
    with unit_of_work(app_sessions(client)) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "settings.security_changed"))
        return [dict(event.data) for event in events]


def test_the_widgets_consent_mode_is_set_on_the_policy_page_and_audited(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    page = client.get("/settings/security", headers=HTML)
    assert re.search(r'value="accept"\s+checked', page.text)
    saved = client.post(
        "/settings/security", data=_policy_form(client, consent_mode="shown"), follow_redirects=False
    )
    assert saved.status_code == 303
    assert _consent_mode(client) == "shown"
    assert _security_events(client) == [{"consent_mode_from": "accept", "consent_mode_to": "shown"}]
    assert re.search(r'value="shown"\s+checked', client.get("/settings/security", headers=HTML).text)
    # A form without the field (a page rendered before it existed) keeps the mode.
    kept = client.post("/settings/security", data=_policy_form(client), follow_redirects=False)
    assert kept.status_code == 303
    assert _consent_mode(client) == "shown"
    assert len(_security_events(client)) == 1


def test_a_consent_mode_change_needs_a_fresh_second_factor(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    form = _policy_form(client, consent_mode="shown")
    _backdate_second_factor(client, minutes=6)
    refused = client.post("/settings/security", data=form, headers=JSON)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_required"
    assert _consent_mode(client) == "accept"
    assert _security_events(client) == []


def test_an_unknown_consent_mode_is_refused_and_changes_nothing(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    response = client.post(
        "/settings/security", data=_policy_form(client, consent_mode="implied", idle_minutes="15")
    )
    assert response.status_code == 422
    assert "The consent mode is one of: accept, shown." in response.text
    with unit_of_work(app_sessions(client)) as session:
        workspace = session.scalars(select(Workspace)).one()
        assert (workspace.consent_mode, workspace.session_idle_minutes) == ("accept", 30)
    assert _security_events(client) == []
