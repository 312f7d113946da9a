"""Check digits and structure rules for identifiers."""

from __future__ import annotations

import datetime as dt

# ISO 13616 IBAN lengths for the countries in the SWIFT registry.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by card numbers and South African identity numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(compact: str) -> bool:
    """ISO 13616: known country, its exact length, and the mod-97 check equal to 1."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def za_id_valid(digits: str, *, today: dt.date | None = None) -> bool:
    """A South African identity number: YYMMDD a real date (not in the future), citizenship
    digit 0 or 1, then 8 or 9, and a Luhn check digit."""
    if len(digits) != 13 or not digits.isdigit():
        return False
    if digits[10] not in "01" or digits[11] not in "89" or not luhn_valid(digits):
        return False
    return za_id_birth_date(digits, today=today) is not None


def za_id_birth_date(digits: str, *, today: dt.date | None = None) -> dt.date | None:
    today = today or dt.datetime.now(dt.UTC).date()
    year, month, day = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    for century in (2000, 1900):
        try:
            born = dt.date(century + year, month, day)
        except ValueError:
            return None
        if born <= today:
            return born
    return None


_NINO_BAD_FIRST = set("DFIQUV")
_NINO_BAD_SECOND = set("DFIQUVO")
_NINO_BAD_PREFIXES = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def nino_valid(compact: str) -> bool:
    """A UK National Insurance number: two prefix letters within HMRC's rules, six digits, and a
    suffix A to D."""
    if len(compact) != 9:
        return False
    first, second, digits, suffix = compact[0], compact[1], compact[2:8], compact[8]
    return (
        first.isalpha()
        and second.isalpha()
        and first not in _NINO_BAD_FIRST
        and second not in _NINO_BAD_SECOND
        and compact[:2] not in _NINO_BAD_PREFIXES
        and digits.isdigit()
        and suffix in "ABCD"
    )


def ssn_valid(digits: str) -> bool:
    """A US Social Security number as the SSA issues them: area not 000, 666 or 9xx, group not
    00, serial not 0000."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"
