"""What extraction produces: a document's kind, title, text sections and the links it makes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DocumentKind(StrEnum):
    PDF = "pdf"
    HTML = "html"
    MARKDOWN = "markdown"
    DOCX = "docx"
    TEXT = "text"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class Section:
    """Consecutive text under one heading path (outermost heading first; empty before the first
    heading). ``text`` is normalised: paragraphs are separated by one blank line, lines within a
    paragraph (list items, table rows, PDF lines) by a newline, and it is never empty. ``page``
    is the 1-based PDF page the text is on, None for other kinds."""

    headings: tuple[str, ...]
    text: str
    page: int | None = None


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    """A document's text in reading order.

    ``pages`` is the PDF's page count, 1 for every other kind (a CSV file counts as one page
    whatever its number of pairs). ``links`` are the distinct absolute http(s) URLs the document
    links to or mentions (hrefs, Markdown and Word hyperlinks, bare URLs in the text), in order
    of first appearance, without fragments. For CSV each section is one question (its only
    heading) with its answer as text.
    """

    kind: DocumentKind
    title: str | None
    sections: tuple[Section, ...]
    pages: int
    links: tuple[str, ...]
