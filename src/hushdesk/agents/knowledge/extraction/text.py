"""Plain text files: paragraphs separated by blank lines. A paragraph of one short line that is
in capitals ("SHIPPING AND RETURNS") or ends with a colon ("Opening hours:") is read as a
heading; the text is decoded as ``decoding`` describes."""

from __future__ import annotations

import re

from hushdesk.agents.knowledge.extraction.builder import SectionBuilder
from hushdesk.agents.knowledge.extraction.decoding import decode_text
from hushdesk.agents.knowledge.extraction.document import DocumentKind, ExtractedDocument
from hushdesk.agents.knowledge.extraction.limits import ExtractionLimits

MAX_HEADING_LINE_CHARS = 80
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\f\v]*\n")


def extract_text(content: bytes, limits: ExtractionLimits) -> ExtractedDocument:
    """Raises ``DocumentTypeMismatch`` for bytes that are not text, ``EmptyDocument`` and
    ``DocumentTooLarge`` as ``SectionBuilder`` does."""
    text = decode_text(content).replace("\r\n", "\n").replace("\r", "\n")
    builder = SectionBuilder(limits)
    for paragraph in _PARAGRAPH_BREAK.split(text):
        stripped = paragraph.strip()
        if is_heading_line(stripped):
            builder.heading(1, stripped.rstrip(":"))
        else:
            builder.paragraph(paragraph)
    return builder.finish(DocumentKind.TEXT, title=None)


def is_heading_line(paragraph: str) -> bool:
    if not paragraph or "\n" in paragraph or len(paragraph) > MAX_HEADING_LINE_CHARS:
        return False
    if paragraph.endswith(":") and not paragraph.endswith("::"):
        return True
    letters = [character for character in paragraph if character.isalpha()]
    return len(letters) >= 2 and paragraph.upper() == paragraph and not paragraph.endswith((".", "!", "?"))
