"""The encrypted file store: uploads (knowledge-base files, attachments) encrypted at rest.

Each file is encrypted as a stream of AES-256-GCM chunks (``hushdesk.crypto.file_format``)
under its own key derived from a workspace data key, and bound to the record it belongs to.
Neither writing nor reading ever holds more than about two chunks of a file in memory.

On disk a file lives at ``root/ab/cd/<id>``, where ``id`` is 32 random hex digits
(``secrets.token_hex``) and ``ab``, ``cd`` are its first four. The store writes nothing else:
not the user's file name (the caller keeps it, encrypted, in the database), not a hash of the
plaintext (which would show that two files are equal), not the plaintext size. Folders are
0700 and files 0600. A file is written to a temporary file in its folder, flushed to disk and
renamed into place, so a reader never sees a partial file and a failed write leaves nothing.

Deleting a file unlinks it and does not overwrite the disk: the copy left on the disk, like any
in a backup, is ciphertext, and destroying the data key it names makes all of them unreadable.

Thread-safe and multi-process safe: every write goes to a new random name, and a folder removed
by ``delete`` while a write is creating a file in it is made again.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from hushdesk.crypto.aead import DataKey
from hushdesk.crypto.errors import CryptoError, DecryptionError
from hushdesk.crypto.file_format import (
    DEFAULT_CHUNK_BYTES,
    HEADER_BYTES,
    MAX_CHUNKS,
    ChunkOpener,
    ChunkSealer,
    FileHeader,
    check_chunk_bytes,
    plaintext_chunks,
    read_exactly,
    sealed_chunks,
)

FILE_MODE = 0o600
FOLDER_MODE = 0o700
_FILE_ID = re.compile(r"[0-9a-f]{32}")
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_MAKE_FOLDER_ATTEMPTS = 3

KeyLookup = Callable[[uuid.UUID], DataKey]
"""Gives the data key with this id (``Keyring.key_for_reading`` with its session bound), or
raises ``KeyUnavailableError``."""


class FileTooLargeError(CryptoError):
    """The stream had more than ``max_bytes`` bytes; nothing was stored."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the file is larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


class InvalidFileIdError(CryptoError, ValueError):
    """The value is not a file id this store hands out (32 lowercase hex digits)."""


class StoredFileNotFoundError(CryptoError):
    """No file with this id: never written, or deleted."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file just written: its id (to keep in the database), its plaintext size and the id of
    the data key it names (so it is known which files a key rotation must re-encrypt)."""

    id: str
    size: int
    key_id: uuid.UUID


class DecryptingReader:
    """The plaintext of one stored file, in chunks, each given out only after its tag verified.

    Iterate it, inside ``with`` (or call ``close``) so the file is closed if you stop early.
    It raises ``DecryptionError`` for tampering, truncation, appended data, or the wrong key or
    binding. Chunks before a bad one may already have been given out (the file is checked as it
    streams): a caller that gets an exception must treat everything read as failed, for
    example by aborting the HTTP response rather than ending it cleanly. The end of the
    iteration is the end of the file only when no exception came; after one, every further
    ``next`` raises again."""

    def __init__(self, source: BinaryIO, header: FileHeader, opener: ChunkOpener) -> None:
        self._source = source
        self._chunks = sealed_chunks(source, header)
        self._opener = opener
        self._failed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._failed:
            raise DecryptionError("this file already failed to decrypt")
        try:
            sealed, final = next(self._chunks)
            return self._opener.open(sealed, final=final)
        except StopIteration:
            self.close()
            raise
        except BaseException:
            self._failed = True
            self.close()
            raise

    def close(self) -> None:
        """Close the file. Idempotent."""
        self._chunks.close()
        self._source.close()

    def __enter__(self) -> DecryptingReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class EncryptedFileStore:
    """Encrypted files under ``root`` (for example ``data_dir / "uploads"``), which is made
    (0700) on the first write if missing."""

    def __init__(self, root: Path, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        self._root = root
        self._chunk_bytes = check_chunk_bytes(chunk_bytes)

    def path_of(self, file_id: str) -> Path:
        """Where the file with this id lives. Raises ``InvalidFileIdError`` for anything but an
        id this store hands out, before the id comes near the filesystem."""
        if not isinstance(file_id, str) or _FILE_ID.fullmatch(file_id) is None:
            raise InvalidFileIdError("not a stored file id")
        return self._root / file_id[:2] / file_id[2:4] / file_id

    def write(
        self,
        stream: BinaryIO | Iterable[bytes],
        *,
        key: DataKey,
        bound_to: bytes,
        max_bytes: int,
    ) -> StoredFile:
        """Encrypt ``stream`` (a binary file object, read in chunks, or an iterable of byte
        strings) under a new file key derived from ``key``, bound to ``bound_to`` (for example
        ``binding("file", str(workspace_id), str(attachment_id))``), and store it under a new
        random id.

        Raises ``FileTooLargeError`` as soon as more than ``max_bytes`` bytes arrive; on that
        and any other error nothing is left on disk. Not idempotent: each call stores a new
        file. The caller records the id (and its encrypted file name) in the database."""
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        max_bytes = min(max_bytes, MAX_CHUNKS * self._chunk_bytes)
        file_id = secrets.token_hex(16)
        path = self.path_of(file_id)
        header = FileHeader.new(key.id, chunk_bytes=self._chunk_bytes)
        sealer = ChunkSealer(key, header, bound_to)
        temporary, out = self._create_temporary(path.parent)
        size = 0
        try:
            with out:
                out.write(header.encode())
                pieces = _read_pieces(stream, self._chunk_bytes, max_bytes)
                for plaintext, final in plaintext_chunks(pieces, self._chunk_bytes):
                    out.write(sealer.seal(plaintext, final=final))
                    size += len(plaintext)
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            _remove_empty_folders(path.parent)
            raise
        _fsync_folder(path.parent)
        return StoredFile(id=file_id, size=size, key_id=key.id)

    def open(self, file_id: str, *, key: DataKey | KeyLookup, bound_to: bytes) -> DecryptingReader:
        """Open a stored file for reading with the data key its header names: ``key`` itself,
        or the one ``key(key_id)`` gives. Only the header is read here; the chunks are read
        and verified as the reader is iterated (see ``DecryptingReader``).

        Raises ``InvalidFileIdError``, ``StoredFileNotFoundError``, ``CiphertextFormatError``
        (not a file of this format), ``DecryptionError`` (a truncated header, or ``key`` is
        not the key the file names) and whatever a key lookup raises
        (``KeyUnavailableError`` for a destroyed key)."""
        path = self.path_of(file_id)
        try:
            descriptor = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
        except FileNotFoundError as exc:
            raise StoredFileNotFoundError("no such stored file") from exc
        source = os.fdopen(descriptor, "rb", buffering=0)
        try:
            header = FileHeader.decode(read_exactly(source, HEADER_BYTES))
            data_key = key if isinstance(key, DataKey) else key(header.key_id)
            opener = ChunkOpener(data_key, header, bound_to)
        except BaseException:
            source.close()
            raise
        return DecryptingReader(source, header, opener)

    def delete(self, file_id: str) -> bool:
        """Remove a stored file, then its two folders if they are empty (best effort).
        Idempotent: returns whether there was a file to remove. Raises ``InvalidFileIdError``."""
        path = self.path_of(file_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _remove_empty_folders(path.parent)
        return True

    def _create_temporary(self, folder: Path) -> tuple[Path, BinaryIO]:
        """A new, empty 0600 temporary file in ``folder``, making the folders (0700) first."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
        for attempt in range(_MAKE_FOLDER_ATTEMPTS):
            _make_private_folder(self._root)
            _make_private_folder(folder.parent)
            _make_private_folder(folder)
            temporary = folder / f".tmp-{secrets.token_hex(16)}"
            try:
                descriptor = os.open(temporary, flags, FILE_MODE)
            except FileNotFoundError:
                # ``delete`` removed the empty folder between our mkdir and open: make it again.
                if attempt == _MAKE_FOLDER_ATTEMPTS - 1:
                    raise
                continue
            return temporary, os.fdopen(descriptor, "wb")
        raise AssertionError("unreachable")


def _read_pieces(
    stream: BinaryIO | Iterable[bytes], piece_bytes: int, max_bytes: int
) -> Iterator[bytes | bytearray]:
    """The stream's bytes in pieces, raising ``FileTooLargeError`` once more than
    ``max_bytes`` have arrived (without reading further)."""
    pieces: Iterable[object]  # checked below: a caller may hand in str or a memoryview
    if hasattr(stream, "read"):
        read = stream.read
        pieces = iter(lambda: read(piece_bytes), b"")
    else:
        pieces = stream
    total = 0
    for piece in pieces:
        if isinstance(piece, memoryview):
            piece = piece.tobytes()
        if not isinstance(piece, bytes | bytearray):
            raise TypeError("a file stream must give bytes")
        total += len(piece)
        if total > max_bytes:
            raise FileTooLargeError(max_bytes)
        yield piece


def _make_private_folder(folder: Path) -> None:
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=FOLDER_MODE, parents=True)


def _remove_empty_folders(leaf: Path) -> None:
    """Remove ``root/ab/cd`` and then ``root/ab`` if empty; best effort."""
    for folder in (leaf, leaf.parent):
        try:
            folder.rmdir()
        except OSError:  # not empty (other files, or a write in progress), or already gone
            return


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable: without this a crash can lose a file the database names."""
    descriptor = os.open(folder, os.O_RDONLY | _O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
