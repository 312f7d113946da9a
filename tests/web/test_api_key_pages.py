"""The API keys page: listing, creating (shown once), revoking, and every refusal."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from hushdesk.audit.models import AuditEvent
from hushdesk.identity.api_keys import do_create_api_key
from hushdesk.identity.models import ApiKey, Role, WebSession
from hushdesk.identity.permissions import (
    INTEGRATION_SCOPES,
    KEY_SCOPES,
    NOT_GRANTABLE_TO_KEYS,
    ROLE_PERMISSIONS,
    Permission,
)
from hushdesk.identity.principal import Principal, PrincipalKind
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import PermissionDenied
from tests.api import bearer, make_key, make_other_workspace, principal_of
from tests.web.helpers import (
    add_member,
    app_sessions,
    csrf_from,
    enrol_totp_directly,
    sign_in_directly,
    signed_in_owner,
    workspace_id_of,
)

PAGE = "/settings/api-keys"
HTML = {"accept": "text/html"}
TOKEN_ON_PAGE = re.compile(r"hd_live_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def owner(client: TestClient, sqlite_engine: Engine) -> Principal:
    signed_in_owner(client, sqlite_engine)
    return principal_of(client)


def _csrf(client: TestClient) -> str:
    page = client.get(PAGE, headers=HTML)
    assert page.status_code == 200
    return csrf_from(page.text)


def _create(client: TestClient, **fields: object) -> tuple[int, str]:
    form: dict[str, object] = {
        "csrf_token": _csrf(client),
        "name": "Zapier",
        "expires_in_days": "90",
        "scopes": ["agent:read"],
    }
    form.update(fields)
    response = client.post(PAGE, data=form, headers=HTML, follow_redirects=False)
    return response.status_code, response.text


def _keys(client: TestClient) -> list[ApiKey]:
    with unit_of_work(app_sessions(client)) as session:
        return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def _events(client: TestClient, action: str) -> list[AuditEvent]:
    with unit_of_work(app_sessions(client)) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _offered_scopes(page_html: str) -> set[str]:
    return set(re.findall(r'type="checkbox" name="scopes" value="([a-z_:]+)"', page_html))


def test_the_page_lists_the_workspaces_keys(client: TestClient, owner: Principal) -> None:
    make_key(client, owner, [Permission.AUDIT_READ, Permission.AGENT_READ], name="Reporting job")
    key = _keys(client)[0]
    other = make_other_workspace(client)
    make_key(client, other, [Permission.AGENT_READ], name="Their secret integration")

    page = client.get(PAGE, headers=HTML)
    assert page.status_code == 200
    assert "Reporting job" in page.text
    assert f"hd_live_{key.prefix}_" in page.text
    assert "<code>agent:read</code> <code>audit:read</code>" in page.text
    assert "<td>Ada Owner</td>" in page.text
    assert key.expires_at.strftime("%Y-%m-%d %H:%M UTC") in page.text
    assert f'action="/settings/api-keys/{key.id}/revoke"' in page.text
    assert "Their secret integration" not in page.text


def test_the_form_offers_every_key_scope_with_integrations_apart(
    client: TestClient, owner: Principal
) -> None:
    page = client.get(PAGE, headers=HTML).text
    assert _offered_scopes(page) == {scope.value for scope in KEY_SCOPES}
    assert not _offered_scopes(page) & {scope.value for scope in NOT_GRANTABLE_TO_KEYS}
    general, integration = page.split("<legend>Integration scopes</legend>")
    assert _offered_scopes(integration) == {scope.value for scope in INTEGRATION_SCOPES}
    assert not _offered_scopes(general) & {scope.value for scope in INTEGRATION_SCOPES}
    assert "reaches only that channel's endpoints" in integration
    assert 'name="expires_in_days" type="number" required min="1" max="366" value="90"' in page


def test_creating_a_key_shows_it_once_and_records_the_event(client: TestClient, owner: Principal) -> None:
    status, page = _create(
        client, name="  WhatsApp   bridge ", expires_in_days="30", scopes=["whatsapp_webhook:receive"]
    )
    assert status == 201
    (token,) = set(TOKEN_ON_PAGE.findall(page))
    (key,) = _keys(client)
    assert key.name == "WhatsApp bridge"
    assert key.scopes == ["whatsapp_webhook:receive"]
    assert key.created_by_id == owner.id
    assert abs(key.expires_at - (utcnow() + dt.timedelta(days=30))) < dt.timedelta(minutes=1)
    assert token.startswith(f"hd_live_{key.prefix}_")

    (event,) = _events(client, "api_key.created")
    assert event.workspace_id == owner.workspace_id
    assert (event.actor_kind, event.actor_id) == ("user", str(owner.id))
    assert (event.target_kind, event.target_id) == ("api_key", str(key.id))
    assert event.data == {
        "key_id": str(key.id),
        "prefix": key.prefix,
        "scopes": "whatsapp_webhook:receive",
        "expires_at": key.expires_at.isoformat(),
    }
    secret = token[len(f"hd_live_{key.prefix}_") :]
    assert secret not in str(event.data)
    # Never shown again.
    listing = client.get(PAGE, headers=HTML).text
    assert secret not in listing
    assert not TOKEN_ON_PAGE.search(listing)


def test_the_created_key_carries_its_scopes_comma_joined_in_the_event(
    client: TestClient, owner: Principal
) -> None:
    status, _ = _create(client, scopes=["audit:read", "agent:read", "workspace:read"])
    assert status == 201
    (event,) = _events(client, "api_key.created")
    assert event.data["scopes"] == "agent:read,audit:read,workspace:read"


def test_the_new_key_is_never_logged(
    client: TestClient, owner: Principal, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        status, page = _create(client)
    assert status == 201
    (token,) = set(TOKEN_ON_PAGE.findall(page))
    assert caplog.records, "the request logged nothing: the check would prove nothing"
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert token not in logged
    assert token[len("hd_live_") + 13 :] not in logged


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"scopes": []}, "Choose at least one scope"),
        ({"scopes": ["conversation:delete"]}, "Unknown scope: conversation:delete."),
        ({"scopes": ["agent:read", "api_key:manage"]}, "A key may not carry api_key:manage."),
        ({"scopes": ["account:self"]}, "A key may not carry account:self."),
        ({"expires_in_days": "0"}, "Choose an expiry of 1 to 366 days."),
        ({"expires_in_days": "367"}, "Choose an expiry of 1 to 366 days."),
        ({"expires_in_days": "ninety"}, "Choose an expiry of 1 to 366 days."),
        ({"expires_in_days": "-5"}, "Choose an expiry of 1 to 366 days."),
        ({"expires_in_days": "1e3"}, "Choose an expiry of 1 to 366 days."),
        ({"name": "   "}, "Give the key a name of 1 to 80 characters."),
        ({"name": "x" * 81}, "Give the key a name of 1 to 80 characters."),
        ({"name": "bad\x00name"}, "may not contain control characters"),
    ],
)
def test_bad_input_re_renders_the_form_with_a_422_and_creates_nothing(
    client: TestClient, owner: Principal, fields: dict[str, object], problem: str
) -> None:
    status, page = _create(client, **fields)
    assert status == 422
    assert problem in page
    assert 'role="alert"' in page
    assert f'action="{PAGE}"' in page
    assert not TOKEN_ON_PAGE.search(page)
    assert _keys(client) == []
    assert _events(client, "api_key.created") == []


def test_the_re_rendered_form_keeps_what_was_entered(client: TestClient, owner: Principal) -> None:
    status, page = _create(client, name="Nightly export", expires_in_days="400", scopes=["audit:read"])
    assert status == 422
    assert 'value="Nightly export"' in page
    assert 'value="400"' in page
    assert 'value="audit:read" checked' in page
    assert 'value="agent:read" checked' not in page


def test_a_scope_the_creator_does_not_hold_is_neither_offered_nor_granted(
    client: TestClient, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in_owner(client, sqlite_engine)
    workspace_id = workspace_id_of(client, email="ada@example.com")
    add_member(client, workspace_id=workspace_id, email="adam@example.com", role="admin")
    sign_in_directly(client, email="adam@example.com")
    enrol_totp_directly(client, email="adam@example.com")
    # An admin whose role (say, by a future policy) lacks the audit log.
    without_audit = ROLE_PERMISSIONS[Role.ADMIN] - {Permission.AUDIT_READ}
    # The same dict that ``user_principal`` reads.
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.ADMIN, without_audit)

    page = client.get(PAGE, headers=HTML).text
    assert "audit:read" not in _offered_scopes(page)
    assert "agent:read" in _offered_scopes(page)
    status, page = _create(client, scopes=["agent:read", "audit:read"])
    assert status == 422
    assert "You cannot grant audit:read: your role does not hold it." in page
    assert _keys(client) == []


def test_revoking_a_key_records_the_event_once(client: TestClient, owner: Principal) -> None:
    key = make_key(client, owner, [Permission.AGENT_READ])
    csrf = _csrf(client)
    for _ in range(2):
        response = client.post(f"{PAGE}/{key.id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == PAGE
    (row,) = _keys(client)
    assert row.revoked_at is not None
    (event,) = _events(client, "api_key.revoked")
    assert (event.actor_id, event.target_kind, event.target_id) == (str(owner.id), "api_key", str(key.id))
    assert event.data == {"key_id": str(key.id), "prefix": row.prefix}
    assert f'action="{PAGE}/{key.id}/revoke"' not in client.get(PAGE, headers=HTML).text


def test_another_workspaces_key_is_a_404_like_a_missing_one(client: TestClient, owner: Principal) -> None:
    other = make_other_workspace(client)
    theirs = make_key(client, other, [Permission.AGENT_READ])
    csrf = _csrf(client)
    accept = {"accept": "application/json"}
    foreign = client.post(f"{PAGE}/{theirs.id}/revoke", data={"csrf_token": csrf}, headers=accept)
    missing = client.post(f"{PAGE}/{uuid.uuid4()}/revoke", data={"csrf_token": csrf}, headers=accept)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    (row,) = [key for key in _keys(client) if key.id == theirs.id]
    assert row.revoked_at is None
    assert _events(client, "api_key.revoked") == []
    assert client.get("/api/v1/agents", headers=bearer(theirs.token)).status_code == 200


# A missing token is a request validation error (422), a wrong one a refusal (403).
@pytest.mark.parametrize(("csrf_token", "status"), [("", 422), ("0" * 64, 403)])
def test_posts_without_the_sessions_csrf_token_are_refused(
    client: TestClient, owner: Principal, csrf_token: str, status: int
) -> None:
    key = make_key(client, owner, [Permission.AGENT_READ])
    accept = {"accept": "application/json"}
    created = client.post(
        PAGE, data={"csrf_token": csrf_token, "name": "x", "scopes": ["agent:read"]}, headers=accept
    )
    revoked = client.post(f"{PAGE}/{key.id}/revoke", data={"csrf_token": csrf_token}, headers=accept)
    assert created.status_code == revoked.status_code == status
    (row,) = _keys(client)
    assert row.revoked_at is None
    assert _events(client, "api_key.created") == _events(client, "api_key.revoked") == []


def test_a_form_without_an_expiry_gets_the_default_of_90_days(client: TestClient, owner: Principal) -> None:
    response = client.post(
        PAGE, data={"csrf_token": _csrf(client), "name": "Default", "scopes": ["agent:read"]}, headers=HTML
    )
    assert response.status_code == 201
    (key,) = _keys(client)
    assert abs(key.expires_at - (utcnow() + dt.timedelta(days=90))) < dt.timedelta(minutes=1)


def test_creating_and_revoking_need_a_fresh_second_factor(client: TestClient, owner: Principal) -> None:
    key = make_key(client, owner, [Permission.AGENT_READ])
    csrf = _csrf(client)
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(WebSession).values(second_factor_at=utcnow() - dt.timedelta(minutes=6)))
    assert client.get(PAGE, headers=HTML).status_code == 200
    accept = {"accept": "application/json"}
    created = client.post(
        PAGE, data={"csrf_token": csrf, "name": "x", "scopes": ["agent:read"]}, headers=accept
    )
    revoked = client.post(f"{PAGE}/{key.id}/revoke", data={"csrf_token": csrf}, headers=accept)
    for response in (created, revoked):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "step_up_required"
    browser = client.post(
        f"{PAGE}/{key.id}/revoke", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert browser.status_code == 303
    assert browser.headers["location"].startswith("/account/step-up?next=")
    (row,) = _keys(client)
    assert row.revoked_at is None


@pytest.mark.parametrize("role", ["manager", "support", "auditor"])
def test_roles_without_key_management_cannot_open_the_page(
    client: TestClient, sqlite_engine: Engine, role: str
) -> None:
    signed_in_owner(client, sqlite_engine)
    workspace_id = workspace_id_of(client, email="ada@example.com")
    add_member(client, workspace_id=workspace_id, email="mo@example.com", role=role)
    sign_in_directly(client, email="mo@example.com")
    assert client.get(PAGE, headers={"accept": "application/json"}).status_code == 403


def test_a_key_cannot_make_keys(client: TestClient, owner: Principal) -> None:
    key = make_key(client, owner, [Permission.AGENT_READ])
    as_key = Principal(
        workspace_id=owner.workspace_id,
        kind=PrincipalKind.API_KEY,
        id=key.id,
        permissions=frozenset(Permission),
    )
    with unit_of_work(app_sessions(client)) as session:
        with pytest.raises(PermissionDenied):
            do_create_api_key(
                session,
                creator=as_key,
                name="minted",
                scopes=["agent:read"],
                expires_at=utcnow() + dt.timedelta(days=1),
            )
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 1
