"""AES-256-GCM values (``hushdesk.crypto.aead``): round trips, tamper evidence at every bit,
binding to the value's place, the key id check, the format's edges, and the binding encoding."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hushdesk.crypto import aead
from hushdesk.crypto.aead import (
    HEADER_BYTES,
    KEY_BYTES,
    NONCE_BYTES,
    OVERHEAD,
    TAG_BYTES,
    VERSION,
    DataKey,
    binding,
    column_binding,
    decrypt,
    encrypt,
    key_id_of,
)
from hushdesk.crypto.errors import CiphertextFormatError, DecryptionError

KEY = DataKey(uuid.UUID(int=1), bytes(range(32)))
WORKSPACE = uuid.UUID(int=100)
OTHER_WORKSPACE = uuid.UUID(int=101)
ROW = uuid.UUID(int=200)
OTHER_ROW = uuid.UUID(int=201)
HERE = column_binding(workspace_id=WORKSPACE, table="message", column="text", row_id=ROW)

parts = st.lists(st.text(max_size=8), max_size=5).map(tuple)


@given(plaintext=st.binary(max_size=2048), place=parts)
def test_a_value_round_trips_under_its_binding(plaintext: bytes, place: tuple[str, ...]) -> None:
    bound_to = binding(*place)
    ciphertext = encrypt(KEY, plaintext, bound_to=bound_to)
    assert len(ciphertext) == len(plaintext) + OVERHEAD
    assert key_id_of(ciphertext) == KEY.id
    assert decrypt(KEY, ciphertext, bound_to=bound_to) == plaintext


@given(plaintext=st.binary(max_size=64), data=st.data())
def test_any_flipped_bit_fails(plaintext: bytes, data: st.DataObject) -> None:
    ciphertext = bytearray(encrypt(KEY, plaintext, bound_to=HERE))
    position = data.draw(st.integers(0, len(ciphertext) - 1))
    ciphertext[position] ^= 1 << data.draw(st.integers(0, 7))
    # The version byte is checked first (a format error); every other bit fails authentication
    # or names another key.
    expected: type[Exception] = CiphertextFormatError if position == 0 else DecryptionError
    with pytest.raises(expected):
        decrypt(KEY, bytes(ciphertext), bound_to=HERE)


def test_every_single_bit_flip_fails() -> None:
    ciphertext = encrypt(KEY, b"a short message", bound_to=HERE)
    for position in range(len(ciphertext)):
        for bit in range(8):
            tampered = bytearray(ciphertext)
            tampered[position] ^= 1 << bit
            with pytest.raises((DecryptionError, CiphertextFormatError)):
                decrypt(KEY, bytes(tampered), bound_to=HERE)


@pytest.mark.parametrize(
    "elsewhere",
    [
        pytest.param(
            column_binding(workspace_id=WORKSPACE, table="message", column="text", row_id=OTHER_ROW), id="row"
        ),
        pytest.param(
            column_binding(workspace_id=WORKSPACE, table="message", column="summary", row_id=ROW), id="column"
        ),
        pytest.param(
            column_binding(workspace_id=WORKSPACE, table="contact", column="text", row_id=ROW), id="table"
        ),
        pytest.param(
            column_binding(workspace_id=OTHER_WORKSPACE, table="message", column="text", row_id=ROW),
            id="workspace",
        ),
        pytest.param(b"", id="no-binding"),
        pytest.param(HERE + b"\x00", id="extended"),
    ],
)
def test_a_value_moved_elsewhere_fails(elsewhere: bytes) -> None:
    ciphertext = encrypt(KEY, b"secret", bound_to=HERE)
    with pytest.raises(DecryptionError):
        decrypt(KEY, ciphertext, bound_to=elsewhere)


def test_another_key_id_is_refused_without_running_aes(monkeypatch: pytest.MonkeyPatch) -> None:
    ciphertext = encrypt(KEY, b"secret", bound_to=HERE)
    other = DataKey(uuid.UUID(int=2), KEY.material)  # same material: only the id differs

    def no_aes(*arguments: Any) -> None:
        raise AssertionError("AESGCM must not be used for a key the ciphertext does not name")

    monkeypatch.setattr(aead, "AESGCM", no_aes)
    with pytest.raises(DecryptionError, match="another key"):
        decrypt(other, ciphertext, bound_to=HERE)


def test_a_forged_key_id_fails_authentication() -> None:
    """Rewriting the key id to another key's id (with that key) fails: the id is in the AAD."""
    other = DataKey(uuid.UUID(int=2), KEY.material)
    ciphertext = encrypt(KEY, b"secret", bound_to=HERE)
    forged = ciphertext[:1] + other.id.bytes + ciphertext[HEADER_BYTES:]
    with pytest.raises(DecryptionError, match="authentication"):
        decrypt(other, forged, bound_to=HERE)


def test_wrong_material_under_the_right_id_fails() -> None:
    ciphertext = encrypt(KEY, b"secret", bound_to=HERE)
    with pytest.raises(DecryptionError):
        decrypt(DataKey(KEY.id, bytes(32)), ciphertext, bound_to=HERE)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"", id="empty"),
        pytest.param(bytes([VERSION]), id="version-only"),
        pytest.param(bytes([VERSION]) + bytes(OVERHEAD - 2), id="one-byte-short"),
        pytest.param(bytes([2]) + bytes(OVERHEAD + 10), id="version-2"),
        pytest.param(bytes([0]) + bytes(OVERHEAD + 10), id="version-0"),
        pytest.param(b"plain text that was never encrypted at all", id="plaintext"),
    ],
)
def test_malformed_values_are_format_errors(value: bytes) -> None:
    with pytest.raises(CiphertextFormatError):
        key_id_of(value)
    with pytest.raises(CiphertextFormatError):
        decrypt(KEY, value, bound_to=HERE)


@given(length=st.integers(0, OVERHEAD + 4))
def test_truncated_ciphertexts_fail(length: int) -> None:
    ciphertext = encrypt(KEY, b"0123", bound_to=HERE)
    assume(length < len(ciphertext))
    with pytest.raises((CiphertextFormatError, DecryptionError)):
        decrypt(KEY, ciphertext[:length], bound_to=HERE)


def test_the_empty_plaintext_is_a_valid_value() -> None:
    ciphertext = encrypt(KEY, b"", bound_to=HERE)
    assert len(ciphertext) == OVERHEAD
    assert decrypt(KEY, ciphertext, bound_to=HERE) == b""


def test_the_layout_is_version_key_id_nonce_then_sealed_text() -> None:
    ciphertext = encrypt(KEY, b"x" * 10, bound_to=HERE)
    assert ciphertext[0] == VERSION
    assert ciphertext[1:HEADER_BYTES] == KEY.id.bytes
    assert len(ciphertext) == HEADER_BYTES + NONCE_BYTES + 10 + TAG_BYTES


def test_nonces_differ_across_encryptions_of_the_same_value() -> None:
    ciphertexts = [encrypt(KEY, b"same", bound_to=HERE) for _ in range(1000)]
    nonces = {c[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES] for c in ciphertexts}
    assert len(nonces) == len(ciphertexts)
    assert len(set(ciphertexts)) == len(ciphertexts)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("ab", "c"), ("a", "bc")),
        (("abc",), ("a", "b", "c")),
        ((), ("",)),
        (("",), ("", "")),
        (("a", ""), ("", "a")),
        (("a",), ("a", "")),
        (("\x00\x00\x00\x01a",), ("a",)),
        (("x\x00\x00\x00\x01y",), ("x", "y")),
        (("é",), ("e\u0301",)),
    ],
)
def test_binding_keeps_tricky_tuples_apart(first: tuple[str, ...], second: tuple[str, ...]) -> None:
    assert binding(*first) != binding(*second)


@given(first=parts, second=parts)
def test_binding_is_injective(first: tuple[str, ...], second: tuple[str, ...]) -> None:
    assume(first != second)
    assert binding(*first) != binding(*second)


def test_binding_is_deterministic() -> None:
    assert binding("column", "a", "b") == binding("column", "a", "b")
    assert column_binding(workspace_id=WORKSPACE, table="t", column="c", row_id=ROW) == (
        binding("column", "t", "c") + WORKSPACE.bytes + ROW.bytes
    )


def test_column_bindings_differ_in_every_part() -> None:
    other = uuid.UUID(int=WORKSPACE.int + 1)
    bindings = {
        column_binding(workspace_id=WORKSPACE, table="t", column="c", row_id=ROW),
        column_binding(workspace_id=other, table="t", column="c", row_id=ROW),
        column_binding(workspace_id=WORKSPACE, table="t", column="c", row_id=other),
        column_binding(workspace_id=WORKSPACE, table="tc", column="", row_id=ROW),
        column_binding(workspace_id=WORKSPACE, table="t", column="d", row_id=ROW),
        column_binding(workspace_id=ROW, table="t", column="c", row_id=WORKSPACE),
    }
    assert len(bindings) == 6


def test_a_data_key_does_not_show_its_material() -> None:
    material = bytes.fromhex("a1" * 32)
    key = DataKey(uuid.UUID(int=7), material)
    for shown in (repr(key), str(key), f"{key}", f"{key!r}"):
        assert "a1a1" not in shown
        assert repr(material) not in shown
        assert "\\xa1" not in shown
        assert str(key.id) in shown


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_a_data_key_is_exactly_32_bytes(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DataKey(uuid.UUID(int=7), bytes(length))


def test_generated_keys_are_256_bit_and_distinct() -> None:
    first, second = DataKey.generate(uuid.UUID(int=8)), DataKey.generate(uuid.UUID(int=9))
    assert len(first.material) == KEY_BYTES
    assert first.material != second.material
