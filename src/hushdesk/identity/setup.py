"""First-run setup: a one-time link creates the first workspace and its owner.

There is no default password anywhere. While no owner exists, ``issue_setup_link`` makes a
fresh random link (revoking any earlier one), valid for a limited time and usable once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hushdesk.identity.models import Membership, Role, SetupToken, User
from hushdesk.identity.passwords import check_password_policy, hash_password
from hushdesk.identity.tokens import new_token, token_digest
from hushdesk.infra.db.base import utcnow
from hushdesk.workspaces.models import Region, Workspace
from hushdesk.workspaces.service import do_create_workspace


class SetupUnavailableError(Exception):
    """The link is unknown, expired, used or revoked, or setup has already been completed.
    One error for all of them: the page must not tell an attacker which."""


class SetupAlreadyCompleteError(Exception):
    """An owner exists; no setup link is issued any more."""


@dataclass(frozen=True, slots=True)
class SetupResult:
    workspace: Workspace
    owner: User


def owner_exists(session: Session) -> bool:
    return session.scalar(select(Membership.id).where(Membership.role == Role.OWNER).limit(1)) is not None


def issue_setup_link_token(session: Session, *, ttl: dt.timedelta) -> str:
    """Revoke every earlier setup token and return a new one (the secret, to put in a link).

    Raises ``SetupAlreadyCompleteError`` once an owner exists. Flushes; never commits.
    """
    if owner_exists(session):
        raise SetupAlreadyCompleteError()
    now = utcnow()
    session.execute(
        update(SetupToken)
        .where(SetupToken.used_at.is_(None), SetupToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    token = new_token()
    session.add(SetupToken(token_hash=token_digest(token), expires_at=now + ttl))
    session.flush()
    return token


def access_setup_token(session: Session, token: str, *, for_update: bool = False) -> SetupToken:
    """The live setup token for ``token``, or ``SetupUnavailableError``."""
    query = select(SetupToken).where(SetupToken.token_hash == token_digest(token))
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query)
    now = utcnow()
    if (
        row is None
        or row.used_at is not None
        or row.revoked_at is not None
        or row.expires_at <= now
        or owner_exists(session)
    ):
        raise SetupUnavailableError()
    return row


def do_complete_setup(
    session: Session,
    *,
    token: str,
    workspace_name: str,
    region: Region,
    owner_name: str,
    owner_email: str,
    password: str,
) -> SetupResult:
    """Consume the token and create the workspace, the owner and the owner's membership.

    Raises ``SetupUnavailableError`` or ``WeakPasswordError`` before changing anything.
    Row-locks the token on PostgreSQL; on SQLite the unit of work's BEGIN IMMEDIATE serialises
    writers, so two concurrent submissions cannot both create an owner. Flushes; never commits.
    """
    check_password_policy(
        password, personal=[owner_name, owner_email, *owner_email.split("@"), workspace_name]
    )
    setup_token = access_setup_token(session, token, for_update=True)
    setup_token.used_at = utcnow()
    workspace = do_create_workspace(session, name=workspace_name, region=region)
    owner = User(
        email=normalise_email(owner_email),
        display_name=owner_name,
        password_hash=hash_password(password),
    )
    session.add(owner)
    session.flush()
    session.add(Membership(workspace_id=workspace.id, user_id=owner.id, role=Role.OWNER.value))
    session.flush()
    return SetupResult(workspace=workspace, owner=owner)


def normalise_email(email: str) -> str:
    return email.strip().lower()
