"""The keyring: which key seals a value, and the unwrapped keys, cached.

Workspace data keys are wrapped in the main database (``data_key``); contact keys in the
contact key store (``keystore``). Both are wrapped by the key provider's master key, with an
encryption context naming their purpose, workspace and id, so a wrapped key moved to another
row does not unwrap. Unwrapped keys stay in memory in a bounded LRU cache with a lifetime.

Which key is *active* for a workspace is read from the database on every write (an indexed
lookup), never cached: after a rotation, every process seals with the new key at once.

Encryptions are counted per key in the database, so that all processes add up; a key whose
count passes ``NONCE_BUDGET`` (2**30) is retired and the next write makes a new one.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from hushdesk.crypto.aead import NONCE_BUDGET, DataKey, key_id_bytes, key_id_of
from hushdesk.crypto.errors import KeyUnavailableError
from hushdesk.crypto.keystore import ContactKeyStore
from hushdesk.crypto.models import DataKeyRecord, KeyPurpose, KeyStatus
from hushdesk.crypto.providers.base import KeyProvider, WrappedKey
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.ids import uuid7


class _KeyCache:
    """A thread-safe LRU of unwrapped keys, each kept at most ``ttl`` seconds."""

    def __init__(self, *, size: int, ttl: float, clock: Callable[[], float]) -> None:
        # Keyed by the id's 16 bytes, as they stand in a ciphertext's header.
        self._entries: OrderedDict[bytes, tuple[DataKey, float]] = OrderedDict()
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key_id: uuid.UUID) -> DataKey | None:
        return self.get_raw(key_id.bytes)

    def get_raw(self, key_id: bytes) -> DataKey | None:
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._entries[key_id]
                return None
            self._entries.move_to_end(key_id)
            return entry[0]

    def put(self, key: DataKey) -> None:
        with self._lock:
            self._entries[key.id.bytes] = (key, self._clock() + self._ttl)
            self._entries.move_to_end(key.id.bytes)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def evict(self, key_id: uuid.UUID) -> None:
        with self._lock:
            self._entries.pop(key_id.bytes, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Keyring:
    """Finds, creates, unwraps, counts and destroys data keys. One per process; thread-safe."""

    def __init__(
        self,
        *,
        provider: KeyProvider,
        contact_keys: ContactKeyStore,
        cache_size: int = 4096,
        cache_ttl_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.contact_keys = contact_keys
        self._cache = _KeyCache(size=cache_size, ttl=cache_ttl_seconds, clock=clock)

    def cached(self, key_id: uuid.UUID) -> DataKey | None:
        """The unwrapped key ``key_id`` if it is in the cache (no database, no provider)."""
        return self._cache.get(key_id)

    def key_for_ciphertext(self, session: Session, ciphertext: bytes) -> DataKey:
        """The key a ciphertext's header names: from the cache without building anything on
        the common path, else as ``key_for_reading``."""
        cached = self._cache.get_raw(key_id_bytes(ciphertext))
        if cached is not None:
            return cached
        return self.key_for_reading(session, key_id_of(ciphertext))

    # ---- workspace keys ------------------------------------------------------------------

    def data_key_for_writing(
        self, session: Session, *, workspace_id: uuid.UUID, purpose: KeyPurpose = KeyPurpose.DATA
    ) -> DataKey:
        """The workspace's active key for ``purpose``, made (and flushed) if there is none."""
        # FOR SHARE (PostgreSQL; SQLite serialises writers anyway): a rotation cannot retire
        # this key while a transaction that seals under it is still open, so no value can be
        # sealed under a key after its re-encryption has started.
        record = session.scalar(
            select(DataKeyRecord)
            .where(
                DataKeyRecord.workspace_id == workspace_id,
                DataKeyRecord.purpose == purpose.value,
                DataKeyRecord.status == KeyStatus.ACTIVE.value,
            )
            .with_for_update(read=True)
        )
        if record is None:
            return self._new_workspace_key(session, workspace_id=workspace_id, purpose=purpose)
        return self._unwrap_record(record)

    def data_key_for_reading(self, session: Session, key_id: uuid.UUID) -> DataKey:
        """The workspace key ``key_id``; ``KeyUnavailableError`` if unknown or destroyed."""
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        found = self._find_workspace_key(session, key_id)
        if found is None or found.status == KeyStatus.DESTROYED.value or found.wrapped is None:
            raise KeyUnavailableError("that key does not exist or has been destroyed")
        return self._unwrap(
            found.id, found.workspace_id, KeyPurpose(found.purpose), found.kek_id, found.wrapped
        )

    @staticmethod
    def _find_workspace_key(session: Session, key_id: uuid.UUID) -> Any:
        # Core, not the ORM: this runs inside ORM load events, where the identity map and
        # autoflush must not be re-entered.
        table = DataKeyRecord.__table__
        return session.connection().execute(select(table).where(table.c.id == key_id)).first()

    def rotate_workspace_key(
        self, session: Session, *, workspace_id: uuid.UUID, purpose: KeyPurpose = KeyPurpose.DATA
    ) -> DataKey:
        """Retire the active key (it still opens what it sealed) and make a new active one."""
        session.execute(
            update(DataKeyRecord)
            .where(
                DataKeyRecord.workspace_id == workspace_id,
                DataKeyRecord.purpose == purpose.value,
                DataKeyRecord.status == KeyStatus.ACTIVE.value,
            )
            .values(status=KeyStatus.RETIRING.value)
        )
        return self._new_workspace_key(session, workspace_id=workspace_id, purpose=purpose)

    def destroy_workspace_key(self, session: Session, key_id: uuid.UUID) -> None:
        """Erase a key's wrapped material: everything it sealed becomes unreadable."""
        session.execute(
            update(DataKeyRecord)
            .where(DataKeyRecord.id == key_id)
            .values(status=KeyStatus.DESTROYED.value, wrapped=None, destroyed_at=utcnow())
        )
        self._cache.evict(key_id)

    def _new_workspace_key(
        self, session: Session, *, workspace_id: uuid.UUID, purpose: KeyPurpose
    ) -> DataKey:
        key = DataKey.generate(uuid7())
        wrapped = self.provider.wrap(key.material, context=_workspace_context(workspace_id, purpose, key.id))
        # Core, not session.add: this may run inside a flush (sealing a value), where the
        # ORM cannot flush again, and the row must exist before its counter is updated.
        session.execute(
            insert(DataKeyRecord).values(
                id=key.id,
                workspace_id=workspace_id,
                purpose=purpose.value,
                status=KeyStatus.ACTIVE.value,
                kek_id=wrapped.kek_id,
                wrapped=wrapped.blob,
                encryptions=0,
                created_at=utcnow(),
            )
        )
        self._cache.put(key)
        return key

    def _unwrap_record(self, record: DataKeyRecord) -> DataKey:
        if record.wrapped is None:
            raise KeyUnavailableError("that key has been destroyed")
        return self._unwrap(
            record.id, record.workspace_id, KeyPurpose(record.purpose), record.kek_id, record.wrapped
        )

    def _unwrap(
        self, key_id: uuid.UUID, workspace_id: uuid.UUID, purpose: KeyPurpose, kek_id: str, wrapped: bytes
    ) -> DataKey:
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        context = _workspace_context(workspace_id, purpose, key_id)
        key = DataKey(key_id, self.provider.unwrap(WrappedKey(kek_id, wrapped), context=context))
        self._cache.put(key)
        return key

    # ---- contact keys --------------------------------------------------------------------

    def contact_key_for_writing(self, *, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> DataKey:
        """The contact's key, made on first use (one per contact, in the contact key store)."""
        stored = self.contact_keys.get(contact_id)
        if stored is None:
            key = DataKey.generate(uuid7())
            wrapped = self.provider.wrap(
                key.material, context=_contact_context(workspace_id, contact_id, key.id)
            )
            stored = self.contact_keys.add(
                workspace_id=workspace_id,
                contact_id=contact_id,
                kek_id=wrapped.kek_id,
                wrapped=wrapped.blob,
                key_id=key.id,
            )
            if stored.id == key.id:
                self._cache.put(key)
                return key
        return self.contact_key_for_reading(stored.id)

    def contact_key_for_reading(self, key_id: uuid.UUID) -> DataKey:
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        stored = self.contact_keys.get_by_key_id(key_id)
        if stored is None:
            raise KeyUnavailableError("that contact's key has been destroyed")
        context = _contact_context(stored.workspace_id, stored.contact_id, stored.id)
        key = DataKey(
            stored.id, self.provider.unwrap(WrappedKey(stored.kek_id, stored.wrapped), context=context)
        )
        self._cache.put(key)
        return key

    def destroy_contact_key(self, contact_id: uuid.UUID) -> bool:
        """Crypto-shred a contact: delete its key. Idempotent."""
        stored = self.contact_keys.get(contact_id)
        if stored is not None:
            self._cache.evict(stored.id)
        return self.contact_keys.destroy(contact_id)

    # ---- key for any ciphertext, counting, master rotation --------------------------------

    def key_for_reading(self, session: Session, key_id: uuid.UUID) -> DataKey:
        """The workspace or contact key named ``key_id`` (the id in a ciphertext's header)."""
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        if self._find_workspace_key(session, key_id) is not None:
            return self.data_key_for_reading(session, key_id)
        return self.contact_key_for_reading(key_id)

    def record_encryptions(self, session: Session, counts: Mapping[uuid.UUID, int]) -> None:
        """Add encryptions to each key's counter; retire any key past the nonce budget."""
        for key_id, count in counts.items():
            updated = session.execute(
                update(DataKeyRecord)
                .where(DataKeyRecord.id == key_id)
                .values(encryptions=DataKeyRecord.encryptions + count)
                .returning(DataKeyRecord.encryptions)
            ).scalar()
            if updated is None:
                total = self.contact_keys.count_encryptions(key_id, count)
                if total > NONCE_BUDGET:
                    # A contact key past its budget is replaced on its next use.
                    raise KeyUnavailableError("contact key past its nonce budget; rotate the contact key")
            elif updated > NONCE_BUDGET:
                session.execute(
                    update(DataKeyRecord)
                    .where(DataKeyRecord.id == key_id, DataKeyRecord.status == KeyStatus.ACTIVE.value)
                    .values(status=KeyStatus.RETIRING.value)
                )

    def rewrap_all(self, session: Session, *, progress: Callable[[int, int], None] | None = None) -> int:
        """Re-wrap every live workspace key and contact key under the provider's current master
        key (``keys rotate-master``). Online: values stay sealed by the same data keys."""
        records = list(session.scalars(select(DataKeyRecord).where(DataKeyRecord.wrapped.is_not(None))))
        contacts = self.contact_keys.all_keys()
        total = len(records) + len(contacts)
        done = 0
        current = self.provider.current_kek_id()
        for record in records:
            if record.kek_id != current and record.wrapped is not None:
                context = _workspace_context(record.workspace_id, KeyPurpose(record.purpose), record.id)
                material = self.provider.unwrap(WrappedKey(record.kek_id, record.wrapped), context=context)
                wrapped = self.provider.wrap(material, context=context)
                record.kek_id, record.wrapped = wrapped.kek_id, wrapped.blob
            done += 1
            if progress:
                progress(done, total)
        session.flush()
        for stored in contacts:
            if stored.kek_id != current:
                context = _contact_context(stored.workspace_id, stored.contact_id, stored.id)
                material = self.provider.unwrap(WrappedKey(stored.kek_id, stored.wrapped), context=context)
                wrapped = self.provider.wrap(material, context=context)
                self.contact_keys.rewrap(stored.id, kek_id=wrapped.kek_id, wrapped=wrapped.blob)
            done += 1
            if progress:
                progress(done, total)
        return total


def _workspace_context(workspace_id: uuid.UUID, purpose: KeyPurpose, key_id: uuid.UUID) -> dict[str, str]:
    return {"purpose": f"workspace-{purpose.value}", "workspace": str(workspace_id), "key": str(key_id)}


def _contact_context(workspace_id: uuid.UUID, contact_id: uuid.UUID, key_id: uuid.UUID) -> dict[str, str]:
    return {
        "purpose": "contact",
        "workspace": str(workspace_id),
        "contact": str(contact_id),
        "key": str(key_id),
    }
