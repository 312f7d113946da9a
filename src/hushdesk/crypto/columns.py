"""Encrypted columns: models declare them, and never handle keys.

    class Note(EncryptedModel, UUIDPrimaryKey, Base):
        workspace_id: Mapped[uuid.UUID]
        body: Mapped[str] = mapped_column(EncryptedText())
        contact_id: Mapped[uuid.UUID]
        phone: Mapped[str] = mapped_column(EncryptedText(contact_attribute="contact_id"))

How it works. A type decorator alone sees a value, not its row, so the sealing happens in
session events that see the whole object (``install_encryption``):

- before a flush, every new or changed encrypted attribute is sealed with AES-256-GCM under
  the workspace's active data key, or the contact's key when the column names a
  ``contact_attribute``, bound to (workspace, table, column, row id); a row id is assigned
  first if the object has none yet. After the flush the attribute holds the plaintext again.
- when a row is loaded or refreshed, each encrypted attribute is opened with the key its
  ciphertext names.

The column type itself only accepts sealed values: plaintext that reaches the database layer
by any other path (a bulk ``update()``, a session without the keyring) is refused with
``PlaintextRefusedError`` instead of being written.
"""

from __future__ import annotations

import json
import uuid
from abc import ABCMeta, abstractmethod
from collections import Counter
from typing import Any, ClassVar

from sqlalchemy import Dialect, LargeBinary, event, inspect
from sqlalchemy.orm import QueryContext, Session, sessionmaker
from sqlalchemy.orm.attributes import get_history, set_committed_value
from sqlalchemy.types import TypeDecorator

from hushdesk.crypto.aead import DataKey, column_binding, decrypt, encrypt
from hushdesk.crypto.errors import CryptoError
from hushdesk.crypto.keyring import Keyring
from hushdesk.infra.ids import uuid7

KEYRING_INFO_KEY = "hushdesk.keyring"
_PENDING_PLAINTEXT = "hushdesk.pending_plaintext"


class PlaintextRefusedError(CryptoError):
    """Plaintext reached an encrypted column without being sealed."""


class Sealed:
    """A ciphertext on its way to or from the database."""

    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: bytes) -> None:
        self.ciphertext = ciphertext

    def __repr__(self) -> str:
        return f"Sealed({len(self.ciphertext)} bytes)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)


class EncryptedType(TypeDecorator[Any], metaclass=ABCMeta):
    """Base of the encrypted column types: stores sealed bytes, refuses anything else.
    Concrete types say how their values become bytes (``encode``) and back (``decode``)."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, *, contact_attribute: str | None = None) -> None:
        super().__init__()
        self.contact_attribute = contact_attribute

    @abstractmethod
    def encode(self, value: Any) -> bytes: ...

    @abstractmethod
    def decode(self, raw: bytes) -> Any: ...

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return value.ciphertext
        raise PlaintextRefusedError("plaintext reached an encrypted column unsealed")

    def process_result_value(self, value: Any, dialect: Dialect) -> Sealed | None:
        return None if value is None else Sealed(bytes(value))


class EncryptedText(EncryptedType):
    cache_ok = True

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise TypeError("EncryptedText holds str")
        return value.encode("utf-8")

    def decode(self, raw: bytes) -> str:
        return raw.decode("utf-8")


class EncryptedBytes(EncryptedType):
    cache_ok = True

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, bytes):
            raise TypeError("EncryptedBytes holds bytes")
        return value

    def decode(self, raw: bytes) -> bytes:
        return raw


class EncryptedJSON(EncryptedType):
    cache_ok = True

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")

    def decode(self, raw: bytes) -> Any:
        return json.loads(raw)


class EncryptedModel:
    """Mixin for models with encrypted columns. The model must have ``id`` and
    ``workspace_id`` attributes. Registers the load and refresh hooks for the class."""

    __encrypted_columns__: ClassVar[dict[str, tuple[str, EncryptedType]]]

    @classmethod
    def __declare_last__(cls) -> None:
        mapper = inspect(cls)
        columns: dict[str, tuple[str, EncryptedType]] = {}
        for attribute in mapper.column_attrs:
            column = attribute.columns[0]
            if isinstance(column.type, EncryptedType):
                columns[attribute.key] = (column.name, column.type)
        cls.__encrypted_columns__ = columns
        event.listen(cls, "load", _open_on_load)
        event.listen(cls, "refresh", _open_on_refresh)


def seal_value(column_type: EncryptedType, key: DataKey, value: Any, *, bound_to: bytes) -> Sealed:
    """Encode ``value`` for its column type and seal it (what a flush does per value)."""
    return Sealed(encrypt(key, column_type.encode(value), bound_to=bound_to))


def open_value(column_type: EncryptedType, key: DataKey, sealed: Sealed, *, bound_to: bytes) -> Any:
    """Open and decode a sealed value (what a load does per value)."""
    return column_type.decode(decrypt(key, sealed.ciphertext, bound_to=bound_to))


def install_encryption(sessions: sessionmaker[Session], keyring: Keyring) -> None:
    """Give every session of ``sessions`` the keyring and the sealing hooks."""
    sessions.kw.setdefault("info", {})[KEYRING_INFO_KEY] = keyring
    event.listen(sessions, "before_flush", _seal_before_flush)
    event.listen(sessions, "after_flush_postexec", _restore_after_flush)


def _keyring(session: Session) -> Keyring:
    keyring = session.info.get(KEYRING_INFO_KEY)
    if not isinstance(keyring, Keyring):
        raise PlaintextRefusedError("this session has no keyring: encrypted columns cannot be used")
    return keyring


def _seal_before_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    keyring: Keyring | None = None
    counts: Counter[uuid.UUID] = Counter()
    # One key lookup per workspace (or contact) per flush, not per value: the active key
    # cannot change under this transaction, which holds it FOR SHARE (see Keyring).
    keys: dict[tuple[str, uuid.UUID], DataKey] = {}
    pending: list[tuple[Any, str, Any]] = session.info.setdefault(_PENDING_PLAINTEXT, [])
    new_objects = session.new  # built once: each access to session.new makes a new set
    for instance in (*new_objects, *session.dirty):
        columns = getattr(type(instance), "__encrypted_columns__", None)
        if not columns:
            continue
        is_new = instance in new_objects
        table = inspect(type(instance)).local_table.name
        for attribute, (column_name, column_type) in columns.items():
            value = getattr(instance, attribute)
            if value is None or isinstance(value, Sealed):
                continue
            if not is_new and not get_history(instance, attribute).added:
                continue
            keyring = keyring or _keyring(session)
            if instance.id is None:
                instance.id = uuid7()
            key = _key_for(keys, keyring, session, instance, column_type)
            bound_to = column_binding(
                workspace_id=instance.workspace_id, table=table, column=column_name, row_id=instance.id
            )
            setattr(instance, attribute, seal_value(column_type, key, value, bound_to=bound_to))
            pending.append((instance, attribute, value))
            counts[key.id] += 1
    if counts and keyring is not None:
        keyring.record_encryptions(session, counts)


def _key_for(
    keys: dict[tuple[str, uuid.UUID], DataKey],
    keyring: Keyring,
    session: Session,
    instance: Any,
    column_type: EncryptedType,
) -> DataKey:
    if column_type.contact_attribute:
        contact_id: uuid.UUID = getattr(instance, column_type.contact_attribute)
        scope = ("contact", contact_id)
        if scope not in keys:
            keys[scope] = keyring.contact_key_for_writing(
                workspace_id=instance.workspace_id, contact_id=contact_id
            )
        return keys[scope]
    scope = ("workspace", instance.workspace_id)
    if scope not in keys:
        keys[scope] = keyring.data_key_for_writing(session, workspace_id=instance.workspace_id)
    return keys[scope]


def _restore_after_flush(session: Session, _flush_context: Any) -> None:
    for instance, attribute, plaintext in session.info.pop(_PENDING_PLAINTEXT, []):
        set_committed_value(instance, attribute, plaintext)


def _open(target: Any, session: Session | None, attributes: Any = None) -> None:
    if session is None:
        raise PlaintextRefusedError("an encrypted row was loaded outside a session")
    keyring = _keyring(session)
    table = inspect(type(target)).local_table.name
    for attribute, (column_name, column_type) in type(target).__encrypted_columns__.items():
        if attributes is not None and attribute not in attributes:
            continue
        value = target.__dict__.get(attribute)
        if not isinstance(value, Sealed):
            continue
        key = keyring.key_for_ciphertext(session, value.ciphertext)
        bound_to = column_binding(
            workspace_id=target.workspace_id, table=table, column=column_name, row_id=target.id
        )
        set_committed_value(target, attribute, open_value(column_type, key, value, bound_to=bound_to))


def _open_on_load(target: Any, context: QueryContext) -> None:
    _open(target, context.session)


def _open_on_refresh(target: Any, context: QueryContext, attributes: Any) -> None:
    _open(target, context.session, attributes)
