"""The small writes that authentication makes beside a request (the idle clock, a key's last
use, a refused key's audit event) never wait on the request's own write lock. On SQLite a
writing transaction holds the database lock from its first read, so a second writer would wait
out the busy timeout and the request would fail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from hushdesk.app import create_app
from hushdesk.audit.models import AuditEvent
from hushdesk.identity.models import ApiKey, WebSession
from hushdesk.identity.permissions import Permission
from hushdesk.identity.principal import Principal
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.web.authz import api_requires
from hushdesk.web.deps import DbSession
from tests.api import bearer, make_key, principal_of
from tests.conftest import make_settings
from tests.web.helpers import app_sessions, csrf_from, signed_in_owner

pytestmark = pytest.mark.timeout(60)


def test_a_post_from_a_session_due_an_idle_clock_reset_succeeds(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    page = client.get("/account/security", headers={"accept": "text/html"})
    earlier = utcnow() - dt.timedelta(minutes=5)
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(WebSession).values(last_seen_at=earlier))
    response = client.post("/logout", data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert response.status_code == 303
    with unit_of_work(app_sessions(client)) as session:
        assert session.scalars(select(WebSession.last_seen_at)).one() > earlier


def test_a_post_through_the_api_records_last_use_and_refusals(tmp_path: Path, sqlite_engine: Engine) -> None:
    app = create_app(make_settings(tmp_path), engine=sqlite_engine)

    @app.post("/api/v1/test-write", dependencies=[api_requires(Permission.AGENT_WRITE)])
    def write(db: DbSession) -> dict[str, int]:
        return {"events": len(db.scalars(select(AuditEvent.id)).all())}

    with TestClient(app) as client:
        signed_in_owner(client, sqlite_engine)
        owner: Principal = principal_of(client)
        allowed = make_key(client, owner, [Permission.AGENT_WRITE])
        refused = make_key(client, owner, [Permission.AGENT_READ])
        assert client.post("/api/v1/test-write", headers=bearer(allowed.token)).status_code == 200
        assert client.post("/api/v1/test-write", headers=bearer(refused.token)).status_code == 403
        with unit_of_work(app_sessions(client)) as session:
            used = session.scalars(select(ApiKey.last_used_at).where(ApiKey.id == allowed.id)).one()
            actions = session.scalars(select(AuditEvent.action)).all()
        assert used is not None
        assert actions[-1] == "api_key.denied"
