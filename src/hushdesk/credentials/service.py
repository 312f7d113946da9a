"""Storing, listing, using and deleting credentials.

Every function is scoped to one workspace: a credential of another workspace looks exactly
like a missing one (``NotFound``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.credentials.models import Credential, CredentialKind
from hushdesk.infra.errors import NotFound, ValidationFailed

MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 8192
_HINT_FROM_LENGTH = 16


@dataclass(frozen=True, slots=True)
class CredentialView:
    """What anyone may see of a credential: never its value."""

    id: uuid.UUID
    name: str
    kind: CredentialKind
    masked: str
    created_at: dt.datetime


def check_secret_value(value: str) -> str:
    """The value, stripped of surrounding white space; ``ValidationFailed`` if it is too short,
    too long or has control characters (the message never includes the value)."""
    cleaned = value.strip()
    if not MIN_SECRET_LENGTH <= len(cleaned) <= MAX_SECRET_LENGTH:
        raise ValidationFailed(f"A secret is {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters.")
    if any(ord(character) < 32 for character in cleaned):
        raise ValidationFailed("A secret cannot contain control characters.")
    return cleaned


def do_store_credential(
    session: Session, *, workspace_id: uuid.UUID, name: str, kind: CredentialKind, value: SecretStr
) -> CredentialView:
    """Seal and store a credential; return its masked view. Flushes; never commits."""
    secret = check_secret_value(value.get_secret_value())
    credential = Credential(
        workspace_id=workspace_id,
        name=name.strip()[:120],
        kind=kind.value,
        value=secret,
        hint=secret[-4:] if len(secret) >= _HINT_FROM_LENGTH else "",
    )
    session.add(credential)
    session.flush()
    return _view(credential)


def list_credentials(session: Session, *, workspace_id: uuid.UUID) -> list[CredentialView]:
    rows = session.scalars(
        select(Credential).where(Credential.workspace_id == workspace_id).order_by(Credential.id)
    )
    return [_view(row) for row in rows]


def access_credential_by_id(
    session: Session, *, workspace_id: uuid.UUID, credential_id: uuid.UUID
) -> Credential:
    credential = session.get(Credential, credential_id)
    if credential is None or credential.workspace_id != workspace_id:
        raise NotFound()
    return credential


def reveal_credential_for_use(
    session: Session, *, workspace_id: uuid.UUID, credential_id: uuid.UUID
) -> SecretStr:
    """The value, for the code that calls a provider or a channel with it, wrapped so that a
    log line or a repr cannot show it. Never for a response body."""
    return SecretStr(
        access_credential_by_id(session, workspace_id=workspace_id, credential_id=credential_id).value
    )


def do_delete_credential(session: Session, *, workspace_id: uuid.UUID, credential_id: uuid.UUID) -> None:
    session.delete(access_credential_by_id(session, workspace_id=workspace_id, credential_id=credential_id))
    session.flush()


def _view(credential: Credential) -> CredentialView:
    masked = f"••••{credential.hint}" if credential.hint else "••••••••"
    return CredentialView(
        id=credential.id,
        name=credential.name,
        kind=CredentialKind(credential.kind),
        masked=masked,
        created_at=credential.created_at,
    )
