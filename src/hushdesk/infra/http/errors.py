"""The outbound client's own errors.

``OutboundError`` is the base. Its subclasses name a refusal by policy, never a network
failure (those stay ``httpx.TransportError``s), so callers do not retry them. Messages name
the host and the reason; they never carry a response body, which may hold a third party's
data or an attacker's text.
"""

from __future__ import annotations


class OutboundError(Exception):
    """Base of every error the outbound HTTP client raises by policy."""

    def __init__(self, message: str, *, host: str) -> None:
        self.host = host
        super().__init__(message)


class OutboundBlockedError(OutboundError):
    """The request was refused before any byte was sent to the destination: a forbidden
    scheme, credentials in the URL, or a host that resolves to an address the SSRF guard
    refuses."""


class ResponseTooLargeError(OutboundError):
    """A response body was longer than the caller's limit; reading stopped at the limit."""

    def __init__(self, *, host: str, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        super().__init__(f"response from {host!r} is larger than {max_bytes} bytes", host=host)
