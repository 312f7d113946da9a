"""Text the database cannot store (a NUL byte, which PostgreSQL refuses in text) and numbers
past its range are a clear 4xx, never a 500, and change nothing: checked on PostgreSQL, where
the database itself would refuse them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from hushdesk.agents.models import Agent
from hushdesk.app import create_app
from hushdesk.identity.models import Invitation
from hushdesk.identity.permissions import Permission
from hushdesk.infra.db.uow import unit_of_work
from tests.api import bearer, make_key, principal_of
from tests.conftest import empty_all_tables, make_settings
from tests.web.helpers import app_sessions, csrf_from, issue_token, setup_form, signed_in_owner

pytestmark = pytest.mark.postgres
HTML = {"accept": "text/html"}


@pytest.fixture
def pg_client(tmp_path: Path, postgres_engine: Engine) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path), engine=postgres_engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    empty_all_tables(postgres_engine)


def _count(client: TestClient, model: type[Agent] | type[Invitation]) -> int:
    with unit_of_work(app_sessions(client)) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_nul_byte_in_a_form_is_a_clear_refusal(pg_client: TestClient, postgres_engine: Engine) -> None:
    refused_setup = pg_client.post(
        f"/setup/{issue_token(postgres_engine)}", data=setup_form(workspace_name="Acme\x00"), headers=HTML
    )
    assert 400 <= refused_setup.status_code < 500
    signed_in_owner(pg_client, postgres_engine)
    csrf = csrf_from(pg_client.get("/account/security", headers=HTML).text)
    agent = pg_client.post("/agents", data={"name": "bot\x00", "csrf_token": csrf}, headers=HTML)
    assert agent.status_code == 422
    invite = pg_client.post(
        "/team/invitations",
        data={"email": "a\x00b@example.com", "role": "support", "csrf_token": csrf},
        headers=HTML,
    )
    assert invite.status_code == 422
    assert _count(pg_client, Agent) == 0
    assert _count(pg_client, Invitation) == 0
    pg_client.cookies.clear()
    login = pg_client.post("/login", data={"email": "ada@example.com\x00", "password": "whatever whatever"})
    assert login.status_code == 401


def test_a_cursor_past_the_database_range_is_refused(pg_client: TestClient, postgres_engine: Engine) -> None:
    signed_in_owner(pg_client, postgres_engine)
    key = make_key(pg_client, principal_of(pg_client), [Permission.AUDIT_READ])
    response = pg_client.get(
        "/api/v1/audit/events", params={"before_seq": str(2**70)}, headers=bearer(key.token)
    )
    assert response.status_code == 422
