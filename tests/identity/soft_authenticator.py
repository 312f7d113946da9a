"""A software WebAuthn authenticator for tests that have no browser: an EC P-256 key, a
"none" attestation and real ES256 assertions, built as an authenticator and a browser would
(authenticator data, CBOR attestation object, client data JSON), so that the server-side
checks of the ``webauthn`` package run on genuine bytes."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

_USER_PRESENT = 0x01
_USER_VERIFIED = 0x04
_ATTESTED_DATA = 0x40
_ZERO_AAGUID = bytes(16)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class SoftAuthenticator:
    """One credential on one authenticator. ``sign_count`` is the counter the next assertion
    reports after incrementing it; ``counts`` False makes it report 0 always (as many platform
    authenticators do). ``user_verified`` sets the UV flag."""

    rp_id: str
    origin: str
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    key: ec.EllipticCurvePrivateKey = field(default_factory=_new_key)
    sign_count: int = 0
    counts: bool = True
    user_verified: bool = True
    user_handle: bytes | None = None

    def create(
        self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None
    ) -> dict[str, Any]:
        """The browser's JSON for ``navigator.credentials.create`` answering ``options``."""
        self.user_handle = from_b64url(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        public_key = self.key.public_key().public_numbers()
        cose_key = {
            1: 2,
            3: -7,
            -1: 1,
            -2: public_key.x.to_bytes(32, "big"),
            -3: public_key.y.to_bytes(32, "big"),
        }
        attested = _ZERO_AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id
        auth_data = (
            self._auth_data(rp_id, extra_flags=_ATTESTED_DATA, count=0) + attested + cbor2.dumps(cose_key)
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
        }

    def get(
        self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None
    ) -> dict[str, Any]:
        """The browser's JSON for ``navigator.credentials.get`` answering ``options``."""
        if self.counts:
            self.sign_count += 1
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(rp_id, extra_flags=0, count=self.sign_count if self.counts else 0)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if self.user_handle is not None:
            response["userHandle"] = b64url(self.user_handle)
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        }

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        body = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    def _auth_data(self, rp_id: str | None, *, extra_flags: int, count: int) -> bytes:
        flags = _USER_PRESENT | extra_flags | (_USER_VERIFIED if self.user_verified else 0)
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode("utf-8")).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", count)
