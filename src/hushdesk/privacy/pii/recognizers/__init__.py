"""Recognizers: each takes a text and yields candidate spans with scores; the detector resolves
overlaps and applies the workspace's choices."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from hushdesk.privacy.pii.labels import Span
from hushdesk.privacy.pii.names import NameLexicon
from hushdesk.privacy.pii.recognizers import addresses, contact, dates, identifiers
from hushdesk.privacy.pii.recognizers.persons import PersonRecognizer

Recognizer = Callable[[str], Iterable[Span]]


def default_recognizers(names: NameLexicon | None) -> Sequence[Recognizer]:
    return (
        contact.find_emails,
        contact.find_phones,
        contact.find_ip_addresses,
        identifiers.find_identifiers,
        dates.find_birth_dates,
        PersonRecognizer(names),
        addresses.find_street_addresses,
    )
