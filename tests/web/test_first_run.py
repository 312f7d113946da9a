"""First-run setup: one-time link, workspace and owner, then the dashboard."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from hushdesk.identity.models import Membership, SetupToken, User, WebSession
from hushdesk.identity.passwords import verify_password
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.workspaces.models import Workspace
from tests.web.helpers import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    complete_setup,
    enrol_totp_directly,
    issue_token,
    setup_form,
)


def _count(engine: Engine, model: type) -> int:
    with unit_of_work(make_sessionmaker(engine)) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_setup_link_page_shows_the_form(client: TestClient, sqlite_engine: Engine) -> None:
    response = client.get(f"/setup/{issue_token(sqlite_engine)}", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert 'name="workspace_name"' in response.text
    assert "<script" not in response.text


def test_setup_creates_workspace_owner_and_signs_in(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    # The owner must set up a second factor before anything else.
    first = client.get("/dashboard", headers={"accept": "text/html"}, follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/account/security"
    enrol_totp_directly(client, email=OWNER_EMAIL)
    page = client.get("/dashboard", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "Acme Support" in page.text
    with unit_of_work(make_sessionmaker(sqlite_engine)) as session:
        user = session.scalars(select(User)).one()
        membership = session.scalars(select(Membership)).one()
        assert user.email == "ada@example.com"
        assert user.password_hash.startswith("$argon2id$")
        assert verify_password(user.password_hash, OWNER_PASSWORD)
        assert membership.role == "owner"
        assert session.scalars(select(SetupToken)).one().used_at is not None


def test_setup_link_works_once(client: TestClient, sqlite_engine: Engine) -> None:
    token = issue_token(sqlite_engine)
    assert client.post(f"/setup/{token}", data=setup_form(), follow_redirects=False).status_code == 303
    again = client.post(f"/setup/{token}", data=setup_form(workspace_name="Second"), follow_redirects=False)
    assert again.status_code == 410
    assert _count(sqlite_engine, Workspace) == 1
    assert client.get(f"/setup/{token}").status_code == 410


def test_no_new_setup_link_once_an_owner_exists(client: TestClient, sqlite_engine: Engine) -> None:
    from hushdesk.identity.setup import SetupAlreadyCompleteError

    complete_setup(client, sqlite_engine)
    with pytest.raises(SetupAlreadyCompleteError):
        issue_token(sqlite_engine)


def test_expired_link_is_refused(client: TestClient, sqlite_engine: Engine) -> None:
    token = issue_token(sqlite_engine, ttl=dt.timedelta(seconds=-1))
    assert client.get(f"/setup/{token}").status_code == 410
    assert client.post(f"/setup/{token}", data=setup_form()).status_code == 410
    assert _count(sqlite_engine, Workspace) == 0


def test_a_new_link_revokes_the_old_one(client: TestClient, sqlite_engine: Engine) -> None:
    old = issue_token(sqlite_engine)
    new = issue_token(sqlite_engine)
    assert client.get(f"/setup/{old}").status_code == 410
    assert client.get(f"/setup/{new}").status_code == 200


def test_unknown_link_is_refused(client: TestClient, sqlite_engine: Engine) -> None:
    issue_token(sqlite_engine)
    assert client.get("/setup/not-a-real-token").status_code == 410


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"password": "short", "password_confirm": "short"}, 422),
        ({"password": "password1234", "password_confirm": "password1234"}, 422),
        ({"password_confirm": "something else entirely"}, 422),
        ({"region": "mars"}, 422),
        ({"owner_email": "not-an-email"}, 422),
        ({"workspace_name": ""}, 422),
    ],
)
def test_bad_setup_input_changes_nothing(
    client: TestClient, sqlite_engine: Engine, overrides: dict[str, str], status: int
) -> None:
    token = issue_token(sqlite_engine)
    response = client.post(f"/setup/{token}", data=setup_form(**overrides), follow_redirects=False)
    assert response.status_code == status
    assert _count(sqlite_engine, Workspace) == 0
    assert _count(sqlite_engine, User) == 0
    # The link still works after a refused attempt.
    assert client.get(f"/setup/{token}").status_code == 200


def test_cross_site_setup_post_is_refused(client: TestClient, sqlite_engine: Engine) -> None:
    token = issue_token(sqlite_engine)
    response = client.post(
        f"/setup/{token}",
        data=setup_form(),
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert _count(sqlite_engine, Workspace) == 0


def test_session_cookie_flags(client: TestClient, sqlite_engine: Engine) -> None:
    token = issue_token(sqlite_engine)
    response = client.post(f"/setup/{token}", data=setup_form(), follow_redirects=False)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    with unit_of_work(make_sessionmaker(sqlite_engine)) as session:
        stored = session.scalars(select(WebSession)).one()
    secret = response.cookies["hushdesk_session"]
    assert stored.token_hash != secret
    assert secret not in stored.token_hash
