"""Sign-in throttling: growing delays per (account, address), never a lockout of the account."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from hushdesk.identity.models import LoginThrottle
from hushdesk.identity.throttle import ACCOUNT_AT_ADDRESS, ADDRESS, delay_for
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from tests.web.helpers import OWNER_PASSWORD, complete_setup


def _fail(client: TestClient, times: int) -> list[int]:
    return [
        client.post("/login", data={"email": "ada@example.com", "password": "wrong password!!"}).status_code
        for _ in range(times)
    ]


def test_delays_grow_after_the_free_failures_and_are_capped() -> None:
    assert [delay_for(ACCOUNT_AT_ADDRESS, n).total_seconds() for n in range(1, 7)] == [0, 0, 1, 2, 4, 8]
    assert delay_for(ACCOUNT_AT_ADDRESS, 60) == ACCOUNT_AT_ADDRESS.max_delay
    assert delay_for(ADDRESS, 29) == dt.timedelta(0)


def test_repeated_failures_are_slowed_with_retry_after(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    client.cookies.clear()
    statuses = _fail(client, 5)
    assert statuses[:3] == [401, 401, 401]
    assert 429 in statuses[3:]
    throttled = client.post("/login", data={"email": "ada@example.com", "password": OWNER_PASSWORD})
    assert throttled.status_code == 429  # even the right password waits: no oracle while throttled
    assert int(throttled.headers["retry-after"]) >= 1
    assert "Too many attempts" in throttled.text


def test_the_wait_ends_and_success_clears_the_record(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    client.cookies.clear()
    _fail(client, 5)
    with unit_of_work(make_sessionmaker(sqlite_engine)) as session:
        earlier = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
        session.execute(update(LoginThrottle).values(last_failure_at=earlier))
    ok = client.post(
        "/login", data={"email": "ada@example.com", "password": OWNER_PASSWORD}, follow_redirects=False
    )
    assert ok.status_code == 303
    client.cookies.clear()
    assert _fail(client, 1) == [401]  # the (account, address) count started again


def test_an_attacker_elsewhere_cannot_lock_the_owner_out(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    with TestClient(client.app, client=("198.51.100.7", 40000)) as attacker:
        assert 429 in _fail(attacker, 6)
    client.cookies.clear()
    ok = client.post(
        "/login", data={"email": "ada@example.com", "password": OWNER_PASSWORD}, follow_redirects=False
    )
    assert ok.status_code == 303


def test_the_table_holds_no_email_or_address(client: TestClient, sqlite_engine: Engine) -> None:
    complete_setup(client, sqlite_engine)
    client.cookies.clear()
    _fail(client, 2)
    with unit_of_work(make_sessionmaker(sqlite_engine)) as session:
        keys = [row.key for row in session.query(LoginThrottle)]
    assert len(keys) == 2
    assert all(len(key) == 64 and "ada" not in key for key in keys)
