"""The unit of work: one transaction per request or job.

``unit_of_work(sessions)`` opens a session, yields it, commits when the block ends without an
exception and rolls back otherwise. Services receive the session and ``flush()``; they never
commit. While a unit of work is open on this context, ``transaction_open()`` is true, and the
outbound HTTP client refuses to make calls: a network call inside a transaction holds locks
and a connection for as long as a third party takes to answer, and couples a rollback to a
side effect that cannot be rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

_open_sessions: ContextVar[tuple[Session, ...]] = ContextVar("hushdesk_open_sessions", default=())


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Run the block in one transaction; commit on success, roll back on any exception."""
    session = sessions()
    token = bind_session(session)
    try:
        with session.begin():
            yield session
    finally:
        release_session(token)
        session.close()


def bind_session(session: Session) -> Token[tuple[Session, ...]]:
    """Mark ``session`` as this context's unit of work (for request dependencies that manage
    the transaction themselves); undo with ``release_session``."""
    return _open_sessions.set((*_open_sessions.get(), session))


def release_session(token: Token[tuple[Session, ...]]) -> None:
    _open_sessions.reset(token)


def transaction_open() -> bool:
    """Whether a unit of work is open in the current context (thread or task)."""
    return any(session.in_transaction() for session in _open_sessions.get())


class TransactionOpenError(RuntimeError):
    """Raised when code tries to call out over the network inside a unit of work."""
