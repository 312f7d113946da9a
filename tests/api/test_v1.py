"""REST API v1: each endpoint's answer, and the key's authentication, scopes and tenancy."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from hushdesk.audit.models import ActorKind, AuditEvent
from hushdesk.audit.service import do_record_event
from hushdesk.identity.api_keys import KEY_PREFIX
from hushdesk.identity.models import ApiKey
from hushdesk.identity.permissions import KEY_SCOPES, NOT_GRANTABLE_TO_KEYS, Permission
from hushdesk.identity.principal import Principal
from hushdesk.identity.tokens import token_digest
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.schema import metadata
from tests.api import bearer, make_agent, make_key, make_other_workspace, principal_of
from tests.web.helpers import app_sessions, csrf_from, signed_in_owner


@pytest.fixture
def owner(client: TestClient, sqlite_engine: Engine) -> Principal:
    signed_in_owner(client, sqlite_engine)
    return principal_of(client)


def _key_row(client: TestClient, key_id: uuid.UUID) -> ApiKey:
    with unit_of_work(app_sessions(client)) as session:
        return session.scalars(select(ApiKey).where(ApiKey.id == key_id)).one()


def _events(client: TestClient, action: str) -> list[AuditEvent]:
    with unit_of_work(app_sessions(client)) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _record(client: TestClient, principal: Principal, action: str, count: int) -> None:
    with unit_of_work(app_sessions(client)) as session:
        for number in range(count):
            do_record_event(
                session,
                workspace_id=principal.workspace_id,
                actor_kind=ActorKind.SYSTEM,
                actor_id=None,
                action=action,
                data={"number": number},
            )


def _assert_unauthenticated(response_status: int, headers: dict[str, str], body: dict[str, object]) -> None:
    assert response_status == 401
    assert headers["www-authenticate"] == 'Bearer realm="hushdesk"'
    assert isinstance(body["error"], dict)
    assert body["error"]["code"] == "unauthenticated"


def test_the_workspace_endpoint_describes_the_keys_workspace(client: TestClient, owner: Principal) -> None:
    key = make_key(client, owner, [Permission.WORKSPACE_READ])
    response = client.get("/api/v1/workspace", headers=bearer(key.token))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "id": str(owner.workspace_id),
        "name": "Acme Support",
        "slug": "acme-support",
        "region": "eu",
    }


def test_the_agents_endpoints_list_and_show_the_workspaces_agents(
    client: TestClient, owner: Principal
) -> None:
    second = make_agent(client, owner, name="Sales")
    first = make_agent(client, owner, name="Billing")
    key = make_key(client, owner, [Permission.AGENT_READ])

    listed = client.get("/api/v1/agents", headers=bearer(key.token))
    assert listed.status_code == 200
    assert [(agent["id"], agent["name"]) for agent in listed.json()["agents"]] == [
        (str(first), "Billing"),
        (str(second), "Sales"),
    ]
    one = client.get(f"/api/v1/agents/{second}", headers=bearer(key.token))
    assert one.status_code == 200
    body = one.json()
    assert (body["id"], body["name"]) == (str(second), "Sales")
    assert dt.datetime.fromisoformat(body["created_at"]).tzinfo is not None


def test_an_agent_of_another_workspace_is_a_404_like_a_missing_one(
    client: TestClient, owner: Principal
) -> None:
    other = make_other_workspace(client)
    theirs = make_agent(client, other, name="Their agent")
    key = make_key(client, owner, [Permission.AGENT_READ])

    foreign = client.get(f"/api/v1/agents/{theirs}", headers=bearer(key.token))
    missing = client.get(f"/api/v1/agents/{uuid.uuid4()}", headers=bearer(key.token))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == {"error": {"code": "not_found", "message": "Not found."}}
    assert client.get("/api/v1/agents", headers=bearer(key.token)).json() == {"agents": []}
    their_key = make_key(client, other, [Permission.AGENT_READ])
    assert client.get(f"/api/v1/agents/{theirs}", headers=bearer(their_key.token)).status_code == 200


def test_a_malformed_agent_id_is_a_422(client: TestClient, owner: Principal) -> None:
    key = make_key(client, owner, [Permission.AGENT_READ])
    response = client.get("/api/v1/agents/not-a-uuid", headers=bearer(key.token))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


def test_audit_events_come_newest_first_with_hex_hashes_and_page_back(
    client: TestClient, owner: Principal
) -> None:
    _record(client, owner, "test.event", 4)
    key = make_key(client, owner, [Permission.AUDIT_READ])
    with unit_of_work(app_sessions(client)) as session:
        stored = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.workspace_id == owner.workspace_id)
                .order_by(AuditEvent.seq.desc())
            )
        )
    assert len(stored) >= 5  # workspace.create, MFA enrolment, the four above

    everything = client.get("/api/v1/audit/events", headers=bearer(key.token))
    assert everything.status_code == 200
    events = everything.json()["events"]
    assert [event["seq"] for event in events] == [event.seq for event in stored]
    assert everything.json()["next_before_seq"] is None
    newest = events[0]
    assert newest["action"] == "test.event"
    assert newest["data"] == {"number": 3}
    assert newest["actor_kind"] == "system"
    assert newest["hash"] == stored[0].hash.hex()
    assert newest["prev_hash"] == stored[1].hash.hex()
    assert newest["id"] == str(stored[0].id)
    assert dt.datetime.fromisoformat(newest["occurred_at"]) == stored[0].occurred_at

    first_page = client.get("/api/v1/audit/events", params={"limit": 2}, headers=bearer(key.token)).json()
    assert [event["seq"] for event in first_page["events"]] == [stored[0].seq, stored[1].seq]
    assert first_page["next_before_seq"] == stored[1].seq
    second_page = client.get(
        "/api/v1/audit/events",
        params={"limit": 2, "before_seq": first_page["next_before_seq"]},
        headers=bearer(key.token),
    ).json()
    assert [event["seq"] for event in second_page["events"]] == [stored[2].seq, stored[3].seq]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"before_seq": 0}])
def test_bad_audit_paging_is_a_422(
    client: TestClient, owner: Principal, params: dict[str, int | str]
) -> None:
    key = make_key(client, owner, [Permission.AUDIT_READ])
    response = client.get("/api/v1/audit/events", params=params, headers=bearer(key.token))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


def test_a_key_never_sees_another_workspaces_audit_events(client: TestClient, owner: Principal) -> None:
    other = make_other_workspace(client)
    _record(client, other, "other.secret_event", 3)
    _record(client, owner, "own.event", 1)
    key = make_key(client, owner, [Permission.AUDIT_READ])
    their_key = make_key(client, other, [Permission.AUDIT_READ])

    ours = client.get("/api/v1/audit/events", params={"limit": 500}, headers=bearer(key.token)).json()
    theirs = client.get("/api/v1/audit/events", params={"limit": 500}, headers=bearer(their_key.token)).json()
    assert "other.secret_event" not in {event["action"] for event in ours["events"]}
    assert "own.event" in {event["action"] for event in ours["events"]}
    assert [event["action"] for event in theirs["events"]] == ["other.secret_event"] * 3
    with unit_of_work(app_sessions(client)) as session:
        ours_stored = set(
            session.scalars(select(AuditEvent.id).where(AuditEvent.workspace_id == owner.workspace_id))
        )
    assert {uuid.UUID(event["id"]) for event in ours["events"]} == ours_stored


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not-a-key",
        "Basic aGQ6bGl2ZQ==",
        f"Bearer {KEY_PREFIX}abcdefghijkl_{'A' * 43}",
    ],
)
def test_a_missing_or_unknown_key_is_a_401_with_www_authenticate(
    client: TestClient, owner: Principal, authorization: str | None
) -> None:
    headers = {"accept": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    response = client.get("/api/v1/workspace", headers=headers)
    _assert_unauthenticated(response.status_code, dict(response.headers), response.json())


def test_a_real_prefix_with_a_wrong_secret_is_a_401(client: TestClient, owner: Principal) -> None:
    key = make_key(client, owner, [Permission.WORKSPACE_READ])
    forged = key.token[: len(KEY_PREFIX) + 13] + ("B" * 43)
    assert forged != key.token
    response = client.get("/api/v1/workspace", headers=bearer(forged))
    _assert_unauthenticated(response.status_code, dict(response.headers), response.json())


def test_a_signed_in_cookie_does_not_open_the_api(client: TestClient, owner: Principal) -> None:
    assert client.get("/dashboard", headers={"accept": "application/json"}).status_code == 200
    response = client.get("/api/v1/workspace", headers={"accept": "application/json"})
    _assert_unauthenticated(response.status_code, dict(response.headers), response.json())


def test_an_expired_key_is_a_401(client: TestClient, owner: Principal) -> None:
    key = make_key(client, owner, [Permission.WORKSPACE_READ])
    assert client.get("/api/v1/workspace", headers=bearer(key.token)).status_code == 200
    with unit_of_work(app_sessions(client)) as session:
        session.execute(
            update(ApiKey).where(ApiKey.id == key.id).values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    response = client.get("/api/v1/workspace", headers=bearer(key.token))
    _assert_unauthenticated(response.status_code, dict(response.headers), response.json())


def test_revoking_a_key_on_the_page_takes_effect_on_the_next_request(
    client: TestClient, owner: Principal
) -> None:
    key = make_key(client, owner, [Permission.WORKSPACE_READ])
    assert client.get("/api/v1/workspace", headers=bearer(key.token)).status_code == 200
    page = client.get("/settings/api-keys", headers={"accept": "text/html"})
    revoked = client.post(
        f"/settings/api-keys/{key.id}/revoke",
        data={"csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    response = client.get("/api/v1/workspace", headers=bearer(key.token))
    _assert_unauthenticated(response.status_code, dict(response.headers), response.json())


def test_a_key_without_the_scope_is_a_403_recorded_as_denied(client: TestClient, owner: Principal) -> None:
    key = make_key(client, owner, [Permission.AGENT_READ])
    response = client.get("/api/v1/audit/events", headers=bearer(key.token))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "audit:read" in response.json()["error"]["message"]
    (denied,) = _events(client, "api_key.denied")
    assert denied.workspace_id == owner.workspace_id
    assert denied.actor_kind == "api_key"
    assert denied.actor_id == str(key.id)
    assert denied.data == {"scope": "audit:read", "method": "GET", "route": "/api/v1/audit/events"}
    # A refused key is not a use of it.
    assert _key_row(client, key.id).last_used_at is None


def test_a_use_of_a_key_is_recorded_as_its_last_use(client: TestClient, owner: Principal) -> None:
    key = make_key(client, owner, [Permission.AGENT_READ])
    assert _key_row(client, key.id).last_used_at is None
    before = utcnow()
    assert client.get("/api/v1/agents", headers=bearer(key.token)).status_code == 200
    used = _key_row(client, key.id).last_used_at
    assert used is not None
    assert before <= used <= utcnow()
    # Within the minute the use is not written again: reads stay read-only.
    assert client.get("/api/v1/agents", headers=bearer(key.token)).status_code == 200
    assert _key_row(client, key.id).last_used_at == used


def test_the_key_secret_is_stored_only_as_a_digest(
    client: TestClient, owner: Principal, sqlite_engine: Engine, tmp_path: Path
) -> None:
    key = make_key(client, owner, [Permission.WORKSPACE_READ, Permission.AGENT_READ])
    assert client.get("/api/v1/workspace", headers=bearer(key.token)).status_code == 200
    secret = key.token[len(KEY_PREFIX) + 13 :]
    assert len(secret) == 43
    row = _key_row(client, key.id)
    assert row.secret_hash == token_digest(secret)

    with sqlite_engine.connect() as connection:
        for table in metadata.sorted_tables:
            for stored in connection.execute(select(table)):
                assert secret not in repr(tuple(stored)), f"the key's secret is in {table.name}"
                assert key.token not in repr(tuple(stored)), f"the key is in {table.name}"
    # The raw files too, the write-ahead log included: a page once written keeps old bytes.
    scanned = [path for path in (tmp_path / "var").rglob("*") if path.is_file()]
    assert any(path.name == "hushdesk.sqlite3" for path in scanned)
    for path in scanned:
        assert secret.encode() not in path.read_bytes(), f"the key's secret is in {path.name}"


def test_the_api_documentation_lists_exactly_the_scopes_a_key_may_carry() -> None:
    document = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    table = {line.split("`")[1] for line in document.splitlines() if line.startswith("| `")}
    assert {scope.value for scope in KEY_SCOPES} <= table
    assert not table & {scope.value for scope in NOT_GRANTABLE_TO_KEYS}
