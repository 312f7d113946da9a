"""The local master-key provider: KEKs in a key file in the keys folder, or one KEK from the
environment.

Key file (``<keys_dir>/master.key``, mode 0600, folder 0700)::

    {"version": 1, "current": "<kek id>", "keys": {"<kek id>": "<base64 of 32 bytes>", ...}}

KEK ids are UUIDv7. A wrap is ``aead.encrypt`` under the current KEK, with the encryption
context as associated data, so the blob names its KEK in its header and is bound to its
context. The file is created at first use and replaced, never edited in place, on rotation.

Only POSIX systems are supported: the file's safety rests on its mode and on ``flock``.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import itertools
import json
import os
import stat
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hushdesk.crypto import aead
from hushdesk.crypto.errors import CryptoError, KeyProviderError
from hushdesk.crypto.providers.base import WrappedKey, check_context, check_wrap_request
from hushdesk.infra.ids import uuid7

KEY_FILE_NAME = "master.key"
_LOCK_FILE_NAME = "master.key.lock"
_FILE_VERSION = 1
_MAX_KEY_FILE_BYTES = 1_048_576
_ENV_KEK_ID_LABEL = b"hushdesk-environment-kek-id-v1"


@dataclass(frozen=True, slots=True)
class _KeySet:
    """The KEKs a provider knows, by id, and which one new wraps use. Replaced, never mutated,
    so a reader on another thread always sees a consistent pair."""

    current: uuid.UUID
    keks: Mapping[uuid.UUID, bytes] = field(repr=False)

    @classmethod
    def first(cls) -> _KeySet:
        kek_id = uuid7()
        return cls(kek_id, {kek_id: os.urandom(aead.KEY_BYTES)})

    def with_new_current(self) -> _KeySet:
        new_id = uuid7()
        return _KeySet(new_id, {**self.keks, new_id: os.urandom(aead.KEY_BYTES)})


class LocalKeyProvider:
    """KEKs held by this process: from the key file (``from_keys_dir``) or from a base64
    environment value (``from_base64``). Thread-safe."""

    def __init__(self, keys: _KeySet, *, key_file: Path | None) -> None:
        """Use ``from_keys_dir`` or ``from_base64``."""
        self._keys = keys
        self._key_file = key_file
        self._lock = threading.Lock()

    @classmethod
    def from_keys_dir(cls, keys_dir: Path) -> LocalKeyProvider:
        """Load ``keys_dir/master.key``, creating the folder (0700) and the file (0600, one
        new KEK) at first use. Safe when several threads or processes start at once: exactly
        one file is created and all of them load it.

        Raises ``KeyProviderError`` when the file or folder is open to group or others, or the
        file is malformed or unreadable.
        """
        key_file = keys_dir / KEY_FILE_NAME
        _ensure_private_folder(keys_dir)
        if not key_file.exists():
            _create_key_file(key_file)
        return cls(_read_key_file(key_file), key_file=key_file)

    @classmethod
    def from_base64(cls, value: str) -> LocalKeyProvider:
        """One KEK from base64 text (the caller reads ``HUSHDESK_MASTER_KEY``), which must
        decode to exactly 32 bytes. Its id is derived from the key by HMAC, so the same
        value always gets the same id and a changed value is told apart from a tampered blob.
        Raises ``KeyProviderError``; the message never contains the value."""
        try:
            material = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeyProviderError("the environment master key is not valid base64") from exc
        if len(material) != aead.KEY_BYTES:
            raise KeyProviderError(
                f"the environment master key must be {aead.KEY_BYTES} bytes, base64-encoded "
                f"(for example `openssl rand -base64 32`); it decodes to {len(material)} bytes"
            )
        kek_id = _environment_kek_id(material)
        return cls(_KeySet(kek_id, {kek_id: material}), key_file=None)

    @property
    def name(self) -> str:
        return "local"

    @property
    def key_file(self) -> Path | None:
        """The key file, or ``None`` for an environment key."""
        return self._key_file

    def current_kek_id(self) -> str:
        """The id of the KEK new wraps use, as this process knows it (see ``rotate``)."""
        return str(self._keys.current)

    def wrap(self, key: bytes, *, context: Mapping[str, str]) -> WrappedKey:
        """Seal ``key`` under the current KEK, bound to ``context``."""
        check_wrap_request(key, context)
        keys = self._keys
        kek = aead.DataKey(keys.current, keys.keks[keys.current])
        blob = aead.encrypt(kek, key, bound_to=_context_binding(context))
        return WrappedKey(kek_id=str(keys.current), blob=blob)

    def unwrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> bytes:
        """Open ``wrapped`` with the KEK its ``kek_id`` names. A KEK id this process does not
        know makes it re-read the key file once (another process may have rotated).

        Raises ``KeyProviderError`` for an unknown KEK, another context or a tampered blob.
        """
        check_context(context)
        kek_id = _parse_kek_id(wrapped.kek_id)
        kek = aead.DataKey(kek_id, self._kek_material(kek_id))
        try:
            return aead.decrypt(kek, wrapped.blob, bound_to=_context_binding(context))
        except CryptoError as exc:
            raise KeyProviderError(
                "the wrapped key did not authenticate: another encryption context, another KEK "
                "or a damaged blob"
            ) from exc

    def rotate(self) -> str:
        """Add a new KEK to the key file, make it current and return its id; older KEKs stay
        in the file and keep unwrapping.

        Locks the key file's folder (``flock``) and re-reads the file first, so rotations from
        two processes both survive. The file is replaced atomically (temp file 0600, fsync,
        rename). Other processes keep wrapping under the KEK they loaded, which stays valid,
        until they restart; they unwrap blobs under the new KEK by re-reading the file.

        Raises ``KeyProviderError`` for an environment key: rotate that by starting with a key
        file, or re-wrap every data key under a new environment key with both at hand.
        """
        key_file = self._key_file
        if key_file is None:
            raise KeyProviderError(
                "rotation is not supported for a master key from the environment: the operator "
                "must supply both the old and the new key to re-wrap the data keys; use a key "
                "file (HUSHDESK_KEYS_DIR) to rotate in place"
            )
        with self._lock, _folder_lock(key_file.parent):
            rotated = _read_key_file(key_file).with_new_current()
            _replace_file(key_file, _serialise(rotated))
            self._keys = rotated
        return str(rotated.current)

    def _kek_material(self, kek_id: uuid.UUID) -> bytes:
        material = self._keys.keks.get(kek_id)
        if material is None and self._key_file is not None:
            with self._lock:
                self._keys = _read_key_file(self._key_file)
            material = self._keys.keks.get(kek_id)
        if material is None:
            raise KeyProviderError(f"unknown KEK {kek_id}: this master key does not hold it")
        return material


def _context_binding(context: Mapping[str, str]) -> bytes:
    # Sorted, so that the same mapping always binds the same bytes; length-prefixed by
    # ``binding``, so that no two different mappings do.
    return aead.binding("kek-wrap", *itertools.chain.from_iterable(sorted(context.items())))


def _parse_kek_id(value: str) -> uuid.UUID:
    try:
        parsed = uuid.UUID(value)
    except (ValueError, TypeError, AttributeError) as exc:
        raise KeyProviderError("unknown KEK: the id is not a local KEK id") from exc
    if str(parsed) != value:
        raise KeyProviderError("unknown KEK: the id is not a local KEK id")
    return parsed


def _environment_kek_id(material: bytes) -> uuid.UUID:
    # A one-way identifier (RFC 9562 UUIDv8 layout): it names the key without revealing it.
    digest = hmac.new(material, _ENV_KEK_ID_LABEL, hashlib.sha256).digest()
    value = int.from_bytes(digest[:16], "big")
    value = (value & ~(0xF << 76)) | (0x8 << 76)
    value = (value & ~(0b11 << 62)) | (0b10 << 62)
    return uuid.UUID(int=value)


# ---- the key file ---------------------------------------------------------------------------


def _ensure_private_folder(folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    else:
        # mkdir's mode is filtered by the umask, which may take away the owner's own bits.
        folder.chmod(0o700)
    mode = folder.stat().st_mode
    if not stat.S_ISDIR(mode):
        raise KeyProviderError(f"the keys folder {folder} is not a folder")
    # Whoever can write the folder can swap the key file for a key of their own.
    if mode & 0o022:
        raise KeyProviderError(
            f"the keys folder {folder} is writable by group or others; run `chmod 700 {folder}`"
        )


def _create_key_file(key_file: Path) -> None:
    """Write a complete key file under a temporary name, then link it into place. ``link``
    fails if the name exists, so when several starters race exactly one file wins, and no
    reader ever sees a half-written one (which O_EXCL on the final name alone would allow)."""
    temporary = _write_temporary(key_file.parent, _serialise(_KeySet.first()))
    try:
        key_file.hardlink_to(temporary)
    except FileExistsError:
        pass
    except OSError as exc:
        raise KeyProviderError(f"cannot create the key file {key_file}") from exc
    finally:
        temporary.unlink()
    _fsync_folder(key_file.parent)


def _replace_file(key_file: Path, data: bytes) -> None:
    temporary = _write_temporary(key_file.parent, data)
    try:
        temporary.replace(key_file)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise KeyProviderError(f"cannot replace the key file {key_file}") from exc
    _fsync_folder(key_file.parent)


def _write_temporary(folder: Path, data: bytes) -> Path:
    temporary = folder / f".{KEY_FILE_NAME}.{uuid.uuid4().hex}.tmp"
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temporary, flags, 0o600)
    except OSError as exc:
        raise KeyProviderError(f"cannot write in the keys folder {folder}") from exc
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _fsync_folder(folder: Path) -> None:
    # Makes the new directory entry itself durable, not only the file's contents.
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the keys folder's lock file, held for a read-modify-write of
    the key file. Each call opens its own file description, so it excludes other threads of
    this process as well as other processes."""
    flags = os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(folder / _LOCK_FILE_NAME, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _read_key_file(key_file: Path) -> _KeySet:
    try:
        fd = os.open(key_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise KeyProviderError(f"cannot open the key file {key_file}") from exc
    with os.fdopen(fd, "rb") as stream:
        mode = os.fstat(stream.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise KeyProviderError(f"the key file {key_file} is not a regular file")
        if mode & 0o077:
            raise KeyProviderError(
                f"the key file {key_file} is open to group or others (mode "
                f"{stat.S_IMODE(mode):04o}); run `chmod 600 {key_file}` and start again"
            )
        raw = stream.read(_MAX_KEY_FILE_BYTES + 1)
    if len(raw) > _MAX_KEY_FILE_BYTES:
        raise KeyProviderError(f"the key file {key_file} is too large to be a key file")
    return _parse(raw, key_file)


def _parse(raw: bytes, key_file: Path) -> _KeySet:
    # The message names the file and never quotes it: the file is key material.
    try:
        return _parse_document(json.loads(raw))
    except (ValueError, TypeError, KeyProviderError) as exc:
        raise KeyProviderError(f"the key file {key_file} is malformed") from exc


def _parse_document(document: object) -> _KeySet:
    """The key set a decoded key file describes; ``ValueError`` (or ``KeyProviderError`` for a
    bad id) when it is not a version-1 key file. ``binascii.Error`` is a ``ValueError``."""
    if not isinstance(document, dict) or document.get("version") != _FILE_VERSION:
        raise ValueError("not a version 1 key file")
    current, entries = document.get("current"), document.get("keys")
    if not isinstance(current, str) or not isinstance(entries, dict) or not entries:
        raise ValueError("no current KEK or no KEKs")
    keks: dict[uuid.UUID, bytes] = {}
    for kek_id, encoded in entries.items():
        material = base64.b64decode(encoded, validate=True)
        if len(material) != aead.KEY_BYTES:
            raise ValueError("a KEK is not 32 bytes")
        keks[_parse_kek_id(kek_id)] = material
    current_id = _parse_kek_id(current)
    if current_id not in keks:
        raise ValueError("the current KEK is missing")
    return _KeySet(current_id, keks)


def _serialise(keys: _KeySet) -> bytes:
    document = {
        "version": _FILE_VERSION,
        "current": str(keys.current),
        "keys": {str(kek_id): base64.b64encode(kek).decode("ascii") for kek_id, kek in keys.keks.items()},
    }
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"
