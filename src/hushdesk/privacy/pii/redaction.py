"""Replacing the spans the detector found: by their label, or by a stable keyed pseudonym.

    redact("mail ada@example.com", spans)                      -> "mail [EMAIL]"
    redact("mail ada@example.com", spans, mode=PSEUDONYM, pseudonym_key=key)
                                                               -> "mail [EMAIL_3f9a0c1b]"

A pseudonym is the first 8 hex digits of HMAC-SHA256(key, label NUL normal form): the same
value gets the same pseudonym under one key however it was typed ("082 555 1234" and
"082-555-1234"), so a reader can tell that two messages mention the same number without seeing
it; without the key a pseudonym cannot be checked against a guess. 32 bits are a tag for
telling values apart in one conversation, not an identifier: two values may share one.

Pure: the standard library and this package only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Sequence
from enum import StrEnum

from hushdesk.privacy.pii.labels import Label, Span

MIN_PSEUDONYM_KEY_BYTES = 32
PSEUDONYM_HEX_DIGITS = 8

# Values compared as written words: case and runs of spaces do not matter.
_WORDY_LABELS = frozenset({Label.PERSON.value, Label.STREET_ADDRESS.value})
# Values whose dots are part of the value ("a.b@x.co" is not "ab@x.co", "1.2.3.4" not "12.3.4").
_DOTTED_LABELS = frozenset({Label.EMAIL.value, Label.IP_ADDRESS.value})
# What people put inside numbers and codes to make them readable.
_SEPARATORS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212.()[]{}")


class RedactionMode(StrEnum):
    LABEL = "label"  # [EMAIL]
    PSEUDONYM = "pseudonym"  # [EMAIL_3f9a0c1b]


def redact(
    text: str,
    spans: Sequence[Span],
    *,
    mode: RedactionMode = RedactionMode.LABEL,
    pseudonym_key: bytes | None = None,
) -> str:
    """``text`` with every span replaced by ``[LABEL]`` or, in ``PSEUDONYM`` mode, by
    ``[LABEL_xxxxxxxx]``.

    Spans may come in any order. A span that overlaps one already placed (sorted by start,
    longer first) is trimmed to the part not yet covered, or dropped when nothing is left, so
    no character any span covers stays in the clear. Empty spans are ignored.

    Raises ``ValueError`` for a span outside ``text``, and in ``PSEUDONYM`` mode when
    ``pseudonym_key`` is missing or shorter than 32 bytes (whether or not there are spans).
    """
    mode = RedactionMode(mode)
    if mode is RedactionMode.PSEUDONYM:
        check_pseudonym_key(pseudonym_key)
    pieces: list[str] = []
    position = 0
    for start, end, label in _placed(text, spans):
        pieces.append(text[position:start])
        if mode is RedactionMode.PSEUDONYM:
            assert pseudonym_key is not None
            pieces.append(f"[{label}_{pseudonym(pseudonym_key, label, text[start:end])}]")
        else:
            pieces.append(f"[{label}]")
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def pseudonym(key: bytes, label: str, value: str) -> str:
    """The 8 hex digits standing for ``value`` of kind ``label`` under ``key``."""
    message = label.encode("utf-8") + b"\x00" + normal_form(label, value).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_DIGITS]


def normal_form(label: str, value: str) -> str:
    """What equal values of ``label`` share: casefolded always; names and street addresses with
    runs of whitespace collapsed; emails and IP addresses trimmed; every other kind (numbers,
    codes, a workspace's own patterns) without whitespace, dashes, dots or brackets."""
    folded = value.casefold()
    if label in _WORDY_LABELS:
        return " ".join(folded.split())
    if label in _DOTTED_LABELS:
        return folded.strip()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in _SEPARATORS)


def check_pseudonym_key(key: bytes | None) -> None:
    """Raises ``ValueError`` unless ``key`` is at least 32 bytes."""
    if key is None or len(key) < MIN_PSEUDONYM_KEY_BYTES:
        raise ValueError(f"pseudonyms need a key of at least {MIN_PSEUDONYM_KEY_BYTES} bytes")


def _placed(text: str, spans: Sequence[Span]) -> Iterator[tuple[int, int, str]]:
    """(start, end, label) in text order, none overlapping."""
    covered = 0
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if not 0 <= span.start <= span.end <= len(text):
            raise ValueError(f"span {span.start}:{span.end} is outside a text of {len(text)} characters")
        start = max(span.start, covered)
        if start >= span.end:
            continue
        yield start, span.end, span.label
        covered = span.end
