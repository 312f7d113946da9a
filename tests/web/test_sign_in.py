"""Sign-in, sign-out and the dashboard's access rule."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.web.helpers import OWNER_PASSWORD, complete_setup


def _csrf(page_html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page_html)
    assert match is not None
    return match.group(1)


def test_dashboard_without_session_redirects_browsers_and_refuses_api_clients(client: TestClient) -> None:
    page = client.get("/dashboard", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login"
    api = client.get("/dashboard", headers={"accept": "application/json"})
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "unauthenticated"


def test_sign_out_needs_the_csrf_token_and_ends_the_session(
    client: TestClient, sqlite_engine: Engine
) -> None:
    complete_setup(client, sqlite_engine)
    page = client.get("/dashboard", headers={"accept": "text/html"})
    refused = client.post("/logout", data={"csrf_token": "0" * 64}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/dashboard", headers={"accept": "text/html"}).status_code == 200
    secret = client.cookies["hushdesk_session"]
    done = client.post("/logout", data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert done.status_code == 303
    client.cookies.set("hushdesk_session", secret)
    replay = client.get("/dashboard", headers={"accept": "text/html"}, follow_redirects=False)
    assert replay.status_code == 303


def test_sign_in_with_the_right_password(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    client.cookies.clear()
    response = client.post(
        "/login", data={"email": " ADA@example.com", "password": OWNER_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get("/dashboard", headers={"accept": "text/html"}).status_code == 200


def test_unknown_account_and_wrong_password_look_the_same(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    client.cookies.clear()
    wrong = client.post("/login", data={"email": "ada@example.com", "password": "wrong password!!"})
    unknown = client.post("/login", data={"email": "nobody@example.com", "password": "wrong password!!"})
    assert wrong.status_code == unknown.status_code == 401
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", wrong.text) == strip.sub("", unknown.text)
    assert "set-cookie" not in wrong.headers


def test_page_views_read_while_a_writer_holds_the_database(client: TestClient, sqlite_engine: Engine) -> None:
    from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
    from hushdesk.workspaces.models import Region
    from hushdesk.workspaces.service import do_create_workspace

    complete_setup(client, sqlite_engine)
    with unit_of_work(make_sessionmaker(sqlite_engine)) as writer:
        do_create_workspace(writer, name="Busy", region=Region.EU)
        page = client.get("/dashboard", headers={"accept": "text/html"})
    assert page.status_code == 200


def test_a_page_view_resets_the_idle_clock_once_due(client: TestClient, sqlite_engine: Engine) -> None:
    import datetime as dt

    from sqlalchemy import select, update

    from hushdesk.identity.models import WebSession
    from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work

    complete_setup(client, sqlite_engine)
    sessions = make_sessionmaker(sqlite_engine)
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    with unit_of_work(sessions) as session:
        session.execute(update(WebSession).values(last_seen_at=earlier))
    assert client.get("/dashboard", headers={"accept": "text/html"}).status_code == 200
    with unit_of_work(sessions) as session:
        seen = session.scalars(select(WebSession.last_seen_at)).one()
    assert seen > earlier + dt.timedelta(minutes=19)


def test_an_idle_session_has_ended(client: TestClient, sqlite_engine: Engine) -> None:
    import datetime as dt

    from sqlalchemy import update

    from hushdesk.identity.models import WebSession
    from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work

    complete_setup(client, sqlite_engine)
    with unit_of_work(make_sessionmaker(sqlite_engine)) as session:
        session.execute(
            update(WebSession).values(last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31))
        )
    page = client.get("/dashboard", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303


def test_a_session_id_planted_before_sign_in_never_becomes_a_signed_in_one(
    client: TestClient, sqlite_engine: Engine
) -> None:
    complete_setup(client, sqlite_engine)
    planted = client.cookies["hushdesk_session"]  # an attacker's copy of a session id
    response = client.post(
        "/login", data={"email": "ada@example.com", "password": OWNER_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303
    fresh = client.cookies["hushdesk_session"]
    assert fresh != planted
    client.cookies.set("hushdesk_session", planted)
    assert (
        client.get("/dashboard", headers={"accept": "text/html"}, follow_redirects=False).status_code == 303
    )


def test_sign_out_everywhere_ends_every_session_of_the_account(
    client: TestClient, sqlite_engine: Engine
) -> None:
    complete_setup(client, sqlite_engine)
    first = client.cookies["hushdesk_session"]
    with TestClient(client.app) as other_device:
        other_device.post("/login", data={"email": "ada@example.com", "password": OWNER_PASSWORD})
        second = other_device.cookies["hushdesk_session"]
    page = client.get("/dashboard", headers={"accept": "text/html"})
    refused = client.post("/logout/everywhere", data={"csrf_token": "f" * 64}, follow_redirects=False)
    assert refused.status_code == 403
    done = client.post("/logout/everywhere", data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert done.status_code == 303
    for secret in (first, second):
        client.cookies.set("hushdesk_session", secret)
        assert (
            client.get("/dashboard", headers={"accept": "text/html"}, follow_redirects=False).status_code
            == 303
        )
