"""Same-origin checks for state-changing browser requests.

A form post from another site carries that site's Origin (and ``Sec-Fetch-Site: cross-site``);
it is refused before the route runs. This guards the forms that have no session yet (setup,
sign-in) against login CSRF; forms behind a session also carry the session's CSRF token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from hushdesk.identity.sessions import csrf_token_matches
from hushdesk.infra.errors import PermissionDenied
from hushdesk.web.deps import session_secret


def check_same_origin(request: Request) -> None:
    """Raises ``PermissionDenied`` if the request plainly came from another origin."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise PermissionDenied("Cross-site form submissions are refused.")
    origin = request.headers.get("origin")
    if origin is None:
        return
    parts = urlsplit(origin)
    expected_host = request.headers.get("host", "")
    if origin == "null" or parts.scheme != request.url.scheme or parts.netloc != expected_host:
        raise PermissionDenied("Cross-site form submissions are refused.")


def check_csrf(request: Request, presented: str) -> None:
    """Same-origin check plus the session's CSRF token (double defence for cookie-authenticated
    state changes)."""
    check_same_origin(request)
    secret = session_secret(request)
    if secret is None or not csrf_token_matches(secret, presented):
        raise PermissionDenied("The form has expired; reload the page and try again.")
