"""Errors of the crypto package. None of them carries plaintext, key material or ciphertext."""

from __future__ import annotations


class CryptoError(Exception):
    """Base class."""


class CiphertextFormatError(CryptoError):
    """The value is not a ciphertext of a format this version reads."""


class DecryptionError(CryptoError):
    """Authentication failed: wrong key, wrong binding (a moved value), or tampering."""


class KeyUnavailableError(CryptoError):
    """The key a ciphertext names does not exist, or has been destroyed (crypto-shredded)."""


class KeyProviderError(CryptoError):
    """The key provider (local key file, KMS) could not wrap or unwrap a key."""
