"""Translate what the SDKs and the outbound client raise into ``ProviderError``s.

Each adapter wraps its SDK calls and raises ``map_openai_error(exc) from exc`` or
``map_anthropic_error(exc) from exc``. The messages built here name the provider, the HTTP
status and the provider's own error code or type (a short token, checked against a safe
charset); they never quote the SDK's message, the response body, the request or a credential,
because SDK messages embed the body and a body may echo the prompt or part of a key.

A refusal by the SSRF guard (``OutboundBlockedError``) may arrive bare (the OpenAI SDK lets
errors it does not know through) or wrapped in the SDK's connection error (the Anthropic SDK
wraps everything); both become a non-retryable ``ProviderRequestRejected``. A
``TransactionOpenError`` anywhere in the chain is re-raised as it is: calling a provider
inside a database unit of work is a bug in the caller, not a provider failure to retry.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Mapping
from email.utils import parsedate_to_datetime

import anthropic
import httpx
import httpx2
import openai

from hushdesk.agents.providers.errors import (
    ProviderAuthFailed,
    ProviderContentFiltered,
    ProviderError,
    ProviderRateLimited,
    ProviderRequestRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from hushdesk.infra.db.uow import TransactionOpenError
from hushdesk.infra.http.errors import OutboundBlockedError, OutboundError

# What an adapter catches around its SDK calls and hands to the mapping below. Raw httpx and
# httpx2 errors are included because a stream that breaks mid-way may surface them unwrapped.
OPENAI_FAILURES: tuple[type[Exception], ...] = (
    openai.OpenAIError,
    OutboundError,
    httpx.TransportError,
    httpx2.TransportError,
)
ANTHROPIC_FAILURES: tuple[type[Exception], ...] = (
    anthropic.AnthropicError,
    OutboundError,
    httpx.TransportError,
    httpx2.TransportError,
)

_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_TIMEOUTS = (httpx.TimeoutException, httpx2.TimeoutException)
_TRANSPORT_ERRORS = (httpx.TransportError, httpx2.TransportError)


def map_openai_error(exc: BaseException, *, provider: str) -> ProviderError:
    """The ``ProviderError`` for an error raised by the OpenAI SDK (OpenAI, Azure OpenAI or an
    OpenAI-compatible server), or by the outbound client under it. ``provider`` names it in
    the message. Raises ``TransactionOpenError`` when that is in the chain."""
    _reraise_programming_error(exc)
    blocked = _blocked_cause(exc)
    if blocked is not None:
        return _endpoint_not_allowed(provider, blocked)
    if isinstance(exc, (openai.APITimeoutError, *_TIMEOUTS)):
        return ProviderTimeout(f"{provider} did not answer in time.")
    if isinstance(exc, openai.APIStatusError):
        return _openai_status_error(exc, provider=provider)
    if isinstance(exc, (openai.APIConnectionError, *_TRANSPORT_ERRORS)):
        return ProviderUnavailable(f"{provider} could not be reached, or the connection broke.")
    if isinstance(exc, openai.APIError):
        # An error object inside a 200 stream (``data: {"error": {...}}``): judge it by its code.
        return _openai_code_error(_safe_token(exc.code) or _safe_token(exc.type), provider=provider)
    return ProviderUnavailable(f"{provider} sent an answer that could not be read.")


def map_anthropic_error(exc: BaseException) -> ProviderError:
    """The ``ProviderError`` for an error raised by the Anthropic SDK, or by the outbound
    client under it. Raises ``TransactionOpenError`` when that is in the chain."""
    _reraise_programming_error(exc)
    blocked = _blocked_cause(exc)
    if blocked is not None:
        return _endpoint_not_allowed("Anthropic", blocked)
    if isinstance(exc, (anthropic.APITimeoutError, *_TIMEOUTS)):
        return ProviderTimeout("Anthropic did not answer in time.")
    if isinstance(exc, anthropic.APIStatusError):
        return _anthropic_status_error(exc)
    if isinstance(exc, (anthropic.APIConnectionError, *_TRANSPORT_ERRORS)):
        return ProviderUnavailable("Anthropic could not be reached, or the connection broke.")
    return ProviderUnavailable("Anthropic sent an answer that could not be read.")


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait before a retry as the provider asked: ``retry-after-ms`` (OpenAI and
    Azure) wins over ``retry-after`` (seconds, or an HTTP date). ``None`` when neither is
    present or parses to a finite, non-negative number."""
    millis = _finite(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _openai_status_error(exc: openai.APIStatusError, *, provider: str) -> ProviderError:
    status = exc.status_code
    code = _safe_token(exc.code) or _safe_token(exc.type)
    label = f"{provider} answered {status}" + (f" ({code})" if code else "")
    if code == "content_filter":
        return ProviderContentFiltered(f"{label}: the content filter blocked the request.")
    if status in (401, 403):
        return ProviderAuthFailed(f"{label}: the credentials were refused.")
    if status == 429 and code == "insufficient_quota":
        # Waiting does not help an account without quota.
        return ProviderRequestRejected(f"{label}: the account has no quota left.")
    if status == 429:
        return ProviderRateLimited(f"{label}.", retry_after=retry_after_seconds(exc.response.headers))
    if status == 408:
        return ProviderTimeout(f"{label}.")
    if status == 409 or status >= 500:
        return ProviderUnavailable(f"{label}.")
    return ProviderRequestRejected(f"{label}: the request was rejected.")


def _openai_code_error(code: str | None, *, provider: str) -> ProviderError:
    label = f"{provider} reported an error in the stream" + (f" ({code})" if code else "")
    if code == "content_filter":
        return ProviderContentFiltered(f"{label}: the content filter blocked the reply.")
    if code in ("rate_limit_exceeded", "rate_limit_error"):
        return ProviderRateLimited(f"{label}.")
    if code in ("invalid_api_key", "authentication_error"):
        return ProviderAuthFailed(f"{label}.")
    if code in ("invalid_request_error", "model_not_found", "context_length_exceeded"):
        return ProviderRequestRejected(f"{label}.")
    return ProviderUnavailable(f"{label}.")


# Anthropic's documented error types; the HTTP status decides for any type not listed.
_ANTHROPIC_TYPES: dict[str, type[ProviderError]] = {
    "invalid_request_error": ProviderRequestRejected,
    "not_found_error": ProviderRequestRejected,
    "request_too_large": ProviderRequestRejected,
    "billing_error": ProviderRequestRejected,
    "authentication_error": ProviderAuthFailed,
    "permission_error": ProviderAuthFailed,
    "rate_limit_error": ProviderRateLimited,
    "timeout_error": ProviderTimeout,
    "api_error": ProviderUnavailable,
    "overloaded_error": ProviderUnavailable,
}


def _anthropic_status_error(exc: anthropic.APIStatusError) -> ProviderError:
    status = exc.status_code
    kind = _safe_token(exc.type)
    # An ``error`` event inside a stream arrives with the stream's own status, 200.
    where = "reported an error in the stream" if status < 300 else f"answered {status}"
    label = f"Anthropic {where}" + (f" ({kind})" if kind else "")
    error_class = _ANTHROPIC_TYPES.get(kind or "") or _class_for_status(status)
    if error_class is ProviderRateLimited:
        return ProviderRateLimited(f"{label}.", retry_after=retry_after_seconds(exc.response.headers))
    return error_class(f"{label}.")


def _class_for_status(status: int) -> type[ProviderError]:
    if status in (401, 403):
        return ProviderAuthFailed
    if status == 429:
        return ProviderRateLimited
    if status in (408, 504):
        return ProviderTimeout
    if status == 409 or status >= 500 or status < 300:
        return ProviderUnavailable
    # Other 4xx, and 3xx: a redirect is not followed with the key in its headers.
    return ProviderRequestRejected


def _endpoint_not_allowed(provider: str, blocked: OutboundBlockedError) -> ProviderRequestRejected:
    # The guard's own message names the host, the address and the reason, and nothing secret
    # (it leaves out credentials found in the URL).
    return ProviderRequestRejected(
        f"{provider}: the endpoint's address is not allowed ({blocked}). A self-hosted model "
        "server on a private network needs that network among the allowed outbound networks."
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _blocked_cause(exc: BaseException) -> OutboundBlockedError | None:
    return next((link for link in _chain(exc) if isinstance(link, OutboundBlockedError)), None)


def _reraise_programming_error(exc: BaseException) -> None:
    for link in _chain(exc):
        if isinstance(link, TransactionOpenError):
            raise link


def _safe_token(value: object) -> str | None:
    if isinstance(value, str) and _SAFE_TOKEN.fullmatch(value):
        return value
    return None


def _finite(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
