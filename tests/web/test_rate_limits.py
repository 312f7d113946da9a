"""Rate limits at the web tier: passkey sign-in options per address, and API keys' requests
and refusals per key, each a 429 with Retry-After."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Select, func, select

from hushdesk.audit.models import AuditEvent
from hushdesk.identity.passkey_challenges import PasskeyChallenge
from hushdesk.identity.permissions import Permission
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.ratelimit import RateRule
from hushdesk.web import rate_limits
from tests.api import bearer, make_key, principal_of
from tests.web.helpers import app_sessions, signed_in_owner


def _count(client: TestClient, query: Select[int]) -> int:
    with unit_of_work(app_sessions(client)) as session:
        return int(session.scalar(query) or 0)


def test_passkey_sign_in_options_are_limited_per_address(client: TestClient, sqlite_engine: Engine) -> None:
    statuses = [client.post("/login/passkey/options").status_code for _ in range(31)]
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
    refused = client.post("/login/passkey/options")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limited"
    assert _count(client, select(func.count()).select_from(PasskeyChallenge)) == 30


def test_a_key_that_keeps_being_refused_is_slowed_down_not_audited_without_end(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    key = make_key(client, principal_of(client), [Permission.AGENT_READ])
    denied = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "api_key.denied")
    statuses = [client.get("/api/v1/audit/events", headers=bearer(key.token)).status_code for _ in range(22)]
    assert statuses == [403] * 20 + [429] * 2
    assert _count(client, denied) == 20
    # Its allowed requests are unaffected by the refusals' limit.
    assert client.get("/api/v1/agents", headers=bearer(key.token)).status_code == 200


def test_every_request_of_a_key_counts_toward_its_limit(
    client: TestClient, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rate_limits, "API_KEY_REQUESTS", RateRule("api_key_requests_test", "5/minute"))
    monkeypatch.setattr("hushdesk.web.authz.API_KEY_REQUESTS", rate_limits.API_KEY_REQUESTS)
    signed_in_owner(client, sqlite_engine)
    key = make_key(client, principal_of(client), [Permission.AGENT_READ])
    statuses = [client.get("/api/v1/agents", headers=bearer(key.token)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
