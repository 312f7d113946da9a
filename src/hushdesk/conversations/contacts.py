"""Contacts: a customer's identity on one channel, sealed, found by its blind index."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hushdesk.conversations.models import Contact
from hushdesk.crypto.blind_index import IndexKind, blind_index
from hushdesk.crypto.columns import KEYRING_INFO_KEY
from hushdesk.crypto.keyring import Keyring
from hushdesk.infra.db.base import utcnow


def _keyring(session: Session) -> Keyring:
    keyring = session.info.get(KEYRING_INFO_KEY)
    if not isinstance(keyring, Keyring):
        raise RuntimeError("contacts need a session with the keyring")
    return keyring


def identifier_index(session: Session, *, workspace_id: uuid.UUID, channel: str, identifier: str) -> bytes:
    """The workspace's blind index of a channel identifier (compared exactly as given)."""
    return blind_index(
        _keyring(session),
        session,
        workspace_id=workspace_id,
        kind=IndexKind.EXACT,
        value=f"{channel}\x00{identifier}",
    )


def do_find_or_create_contact(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    channel: str,
    identifier: str,
    verified: bool = False,
    display_name: str | None = None,
) -> Contact:
    """The workspace's contact for ``identifier`` on ``channel``, made if new (its key is
    made on first seal). Two requests racing to make the same contact meet at the unique
    index: the loser's savepoint rolls back and it reads the winner's row. Flushes."""
    index = identifier_index(session, workspace_id=workspace_id, channel=channel, identifier=identifier)
    found = _by_index(session, workspace_id=workspace_id, channel=channel, index=index)
    if found is None:
        contact = Contact(
            workspace_id=workspace_id,
            channel=channel,
            identifier=identifier,
            identifier_index=index,
            display_name=display_name,
            verified=verified,
        )
        try:
            with session.begin_nested():
                session.add(contact)
                session.flush()
        except IntegrityError:
            found = _by_index(session, workspace_id=workspace_id, channel=channel, index=index)
            if found is None:
                raise
        else:
            return contact
    found.last_seen_at = utcnow()
    if display_name and found.display_name != display_name:
        found.display_name = display_name
    if verified and not found.verified:
        found.verified = True
    return found


def _by_index(session: Session, *, workspace_id: uuid.UUID, channel: str, index: bytes) -> Contact | None:
    return session.scalar(
        select(Contact).where(
            Contact.workspace_id == workspace_id,
            Contact.channel == channel,
            Contact.identifier_index == index,
        )
    )
