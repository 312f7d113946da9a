"""The interface every master-key (KEK) provider implements, and the checks they share.

A provider wraps (encrypts) and unwraps small keys, such as a workspace's data keys, under a
key-encryption key (KEK) that never leaves the provider: not into the database, not into an
error message. Each wrap is bound to an *encryption context*, a small mapping that names what
the wrapped key belongs to (for example ``{"purpose": "workspace-dek", "workspace": "<uuid>",
"key": "<uuid>"}``); unwrapping with any other context fails, so a wrapped key copied to
another workspace or row is useless there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from hushdesk.crypto.errors import KeyProviderError

# AWS KMS accepts at most 4096 bytes of plaintext; every provider keeps the same limit so
# that a deployment can move between providers without surprises.
MAX_WRAPPED_KEY_BYTES = 4096


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A key sealed by a provider: the id of the KEK that sealed it and the opaque blob.

    Both are safe to store beside the data: without the KEK the blob reveals nothing.
    """

    kek_id: str
    blob: bytes = field(repr=False)


class KeyProvider(Protocol):
    """A source of key-encryption keys. Every failure raises ``KeyProviderError``, whose
    message never carries key material, plaintext or ciphertext."""

    @property
    def name(self) -> str:
        """``"local"`` or ``"aws-kms"``."""
        ...

    def current_kek_id(self) -> str:
        """The id of the KEK that new wraps use."""
        ...

    def wrap(self, key: bytes, *, context: Mapping[str, str]) -> WrappedKey:
        """Seal ``key`` (1 to 4096 bytes) under the current KEK, bound to ``context``
        (non-empty). Not idempotent: each call gives a different blob."""
        ...

    def unwrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> bytes:
        """Open ``wrapped`` with the KEK it names (never trying others). Raises
        ``KeyProviderError`` for an unknown KEK, another context or a tampered blob."""
        ...

    def rotate(self) -> str:
        """Make a new KEK current and return its id; blobs sealed under older KEKs still
        unwrap. Raises ``KeyProviderError`` where the provider cannot rotate."""
        ...


def check_context(context: Mapping[str, str]) -> None:
    """Refuse an empty context, an empty name, or a name or value that is not a string.

    An empty context would bind nothing, and the wrong type would surface deep inside a
    cryptographic library or SDK with the value in its message.
    """
    if not context:
        raise KeyProviderError("an encryption context is required: name what the key belongs to")
    # Typed as objects: callers are typed, but the check is for the ones that lie.
    items: Iterable[tuple[object, object]] = context.items()
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str):
            raise KeyProviderError("encryption context names and values must be strings")
        if not name:
            raise KeyProviderError("encryption context names must not be empty")


def check_wrap_request(key: object, context: Mapping[str, str]) -> None:
    """Refuse a key that is not 1 to ``MAX_WRAPPED_KEY_BYTES`` bytes, and a bad context."""
    if not isinstance(key, bytes):
        raise KeyProviderError("the key to wrap must be bytes")
    if not 1 <= len(key) <= MAX_WRAPPED_KEY_BYTES:
        raise KeyProviderError(f"the key to wrap must be 1 to {MAX_WRAPPED_KEY_BYTES} bytes")
    check_context(context)
