"""Card numbers, IBANs, South African identity numbers, US Social Security numbers, UK National
Insurance numbers, passport numbers and bank account numbers.

Checksummed identifiers are accepted on their check digits and shape alone, unless the nearest
cue says the number is something else (an order, a voucher, a barcode). Passport and bank account
numbers have no checksum, so they need their cue.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hushdesk.privacy.pii.checksums import (
    IBAN_LENGTHS,
    iban_valid,
    luhn_valid,
    nino_valid,
    ssn_valid,
    za_id_valid,
)
from hushdesk.privacy.pii.context import HAS_DIGIT as _HAS_DIGIT
from hushdesk.privacy.pii.context import Cue, nearest_cue
from hushdesk.privacy.pii.labels import Label, Span

# Runs of digits with single spaces or dashes between groups of at least two digits.
_DIGIT_RUN = re.compile(r"(?<![\w.,/#-])\d{2,}(?:[ -]\d{2,})*(?![\w/]|[.,]\d|-\w)")
_SSN_SEPARATED = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
_NINO = re.compile(
    r"(?<![\w])([A-Za-z]{2}) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-Da-d])(?![\w])",
)
_IBAN_START = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?=[ ]?[A-Za-z0-9])")
_TOKEN = re.compile(r"(?<![\w-])[A-Za-z0-9]{6,10}(?![\w-])")
_ACCOUNT_RUN = re.compile(r"(?<![\w.,/#-])\d{2,}(?:[ -]\d{2,}){0,3}(?![\w/]|[.,]\d)")

_NEGATIVE = (Cue.DECOY, Cue.PRICE, Cue.VERSION)


def find_identifiers(text: str) -> Iterator[Span]:
    if _HAS_DIGIT.search(text):
        yield from _digit_runs(text)
        yield from _separated_ssns(text)
        yield from _ninos(text)
        yield from _ibans(text)
        yield from _cued_tokens(text)


def _digit_runs(text: str) -> Iterator[Span]:
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        cue = nearest_cue(text, match.start())
        span = _card(match, digits, cue) or _za_id(match, digits, cue) or _bare_ssn(match, digits, cue)
        if span is not None:
            yield span


def _card(match: re.Match[str], digits: str, cue: Cue | None) -> Span | None:
    if not 13 <= len(digits) <= 19 or not _card_prefix_fits(digits) or not luhn_valid(digits):
        return None
    groups = match.group().replace("-", " ").split(" ")
    if len(groups) > 1 and (min(len(g) for g in groups) < 3 or len(groups) > 5):
        return None
    if cue in _NEGATIVE or cue in (Cue.ACCOUNT, Cue.ID_NUMBER):
        return None
    return Span(match.start(), match.end(), Label.CREDIT_CARD, 0.97 if cue is Cue.CARD else 0.88)


def _card_prefix_fits(digits: str) -> bool:
    first = digits[0]
    if len(digits) == 13:
        return first == "4"
    if len(digits) == 14:
        return digits[:2] in ("30", "36", "38", "39")
    if len(digits) == 15:
        return digits[:2] in ("34", "37") or digits[:4] in ("1800", "2131") or first in "6"
    return first in "23456"


def _za_id(match: re.Match[str], digits: str, cue: Cue | None) -> Span | None:
    if len(digits) != 13 or not za_id_valid(digits) or cue in _NEGATIVE:
        return None
    return Span(match.start(), match.end(), Label.ZA_ID, 0.97 if cue is Cue.ID_NUMBER else 0.9)


def _bare_ssn(match: re.Match[str], digits: str, cue: Cue | None) -> Span | None:
    if cue is Cue.SSN and len(digits) == 9 and ssn_valid(digits):
        return Span(match.start(), match.end(), Label.US_SSN, 0.92)
    return None


def _separated_ssns(text: str) -> Iterator[Span]:
    for match in _SSN_SEPARATED.finditer(text):
        digits = match.group(1) + match.group(3) + match.group(4)
        cue = nearest_cue(text, match.start())
        if not ssn_valid(digits) or cue in _NEGATIVE or cue is Cue.ACCOUNT:
            continue
        score = 0.95 if cue in (Cue.SSN, Cue.ID_NUMBER) else 0.8
        yield Span(match.start(), match.end(), Label.US_SSN, score)


def _ninos(text: str) -> Iterator[Span]:
    for match in _NINO.finditer(text):
        compact = "".join(match.groups()).upper()
        if nino_valid(compact) and nearest_cue(text, match.start()) not in _NEGATIVE:
            yield Span(match.start(), match.end(), Label.UK_NINO, 0.92)


def _ibans(text: str) -> Iterator[Span]:
    for match in _IBAN_START.finditer(text):
        country = match.group()[:2].upper()
        length = IBAN_LENGTHS.get(country)
        if length is None:
            continue
        end = _take_alphanumerics(text, match.start(), length)
        if end is None:
            continue
        compact = re.sub(r" ", "", text[match.start() : end]).upper()
        if iban_valid(compact):
            yield Span(match.start(), end, Label.IBAN, 0.98)


def _take_alphanumerics(text: str, start: int, count: int) -> int | None:
    """The end of ``count`` letters and digits from ``start``, allowing single spaces between
    them, if the identifier ends there (no letter or digit follows directly)."""
    taken, position = 0, start
    while taken < count and position < len(text):
        char = text[position]
        if char.isascii() and char.isalnum():
            taken += 1
        elif not (char == " " and taken > 0 and position + 1 < len(text) and text[position + 1] != " "):
            return None
        position += 1
    if taken < count or (position < len(text) and text[position].isalnum()):
        return None
    return position


_PASSPORT_HINTS = ("pass", "paspo")
_ACCOUNT_HINTS = ("acc", "a/c", "rekening", "konto", "compte")


def _cued_tokens(text: str) -> Iterator[Span]:
    lowered = text.casefold()
    if any(hint in lowered for hint in _PASSPORT_HINTS):
        yield from _passports(text)
    if any(hint in lowered for hint in _ACCOUNT_HINTS):
        yield from _bank_accounts(text)


def _passports(text: str) -> Iterator[Span]:
    for match in _TOKEN.finditer(text):
        token = match.group()
        if not any(char.isdigit() for char in token):
            continue
        if nearest_cue(text, match.start(), max_words=3) is Cue.PASSPORT:
            yield Span(match.start(), match.end(), Label.PASSPORT, 0.9)


def _bank_accounts(text: str) -> Iterator[Span]:
    for match in _ACCOUNT_RUN.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 6 <= len(digits) <= 16 and nearest_cue(text, match.start(), max_words=3) is Cue.ACCOUNT:
            yield Span(match.start(), match.end(), Label.BANK_ACCOUNT, 0.9)
