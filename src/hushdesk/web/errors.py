"""Rendering errors as JSON or HTML (by the Accept header), and the app's exception handlers.

No exception text, stack trace or internal detail reaches a client: only an error's code and
public message, plus the correlation id (the request id) for unexpected errors.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Scope

from hushdesk.infra.errors import (
    BadRequest,
    HushdeskError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)

log = logging.getLogger(__name__)

_STATUS_ERRORS: dict[int, type[HushdeskError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"accept":
            accept = value.decode("latin-1").lower()
            return "text/html" in accept and accept.find("text/html") < _pos(accept, "application/json")
    return False


def _pos(accept: str, media: str) -> int:
    index = accept.find(media)
    return len(accept) + 1 if index < 0 else index


class ErrorRenderer:
    def __init__(self, templates: Jinja2Templates) -> None:
        self._templates = templates

    def render(self, scope: Scope, error: HushdeskError, *, correlation_id: str | None = None) -> Response:
        headers = {"Cache-Control": "no-store"}
        if wants_html(scope):
            return self._templates.TemplateResponse(
                Request(scope),
                "error.html",
                {"error": error, "status": error.status, "correlation_id": correlation_id},
                status_code=error.status,
                headers=headers,
            )
        body: dict[str, Any] = {"code": error.code, "message": error.public_message}
        if error.data:
            body["details"] = error.data
        if correlation_id:
            body["correlation_id"] = correlation_id
        return JSONResponse({"error": body}, status_code=error.status, headers=headers)


def install_error_handlers(app: FastAPI, renderer: ErrorRenderer) -> None:
    async def on_hushdesk_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HushdeskError)
        if exc.browser_location is not None and wants_html(request.scope):
            return RedirectResponse(exc.browser_location, status_code=303)
        response = renderer.render(request.scope, exc)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, Unauthenticated) and request.url.path.startswith("/api/"):
            response.headers["WWW-Authenticate"] = 'Bearer realm="hushdesk"'
        return response

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        fallback = BadRequest if exc.status_code < 500 else InternalError
        error = _STATUS_ERRORS.get(exc.status_code, fallback)()
        response = renderer.render(request.scope, error)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [_describe(problem) for problem in exc.errors()]
        if any(problem["type"] == "json_invalid" for problem in problems):
            return renderer.render(request.scope, BadRequest("The request body is not valid JSON."))
        return renderer.render(request.scope, ValidationFailed(fields=problems))

    async def on_data_error(request: Request, exc: Exception) -> Response:
        # The database refused a value a client sent (PostgreSQL refuses NUL in text, an
        # out-of-range number). The services check what they can first; this is the backstop
        # that keeps it a 4xx. The transaction has been rolled back: nothing changed.
        log.warning("database refused a value", extra={"error": type(exc).__name__})
        return renderer.render(request.scope, ValidationFailed("Some of what was sent cannot be stored."))

    app.add_exception_handler(HushdeskError, on_hushdesk_error)
    app.add_exception_handler(DataError, on_data_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def _describe(problem: Any) -> dict[str, str]:
    # The offending input is deliberately left out: it may be a password or a token.
    location = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
    return {"field": location, "type": str(problem.get("type", "")), "message": str(problem.get("msg", ""))}
