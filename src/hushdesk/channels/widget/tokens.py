"""Signed visitor tokens for the website widget.

A token is ``hdw1.<payload>.<mac>``: the payload is the base64url (unpadded) canonical JSON of
the claims ``{"ag", "exp", "g", "k", "kid", "o", "sid", "ws"}`` and the MAC is the base64url of
HMAC-SHA256 under the workspace's widget data key over the ASCII bytes ``hdw1.<payload>``.

Verification checks the shape, then the MAC (in constant time), and only then parses the
claims, so nothing an attacker writes is interpreted before it is known to be ours. Every
failure, whatever its cause, is the same ``InvalidWidgetTokenError`` with the same message:
a caller (and whoever sent the token) learns only "not valid". No error raised here carries
the token, a claim or the key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

PREFIX = "hdw1"
MAX_TOKEN_CHARS = 1024
KEY_BYTES = 32
MAX_ORIGIN_CHARS = 255

_MAC_BYTES = 32
_CLAIM_NAMES = frozenset({"k", "ws", "ag", "sid", "o", "g", "exp", "kid"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
# Printable ASCII only: a serialized origin (scheme://host[:port], IDNA) never needs more.
_ORIGIN = re.compile(r"[\x21-\x7e]{1,255}")
# Expiry instants a datetime can represent everywhere (1970 .. 9999).
_MAX_TIMESTAMP = 253_402_300_799


class TokenKind(enum.StrEnum):
    BOOTSTRAP = "bootstrap"  # lives 60 s, exchanged once for a session token
    SESSION = "session"  # lives 15 min, rotated by refresh (generation + 1)


@dataclass(frozen=True, slots=True)
class WidgetClaims:
    """What a visitor token asserts. ``expires_at`` is timezone-aware, in whole seconds.

    Raises ``ValueError`` on construction when a field could not round-trip through a token
    (a naive or fractional expiry, a negative generation, an origin that is not printable
    ASCII of at most 255 characters)."""

    kind: TokenKind
    workspace_id: uuid.UUID
    agent_id: uuid.UUID
    session_id: uuid.UUID
    origin: str
    generation: int
    expires_at: dt.datetime
    key_id: uuid.UUID

    def __post_init__(self) -> None:
        # Typed as ``object``: these guard against callers that ignore the annotations.
        kind: object = self.kind
        generation: object = self.generation
        origin: object = self.origin
        if not isinstance(kind, TokenKind):
            raise ValueError("kind must be a TokenKind")
        if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
            raise ValueError("generation must be a non-negative integer")
        if not isinstance(origin, str) or _ORIGIN.fullmatch(origin) is None:
            raise ValueError("origin must be printable ASCII, 1 to 255 characters")
        if self.expires_at.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware")
        if self.expires_at.microsecond != 0:
            raise ValueError("expires_at must be in whole seconds")
        if not 0 <= _timestamp(self.expires_at) <= _MAX_TIMESTAMP:
            raise ValueError("expires_at is out of range")


class InvalidWidgetTokenError(Exception):
    """The token is malformed, forged, of the wrong kind or expired (deliberately not saying
    which)."""

    def __init__(self) -> None:
        super().__init__("The widget token is not valid.")


def encode_base64url(data: bytes) -> str:
    """Base64url without padding (RFC 4648 section 5, as JOSE uses it)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_base64url(text: str) -> bytes:
    """Strictly decode unpadded base64url. Raises ``ValueError`` for padding, any character
    outside the alphabet, an impossible length, or non-zero trailing bits (so each byte string
    has exactly one encoding and no two tokens differ only in ignored bits)."""
    if _BASE64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc
    if encode_base64url(data) != text:
        raise ValueError("not canonical base64url")
    return data


def load_json_object(data: bytes) -> dict[str, Any]:
    """Parse UTF-8 JSON that must be an object with no repeated member names. Raises
    ``ValueError`` otherwise; NaN and the infinities are refused too."""
    value = json.loads(
        data.decode("utf-8"),
        object_pairs_hook=_refuse_duplicate_names,
        parse_constant=_refuse_constant,
    )
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def sign_widget_token(claims: WidgetClaims, *, key: bytes) -> str:
    """The token for ``claims`` under ``key``. Raises ``ValueError`` for a key that is not 32
    bytes, or claims too big for ``MAX_TOKEN_CHARS``."""
    _check_key(key)
    body = {
        "k": claims.kind.value,
        "ws": str(claims.workspace_id),
        "ag": str(claims.agent_id),
        "sid": str(claims.session_id),
        "o": claims.origin,
        "g": claims.generation,
        "exp": _timestamp(claims.expires_at),
        "kid": str(claims.key_id),
    }
    payload = encode_base64url(json.dumps(body, separators=(",", ":"), sort_keys=True).encode("ascii"))
    signed = f"{PREFIX}.{payload}"
    token = f"{signed}.{encode_base64url(_mac(key, signed))}"
    # Only an absurd generation gets here; signing never makes a token that verifying refuses.
    if len(token) > MAX_TOKEN_CHARS:
        raise ValueError("the claims make a token longer than MAX_TOKEN_CHARS")
    return token


def peek_key_id(token: str) -> tuple[uuid.UUID, uuid.UUID]:
    """``(workspace_id, key_id)`` read from the token WITHOUT verifying it, so the caller can
    fetch the key to verify with. Nothing else about an unverified token may be trusted.
    Raises ``InvalidWidgetTokenError`` if the token is malformed."""
    split = _split(token)
    claims = None if split is None else _parse_claims(split[1])
    if claims is None:
        raise InvalidWidgetTokenError
    return claims.workspace_id, claims.key_id


def verify_widget_token(token: str, *, key: bytes, kind: TokenKind, now: dt.datetime) -> WidgetClaims:
    """The claims of a genuine, unexpired token of ``kind`` under ``key``.

    Raises ``InvalidWidgetTokenError`` for any failure; a token whose expiry equals ``now`` is
    expired. Raises ``ValueError`` (a programming error, not a bad token) for a key that is not
    32 bytes or a naive ``now``."""
    _check_key(key)
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    split = _split(token)
    claims = None
    # The MAC is compared, in constant time, before a single claim is parsed.
    if split is not None and hmac.compare_digest(_mac(key, split[0]), split[2]):
        claims = _parse_claims(split[1])
    if claims is None or claims.kind is not kind or claims.expires_at <= now:
        raise InvalidWidgetTokenError
    return claims


def _split(token: object) -> tuple[str, str, bytes] | None:
    """``(signed part, payload, decoded MAC)``, or ``None`` if the token is not shaped like one."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    try:
        decode_base64url(parts[1])
        mac = decode_base64url(parts[2])
    except ValueError:
        return None
    if len(mac) != _MAC_BYTES:
        return None
    return f"{PREFIX}.{parts[1]}", parts[1], mac


def _parse_claims(payload: str) -> WidgetClaims | None:
    # Every parsing failure becomes ``None`` and the caller raises outside any ``except``
    # block, so the error it raises has no ``__context__`` holding a JSON document.
    try:
        return _claims_from(load_json_object(decode_base64url(payload)))
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None


def _claims_from(body: dict[str, Any]) -> WidgetClaims:
    if set(body) != _CLAIM_NAMES:
        raise ValueError("unexpected claim names")
    kind, exp, generation = body["k"], body["exp"], body["g"]
    if not isinstance(kind, str) or kind not in {member.value for member in TokenKind}:
        raise ValueError("bad kind")
    for name in ("exp", "g"):
        if isinstance(body[name], bool) or not isinstance(body[name], int):
            raise ValueError("not an integer")
    if not 0 <= exp <= _MAX_TIMESTAMP:
        raise ValueError("expiry out of range")
    return WidgetClaims(
        kind=TokenKind(kind),
        workspace_id=_uuid(body["ws"]),
        agent_id=_uuid(body["ag"]),
        session_id=_uuid(body["sid"]),
        origin=body["o"],  # WidgetClaims checks the type and length
        generation=generation,
        expires_at=dt.datetime.fromtimestamp(exp, tz=dt.UTC),
        key_id=_uuid(body["kid"]),
    )


def _uuid(value: object) -> uuid.UUID:
    # Only the canonical lower-case hyphenated form that ``sign_widget_token`` writes.
    if not isinstance(value, str):
        raise ValueError("not a UUID string")
    parsed = uuid.UUID(value)
    if str(parsed) != value:
        raise ValueError("not a canonical UUID")
    return parsed


def _mac(key: bytes, signed: str) -> bytes:
    return hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest()


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise ValueError("the widget key must be 32 bytes")


def _timestamp(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _refuse_duplicate_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("repeated member name")
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError("non-finite number")
