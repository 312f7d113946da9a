"""Keyed blind indexes: find a row by an encrypted value without decrypting every row.

The index of a value is HMAC-SHA256 under the workspace's index key (a data key of purpose
``index``, wrapped like any other), over the value's kind and its normal form: emails trimmed
and lower-cased, phone numbers in E.164. Equal values in one workspace give equal indexes;
the same value in two workspaces gives unrelated ones, and without the key an index reveals
nothing but equality within its workspace (see docs/threat-model.md).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import uuid

import phonenumbers
from sqlalchemy.orm import Session

from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.models import KeyPurpose

INDEX_BYTES = 32


class IndexKind(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    EXACT = "exact"  # any other identifier, compared exactly as given


class UnindexableValueError(ValueError):
    """The value is not a valid value of its kind (an unparseable phone number, say)."""


def normalise(kind: IndexKind, value: str, *, default_region: str | None = None) -> str:
    """The normal form that equal values share. Raises ``UnindexableValueError``."""
    if kind is IndexKind.EMAIL:
        email = value.strip().lower()
        if "@" not in email:
            raise UnindexableValueError("not an email address")
        return email
    if kind is IndexKind.PHONE:
        try:
            number = phonenumbers.parse(value, default_region)
        except phonenumbers.NumberParseException as exc:
            raise UnindexableValueError("not a phone number") from exc
        if not phonenumbers.is_possible_number(number):
            raise UnindexableValueError("not a phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return value


def compute_index(key_material: bytes, kind: IndexKind, normal_form: str) -> bytes:
    message = kind.value.encode("ascii") + b"\x00" + normal_form.encode("utf-8")
    return hmac.new(key_material, message, hashlib.sha256).digest()


def blind_index(
    keyring: Keyring,
    session: Session,
    *,
    workspace_id: uuid.UUID,
    kind: IndexKind,
    value: str,
    default_region: str | None = None,
) -> bytes:
    """The workspace's blind index of ``value`` (its index key is made on first use, so call
    this in a unit of work that may write). Raises ``UnindexableValueError``."""
    key = keyring.data_key_for_writing(session, workspace_id=workspace_id, purpose=KeyPurpose.INDEX)
    return compute_index(key.material, kind, normalise(kind, value, default_region=default_region))
