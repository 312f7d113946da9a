"""The dashboard session cookie's attributes, in one place."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hushdesk.web.deps import session_cookie_name


def set_session_cookie(request: Request, response: Response, secret: str) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site posts), Secure and
    ``__Host-`` prefixed under TLS (bound to this exact host, path /, no Domain).

    No Max-Age: the cookie ends with the browser, and the server ends the session itself at the
    workspace's idle and absolute timeouts, which a cookie lifetime could only shorten."""
    secure = request.url.scheme == "https"
    name = session_cookie_name(request)
    response.set_cookie(name, secret, path="/", secure=secure, httponly=True, samesite="lax")


def clear_session_cookie(request: Request, response: Response) -> None:
    secure = request.url.scheme == "https"
    response.delete_cookie(
        session_cookie_name(request), path="/", secure=secure, httponly=True, samesite="lax"
    )
