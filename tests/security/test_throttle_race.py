"""Concurrent guesses of a second factor are counted one after another: once an account is
being slowed down, a burst of parallel attempts gets one code checked, not one per database
connection (PostgreSQL, where requests really run side by side)."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from hushdesk.app import create_app
from hushdesk.identity.models import LoginThrottle, User
from hushdesk.identity.throttle import SECOND_FACTOR, _digest
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from tests.conftest import empty_all_tables, make_settings
from tests.web.helpers import OWNER_EMAIL, OWNER_PASSWORD, app_sessions, csrf_from, signed_in_owner

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_client(tmp_path: Path, postgres_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), engine=postgres_engine)) as client:
        yield client
    empty_all_tables(postgres_engine)


def test_parallel_second_factor_guesses_are_checked_one_at_a_time(
    pg_client: TestClient, postgres_engine: Engine
) -> None:
    signed_in_owner(pg_client, postgres_engine)
    pg_client.cookies.clear()
    login = pg_client.post(
        "/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD}, follow_redirects=False
    )
    assert login.headers["location"] == "/login/verify"
    csrf = csrf_from(pg_client.get("/login/verify", headers={"accept": "text/html"}).text)
    with unit_of_work(app_sessions(pg_client)) as session:
        user_id = session.scalars(select(User.id).where(User.email == OWNER_EMAIL)).one()
        # Ten failures so far, the last one long enough ago that exactly one attempt may go.
        session.add(
            LoginThrottle(
                key=_digest(SECOND_FACTOR.scope, str(user_id)),
                failures=10,
                last_failure_at=utcnow() - dt.timedelta(minutes=20),
            )
        )

    def attempt(guess: int) -> int:
        response = pg_client.post(
            "/login/verify",
            data={"csrf_token": csrf, "code": f"{guess:06d}", "method": "totp"},
            headers={"accept": "text/html"},
        )
        return int(response.status_code)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(attempt, range(100000, 100008)))
    assert statuses == [401] + [429] * 7
