"""The kinds of personal data the engine finds, and the spans it reports."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Label(StrEnum):
    PERSON = "PERSON"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    CREDIT_CARD = "CREDIT_CARD"
    IBAN = "IBAN"
    US_SSN = "US_SSN"
    UK_NINO = "UK_NINO"
    ZA_ID = "ZA_ID"
    PASSPORT = "PASSPORT"
    BANK_ACCOUNT = "BANK_ACCOUNT"
    IP_ADDRESS = "IP_ADDRESS"
    STREET_ADDRESS = "STREET_ADDRESS"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"


ALL_LABELS: frozenset[str] = frozenset(label.value for label in Label)

# Labels whose values carry a checksum or a strict structure that the engine validates.
CHECKSUM_LABELS: frozenset[str] = frozenset(
    {Label.CREDIT_CARD, Label.IBAN, Label.ZA_ID, Label.US_SSN, Label.UK_NINO}
)


class Span(NamedTuple):
    """``text[start:end]`` is personal data of kind ``label`` (a ``Label`` value, or the name of
    a workspace's own pattern), with a confidence ``score`` in [0, 1]. Offsets are Python string
    indexes (code points), end exclusive. A named tuple: immutable, hashable, and cheap to make,
    which matters at a few dozen candidates per message."""

    start: int
    end: int
    label: str
    score: float

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    @property
    def length(self) -> int:
        return self.end - self.start
