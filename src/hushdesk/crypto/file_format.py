"""The on-disk format of an encrypted file: a header, then AES-256-GCM chunks (STREAM).

Format v1::

    header:  magic "HDEF" (4) | version 0x01 (1) | data key id (16, UUID) | salt (32)
             | plaintext bytes per chunk (4, big-endian)
    chunks:  sealed chunk 0 | sealed chunk 1 | ... | sealed final chunk

Every chunk but the last holds exactly ``chunk_bytes`` of plaintext; the last holds 0 to
``chunk_bytes`` (0 only for an empty file). A sealed chunk is its ciphertext followed by the
16-byte tag.

Keys and nonces. The data key named in the header never encrypts anything itself: each file
gets its own AES-256 key, derived with HKDF-SHA256 from the data key, the file's random 32-byte
salt and the header. So a file spends none of the data key's nonce budget, and its chunks can
use deterministic nonces (chunk index, final flag) without ever repeating one under a key.

Order and truncation (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár,
2015). Each chunk's associated data is ``header | chunk index (8) | final flag (1) |
binding``, and its nonce is ``chunk index (11) | final flag (1)``. Reordered, duplicated or
dropped chunks fail at the first chunk out of place; cutting the file at a chunk boundary
leaves a last chunk that was sealed as "not final", and appending anything turns the real
final chunk into a "not final" one: both fail. The header is in every chunk's associated data,
and the binding (where the file belongs) too, so a file copied to another record fails.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hushdesk.crypto.aead import KEY_BYTES, TAG_BYTES, DataKey
from hushdesk.crypto.errors import CiphertextFormatError, DecryptionError

MAGIC = b"HDEF"
VERSION = 1
SALT_BYTES = 32
HEADER_BYTES = len(MAGIC) + 1 + 16 + SALT_BYTES + 4
DEFAULT_CHUNK_BYTES = 64 * 1024
MIN_CHUNK_BYTES = 16
# A reader holds two sealed chunks in memory; a header may not make it allocate more than this.
MAX_CHUNK_BYTES = 8 * 1024 * 1024
# The chunk index has 8 bytes in the associated data and 11 in the nonce; 2**32 chunks of
# 64 KiB is 256 TiB, far past any upload limit.
MAX_CHUNKS = 2**32
_KDF_LABEL = b"hushdesk-file-key-v1"


def check_chunk_bytes(chunk_bytes: int) -> int:
    """``chunk_bytes`` if it is a chunk size this format allows; else ``ValueError``."""
    if not MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES:
        raise ValueError(f"chunk size must be between {MIN_CHUNK_BYTES} and {MAX_CHUNK_BYTES} bytes")
    return chunk_bytes


@dataclass(frozen=True, slots=True)
class FileHeader:
    """The header of one encrypted file: which data key, the file's salt and its chunk size."""

    key_id: uuid.UUID
    salt: bytes = field(repr=False)
    chunk_bytes: int

    @classmethod
    def new(cls, key_id: uuid.UUID, *, chunk_bytes: int) -> FileHeader:
        """A header with a fresh random salt (so a fresh file key)."""
        return cls(key_id, secrets.token_bytes(SALT_BYTES), check_chunk_bytes(chunk_bytes))

    def encode(self) -> bytes:
        return MAGIC + bytes([VERSION]) + self.key_id.bytes + self.salt + self.chunk_bytes.to_bytes(4, "big")

    @classmethod
    def decode(cls, raw: bytes) -> FileHeader:
        """Parse a header. Raises ``DecryptionError`` if ``raw`` is too short (a truncated file)
        and ``CiphertextFormatError`` if it is not a v1 header with an allowed chunk size.

        Nothing here is authenticated yet: the header is checked by every chunk's tag."""
        if len(raw) < HEADER_BYTES:
            raise DecryptionError("the file is truncated")
        if raw[: len(MAGIC)] != MAGIC or raw[len(MAGIC)] != VERSION:
            raise CiphertextFormatError("not a hushdesk v1 encrypted file")
        offset = len(MAGIC) + 1
        key_id = uuid.UUID(bytes=raw[offset : offset + 16])
        salt = raw[offset + 16 : offset + 16 + SALT_BYTES]
        chunk_bytes = int.from_bytes(raw[offset + 16 + SALT_BYTES : HEADER_BYTES], "big")
        try:
            check_chunk_bytes(chunk_bytes)
        except ValueError as exc:
            raise CiphertextFormatError("the file header names an impossible chunk size") from exc
        return cls(key_id, salt, chunk_bytes)

    @property
    def sealed_chunk_bytes(self) -> int:
        """The on-disk size of every chunk but the last."""
        return self.chunk_bytes + TAG_BYTES


class _Chunks:
    """The per-file key and the nonce and associated data of each chunk."""

    def __init__(self, key: DataKey, header: FileHeader, bound_to: bytes) -> None:
        if key.id != header.key_id:
            # Never trial-decrypt: the header says which key, and this is not it.
            raise DecryptionError("the file names another key")
        self._header_bytes = header.encode()
        file_key = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=header.salt,
            info=_KDF_LABEL + self._header_bytes,
        ).derive(key.material)
        self._aead = AESGCM(file_key)
        self._bound_to = bound_to
        self._index = 0
        self._finished = False

    def _next_nonce_and_aad(self, *, final: bool) -> tuple[bytes, bytes]:
        if self._finished:
            raise DecryptionError("data after the final chunk")
        if self._index >= MAX_CHUNKS:
            raise DecryptionError("too many chunks")
        flag = b"\x01" if final else b"\x00"
        nonce = self._index.to_bytes(11, "big") + flag
        aad = self._header_bytes + self._index.to_bytes(8, "big") + flag + self._bound_to
        self._index += 1
        self._finished = final
        return nonce, aad


class ChunkSealer(_Chunks):
    """Seals one file's chunks, in order. Raises ``DecryptionError`` if the key is not the one
    the header names (a programming error on this side)."""

    def seal(self, plaintext: bytes | bytearray, *, final: bool) -> bytes:
        nonce, aad = self._next_nonce_and_aad(final=final)
        return self._aead.encrypt(nonce, plaintext, aad)


class ChunkOpener(_Chunks):
    """Opens one file's chunks, in order. Raises ``DecryptionError`` for the wrong key."""

    def open(self, sealed: bytes, *, final: bool) -> bytes:
        """The chunk's plaintext, returned only once its tag is verified. Raises
        ``DecryptionError`` for a chunk that is tampered with, out of place, or wrongly final."""
        nonce, aad = self._next_nonce_and_aad(final=final)
        try:
            return self._aead.decrypt(nonce, sealed, aad)
        except InvalidTag as exc:
            raise DecryptionError("authentication failed") from exc


def plaintext_chunks(pieces: Iterable[bytes | bytearray], chunk_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """Regroup ``pieces`` of any sizes into ``(chunk, final)`` pairs: full chunks, then one
    final chunk of 0 to ``chunk_bytes`` bytes. A full chunk is only given out once a later byte
    has arrived, so that exactly the last chunk is marked final. Holds at most one chunk."""
    buffer = bytearray()
    for piece in pieces:
        view = memoryview(piece)
        while len(view):
            if len(buffer) == chunk_bytes:
                yield bytes(buffer), False
                buffer.clear()
            take = min(chunk_bytes - len(buffer), len(view))
            buffer += view[:take]
            view = view[take:]
    yield bytes(buffer), True


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes | None: ...


def read_exactly(source: _Readable, size: int) -> bytes:
    """Up to ``size`` bytes; fewer only at the end of ``source``."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        part = source.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def sealed_chunks(source: _Readable, header: FileHeader) -> Generator[tuple[bytes, bool], None, None]:
    """Split the rest of an encrypted file into ``(sealed chunk, final)`` pairs, reading one
    chunk ahead to know which is last. Raises ``DecryptionError`` for a file with no chunk."""
    size = header.sealed_chunk_bytes
    pending = read_exactly(source, size)
    if len(pending) < TAG_BYTES:
        raise DecryptionError("the file is truncated")
    while True:
        following = read_exactly(source, size)
        if not following:
            yield pending, True
            return
        # ``pending`` is full-size here: a short read happens only at the end of the file.
        yield pending, False
        pending = following
