"""Identity verification: the business vouches for its logged-in user.

The business's server signs a short-lived JWT (compact JWS, HS256, RFC 7519 / RFC 7515) with
the agent's identity secret and puts it in the embed snippet's ``data-hushdesk-user``. This
module verifies such a token and nothing more liberal: the header must say ``alg`` exactly
``HS256`` (never ``none``, another HMAC size or an asymmetric algorithm), ``typ`` is absent or
``JWT``, and ``crit`` is refused because no extension is understood. The MAC is compared in
constant time before header or claims are interpreted, and a token can never be valid for
more than ``MAX_LIFETIME`` (plus ``LEEWAY`` for clock skew), whatever its claims say.

Every failure is the same ``InvalidIdentityTokenError`` with the same message; no error raised
here carries the token or the secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from hushdesk.channels.widget.tokens import decode_base64url, encode_base64url, load_json_object

SECRET_PREFIX = "hd_is_"  # noqa: S105 -- a public marker that names the kind of secret, not one
MAX_IDENTITY_TOKEN_CHARS = 4096
MAX_LIFETIME = dt.timedelta(hours=1)
LEEWAY = dt.timedelta(seconds=30)
DEFAULT_LIFETIME = dt.timedelta(minutes=10)
MAX_USER_ID_CHARS = 256
MAX_NAME_CHARS = 120
MAX_EMAIL_CHARS = 254

_MAC_BYTES = 32
# Unicode categories never allowed in a claim we keep: control and format characters (which
# include the bidirectional overrides), unpaired surrogates that JSON escapes can produce,
# and the line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """Who the business says the visitor is. ``name`` and ``email`` are ``None`` when the token
    has none, or one that is not a short clean string."""

    user_id: str
    name: str | None
    email: str | None
    expires_at: dt.datetime


class InvalidIdentityTokenError(Exception):
    """The identity token is malformed, forged, expired or too long-lived (deliberately not
    saying which)."""

    def __init__(self) -> None:
        super().__init__("The identity token is not valid.")


def generate_identity_secret() -> str:
    """A new per-agent identity secret: ``hd_is_`` and 32 random bytes in unpadded base64url."""
    return SECRET_PREFIX + encode_base64url(secrets.token_bytes(32))


def sign_identity_token(
    *,
    secret: str,
    user_id: str,
    now: dt.datetime,
    lifetime: dt.timedelta = DEFAULT_LIFETIME,
    name: str | None = None,
    email: str | None = None,
) -> str:
    """What a business's server does: an HS256 JWT for ``user_id`` issued at ``now`` (whole
    seconds) and expiring ``lifetime`` later. Raises ``ValueError`` for an empty secret, a
    naive ``now``, a lifetime outside 1 s .. ``MAX_LIFETIME``, or a user id, name or email that
    ``verify_identity_token`` would not accept."""
    _check_secret(secret)
    issued_at = math.floor(_timestamp(now))
    seconds = math.floor(lifetime.total_seconds())
    if not 1 <= seconds <= MAX_LIFETIME.total_seconds():
        raise ValueError("lifetime must be between one second and MAX_LIFETIME")
    if _clean_text(user_id, MAX_USER_ID_CHARS) is None:
        raise ValueError(f"user_id must be 1 to {MAX_USER_ID_CHARS} characters without control characters")
    claims: dict[str, Any] = {"sub": user_id, "iat": issued_at, "exp": issued_at + seconds}
    for claim, value, limit in (("name", name, MAX_NAME_CHARS), ("email", email, MAX_EMAIL_CHARS)):
        if value is None:
            continue
        if _clean_text(value, limit) is None:
            raise ValueError(f"{claim} must be 1 to {limit} characters without control characters")
        claims[claim] = value
    header = _encode_json({"alg": "HS256", "typ": "JWT"})
    signing_input = f"{header}.{_encode_json(claims)}"
    token = f"{signing_input}.{encode_base64url(_mac(secret, signing_input))}"
    if len(token) > MAX_IDENTITY_TOKEN_CHARS:  # unreachable with the limits above
        raise ValueError("the token would exceed MAX_IDENTITY_TOKEN_CHARS")
    return token


def verify_identity_token(token: str, *, secret: str, now: dt.datetime) -> VerifiedIdentity:
    """The identity in a genuine, current HS256 JWT signed with ``secret``.

    Raises ``InvalidIdentityTokenError`` for any failure: shape, header, MAC, or claims (a
    missing or unclean ``sub``; ``exp`` missing, passed by more than ``LEEWAY`` or further away
    than ``MAX_LIFETIME`` + ``LEEWAY``; ``nbf`` or ``iat`` later than ``now`` + ``LEEWAY``; an
    ``exp`` - ``iat`` span over ``MAX_LIFETIME``). Raises ``ValueError`` (a programming error,
    not a bad token) for an empty secret or a naive ``now``."""
    _check_secret(secret)
    now_seconds = _timestamp(now)
    identity = None
    parts = _split(token)
    # The MAC is compared, in constant time, before the header or claims are parsed.
    if parts is not None and hmac.compare_digest(_mac(secret, parts[0]), parts[3]):
        identity = _parse(parts[1], parts[2], now_seconds)
    # Raised outside any ``except`` block, so it has no ``__context__`` holding the token.
    if identity is None:
        raise InvalidIdentityTokenError
    return identity


def _split(token: object) -> tuple[str, bytes, bytes, bytes] | None:
    """``(signing input, header bytes, claims bytes, MAC)``, or ``None`` if the token is not a
    compact JWS of our size and alphabet."""
    if not isinstance(token, str) or len(token) > MAX_IDENTITY_TOKEN_CHARS or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3:  # five parts would be a JWE, fewer or more is garbage
        return None
    try:
        header, claims, mac = (decode_base64url(part) for part in parts)
    except ValueError:
        return None
    if len(mac) != _MAC_BYTES:
        return None
    return f"{parts[0]}.{parts[1]}", header, claims, mac


def _parse(header_bytes: bytes, claims_bytes: bytes, now_seconds: float) -> VerifiedIdentity | None:
    try:
        header = load_json_object(header_bytes)
        claims = load_json_object(claims_bytes)
    except (ValueError, RecursionError):
        return None
    if header.get("alg") != "HS256" or header.get("typ", "JWT") != "JWT" or "crit" in header:
        return None
    return _identity_from(claims, now_seconds)


def _identity_from(claims: dict[str, Any], now_seconds: float) -> VerifiedIdentity | None:
    leeway = LEEWAY.total_seconds()
    user_id = _clean_text(claims.get("sub"), MAX_USER_ID_CHARS)
    expires = _number(claims.get("exp"))
    if user_id is None or expires is None:
        return None
    if expires <= now_seconds - leeway or expires > now_seconds + MAX_LIFETIME.total_seconds() + leeway:
        return None
    for optional in ("iat", "nbf"):
        if optional in claims:
            moment = _number(claims[optional])
            if moment is None or moment > now_seconds + leeway:
                return None
            if optional == "iat" and expires - moment > MAX_LIFETIME.total_seconds():
                return None
    return VerifiedIdentity(
        user_id=user_id,
        name=_clean_text(claims.get("name"), MAX_NAME_CHARS),
        email=_clean_text(claims.get("email"), MAX_EMAIL_CHARS),
        expires_at=dt.datetime.fromtimestamp(expires, tz=dt.UTC),
    )


def _number(value: object) -> float | None:
    """A JSON NumericDate (integer or fraction), or ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float is no date of ours
        return None
    return number if math.isfinite(number) else None


def _clean_text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        return None
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value):
        return None
    return value


def _encode_json(value: dict[str, Any]) -> str:
    return encode_base64url(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _mac(secret: str, signing_input: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()


def _check_secret(secret: str) -> None:
    if not secret:
        raise ValueError("the identity secret must not be empty")


def _timestamp(moment: dt.datetime) -> float:
    if moment.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return moment.timestamp()
