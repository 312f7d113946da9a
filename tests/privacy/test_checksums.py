"""Check digits and structure rules, against published examples and by construction."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from hushdesk.privacy.pii.checksums import iban_valid, luhn_valid, nino_valid, ssn_valid, za_id_valid


def luhn_complete(stem: str) -> str:
    for digit in "0123456789":
        if luhn_valid(stem + digit):
            return stem + digit
    raise AssertionError("no Luhn digit")


def test_luhn_accepts_known_card_numbers_and_rejects_a_changed_digit() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


@given(st.text(alphabet="0123456789", min_size=12, max_size=18), st.integers(0, 17), st.integers(1, 9))
def test_luhn_catches_every_single_digit_change(stem: str, where: int, change: int) -> None:
    number = luhn_complete(stem)
    where %= len(number)
    changed = number[:where] + str((int(number[where]) + change) % 10) + number[where + 1 :]
    assert not luhn_valid(changed)


def test_iban_checks_length_and_mod_97() -> None:
    assert iban_valid("GB82WEST12345698765432")
    assert iban_valid("DE89370400440532013000")
    assert iban_valid("NL91ABNA0417164300")
    assert not iban_valid("GB82WEST12345698765431")  # check fails
    assert not iban_valid("GB82WEST1234569876543")  # one short for GB
    assert not iban_valid("QQ82WEST12345698765432")  # no such country


def test_za_id_needs_a_real_past_date_citizenship_digit_and_luhn() -> None:
    valid = luhn_complete("800101500908")
    assert za_id_valid(valid)
    assert not za_id_valid(luhn_complete("801301500908"))  # month 13
    assert not za_id_valid(luhn_complete("800101500928"))  # citizenship digit 2
    assert not za_id_valid(valid[:-1] + str((int(valid[-1]) + 1) % 10))
    # A date later than today in this century is a birth date in the last one.
    assert za_id_valid(luhn_complete("991231500908"), today=dt.date(2026, 12, 1))
    assert not za_id_valid(luhn_complete("000230500908"), today=dt.date(2026, 12, 1))  # 30 February


def test_nino_follows_hmrc_prefix_and_suffix_rules() -> None:
    assert nino_valid("AB123456C")
    assert not nino_valid("DA123456C")  # D never first
    assert not nino_valid("AO123456C")  # O never second
    assert not nino_valid("GB123456C")  # reserved prefix
    assert not nino_valid("AB123456E")  # suffix A-D only


def test_ssn_rejects_numbers_never_issued() -> None:
    assert ssn_valid("219099999")
    assert not ssn_valid("000123456")
    assert not ssn_valid("666123456")
    assert not ssn_valid("912345678")
    assert not ssn_valid("123001234")
    assert not ssn_valid("123450000")
