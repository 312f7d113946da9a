"""Word (.docx) documents through python-docx, once ``zip_guard`` has passed the archive.

Paragraphs styled Title, or Heading 1 to 9 (directly or through the style they are based on),
make the heading path: Title outermost, then Heading 1, and so on (levels past 6 count as 6).
Tables become one line per row, cells separated by " | ". The title is the document's core
property, else its first Title paragraph, else its first Heading 1. Text in headers, footers,
footnotes, comments and text boxes is not read.
"""

from __future__ import annotations

import io
import re
import zipfile

import docx
import docx.exceptions
import docx.opc.exceptions
from docx.document import Document
from docx.styles.style import CharacterStyle
from docx.table import Table
from docx.text.paragraph import Paragraph

from hushdesk.agents.knowledge.extraction.builder import SectionBuilder
from hushdesk.agents.knowledge.extraction.document import DocumentKind, ExtractedDocument
from hushdesk.agents.knowledge.extraction.errors import PARSER_FAILURES, CorruptDocument
from hushdesk.agents.knowledge.extraction.limits import ExtractionLimits
from hushdesk.agents.knowledge.extraction.links import absolute_http_url
from hushdesk.agents.knowledge.extraction.zip_guard import open_docx_archive

MAX_STYLE_BASES = 10
TITLE_LEVEL = 0
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_PARSE_FAILURES: tuple[type[BaseException], ...] = (
    docx.opc.exceptions.OpcError,
    docx.exceptions.PythonDocxError,
    zipfile.BadZipFile,  # a member whose local header or CRC contradicts the directory
    zipfile.LargeZipFile,
    *PARSER_FAILURES,
)


def extract_docx(content: bytes, limits: ExtractionLimits) -> ExtractedDocument:
    """Raises what ``open_docx_archive`` raises, ``CorruptDocument`` when python-docx cannot
    read the package, ``EmptyDocument`` and ``DocumentTooLarge`` as ``SectionBuilder`` does."""
    open_docx_archive(content, limits).close()
    try:
        document = docx.Document(io.BytesIO(content))
        return _read(document, SectionBuilder(limits))
    except _PARSE_FAILURES as exc:
        raise CorruptDocument() from exc


def _read(document: Document, builder: SectionBuilder) -> ExtractedDocument:
    first_title: str | None = None
    first_h1: str | None = None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            builder.paragraph(_table_text(block))
            continue
        level = _heading_level(block)
        text = block.text
        if level is None:
            builder.paragraph(text)
        else:
            builder.heading(level, text)
            if level == TITLE_LEVEL and first_title is None and text.strip():
                first_title = text
            elif level == 1 and first_h1 is None and text.strip():
                first_h1 = text
        for hyperlink in block.hyperlinks:
            url = absolute_http_url(hyperlink.url) if hyperlink.url else None
            if url is not None:
                builder.link(url)
    title = document.core_properties.title or first_title or first_h1
    return builder.finish(DocumentKind.DOCX, title=title)


def _heading_level(paragraph: Paragraph) -> int | None:
    style: CharacterStyle | None = paragraph.style
    for _ in range(MAX_STYLE_BASES):
        if style is None:
            return None
        name = (style.name or "").strip()
        if name.casefold() == "title":
            return TITLE_LEVEL
        match = _HEADING_STYLE.match(name)
        if match:
            return min(int(match.group(1)), 6)
        base = style.base_style
        style = base if isinstance(base, CharacterStyle) else None
    return None


def _table_text(table: Table) -> str:
    lines: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # A cell spanning several grid columns is returned once for each.
            if cell is previous:
                continue
            previous = cell
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)
