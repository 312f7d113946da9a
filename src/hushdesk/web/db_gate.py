"""How many requests hold a database session at once.

Each request's session lives across several thread-pool calls: the route, then the commit,
then the close. Without a bound, a burst of requests can take every thread of the pool while
they wait for SQLite's write lock or for a pooled connection, and the request that holds the
lock (or the connection) cannot get a thread to commit: everything waits for the timeouts.
The gate admits at most ``capacity`` requests at a time (``HUSHDESK_MAX_CONCURRENT_DB_REQUESTS``);
the others wait on the event loop, holding no thread and no connection. The capacity stays
well under the thread pool (40) and under half the connection pool (20), since a request may
open a second short session of its own (an audited read, a count).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

import anyio
from fastapi import Request
from fastapi.concurrency import run_in_threadpool

P = ParamSpec("P")
T = TypeVar("T")


class DatabaseGate:
    def __init__(self, capacity: int) -> None:
        self._limiter = anyio.CapacityLimiter(capacity)

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Wait for a place, and keep it for the block."""
        async with self._limiter:
            yield

    async def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``func`` (which opens and ends its own session) in the thread pool, once admitted."""
        async with self._limiter:
            return await run_in_threadpool(func, *args, **kwargs)


def database_gate(request: Request) -> DatabaseGate:
    gate: DatabaseGate = request.app.state.db_gate
    return gate
