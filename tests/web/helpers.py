"""Helpers for driving the first-run flow through the app."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.datastructures import URL

from hushdesk.identity.setup import issue_setup_link_token
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work

OWNER_PASSWORD = "correct horse battery staple"


def issue_token(engine: Engine, ttl: dt.timedelta = dt.timedelta(minutes=60)) -> str:
    with unit_of_work(make_sessionmaker(engine)) as session:
        return issue_setup_link_token(session, ttl=ttl)


def setup_form(**overrides: str) -> dict[str, str]:
    form = {
        "workspace_name": "Acme Support",
        "region": "eu",
        "owner_name": "Ada Owner",
        "owner_email": "Ada@Example.com ",
        "password": OWNER_PASSWORD,
        "password_confirm": OWNER_PASSWORD,
    }
    form.update(overrides)
    return form


def complete_setup(client: TestClient, engine: Engine) -> None:
    token = issue_token(engine)
    response = client.post(f"/setup/{token}", data=setup_form(), follow_redirects=False)
    assert response.status_code == 303
    assert URL(response.headers["location"]).path == "/dashboard"
