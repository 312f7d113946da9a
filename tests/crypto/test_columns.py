"""Encrypted columns: sealed on flush, opened on load, bound to their row, refused unsealed."""

from __future__ import annotations

import uuid
from typing import cast

import pytest
from sqlalchemy import Table, select, text, update
from sqlalchemy.exc import StatementError

from hushdesk.crypto.aead import VERSION, key_id_of
from hushdesk.crypto.columns import PlaintextRefusedError
from hushdesk.crypto.errors import CiphertextFormatError, DecryptionError, KeyUnavailableError
from hushdesk.crypto.models import DataKeyRecord, KeyPurpose, KeyStatus
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from tests.crypto.conftest import Vault
from tests.crypto.encrypted_models import Dossier

DOSSIER = cast(Table, Dossier.__table__)


def _add(vault: Vault, **values: object) -> uuid.UUID:
    with unit_of_work(vault.sessions) as session:
        dossier = Dossier(workspace_id=vault.workspace_id, contact_id=uuid.uuid4(), **values)
        session.add(dossier)
        session.flush()
        assert dossier.body == values.get("body")  # plaintext again after the flush
        return dossier.id


def _raw(vault: Vault, row_id: uuid.UUID, column: str) -> bytes:
    with vault.engine.connect() as connection:
        value = connection.execute(
            text(f"SELECT {column} FROM test_dossier WHERE id = :id"),
            {"id": row_id.hex if _sqlite(vault) else row_id},
        ).scalar()
    assert value is not None
    return bytes(value)


def _overwrite(vault: Vault, row_id: uuid.UUID, column: str, raw: bytes) -> None:
    """Write bytes straight into a column, as an attacker with database access would."""
    with vault.engine.begin() as connection:
        connection.execute(
            text(f"UPDATE test_dossier SET {column} = :raw WHERE id = :id"),
            {"raw": raw, "id": row_id.hex if _sqlite(vault) else row_id},
        )


def _sqlite(vault: Vault) -> bool:
    return vault.engine.dialect.name == "sqlite"


def test_round_trip_through_every_column_type(vault: Vault) -> None:
    row_id = _add(
        vault,
        body="Hello, my order 1234",
        details={"items": [1, 2], "note": "é"},
        attachment=b"\x00\x01",
        phone="+27821234567",
    )
    with unit_of_work(vault.fresh_keyring_sessions()) as session:
        dossier = session.get(Dossier, row_id)
        assert dossier is not None
        assert dossier.body == "Hello, my order 1234"
        assert dossier.details == {"items": [1, 2], "note": "é"}
        assert dossier.attachment == b"\x00\x01"
        assert dossier.phone == "+27821234567"


def test_stored_values_are_ciphertexts_naming_their_key(vault: Vault) -> None:
    row_id = _add(vault, body="plain words here", phone="+27821234567")
    body = _raw(vault, row_id, "body")
    assert b"plain words" not in body
    assert body[0] == VERSION
    with unit_of_work(vault.sessions) as session:
        active = session.scalars(
            select(DataKeyRecord).where(DataKeyRecord.workspace_id == vault.workspace_id)
        ).one()
    assert key_id_of(body) == active.id
    assert key_id_of(_raw(vault, row_id, "phone")) != active.id  # the contact's own key


def test_a_ciphertext_moved_to_another_row_fails(vault: Vault) -> None:
    first = _add(vault, body="first secret")
    second = _add(vault, body="second secret")
    with vault.engine.begin() as connection:
        stolen = connection.execute(select(DOSSIER.c.body).where(DOSSIER.c.id == first)).scalar()
        connection.execute(update(DOSSIER).where(DOSSIER.c.id == second).values(body=stolen))
    with pytest.raises(DecryptionError), unit_of_work(vault.fresh_keyring_sessions()) as session:
        session.get(Dossier, second)


def test_a_ciphertext_moved_to_another_column_fails(vault: Vault) -> None:
    row = _add(vault, body="a secret", attachment=b"bytes")
    with vault.engine.begin() as connection:
        table = DOSSIER
        body = connection.execute(select(table.c.body).where(table.c.id == row)).scalar()
        connection.execute(update(table).where(table.c.id == row).values(attachment=body))
    with pytest.raises(DecryptionError), unit_of_work(vault.fresh_keyring_sessions()) as session:
        session.get(Dossier, row)


def test_any_flipped_bit_fails(vault: Vault) -> None:
    row = _add(vault, body="tamper with me")
    original = _raw(vault, row, "body")
    for position in (0, 5, 17, 20, len(original) // 2, len(original) - 1):
        tampered = bytearray(original)
        tampered[position] ^= 0x01
        _overwrite(vault, row, "body", bytes(tampered))
        with (
            pytest.raises((DecryptionError, KeyUnavailableError, CiphertextFormatError)),
            unit_of_work(vault.fresh_keyring_sessions()) as session,
        ):
            session.get(Dossier, row)


def test_plaintext_never_reaches_the_database_by_another_path(vault: Vault) -> None:
    row = _add(vault, body="original words")
    with pytest.raises(StatementError) as caught, unit_of_work(vault.sessions) as session:
        session.execute(update(Dossier).where(Dossier.id == row).values(body="bulk plaintext"))
    assert isinstance(caught.value.orig, PlaintextRefusedError)
    assert "original words" not in str(caught.value)
    assert "bulk plaintext" not in str(caught.value)
    assert b"bulk plaintext" not in _raw(vault, row, "body")


def test_a_session_without_the_keyring_cannot_write_encrypted_columns(vault: Vault) -> None:
    with pytest.raises(StatementError), unit_of_work(make_sessionmaker(vault.engine)) as session:
        session.add(
            Dossier(id=uuid.uuid4(), workspace_id=vault.workspace_id, contact_id=uuid.uuid4(), body="x")
        )
        session.flush()


def test_an_unchanged_value_is_not_sealed_again(vault: Vault) -> None:
    row = _add(vault, body="stable", attachment=b"a")
    before = _raw(vault, row, "body")
    with unit_of_work(vault.sessions) as session:
        dossier = session.get(Dossier, row)
        assert dossier is not None
        dossier.attachment = b"b"
    assert _raw(vault, row, "body") == before
    with unit_of_work(vault.sessions) as session:
        dossier = session.get(Dossier, row)
        assert dossier is not None
        dossier.body = "changed"
    assert _raw(vault, row, "body") != before


def test_encryptions_are_counted_per_key(vault: Vault) -> None:
    _add(vault, body="one", details={"a": 1})
    _add(vault, body="two")
    with unit_of_work(vault.sessions) as session:
        record = session.scalars(
            select(DataKeyRecord).where(DataKeyRecord.purpose == KeyPurpose.DATA.value)
        ).one()
    assert record.encryptions == 3


def test_rotating_the_workspace_key_seals_new_values_with_the_new_key(vault: Vault) -> None:
    old_row = _add(vault, body="before rotation")
    with unit_of_work(vault.sessions) as session:
        new_key = vault.keyring.rotate_workspace_key(session, workspace_id=vault.workspace_id)
    new_row = _add(vault, body="after rotation")
    assert key_id_of(_raw(vault, new_row, "body")) == new_key.id
    assert key_id_of(_raw(vault, old_row, "body")) != new_key.id
    with unit_of_work(vault.fresh_keyring_sessions()) as session:
        assert [d.body for d in session.scalars(select(Dossier).order_by(Dossier.id))] == [
            "before rotation",
            "after rotation",
        ]
        statuses = sorted(r.status for r in session.scalars(select(DataKeyRecord)))
    assert statuses == [KeyStatus.ACTIVE.value, KeyStatus.RETIRING.value]


def test_a_destroyed_workspace_key_leaves_its_values_unreadable(vault: Vault) -> None:
    row = _add(vault, body="will be shredded")
    with unit_of_work(vault.sessions) as session:
        key_id = key_id_of(_raw(vault, row, "body"))
        vault.keyring.destroy_workspace_key(session, key_id)
    with pytest.raises(KeyUnavailableError), unit_of_work(vault.fresh_keyring_sessions()) as session:
        session.get(Dossier, row)


def test_erasing_a_contact_shreds_what_was_sealed_under_its_key(vault: Vault) -> None:
    contact_id = uuid.uuid4()
    with unit_of_work(vault.sessions) as session:
        dossier = Dossier(workspace_id=vault.workspace_id, contact_id=contact_id, phone="+27821234567")
        session.add(dossier)
    assert vault.keyring.destroy_contact_key(contact_id)
    assert not vault.keyring.destroy_contact_key(contact_id)  # idempotent
    with pytest.raises(KeyUnavailableError), unit_of_work(vault.fresh_keyring_sessions()) as session:
        session.get(Dossier, dossier.id)


def test_rotating_the_master_key_rewraps_every_key_online(vault: Vault) -> None:
    row = _add(vault, body="survives master rotation", phone="+27821234567")
    old_kek = vault.provider.current_kek_id()
    new_kek = vault.provider.rotate()
    progress: list[tuple[int, int]] = []
    with unit_of_work(vault.sessions) as session:
        total = vault.keyring.rewrap_all(session, progress=lambda done, of: progress.append((done, of)))
    assert total == 2
    assert progress[-1] == (2, 2)
    with unit_of_work(vault.sessions) as session:
        assert {r.kek_id for r in session.scalars(select(DataKeyRecord))} == {new_kek}
    assert {k.kek_id for k in vault.contact_keys.all_keys()} == {new_kek}
    assert old_kek != new_kek
    with unit_of_work(vault.fresh_keyring_sessions()) as session:
        dossier = session.get(Dossier, row)
        assert dossier is not None
        assert dossier.body == "survives master rotation"
        assert dossier.phone == "+27821234567"


def test_the_contact_key_store_file_is_private(vault: Vault) -> None:
    store = vault.keys_dir / "contact-keys.sqlite3"
    assert store.stat().st_mode & 0o777 == 0o600


def test_a_key_past_its_nonce_budget_is_retired_and_replaced(vault: Vault) -> None:
    from hushdesk.crypto.aead import NONCE_BUDGET

    first_row = _add(vault, body="under budget")
    first_key = key_id_of(_raw(vault, first_row, "body"))
    with unit_of_work(vault.sessions) as session:
        session.execute(
            update(DataKeyRecord).where(DataKeyRecord.id == first_key).values(encryptions=NONCE_BUDGET)
        )
    _add(vault, body="crosses the budget")  # still sealed by the first key, which then retires
    later_row = _add(vault, body="under a fresh key")
    assert key_id_of(_raw(vault, later_row, "body")) != first_key
    with unit_of_work(vault.sessions) as session:
        statuses = {r.id: r.status for r in session.scalars(select(DataKeyRecord))}
    assert statuses[first_key] == KeyStatus.RETIRING.value
    assert sorted(statuses.values()) == [KeyStatus.ACTIVE.value, KeyStatus.RETIRING.value]
