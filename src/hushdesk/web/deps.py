"""FastAPI dependencies shared by the pages: the request's unit of work and its principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.identity.sessions import SignedIn, access_session, do_touch_session
from hushdesk.infra.db.uow import bind_session, release_session, unit_of_work
from hushdesk.infra.errors import Unauthenticated
from hushdesk.settings import Settings
from hushdesk.web.db_gate import database_gate

SESSION_COOKIE = "hushdesk_session"
SECURE_SESSION_COOKIE = "__Host-hushdesk_session"


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _db_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed after the route returns and before the response
    is sent (``scope="function"``), rolled back if the route raises. Blocking database calls
    run in the thread pool, never on the event loop.

    Safe methods (GET, HEAD, OPTIONS) get a read-only transaction: concurrent page views share
    SQLite in WAL mode instead of queueing for its write lock, and on PostgreSQL a page view
    that tried to write would fail loudly."""
    read_only = request.method in SAFE_METHODS
    sessions: sessionmaker[Session] = (
        request.app.state.read_sessions if read_only else request.app.state.sessions
    )
    # Admitted first, so that a burst waits here rather than in the thread pool (see db_gate).
    async with database_gate(request).held():
        session = sessions()
        token = bind_session(session)
        try:
            yield session
            await run_in_threadpool(session.commit)
        except BaseException:
            await run_in_threadpool(session.rollback)
            raise
        finally:
            release_session(token)
            await run_in_threadpool(session.close)


def end_request_transaction(db: Session) -> None:
    """Commit the request's transaction early, so that what the route does next (a model call,
    parsing uploaded files) holds no lock and no transaction. Until then the route has read
    (and the sign-in check has written at most the session's idle clock). The session begins
    a new transaction if the route uses it again, which the dependency commits as usual."""
    db.commit()


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


DbSession = Annotated[Session, Depends(_db_session, scope="function")]
AppSettings = Annotated[Settings, Depends(_settings)]
Templates = Annotated[Jinja2Templates, Depends(_templates)]


def session_cookie_name(request: Request) -> str:
    return SECURE_SESSION_COOKIE if request.url.scheme == "https" else SESSION_COOKIE


def session_secret(request: Request) -> str | None:
    return request.cookies.get(session_cookie_name(request))


def _optional_user(request: Request, db: DbSession) -> SignedIn | None:
    secret = session_secret(request)
    user = access_session(db, secret) if secret else None
    if user is not None and user.needs_touch:
        if request.method in SAFE_METHODS:
            # The idle clock is reset in its own short write transaction, at most once a minute
            # per session, so that page views stay read-only.
            with unit_of_work(request.app.state.sessions) as writer:
                do_touch_session(writer, session_id=user.session_id)
        else:
            # A writing request already holds the write lock (SQLite takes it at BEGIN
            # IMMEDIATE): a second writer would wait on it. Reset the clock in the request's own
            # transaction.
            do_touch_session(db, session_id=user.session_id)
    return user


async def _current_user(user: Annotated[SignedIn | None, Depends(_optional_user)]) -> SignedIn:
    if user is None:
        raise Unauthenticated()
    return user


OptionalUser = Annotated[SignedIn | None, Depends(_optional_user)]
CurrentUser = Annotated[SignedIn, Depends(_current_user)]
