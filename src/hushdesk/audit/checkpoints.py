"""Signed checkpoints: each chain's head, signed with Ed25519, appended to a file outside the
database.

Someone who can write the database can rewrite a chain and recompute every hash; they cannot
sign the new head without the signing key, which is not in the database, and the old signed
head no longer matches. The key file (``audit-signing.key``, PKCS#8 PEM, 0600) and the
checkpoint file (``audit-checkpoints.jsonl``) live in the keys folder, apart from the data
folder and its backups. The public key is derived from the private key; a deployment can keep a
copy of it elsewhere (``hushdesk audit public-key``) and verify with that copy.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hushdesk.audit.chain import ChainHead, canonical_json

SIGNING_KEY_FILE = "audit-signing.key"
CHECKPOINT_FILE = "audit-checkpoints.jsonl"
_DOMAIN = b"hushdesk.audit.checkpoint.v1\n"


class AuditKeyError(RuntimeError):
    """The signing key file is missing, malformed, or open to group or others."""


class CheckpointFileError(RuntimeError):
    """The checkpoint file has a line that is not a checkpoint (it is never skipped)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    head: ChainHead
    signed_at: dt.datetime
    signature: bytes

    def signed_bytes(self) -> bytes:
        return _signed_bytes(self.head, self.signed_at)


def _signed_bytes(head: ChainHead, signed_at: dt.datetime) -> bytes:
    document = {
        "chain": head.chain,
        "seq": head.seq,
        "hash": head.hash.hex(),
        "signed_at": signed_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
    }
    return _DOMAIN + canonical_json(document)


def sign_head(head: ChainHead, key: Ed25519PrivateKey, *, signed_at: dt.datetime) -> Checkpoint:
    return Checkpoint(head, signed_at, key.sign(_signed_bytes(head, signed_at)))


def signature_valid(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(checkpoint.signature, checkpoint.signed_bytes())
    except InvalidSignature:
        return False
    return True


# ---- the signing key ------------------------------------------------------------------------


def load_or_create_signing_key(keys_dir: Path) -> Ed25519PrivateKey:
    """``keys_dir/audit-signing.key``, created (0600) at first use. When several processes
    start at once exactly one file is created and all of them load it. Raises ``AuditKeyError``
    when the folder is writable by group or others, or the file is readable by them or malformed."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(keys_dir.stat().st_mode) & 0o022:
        raise AuditKeyError(
            f"the keys folder {keys_dir} is writable by group or others; run `chmod 700 {keys_dir}`"
        )
    key_file = keys_dir / SIGNING_KEY_FILE
    if not key_file.exists():
        _create_key_file(key_file)
    return load_signing_key(key_file)


def load_signing_key(key_file: Path) -> Ed25519PrivateKey:
    """Read an existing signing key. Raises ``AuditKeyError``."""
    try:
        mode = stat.S_IMODE(key_file.stat().st_mode)
        data = key_file.read_bytes()
    except OSError as exc:
        raise AuditKeyError(f"cannot read the audit signing key {key_file}") from exc
    if mode & 0o077:
        raise AuditKeyError(
            f"the audit signing key {key_file} is open to group or others; run `chmod 600 {key_file}`"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise AuditKeyError(f"the audit signing key {key_file} is malformed") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"the audit signing key {key_file} is not an Ed25519 key")
    return key


def public_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A PEM public key kept apart from the deployment. Raises ``AuditKeyError``."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise AuditKeyError(f"cannot read an Ed25519 public key from {path}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"{path} is not an Ed25519 public key")
    return key


def _create_key_file(key_file: Path) -> None:
    """Write the whole key under a temporary name, then link it into place: ``link`` fails if
    the name exists, so racing starters agree on one key and nobody reads a half-written file."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = key_file.parent / f".{SIGNING_KEY_FILE}.{uuid.uuid4().hex}.tmp"
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(pem)
            stream.flush()
            os.fsync(stream.fileno())
        key_file.hardlink_to(temporary)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_folder(key_file.parent)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- the checkpoint file --------------------------------------------------------------------


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append one JSON line (O_APPEND, one write, fsync): concurrent writers never interleave
    within a line, and a line once written is never rewritten."""
    line = {
        "chain": checkpoint.head.chain,
        "seq": checkpoint.head.seq,
        "hash": checkpoint.head.hash.hex(),
        "signed_at": checkpoint.signed_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "signature": base64.b64encode(checkpoint.signature).decode(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, canonical_json(line) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def latest_checkpoints(path: Path) -> dict[str, Checkpoint]:
    """The checkpoint with the highest seq of each chain (empty when the file does not exist).
    Signatures are not checked here. Raises ``CheckpointFileError`` on a malformed line."""
    if not path.exists():
        return {}
    latest: dict[str, Checkpoint] = {}
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            checkpoint = _parse_line(raw, path, number)
            known = latest.get(checkpoint.head.chain)
            if known is None or checkpoint.head.seq >= known.head.seq:
                latest[checkpoint.head.chain] = checkpoint
    return latest


def _parse_line(raw: bytes, path: Path, number: int) -> Checkpoint:
    try:
        line = json.loads(raw)
        head = ChainHead(str(line["chain"]), int(line["seq"]), bytes.fromhex(line["hash"]))
        signed_at = dt.datetime.fromisoformat(line["signed_at"])
        signature = base64.b64decode(line["signature"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointFileError(f"{path} line {number} is not a checkpoint") from exc
    if signed_at.tzinfo is None:
        raise CheckpointFileError(f"{path} line {number} has a naive signed_at")
    return Checkpoint(head, signed_at, signature)
