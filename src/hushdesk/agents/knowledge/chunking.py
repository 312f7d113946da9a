"""Sections to chunks: the units a knowledge base embeds, searches and hands to the model.

Rules, all deterministic:
- A chunk never spans two sections, so never two heading paths (nor two PDF pages).
- Within a section, paragraphs (separated by blank lines) are packed into one chunk while it
  stays within ``target_chars``.
- A paragraph longer than ``max_chars`` is split at line breaks, then sentence ends, then
  whitespace, then (a single "word" longer still) every ``max_chars`` characters; the pieces are
  packed up to ``target_chars`` again. Its last piece may be packed with the paragraphs after it.
- No chunk is longer than ``max_chars`` or empty; text is only ever split at whitespace (or
  inside an overlong word), so the chunks hold the section's text whole, modulo whitespace.
- A CSV question/answer pair is one chunk (heading = the question, text = the answer), split
  like a paragraph only if the answer is longer than ``max_chars``.
- ``ordinal`` counts chunks from 0 in document order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hushdesk.agents.knowledge.extraction import DocumentKind, ExtractedDocument

HEADING_SEPARATOR = " > "
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
# Sentence ends: . ! ? and the ellipsis, the ideographic full stop and full-width ! and ?, also
# when followed by a closing quote or bracket.
_SENTENCE_END = re.compile("(?<=[.!?\u2026\u3002\uff01\uff1f])\\s+|(?<=[.!?\u2026][\"'\u201d\u2019)\\]])\\s+")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Chunk:
    """``heading`` is the section's heading path joined by " > " (empty without headings);
    ``page`` the PDF page the text is on, None for other kinds."""

    ordinal: int
    heading: str
    text: str
    page: int | None


def chunk_document(
    document: ExtractedDocument, *, target_chars: int = 1000, max_chars: int = 1600
) -> list[Chunk]:
    """The document's chunks, per the module's rules. Raises ``ValueError`` unless
    ``0 < target_chars <= max_chars``."""
    if not 0 < target_chars <= max_chars:
        raise ValueError("chunk_document needs 0 < target_chars <= max_chars")
    chunks: list[Chunk] = []
    for section in document.sections:
        heading = HEADING_SEPARATOR.join(section.headings)
        if document.kind is DocumentKind.CSV:
            texts = _fit(section.text.strip(), target_chars, max_chars, level=0)
        else:
            texts = _pack_paragraphs(_PARAGRAPH_BREAK.split(section.text), target_chars, max_chars)
        for text in texts:
            stripped = text.strip()
            if stripped:
                chunks.append(Chunk(ordinal=len(chunks), heading=heading, text=stripped, page=section.page))
    return chunks


def _pack_paragraphs(paragraphs: list[str], target_chars: int, max_chars: int) -> list[str]:
    units: list[str] = []
    for paragraph in paragraphs:
        paragraph = paragraph.strip()
        if paragraph:
            units.extend(_fit(paragraph, target_chars, max_chars, level=0))
    return _pack(units, "\n\n", target_chars)


# How an overlong piece of text is split, coarsest first, and how its pieces are joined again.
_SPLITTERS: tuple[tuple[Callable[[str], list[str]], str], ...] = (
    (lambda text: [line.strip() for line in text.split("\n")], "\n"),
    (_SENTENCE_END.split, " "),
    (_WHITESPACE.split, " "),
)


def _fit(text: str, target_chars: int, max_chars: int, *, level: int) -> list[str]:
    """``text`` as pieces of at most ``max_chars``, split as coarsely as possible."""
    if len(text) <= max_chars:
        return [text]
    if level == len(_SPLITTERS):
        return [text[start : start + max_chars] for start in range(0, len(text), max_chars)]
    split, separator = _SPLITTERS[level]
    pieces: list[str] = []
    for part in split(text):
        if part:
            pieces.extend(_fit(part, target_chars, max_chars, level=level + 1))
    return _pack(pieces, separator, target_chars)


def _pack(units: list[str], separator: str, target_chars: int) -> list[str]:
    """Join consecutive ``units`` with ``separator`` while a group stays within
    ``target_chars``; a unit longer than that stays alone (units never exceed ``max_chars``)."""
    packed: list[str] = []
    group: list[str] = []
    size = 0
    for unit in units:
        if group and size + len(separator) + len(unit) > target_chars:
            packed.append(separator.join(group))
            group, size = [], 0
        size += len(unit) + (len(separator) if group else 0)
        group.append(unit)
    if group:
        packed.append(separator.join(group))
    return packed
