"""Email addresses, phone numbers and IP addresses."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import phonenumbers

from hushdesk.privacy.pii.context import Cue, nearest_cue
from hushdesk.privacy.pii.labels import Label, Span

# Letters of any script in the local part and the domain (internationalised addresses).
_EMAIL = re.compile(
    r"(?<![\w.+-])[^\W_][\w.%+-]{0,63}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}(?![\w-])"
)


def find_emails(text: str) -> Iterator[Span]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield Span(match.start(), match.end(), Label.EMAIL, 0.98)


# A number as people write it: optional international prefix ("+27", "0027", "(+44)"), a trunk
# "(0)", area codes in brackets, and single spaces, dots or dashes between digit groups.
_PHONE = re.compile(
    r"(?<![\w+(])(?:\(\+\d{1,3}\)|\+|00)?[ ]?(?:\(\d{1,4}\)|\d)"
    r"(?:[ .-]?(?:\(\d{1,4}\)|\d)){6,17}(?![\w]|[.,-]\d)"
)
_LOOKS_LIKE_DATE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{2,4}")
_LIKELY_REGIONS = frozenset({"US", "CA", "ZA", "GB", "DE", "FR", "NL", "BE", "IE", "AT", "CH"})
_TRUNK_REGIONS = ("ZA", "GB", "DE", "FR", "NL", "BE", "IE")
_COUNTRY_PREFIXES = ("27", "44", "49", "33", "31", "32", "353", "1")
_NOT_A_PHONE = (
    Cue.DECOY,
    Cue.PRICE,
    Cue.VERSION,
    Cue.ACCOUNT,
    Cue.ID_NUMBER,
    Cue.SSN,
    Cue.PASSPORT,
    Cue.CARD,
)


def find_phones(text: str) -> Iterator[Span]:
    for match in _PHONE.finditer(text):
        written = match.group().strip()
        start = match.start() + (len(match.group()) - len(match.group().lstrip()))
        digits = re.sub(r"\D", "", written)
        if not 7 <= len(digits) <= 15:
            continue
        cue = nearest_cue(text, start)
        if cue in _NOT_A_PHONE or _LOOKS_LIKE_DATE.fullmatch(written):
            continue
        validity = _phone_validity(written, digits)
        if validity == 0:
            continue
        cued = cue is Cue.PHONE
        score = (0.95 if cued else 0.8) if validity == 2 else (0.7 if cued else 0.45)
        yield Span(start, start + len(written), Label.PHONE, score)


def _phone_validity(written: str, digits: str) -> int:
    """2 when some region's numbering plan says the number is valid, 1 when it is at least a
    possible length somewhere, 0 otherwise."""
    candidates: list[tuple[str, str | None]] = []
    cleaned = written.replace("(0)", "")
    if "+" in written or digits.startswith("00"):
        international = "+" + (digits[2:] if digits.startswith("00") else re.sub(r"\D", "", cleaned))
        candidates.append((international, None))
    else:
        # A leading 0 is a trunk prefix everywhere we serve except North America, whose national
        # numbers never start with 0 or 1.
        regions = _TRUNK_REGIONS if digits.startswith("0") else ("US",)
        candidates.extend((cleaned, region) for region in regions)
        if digits.startswith(_COUNTRY_PREFIXES) and not digits.startswith("0"):
            candidates.append(("+" + digits, None))
    possible = False
    for candidate, region in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if _valid_in(number, region):
            return 2
        possible = possible or phonenumbers.is_possible_number(number)
    return 1 if possible else 0


def _valid_in(number: phonenumbers.PhoneNumber, region: str | None) -> bool:
    """Validity against the plan of the region it was read in, or of its country code's regions.
    (``is_valid_number`` would first search every region sharing the code: 25 for +1.)"""
    if region is not None:
        return phonenumbers.is_valid_number_for_region(number, region)
    regions = phonenumbers.region_codes_for_country_code(number.country_code or 0)
    likely = [r for r in regions if r in _LIKELY_REGIONS] or list(regions)
    return any(phonenumbers.is_valid_number_for_region(number, r) for r in likely)


_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def find_ip_addresses(text: str) -> Iterator[Span]:
    if "." in text:
        for match in _IPV4.finditer(text):
            if all(int(octet) <= 255 for octet in match.group().split(".")):
                yield from _ip_span(text, match, Label.IP_ADDRESS)
    if text.count(":") >= 2:
        for match in _IPV6.finditer(text):
            try:
                address = ipaddress.ip_address(match.group())
            except ValueError:
                continue
            if address.version == 6 and match.group().count(":") >= 2 and len(match.group()) >= 6:
                yield from _ip_span(text, match, Label.IP_ADDRESS)


def _ip_span(text: str, match: re.Match[str], label: Label) -> Iterator[Span]:
    cue = nearest_cue(text, match.start())
    if cue in (Cue.VERSION, Cue.DECOY, Cue.PRICE):
        return
    yield Span(match.start(), match.end(), label, 0.95 if cue is Cue.IP else 0.85)
