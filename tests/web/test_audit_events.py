"""The sign-in pages write their audit events, in chains that verify."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from hushdesk.audit.chain import verify_chain
from hushdesk.audit.models import INSTANCE_CHAIN, AuditEvent, chain_for
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from tests.web.helpers import OWNER_PASSWORD, complete_setup


def _events(engine: Engine) -> list[AuditEvent]:
    with unit_of_work(make_sessionmaker(engine)) as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.seq)))


def test_setup_sign_in_and_sign_out_are_recorded(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    page = client.get("/dashboard", headers={"accept": "text/html"})
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert csrf is not None
    client.post("/logout", data={"csrf_token": csrf.group(1)})
    client.post("/login", data={"email": "ada@example.com", "password": "not the password"})
    client.post("/login", data={"email": "nobody@example.com", "password": "not the password"})
    client.post("/login", data={"email": "ada@example.com", "password": OWNER_PASSWORD})

    events = _events(sqlite_engine)
    workspace_id = events[0].workspace_id
    assert workspace_id is not None
    in_workspace = [e.action for e in events if e.workspace_id == workspace_id]
    assert in_workspace == ["workspace.create", "auth.logout", "auth.login_failed", "auth.login"]
    (unknown,) = [e for e in events if e.workspace_id is None]
    assert unknown.action == "auth.login_failed"
    assert unknown.actor_id is None
    assert "nobody" not in str(unknown.data)
    with unit_of_work(make_sessionmaker(sqlite_engine)) as session:
        assert verify_chain(session, chain_for(workspace_id)).ok
        assert verify_chain(session, INSTANCE_CHAIN).ok


def test_sign_out_everywhere_is_recorded_with_the_count(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    page = client.get("/dashboard", headers={"accept": "text/html"})
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert csrf is not None
    client.post("/logout/everywhere", data={"csrf_token": csrf.group(1)})
    (event,) = [e for e in _events(sqlite_engine) if e.action == "session.revoke_all"]
    assert event.data == {"sessions": 1}
