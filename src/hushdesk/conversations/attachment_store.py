"""Storing a customer's attachment: checked, sealed under the contact's key, recorded."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.conversations.attachments import check_attachment
from hushdesk.conversations.models import Attachment, Author, Conversation, Message, ReplyState
from hushdesk.conversations.service import append_message
from hushdesk.crypto.aead import binding
from hushdesk.crypto.columns import KEYRING_INFO_KEY
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.crypto.keyring import Keyring
from hushdesk.infra.db.outcome import on_outcome
from hushdesk.infra.events import EventBus
from hushdesk.infra.ids import uuid7


def attachment_binding(attachment: Attachment) -> bytes:
    """What an attachment's stored file is bound to: its workspace and its row."""
    return binding("attachment", str(attachment.workspace_id), str(attachment.id))


def do_store_attachment(
    session: Session,
    *,
    bus: EventBus,
    files: EncryptedFileStore,
    conversation: Conversation,
    data: bytes,
    file_name: str,
    client_message_id: str | None,
) -> Message:
    """Check ``data`` (type from its bytes, size) and store it as a customer message with the
    file in the encrypted store under the contact's key. The agent does not read attachments:
    the message needs no reply; a person sees it in the conversation. Raises the attachment
    errors of ``hushdesk.conversations.attachments`` before anything is written; a resend with the
    same ``client_message_id`` returns the message stored the first time. The file is
    removed again if the transaction rolls back. Flushes."""
    kind, clean_name = check_attachment(data, file_name=file_name)
    if client_message_id is not None:
        existing = session.scalar(
            select(Message).where(
                Message.conversation_id == conversation.id,
                Message.workspace_id == conversation.workspace_id,
                Message.client_message_id == client_message_id,
            )
        )
        if existing is not None:
            return existing  # a resend: stored once
    message = append_message(
        session,
        bus=bus,
        conversation=conversation,
        author=Author.CUSTOMER,
        body="",
        client_message_id=client_message_id,
        reply_state=ReplyState.SKIPPED,
    )
    attachment = Attachment(
        id=uuid7(),
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        message_id=message.id,
        contact_id=conversation.contact_id,
        media_type=kind.media_type,
        byte_size=len(data),
        file_name=clean_name,
        file_id="",
    )
    keyring: Keyring = session.info[KEYRING_INFO_KEY]
    key = keyring.contact_key_for_writing(
        workspace_id=conversation.workspace_id, contact_id=conversation.contact_id
    )
    stored = files.write([data], key=key, bound_to=attachment_binding(attachment), max_bytes=len(data))
    on_outcome(session, rolled_back=lambda: _forget(files, stored.id))
    attachment.file_id = stored.id
    session.add(attachment)
    session.flush()
    return message


def _forget(files: EncryptedFileStore, file_id: str) -> None:
    files.delete(file_id)
