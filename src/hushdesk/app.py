"""The application factory. Nothing runs at import time: ``create_app(settings)`` builds the
engine, the templates, the middleware and the routes, and the lifespan starts and stops what
needs starting (the in-process job runner on the embedded default)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from hushdesk import __version__
from hushdesk.agents.runtime import AssistantServices
from hushdesk.api import v1 as api_v1
from hushdesk.bootstrap import assistant_services, build_keyring, encrypted_sessions
from hushdesk.crypto.keyring import Keyring
from hushdesk.infra.db.engine import create_db_engine, read_only
from hushdesk.infra.events import build_event_bus
from hushdesk.infra.jobs.runner import EmbeddedWorker
from hushdesk.infra.ratelimit import RateLimiter
from hushdesk.settings import Settings
from hushdesk.tasks import build_job_queue
from hushdesk.web import (
    account_pages,
    agent_pages,
    api_key_pages,
    audit_pages,
    auth_pages,
    dashboard,
    health,
    inbox_pages,
    link_pages,
    mfa_pages,
    passkey_pages,
    preview_pages,
    provider_pages,
    redaction_pages,
    setup_pages,
    team_pages,
    widget_api,
    widget_frame,
    widget_stream,
)
from hushdesk.web.db_gate import DatabaseGate
from hushdesk.web.errors import ErrorRenderer, install_error_handlers
from hushdesk.web.guards import BodySizeLimitMiddleware, TrustedHostMiddleware
from hushdesk.web.knowledge_pages import UPLOAD_PATHS
from hushdesk.web.request_context import RequestContextMiddleware
from hushdesk.web.security_headers import SecurityHeadersMiddleware
from hushdesk.web.unexpected import UnexpectedErrorMiddleware
from hushdesk.web.widget_api import ATTACHMENT_BODY_BYTES, ATTACHMENT_PATHS


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    keyring: Keyring | None = None,
    assistant: AssistantServices | None = None,
) -> FastAPI:
    """Build the web application for ``settings``. ``engine``, ``keyring`` and the assistant's
    services may be passed in by callers that already own them (tests, the CLI, benchmarks);
    otherwise they are made from the settings (the local master key file is created in the
    keys folder at first run)."""
    engine = engine or create_db_engine(settings.resolved_database_url)
    keyring = keyring or build_keyring(settings)
    web_root = files("hushdesk.web")
    templates = Jinja2Templates(directory=str(web_root / "templates"))
    renderer = ErrorRenderer(templates)
    sessions = encrypted_sessions(engine, keyring)
    assistant = assistant or assistant_services(settings)
    events = build_event_bus(settings.event_bus_url.get_secret_value())
    jobs = build_job_queue(settings, engine=engine, sessions=sessions, assistant=assistant, events=events)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner = EmbeddedWorker(jobs, workers=settings.job_workers) if settings.run_jobs_in_process else None
        if runner is not None:
            await run_in_threadpool(runner.start)
        try:
            yield
        finally:
            if runner is not None:
                await run_in_threadpool(runner.stop)
            events.close()
            keyring.contact_keys.dispose()

    app = FastAPI(
        title="Hushdesk",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        middleware=_middleware(settings, renderer),
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.keyring = keyring
    app.state.sessions = sessions
    app.state.read_sessions = encrypted_sessions(read_only(engine), keyring)
    app.state.templates = templates
    app.state.jobs = jobs
    app.state.assistant = assistant
    app.state.events = events
    app.state.db_gate = DatabaseGate(settings.max_concurrent_db_requests)
    app.state.rate_limiter = RateLimiter.from_url(settings.rate_limit_storage_url.get_secret_value())
    app.state.readiness_checks = {"database": lambda: _ping_database(engine), "jobs": jobs.ping}

    install_error_handlers(app, renderer)
    app.mount("/static", StaticFiles(directory=str(web_root / "static")), name="static")
    for module in (
        health,
        setup_pages,
        auth_pages,
        mfa_pages,
        passkey_pages,
        account_pages,
        dashboard,
        team_pages,
        link_pages,
        agent_pages,
        inbox_pages,
        provider_pages,
        preview_pages,
        api_key_pages,
        redaction_pages,
        audit_pages,
        widget_frame,
        widget_api,
        widget_stream,
        api_v1,
    ):
        app.include_router(module.router)
    return app


def _middleware(settings: Settings, renderer: ErrorRenderer) -> list[Middleware]:
    """Outermost first. Proxy headers are read only from the configured proxies, before
    anything looks at the client address or scheme."""
    stack = []
    if settings.trusted_proxies:
        stack.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies)))
    stack += [
        Middleware(RequestContextMiddleware, trust_incoming_id=bool(settings.trusted_proxies)),
        Middleware(SecurityHeadersMiddleware),
        Middleware(TrustedHostMiddleware, allowed_hosts=settings.effective_allowed_hosts, renderer=renderer),
        Middleware(
            BodySizeLimitMiddleware,
            max_bytes=settings.max_body_bytes,
            upload_max_bytes=settings.max_upload_body_bytes,
            upload_paths=UPLOAD_PATHS,
            path_limits=tuple((path, ATTACHMENT_BODY_BYTES) for path in ATTACHMENT_PATHS),
            renderer=renderer,
        ),
        Middleware(UnexpectedErrorMiddleware, renderer=renderer),
    ]
    return stack


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
