"""AES-256-GCM with 96-bit random nonces and a versioned, self-describing ciphertext format.

Format v1 (all lengths fixed)::

    version (1 byte, 0x01) | key id (16 bytes, UUID) | nonce (12 bytes) | ciphertext | tag (16)

The key id names the exact key version that sealed the value, so decryption never tries
several keys. The associated data is the header (version and key id) followed by the value's
*binding*: a canonical encoding of where the value lives (workspace, table, column, row id).
A ciphertext copied to another row, column or workspace, or given another key id, fails to
authenticate.

Random 96-bit nonces are safe up to 2**32 encryptions under one key (NIST SP 800-38D, 8.3);
the keyring counts encryptions per key and rotates long before that (``NONCE_BUDGET``).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hushdesk.crypto.errors import CiphertextFormatError, DecryptionError

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = 1 + 16
OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES
# Rotate a key after this many encryptions: 2**30, a quarter of the 2**32 random-nonce limit.
NONCE_BUDGET = 2**30
_BINDING_TAG = b"hushdesk-binding-v1"


@dataclass(frozen=True, slots=True)
class DataKey:
    """One version of a data key: its id (written into every ciphertext) and its 256 bits."""

    id: uuid.UUID
    material: bytes = field(repr=False)
    # Derived once: the AESGCM object (its key schedule) and the 17-byte header.
    cipher: AESGCM = field(init=False, repr=False, compare=False)
    header: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_BYTES:
            raise ValueError("a data key is 32 bytes")
        object.__setattr__(self, "cipher", AESGCM(self.material))
        object.__setattr__(self, "header", bytes([VERSION]) + self.id.bytes)

    @classmethod
    def generate(cls, key_id: uuid.UUID) -> DataKey:
        return cls(key_id, AESGCM.generate_key(bit_length=256))


def binding(*parts: str) -> bytes:
    """The canonical associated data for a value: length-prefixed UTF-8 parts, so that no two
    different tuples encode the same (``("ab", "c")`` differs from ``("a", "bc")``)."""
    encoded = bytearray(_BINDING_TAG)
    for part in parts:
        raw = part.encode("utf-8")
        encoded += len(raw).to_bytes(4, "big") + raw
    return bytes(encoded)


def column_binding(*, workspace_id: uuid.UUID, table: str, column: str, row_id: uuid.UUID) -> bytes:
    """The binding of a database value to its workspace, table, column and row: the
    length-prefixed (table, column) part, then the two 16-byte ids (fixed length, so the
    encoding stays injective)."""
    return _column_prefix(table, column) + workspace_id.bytes + row_id.bytes


@lru_cache(maxsize=1024)
def _column_prefix(table: str, column: str) -> bytes:
    return binding("column", table, column)


def key_id_bytes(ciphertext: bytes) -> bytes:
    """The 16 bytes of the key id in a ciphertext's header. Raises ``CiphertextFormatError``."""
    if len(ciphertext) < OVERHEAD or ciphertext[0] != VERSION:
        raise CiphertextFormatError("not a hushdesk v1 ciphertext")
    return ciphertext[1:HEADER_BYTES]


def encrypt(key: DataKey, plaintext: bytes, *, bound_to: bytes) -> bytes:
    """Seal ``plaintext`` under ``key``, bound to ``bound_to`` (see ``binding``)."""
    nonce = os.urandom(NONCE_BYTES)
    return key.header + nonce + key.cipher.encrypt(nonce, plaintext, key.header + bound_to)


def key_id_of(ciphertext: bytes) -> uuid.UUID:
    """The id of the key that sealed ``ciphertext``. Raises ``CiphertextFormatError``."""
    return uuid.UUID(bytes=key_id_bytes(ciphertext))


def decrypt(key: DataKey, ciphertext: bytes, *, bound_to: bytes) -> bytes:
    """Open ``ciphertext``. Raises ``CiphertextFormatError`` for a malformed value and
    ``DecryptionError`` when the key, the binding or any bit is wrong."""
    if len(ciphertext) < OVERHEAD or ciphertext[0] != VERSION:
        raise CiphertextFormatError("not a hushdesk v1 ciphertext")
    if ciphertext[:HEADER_BYTES] != key.header:
        raise DecryptionError("the ciphertext names another key")
    nonce = ciphertext[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
    try:
        return key.cipher.decrypt(nonce, ciphertext[HEADER_BYTES + NONCE_BYTES :], key.header + bound_to)
    except InvalidTag as exc:
        raise DecryptionError("authentication failed") from exc
