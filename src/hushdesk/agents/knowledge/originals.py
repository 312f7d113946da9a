"""Stored knowledge originals across a workspace key rotation.

Rotating a workspace's data key re-seals its columns (``hushdesk.crypto.reencrypt``) and then
destroys the retiring key. A document's original in the encrypted file store names the key
it was sealed under in its header, so before the key goes, ``reseal_originals`` copies each
original that key seals into a new file under the active key and points the document at it;
the old file is removed once that commit is done (the new one if it rolls back). One document
per transaction, so a large knowledge base holds no long lock; idempotent: an original the
retiring key no longer seals is left as it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.agents.knowledge.ingest import file_binding
from hushdesk.agents.knowledge.models import KnowledgeDocument
from hushdesk.crypto.aead import DataKey
from hushdesk.crypto.columns import KEYRING_INFO_KEY
from hushdesk.crypto.errors import KeyUnavailableError
from hushdesk.crypto.files import EncryptedFileStore, StoredFileNotFoundError
from hushdesk.crypto.keyring import Keyring
from hushdesk.infra.db.outcome import on_outcome
from hushdesk.infra.db.uow import unit_of_work

MAX_ORIGINAL_BYTES = 64 * 1024 * 1024


def reseal_originals(
    sessions: sessionmaker[Session],
    files: EncryptedFileStore,
    *,
    workspace_id: uuid.UUID,
    key_id: uuid.UUID,
    between: Callable[[], None] | None = None,
) -> int:
    """Re-encrypt under the workspace's active data key every knowledge original of
    ``workspace_id`` that the data key ``key_id`` seals; returns how many. ``between`` runs
    after each committed document (a job renews its lease there). An original whose key is
    already destroyed, or whose file is missing, cannot be copied and is left."""
    with unit_of_work(sessions) as session:
        document_ids = list(
            session.scalars(
                select(KnowledgeDocument.id).where(
                    KnowledgeDocument.workspace_id == workspace_id, KnowledgeDocument.file_id.is_not(None)
                )
            )
        )
    resealed = 0
    for document_id in document_ids:
        with unit_of_work(sessions) as session:
            resealed += _reseal_one(session, files, workspace_id, document_id, key_id)
        if between is not None:
            between()
    return resealed


def _reseal_one(
    session: Session,
    files: EncryptedFileStore,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    key_id: uuid.UUID,
) -> int:
    document = session.scalar(
        select(KnowledgeDocument)
        .where(KnowledgeDocument.id == document_id, KnowledgeDocument.workspace_id == workspace_id)
        .with_for_update()
    )
    if document is None or document.file_id is None:
        return 0
    keyring: Keyring = session.info[KEYRING_INFO_KEY]
    named: list[uuid.UUID] = []

    def key_named_by_header(found: uuid.UUID) -> DataKey:
        named.append(found)
        return keyring.key_for_reading(session, found)

    old_id = document.file_id
    try:
        with files.open(old_id, key=key_named_by_header, bound_to=file_binding(document)) as reader:
            if named != [key_id]:
                return 0
            active = keyring.data_key_for_writing(session, workspace_id=workspace_id)
            stored = files.write(
                reader, key=active, bound_to=file_binding(document), max_bytes=MAX_ORIGINAL_BYTES
            )
    except (KeyUnavailableError, StoredFileNotFoundError):
        return 0
    document.file_id = stored.id
    session.flush()
    new_id = stored.id

    def remove_old() -> None:
        files.delete(old_id)

    def remove_new() -> None:
        files.delete(new_id)

    on_outcome(session, committed=remove_old, rolled_back=remove_new)
    return 1
