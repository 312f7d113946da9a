"""Assembles a document's sections from headings and paragraphs, in reading order, under the
text cap, collecting its links. Every format's extractor feeds one ``SectionBuilder``."""

from __future__ import annotations

from hushdesk.agents.knowledge.extraction.document import DocumentKind, ExtractedDocument, Section
from hushdesk.agents.knowledge.extraction.errors import DocumentTooLarge, EmptyDocument
from hushdesk.agents.knowledge.extraction.limits import ExtractionLimits
from hushdesk.agents.knowledge.extraction.links import bare_urls
from hushdesk.agents.knowledge.extraction.normalise import normalise_line, normalise_text

MAX_HEADING_CHARS = 300
MAX_TITLE_CHARS = 300
_NO_TEXT_MESSAGES = {
    DocumentKind.PDF: (
        "No text could be found in this PDF. If it is a scan or a photo, it has no text layer: "
        "run it through text recognition (OCR) and upload the result."
    ),
    DocumentKind.CSV: "No row of this CSV file has both a question and an answer.",
}


class SectionBuilder:
    """Headings open a heading path (a heading of level n replaces those of level n and deeper);
    paragraphs under the same path (and page) form one section.

    Raises ``DocumentTooLarge`` as soon as the normalised text passes ``max_text_chars``."""

    def __init__(self, limits: ExtractionLimits) -> None:
        self._limits = limits
        self._path: list[tuple[int, str]] = []
        self._page: int | None = None
        self._paragraphs: list[str] = []
        self._sections: list[Section] = []
        self._links: dict[str, None] = {}
        self._chars = 0

    def heading(self, level: int, text: str) -> None:
        heading = normalise_line(text)[:MAX_HEADING_CHARS]
        if not heading:
            return
        self._flush()
        self._count(len(heading))
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, heading))

    def paragraph(self, text: str) -> None:
        paragraph = normalise_text(text)
        if paragraph:
            self._count(len(paragraph) + 2)
            self._paragraphs.append(paragraph)

    def page(self, number: int) -> None:
        """Start page ``number`` (PDF): text after it is never in a section with text before."""
        self._flush()
        self._page = number

    def section(self, headings: tuple[str, ...], text: str) -> None:
        """Add one section with an explicit heading path (CSV pairs), apart from any other."""
        self._flush()
        body = normalise_text(text)
        path = tuple(
            heading for heading in (normalise_line(h)[:MAX_HEADING_CHARS] for h in headings) if heading
        )
        if body and path:
            self._count(len(body) + sum(len(heading) for heading in path))
            self._sections.append(Section(headings=path, text=body, page=self._page))

    def link(self, url: str) -> None:
        self._links.setdefault(url, None)

    def finish(self, kind: DocumentKind, *, title: str | None, pages: int = 1) -> ExtractedDocument:
        """The document; raises ``EmptyDocument`` when no section has text."""
        self._flush()
        if not self._sections:
            raise EmptyDocument(_NO_TEXT_MESSAGES.get(kind, EmptyDocument.default_message))
        for section in self._sections:
            for url in bare_urls(section.text):
                self._links.setdefault(url, None)
        clean_title = normalise_line(title)[:MAX_TITLE_CHARS] if title else ""
        return ExtractedDocument(
            kind=kind,
            title=clean_title or None,
            sections=tuple(self._sections),
            pages=pages,
            links=tuple(self._links),
        )

    def _flush(self) -> None:
        if self._paragraphs:
            headings = tuple(heading for _, heading in self._path)
            self._sections.append(
                Section(headings=headings, text="\n\n".join(self._paragraphs), page=self._page)
            )
            self._paragraphs = []

    def _count(self, chars: int) -> None:
        self._chars += chars
        if self._chars > self._limits.max_text_chars:
            raise DocumentTooLarge(
                f"This document holds more than {self._limits.max_text_chars:,} characters of text, "
                "more than the knowledge base accepts in one document. Split it into smaller files.",
                limit=self._limits.max_text_chars,
            )
