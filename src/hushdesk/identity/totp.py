"""One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), with the standard library only.

Pure functions, no state: the replay guard and the clock-drift window live in
``hushdesk.identity.mfa``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from typing import Literal
from urllib.parse import quote, urlencode

Algorithm = Literal["sha1", "sha256", "sha512"]

SECRET_BYTES = 20  # 160 bits: RFC 4226 section 4 recommends it, and every authenticator app takes it
DEFAULT_DIGITS = 6
DEFAULT_STEP = 30


def hotp_code(
    secret: bytes, *, counter: int, digits: int = DEFAULT_DIGITS, algorithm: Algorithm = "sha1"
) -> str:
    """The RFC 4226 code for ``counter`` (dynamic truncation of HMAC(secret, counter))."""
    if not 6 <= digits <= 10:
        raise ValueError("digits must be between 6 and 10")
    if counter < 0:
        raise ValueError("counter must not be negative")
    mac = hmac.new(secret, struct.pack(">Q", counter), getattr(hashlib, algorithm)).digest()
    offset = mac[-1] & 0x0F
    (number,) = struct.unpack(">I", mac[offset : offset + 4])
    return str((number & 0x7FFFFFFF) % 10**digits).zfill(digits)


def totp_step(at: int, *, step: int = DEFAULT_STEP) -> int:
    """The time-step number of unix time ``at`` (T0 = 0)."""
    return at // step


def totp_code(
    secret: bytes,
    *,
    at: int,
    digits: int = DEFAULT_DIGITS,
    step: int = DEFAULT_STEP,
    algorithm: Algorithm = "sha1",
) -> str:
    """The RFC 6238 code at unix time ``at`` (seconds)."""
    return hotp_code(secret, counter=totp_step(at, step=step), digits=digits, algorithm=algorithm)


def new_totp_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def secret_to_base32(secret: bytes) -> str:
    """The form people type into an authenticator app: base32 without padding."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def provisioning_uri(secret: bytes, *, account: str, issuer: str = "Hushdesk") -> str:
    """The ``otpauth://totp/...`` URI that authenticator apps read from a QR code (Google
    Authenticator's key-URI format: label ``issuer:account``, issuer repeated as a parameter)."""
    label = f"{quote(issuer, safe='')}:{quote(account, safe='@')}"
    query = urlencode(
        {
            "secret": secret_to_base32(secret),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DEFAULT_DIGITS,
            "period": DEFAULT_STEP,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
