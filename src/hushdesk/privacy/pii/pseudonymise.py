"""Pseudonyms for one conversation's model calls: personal data out, placeholders in, and back.

    pseudonyms = ConversationPseudonyms(detector)
    prompt = pseudonyms.pseudonymise("i'm ada, ada@example.com")   # "i'm <PERSON_1>, <EMAIL_1>"
    reply = pseudonyms.restore("Thanks <PERSON_1>, we wrote to <EMAIL_1>.")
    reply.text        # "Thanks ada, we wrote to ada@example.com."
    reply.unresolved  # () - or the placeholder-like tokens that were not ours

The contract:

- A placeholder is ``<LABEL_N>``: the span's label, an underscore, and a number from 1 without
  leading zeros, counted per label in order of first appearance. The same value (in the
  ``redaction.normal_form`` sense: casefolded, runs of spaces collapsed, separators removed from
  numbers and codes) always gets the same placeholder on one object, across every call.
- ``restore`` replaces exactly the placeholders this object issued, written exactly as issued,
  with the first written form of their value. Anything else shaped like a placeholder (never
  issued, another case, other brackets, spaces inside, a missing bracket, a leading zero) is
  never resolved to a value: it becomes the neutral marker ``[LABEL]`` when its label is one we
  know, is left out otherwise, and is listed in ``Restored.unresolved``.
- Text that already contains a placeholder-shaped token ``<WORD_N>`` (a customer typing
  ``<PERSON_1>`` to make the model echo it) is escaped on the way in: the token itself is
  treated as a value of the kind ``PLACEHOLDER`` and replaced by ``<PLACEHOLDER_N>``, which
  restores to the literal characters the customer typed. So the model never sees a token of ours
  that the customer wrote, an echo of it gives back only what the customer typed, and the
  customer's text survives the round trip unchanged. (Dropping such tokens would be safe too,
  but would silently change what the customer said.)

The mapping lives only in this object, in memory: it is never written anywhere, the object
refuses to be pickled, and its repr shows counts, not values. A job that needs it again rebuilds
it with ``from_history`` from the conversation's earlier messages, in their order, with a
detector of the same configuration. Not thread-safe: one object serves one conversation in one
job.

Pure: the standard library and this package only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from hushdesk.privacy.pii.labels import ALL_LABELS, Span
from hushdesk.privacy.pii.redaction import normal_form

ESCAPED_LABEL = "PLACEHOLDER"

_TOKEN_LABEL = re.compile(r"[A-Z][A-Z0-9_]*")
# What we issue (and, with leading zeros, what looks like it). Neither < nor > can occur inside,
# so such a token in pseudonymised text either is one we inserted or lies wholly inside text that
# was already there, where it was escaped.
_PLACEHOLDER_SHAPE = re.compile(r"<[A-Z][A-Z0-9_]*_[0-9]+>")
# What a model may make of a placeholder: other brackets or none, spaces, another case, other
# separators, leading zeros. Tried after the exact shape at each position (the alternation's
# order), so a well-formed token is always judged as one.
_PLACEHOLDER_LIKE = re.compile(
    r"(?P<exact><[A-Z][A-Z0-9_]*_[0-9]+>)"
    r"|(?P<open>[<\[{(\u2039\u00ab])?(?(open)[ \t]{0,3}|(?<![A-Za-z0-9_]))"
    r"(?P<word>[A-Za-z][A-Za-z0-9]{0,31}(?:[ _-][A-Za-z0-9]{1,32}){0,5}?)"
    r"(?P<sep>[ \t_-]{0,3})(?P<number>[0-9]{1,9})"
    r"(?:[ \t]{0,3}(?P<close>[>\]})\u203a\u00bb]))?(?(close)|(?![A-Za-z0-9]))"
)


class SpanFinder(Protocol):
    """What pseudonymisation needs of a detector (``Detector`` is one)."""

    def detect(self, text: str) -> list[Span]: ...


@dataclass(frozen=True, slots=True)
class Restored:
    """A model's text with our placeholders put back; ``unresolved`` holds each placeholder-like
    token that was not one of ours, as written, in text order."""

    text: str
    unresolved: tuple[str, ...]


class ConversationPseudonyms:
    """The placeholders of one conversation, in memory only (see the module docstring)."""

    __slots__ = ("_counters", "_detector", "_originals", "_tokens")

    def __init__(self, detector: SpanFinder) -> None:
        self._detector = detector
        self._tokens: dict[tuple[str, str], str] = {}  # (label, normal form) -> placeholder
        self._originals: dict[str, str] = {}  # placeholder -> first written form
        self._counters: dict[str, int] = {}  # label -> last number issued

    @classmethod
    def from_history(cls, detector: SpanFinder, messages: Iterable[str]) -> ConversationPseudonyms:
        """The mapping that pseudonymising ``messages`` one by one, in this order, would have
        built: the same placeholders as before, recomputed instead of stored."""
        pseudonyms = cls(detector)
        for message in messages:
            pseudonyms.pseudonymise(message)
        return pseudonyms

    def pseudonymise(self, text: str) -> str:
        """``text`` with each detected value, and each placeholder-shaped token already in it,
        replaced by its placeholder. Raises ``ValueError`` for a span outside ``text`` or with a
        label that cannot form a placeholder (not upper-case letters, digits and ``_``)."""
        pieces: list[str] = []
        position = 0
        for span in _in_order(text, self._detector.detect(text)):
            pieces.extend(self._escaped(text[position : span.start]))
            pieces.append(self._placeholder(span.label, text[span.start : span.end]))
            position = span.end
        pieces.extend(self._escaped(text[position:]))
        return "".join(pieces)

    def restore(self, text: str) -> Restored:
        """``text`` with every placeholder this object issued replaced by its value, and every
        other placeholder-like token neutralised (``[LABEL]`` or nothing) and reported. The
        values put back are not scanned again."""
        pieces: list[str] = []
        unresolved: list[str] = []
        position = search_from = 0
        while (match := _PLACEHOLDER_LIKE.search(text, search_from)) is not None:
            judged = self._replacement(match)
            if judged is None:
                # Words and a number ("Dear PERSON_1" read as one label): look again from the
                # next character, so that a token inside is still found.
                search_from = match.start() + 1
                continue
            replacement, resolved = judged
            if not resolved:
                unresolved.append(match.group())
            pieces.extend((text[position : match.start()], replacement))
            position = search_from = match.end()
        pieces.append(text[position:])
        return Restored("".join(pieces), tuple(unresolved))

    def __len__(self) -> int:
        """How many placeholders have been issued."""
        return len(self._originals)

    def __repr__(self) -> str:
        return f"<ConversationPseudonyms: {len(self)} placeholder(s)>"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("the pseudonym mapping lives only in memory; rebuild it with from_history")

    def _placeholder(self, label: str, written: str) -> str:
        if not _TOKEN_LABEL.fullmatch(label):
            raise ValueError(f"label {label!r} cannot form a placeholder")
        key = (label, written if label == ESCAPED_LABEL else normal_form(label, written))
        token = self._tokens.get(key)
        if token is None:
            number = self._counters.get(label, 0) + 1
            self._counters[label] = number
            token = f"<{label}_{number}>"
            self._tokens[key] = token
            self._originals[token] = written
        return token

    def _escaped(self, segment: str) -> list[str]:
        """``segment`` (text outside every detected span) with placeholder-shaped tokens
        replaced by ``PLACEHOLDER`` placeholders."""
        pieces: list[str] = []
        position = 0
        for match in _PLACEHOLDER_SHAPE.finditer(segment):
            pieces.append(segment[position : match.start()])
            pieces.append(self._placeholder(ESCAPED_LABEL, match.group()))
            position = match.end()
        pieces.append(segment[position:])
        return pieces

    def _replacement(self, match: re.Match[str]) -> tuple[str, bool] | None:
        """(the value, True) for a placeholder we issued; (the neutral marker or nothing, False)
        for any other placeholder-like token; None when the match is not placeholder-like."""
        original = self._originals.get(match.group())
        if original is not None:
            return original, True
        label = self._label_named(match)
        if not _is_placeholder_like(match, known=label is not None):
            return None
        return (f"[{label}]" if label else ""), False

    def _label_named(self, match: re.Match[str]) -> str | None:
        """The label a placeholder-like token names, when it is one we know: a built-in label,
        one issued in this conversation, or ``PLACEHOLDER``."""
        exact = match.group("exact")
        word = exact[1:-1].rsplit("_", 1)[0] if exact else _label_of(match.group("word"))
        known = word in ALL_LABELS or word == ESCAPED_LABEL or word in self._counters
        return word if known else None


def _label_of(word: str) -> str:
    return re.sub(r"[ _-]+", "_", word).upper()


def _is_placeholder_like(match: re.Match[str], *, known: bool) -> bool:
    """Whether a match is a placeholder, maybe mangled, rather than words and a number ("page
    2", "(room 12)"): the exact shape whatever its label; a known label with a bracket on either
    side, or bare as ``LABEL_N``; or any upper-case label between angle brackets."""
    if match.group("exact") is not None:
        return True
    word, separator = match.group("word"), match.group("sep")
    opened, closed = match.group("open"), match.group("close")
    if known:
        bare = word == _label_of(word) and separator == "_"
        return opened is not None or closed is not None or bare
    return opened == "<" and closed == ">" and "_" in separator and _TOKEN_LABEL.fullmatch(word) is not None


def _in_order(text: str, spans: list[Span]) -> list[Span]:
    """Spans by start, each inside ``text``; overlapping ones merged into the first (keeping its
    label), so that no character any span covers stays in the clear."""
    placed: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if not 0 <= span.start <= span.end <= len(text):
            raise ValueError(f"span {span.start}:{span.end} is outside a text of {len(text)} characters")
        if span.end == span.start:
            continue
        if placed and span.start < placed[-1].end:
            last = placed[-1]
            placed[-1] = Span(last.start, max(last.end, span.end), last.label, last.score)
            continue
        placed.append(span)
    return placed
