"""Random secrets handed to a browser, and the digests stored in their place."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """SHA-256 of a high-entropy token. A fast hash suffices for 256-bit random secrets: there
    is nothing to guess, so stretching would only cost time on every request."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
