"""The dashboard session cookie's attributes, in one place."""

from __future__ import annotations

from starlette.responses import Response


def set_session_cookie(response: Response, *, name: str, secret: str, secure: bool) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site posts), Secure and
    ``__Host-`` prefixed under TLS (bound to this exact host, path /, no Domain).

    No Max-Age: the cookie ends with the browser, and the server ends the session itself at the
    workspace's idle and absolute timeouts, which a cookie lifetime could only shorten."""
    response.set_cookie(name, secret, path="/", secure=secure, httponly=True, samesite="lax")


def clear_session_cookie(response: Response, *, name: str, secure: bool) -> None:
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
