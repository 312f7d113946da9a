"""Scoped API keys for integrations.

A key reads ``hd_live_<prefix>_<secret>``: the 12-character prefix finds the row, and only the
SHA-256 of the 256-bit secret is stored, compared in constant time. A key belongs to one
workspace, carries scopes drawn from ``KEY_SCOPES`` (never more than its creator's role holds),
expires, records its last use (to the minute) and can be revoked. Keys made by a member are
revoked when that member is removed or their role is lowered (``do_revoke_keys_created_by``).

Only owners and admins make keys, so a key is workspace-wide within its scopes (it is not
limited to assigned agents as a manager is).
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hushdesk.identity.models import ApiKey, User
from hushdesk.identity.permissions import KEY_SCOPES, Permission
from hushdesk.identity.principal import Principal, PrincipalKind
from hushdesk.identity.tokens import token_digest
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.errors import NotFound, PermissionDenied, ValidationFailed

KEY_PREFIX = "hd_live_"
_PREFIX_LENGTH = 12
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_KEY_FORMAT = re.compile(r"^hd_live_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
MAX_LIFETIME = dt.timedelta(days=366)
MIN_LIFETIME = dt.timedelta(hours=1)
MAX_NAME_LENGTH = 80
_TOUCH_INTERVAL = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class ApiKeyAccess:
    """A key that is live: known, unexpired and unrevoked."""

    principal: Principal
    name: str
    needs_touch: bool


@dataclass(frozen=True, slots=True)
class NewApiKey:
    key: ApiKey
    # Shown once, to the person who made it; never stored.
    token: str


class InvalidScopes(ValidationFailed):
    code = "invalid_scopes"
    default_message = "Choose at least one scope that you hold yourself and that a key may carry."


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, or None."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def access_api_key(session: Session, token: str, *, now: dt.datetime | None = None) -> ApiKeyAccess | None:
    """The live key that ``token`` names, or None (malformed, unknown, wrong secret, expired
    or revoked all look the same). Reads only; ``do_touch_api_key`` records the use."""
    match = _KEY_FORMAT.match(token)
    if match is None:
        return None
    prefix, secret = match.groups()
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not hmac.compare_digest(key.secret_hash, token_digest(secret)):
        return None
    now = now or utcnow()
    if key.revoked_at is not None or key.expires_at <= now:
        return None
    principal = Principal(
        workspace_id=key.workspace_id,
        kind=PrincipalKind.API_KEY,
        id=key.id,
        permissions=frozenset(_known_scopes(key.scopes)),
    )
    stale = key.last_used_at is None or now - key.last_used_at >= _TOUCH_INTERVAL
    return ApiKeyAccess(principal=principal, name=key.name, needs_touch=stale)


def do_touch_api_key(session: Session, *, key_id: uuid.UUID) -> None:
    """Record that the key was used now. Idempotent; flushes, never commits."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))


def check_scopes(requested: Iterable[str], *, creator: Principal) -> frozenset[Permission]:
    """The requested scopes as permissions. Raises ``InvalidScopes`` when there are none, or
    any is unknown, not grantable to a key, or not held by the creator."""
    scopes: set[Permission] = set()
    for value in requested:
        try:
            scope = Permission(value)
        except ValueError as exc:
            raise InvalidScopes(f"Unknown scope: {value[:64]}.") from exc
        if scope not in KEY_SCOPES:
            raise InvalidScopes(f"A key may not carry {scope.value}.")
        if not creator.can(scope):
            raise InvalidScopes(f"You cannot grant {scope.value}: your role does not hold it.")
        scopes.add(scope)
    if not scopes:
        raise InvalidScopes()
    return frozenset(scopes)


def check_lifetime(expires_at: dt.datetime, *, now: dt.datetime | None = None) -> dt.datetime:
    """Raises ``ValidationFailed`` for an expiry less than an hour or more than a year away."""
    now = now or utcnow()
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    if not (now + MIN_LIFETIME <= expires_at <= now + MAX_LIFETIME):
        raise ValidationFailed("A key must expire between one hour and one year from now.")
    return expires_at


def grantable_scopes(principal: Principal) -> frozenset[Permission]:
    """The scopes ``principal`` may put on a key: those a key may carry that it holds itself."""
    return frozenset(scope for scope in KEY_SCOPES if principal.can(scope))


def check_key_name(name: str) -> str:
    """The name with its whitespace collapsed. Raises ``ValidationFailed`` for an empty or
    over-long name, or one with control characters (PostgreSQL refuses NUL in text)."""
    clean_name = " ".join(name.split())
    if not 1 <= len(clean_name) <= MAX_NAME_LENGTH:
        raise ValidationFailed(f"Give the key a name of 1 to {MAX_NAME_LENGTH} characters.")
    if any(unicodedata.category(character).startswith("C") for character in clean_name):  # Cc and Cf alike
        raise ValidationFailed("A key's name may not contain control characters.")
    return clean_name


def do_create_api_key(
    session: Session, *, creator: Principal, name: str, scopes: Iterable[str], expires_at: dt.datetime
) -> NewApiKey:
    """Create a key in the creator's workspace. Only a person makes keys: raises
    ``PermissionDenied`` for any other principal (a key cannot mint keys). Raises
    ``InvalidScopes`` or ``ValidationFailed`` for bad input. Nothing changes when it raises.
    The caller records the audit event. Flushes; never commits."""
    if creator.kind is not PrincipalKind.USER:
        raise PermissionDenied("Only a signed-in person can create API keys.")
    clean_name = check_key_name(name)
    granted = check_scopes(scopes, creator=creator)
    expiry = check_lifetime(expires_at)
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(_PREFIX_LENGTH))
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        workspace_id=creator.workspace_id,
        created_by_id=creator.id,
        name=clean_name,
        prefix=prefix,
        secret_hash=token_digest(secret),
        scopes=sorted(scope.value for scope in granted),
        expires_at=expiry,
    )
    session.add(key)
    session.flush()
    return NewApiKey(key=key, token=f"{KEY_PREFIX}{prefix}_{secret}")


def access_api_key_by_id(session: Session, principal: Principal, key_id: uuid.UUID) -> ApiKey:
    """The key ``key_id`` of the principal's workspace. Raises ``NotFound`` for a missing key
    and for another workspace's alike."""
    key = session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.workspace_id == principal.workspace_id)
    )
    if key is None:
        raise NotFound()
    return key


def do_revoke_api_key(session: Session, *, key: ApiKey) -> bool:
    """Revoke ``key``; False if it already was. The caller records the audit event. Flushes;
    never commits."""
    if key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    session.flush()
    return True


def do_revoke_keys_created_by(session: Session, *, user_id: uuid.UUID, workspace_id: uuid.UUID) -> int:
    """Revoke every live key that ``user_id`` made in ``workspace_id``. Returns how many.
    Flushes; never commits."""
    result = session.execute(
        update(ApiKey)
        .where(
            ApiKey.created_by_id == user_id,
            ApiKey.workspace_id == workspace_id,
            ApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def list_api_keys(session: Session, principal: Principal) -> list[ApiKey]:
    """The principal's workspace's keys, newest first."""
    return list(
        session.scalars(
            select(ApiKey)
            .where(ApiKey.workspace_id == principal.workspace_id)
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        )
    )


def creator_names(session: Session, keys: Iterable[ApiKey]) -> dict[uuid.UUID, str]:
    """The display names of the people who made ``keys``, by user id (a deleted account has
    none)."""
    user_ids = {key.created_by_id for key in keys if key.created_by_id is not None}
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))
    return {user_id: display_name for user_id, display_name in rows}


def _known_scopes(values: Iterable[str]) -> Iterable[Permission]:
    for value in values:
        try:
            scope = Permission(value)
        except ValueError:
            continue  # a scope retired since the key was made grants nothing
        if scope in KEY_SCOPES:
            yield scope
