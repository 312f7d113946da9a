"""The entry points: a file's bytes of a known kind, or pasted text, to an ``ExtractedDocument``."""

from __future__ import annotations

from hushdesk.agents.knowledge.extraction.csv_pairs import extract_csv_pairs
from hushdesk.agents.knowledge.extraction.document import DocumentKind, ExtractedDocument
from hushdesk.agents.knowledge.extraction.docx import extract_docx
from hushdesk.agents.knowledge.extraction.errors import DocumentTooLarge, EmptyDocument
from hushdesk.agents.knowledge.extraction.html import extract_html
from hushdesk.agents.knowledge.extraction.kinds import check_text_content, refuse_binary_formats
from hushdesk.agents.knowledge.extraction.limits import (
    DEFAULT_LIMITS,
    ExtractionLimits,
    check_size,
    megabytes,
)
from hushdesk.agents.knowledge.extraction.markdown import extract_markdown, markdown_document
from hushdesk.agents.knowledge.extraction.pdf import extract_pdf
from hushdesk.agents.knowledge.extraction.text import extract_text


def extract(
    kind: DocumentKind,
    content: bytes,
    *,
    limits: ExtractionLimits = DEFAULT_LIMITS,
    base_url: str | None = None,
) -> ExtractedDocument:
    """The text of ``content``, read as ``kind``. Pure: no I/O, nothing kept between calls.

    ``base_url`` (HTML and Markdown) resolves relative links; without it they are dropped.
    The content is checked against ``kind`` as ``kind_for`` checks it, so a caller that took the
    kind from elsewhere is just as safe. Raises a ``DocumentRejected``: ``EmptyDocument``,
    ``DocumentTooLarge``, ``DocumentTypeMismatch``, ``CorruptDocument``, ``EncryptedDocument``,
    ``ArchiveBomb`` or (CSV) ``UnrecognisedColumns``, as each format's module documents.
    """
    check_size(content, limits)
    if kind is DocumentKind.PDF:
        return extract_pdf(content, limits)
    if kind is DocumentKind.DOCX:
        return extract_docx(content, limits)
    if kind is DocumentKind.HTML:
        check_text_content(kind, content)
        return extract_html(content, limits, base_url=base_url)
    refuse_binary_formats(kind, content)  # the readers below decode the text, refusing non-text
    if kind is DocumentKind.MARKDOWN:
        return extract_markdown(content, limits, base_url=base_url)
    if kind is DocumentKind.TEXT:
        return extract_text(content, limits)
    return extract_csv_pairs(content, limits)


def extract_pasted_text(text: str, *, limits: ExtractionLimits = DEFAULT_LIMITS) -> ExtractedDocument:
    """Text pasted into the dashboard, read as Markdown (plain paragraphs are valid Markdown),
    so the result's kind is ``MARKDOWN``. Raises ``EmptyDocument`` for blank text and
    ``DocumentTooLarge`` past ``max_bytes`` (as UTF-8) or ``max_text_chars``."""
    if len(text) > limits.max_bytes or len(text.encode("utf-8", errors="replace")) > limits.max_bytes:
        raise DocumentTooLarge(
            f"The pasted text is larger than {megabytes(limits.max_bytes)}, the most the knowledge base "
            "accepts at once.",
            limit=limits.max_bytes,
        )
    if not text.strip():
        raise EmptyDocument("The pasted text is empty.")
    return markdown_document(text, limits)
