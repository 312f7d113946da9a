"""Liveness and readiness probes (public, no data)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from hushdesk.web.authz import PUBLIC

log = logging.getLogger(__name__)
router = APIRouter()

ReadinessCheck = Callable[[], None]


@router.get("/healthz", include_in_schema=False, dependencies=[PUBLIC])
async def healthz() -> dict[str, str]:
    """The process is up and serving. Touches nothing else."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False, dependencies=[PUBLIC])
async def readyz(request: Request) -> JSONResponse:
    """Every dependency answers: the database and the job queue. 503 names the failing ones,
    never why (the log has that)."""
    checks: dict[str, ReadinessCheck] = request.app.state.readiness_checks
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await run_in_threadpool(check)
        except Exception:
            log.warning("readiness check failed", extra={"check": name}, exc_info=True)
            results[name] = "unavailable"
        else:
            results[name] = "ok"
    ready = all(value == "ok" for value in results.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": results}, status_code=200 if ready else 503
    )
