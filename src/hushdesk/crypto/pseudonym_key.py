"""The key behind a workspace's pseudonyms (``[EMAIL_3f9a0c1b]`` in redacted text).

It is designed like the blind index key (``blind_index``): a workspace data key of its own
purpose, ``pseudonym``, made at random on first use and wrapped by the master key like every
other data key, and used only as an HMAC-SHA256 key. A purpose of its own rather than the
index key keeps the two apart: a pseudonym never equals a blind index of the same value, and
destroying one key leaves the other's values intact. Workspace key rotation re-encrypts
``data`` keys only, so pseudonyms stay stable across it.

The same value gets the same pseudonym within one workspace and unrelated ones in two
workspaces; without the key a pseudonym cannot be checked against a guessed value.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.models import KeyPurpose


def pseudonym_key(keyring: Keyring, session: Session, *, workspace_id: uuid.UUID) -> bytes:
    """The workspace's 32-byte pseudonym key. It is made (and flushed) on first use, so call
    this in a unit of work that may write. Raises as ``Keyring.data_key_for_writing`` does when
    the key cannot be unwrapped."""
    key = keyring.data_key_for_writing(session, workspace_id=workspace_id, purpose=KeyPurpose.PSEUDONYM)
    return key.material
