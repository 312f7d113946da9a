"""The error hierarchy every layer raises and the web layer renders.

Each error has a machine-readable ``code``, an HTTP ``status`` and a ``public_message`` that is
safe to show to whoever sent the request. Nothing else about an error (its cause, a stack
trace, a query) ever reaches a client; unexpected errors become a 500 with a correlation id
that the log line also carries.
"""

from __future__ import annotations

from typing import Any, ClassVar


class HushdeskError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request could not be processed."
    # Where a browser is sent instead of seeing the error page (a same-site path), if anywhere.
    browser_location: str | None = None

    def __init__(self, public_message: str | None = None, **data: Any) -> None:
        self.public_message = public_message or self.default_message
        self.data = data
        super().__init__(self.public_message)


class BadRequest(HushdeskError):
    code = "bad_request"
    status = 400
    default_message = "The request is malformed."


class ValidationFailed(HushdeskError):
    code = "validation_failed"
    status = 422
    default_message = "Some fields are missing or invalid."


class Unauthenticated(HushdeskError):
    code = "unauthenticated"
    status = 401
    default_message = "Sign in to continue."
    browser_location = "/login"


class PermissionDenied(HushdeskError):
    code = "permission_denied"
    status = 403
    default_message = "You do not have permission to do that."


class NotFound(HushdeskError):
    """Also what "exists but is not yours" looks like from outside."""

    code = "not_found"
    status = 404
    default_message = "Not found."


class MethodNotAllowed(HushdeskError):
    code = "method_not_allowed"
    status = 405
    default_message = "That method is not allowed here."


class Conflict(HushdeskError):
    code = "conflict"
    status = 409
    default_message = "The request conflicts with the current state."


class Gone(HushdeskError):
    code = "gone"
    status = 410
    default_message = "This link is no longer valid."


class PayloadTooLarge(HushdeskError):
    code = "payload_too_large"
    status = 413
    default_message = "The request body is too large."


class UnsupportedMediaType(HushdeskError):
    code = "unsupported_media_type"
    status = 415
    default_message = "That content type is not accepted here."


class InvalidHost(HushdeskError):
    code = "invalid_host"
    status = 400
    default_message = "Unknown host."


class RateLimited(HushdeskError):
    code = "rate_limited"
    status = 429
    default_message = "Too many requests; try again later."

    def __init__(self, public_message: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(public_message)
        # Seconds until a retry may succeed; sent as the Retry-After header.
        self.retry_after = retry_after


class ServiceUnavailable(HushdeskError):
    code = "unavailable"
    status = 503
    default_message = "The service is not ready."


class InternalError(HushdeskError):
    code = "internal_error"
    status = 500
    default_message = "Something went wrong on our side. Quote the correlation id if you contact support."
