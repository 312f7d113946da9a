"""No network call inside a database transaction: the client refuses while a unit of work is open."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine, text

from hushdesk.infra.db.uow import TransactionOpenError, make_sessionmaker, unit_of_work
from hushdesk.infra.http import OutboundPolicy, build_async_http_client, build_http_client
from tests.infra.outbound_servers import FakeResolver, RecordingHandler, run_async


def test_a_call_inside_a_unit_of_work_fails_and_succeeds_after_it(sqlite_engine: Engine) -> None:
    handler = RecordingHandler()
    with build_http_client(OutboundPolicy(), version="t", transport=httpx.MockTransport(handler)) as client:
        with unit_of_work(make_sessionmaker(sqlite_engine)) as session:
            session.execute(text("SELECT 1"))
            with pytest.raises(TransactionOpenError, match=r"'api\.example\.com'"):
                client.get("https://api.example.com/v1/chat")
        assert handler.requests == []
        assert client.get("https://api.example.com/v1/chat").status_code == 200
    assert len(handler.requests) == 1


def test_the_transaction_guard_comes_before_any_name_resolution(sqlite_engine: Engine) -> None:
    resolver = FakeResolver({"api.example.com": ["93.184.216.34"]})
    with (
        build_http_client(OutboundPolicy(), version="t", resolver=resolver) as client,
        unit_of_work(make_sessionmaker(sqlite_engine)) as session,
    ):
        session.execute(text("SELECT 1"))
        with pytest.raises(TransactionOpenError):
            client.get("https://api.example.com/")
    assert resolver.calls == []


def test_every_redirect_hop_is_guarded(sqlite_engine: Engine) -> None:
    sessions = make_sessionmaker(sqlite_engine)
    hops: list[str] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        hops.append(request.url.path)
        return httpx.Response(302, headers={"Location": "/second"})

    # The first hop goes out with no transaction open; the hop it redirects to is sent while
    # one is open and must be refused like any first request.
    with build_http_client(OutboundPolicy(), version="t", transport=httpx.MockTransport(redirect)) as client:
        request = client.build_request("GET", "https://api.example.com/first")
        response = client.send(request, follow_redirects=False)
        with unit_of_work(sessions) as session:
            session.execute(text("SELECT 1"))
            with pytest.raises(TransactionOpenError):
                client.send(response.next_request)  # type: ignore[arg-type]
    assert hops == ["/first"]


def test_the_async_client_refuses_inside_a_unit_of_work(sqlite_engine: Engine) -> None:
    handler = RecordingHandler()

    async def call() -> int:
        async with build_async_http_client(
            OutboundPolicy(), version="t", transport=httpx.MockTransport(handler)
        ) as client:
            return (await client.get("https://api.example.com/")).status_code

    with unit_of_work(make_sessionmaker(sqlite_engine)) as session:
        session.execute(text("SELECT 1"))
        with pytest.raises(TransactionOpenError):
            run_async(call)
    assert handler.requests == []
    assert run_async(call) == 200
