"""Which kind a file is: from its name's extension, confirmed by its content and by the
Content-Type it was declared with, if any.

The extension decides; the content and the declared type may only confirm it. A declared type
of ``application/octet-stream`` (what browsers send when they do not know) or none confirms
anything.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from hushdesk.agents.knowledge.extraction.decoding import decode_text
from hushdesk.agents.knowledge.extraction.document import DocumentKind
from hushdesk.agents.knowledge.extraction.errors import DocumentTypeMismatch, UnsupportedDocumentType
from hushdesk.agents.knowledge.extraction.html_charset import decode_html
from hushdesk.agents.knowledge.extraction.limits import DEFAULT_LIMITS, ExtractionLimits, check_size
from hushdesk.agents.knowledge.extraction.zip_guard import open_docx_archive

PDF_SIGNATURE = b"%PDF-"
KIND_BY_EXTENSION = {
    ".pdf": DocumentKind.PDF,
    ".html": DocumentKind.HTML,
    ".htm": DocumentKind.HTML,
    ".md": DocumentKind.MARKDOWN,
    ".markdown": DocumentKind.MARKDOWN,
    ".docx": DocumentKind.DOCX,
    ".txt": DocumentKind.TEXT,
    ".csv": DocumentKind.CSV,
}
_ANY_TYPE = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_DECLARED_TYPES = {
    DocumentKind.PDF: frozenset({"application/pdf", "application/x-pdf"}),
    DocumentKind.HTML: frozenset({"text/html", "application/xhtml+xml"}),
    DocumentKind.MARKDOWN: frozenset({"text/markdown", "text/x-markdown", "text/plain"}),
    DocumentKind.DOCX: frozenset(
        {
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            # Some clients name the container rather than the format.
            "application/zip",
            "application/x-zip-compressed",
        }
    ),
    DocumentKind.TEXT: frozenset({"text/plain", "text/markdown"}),
    DocumentKind.CSV: frozenset(
        {
            "text/csv",
            "application/csv",
            "text/x-csv",
            "text/comma-separated-values",
            "text/plain",
            "text/tab-separated-values",
            # What browsers on Windows send for .csv when Excel is installed.
            "application/vnd.ms-excel",
        }
    ),
}
# Signatures of binary formats that must never pass for text whatever their bytes decode to.
_BINARY_SIGNATURES = (PDF_SIGNATURE, b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"\x89PNG", b"GIF8", b"\xff\xd8\xff")
_HTML_SNIFF_BYTES = 4096
_HTML_MARKUP = re.compile(
    r"<(?:!doctype\s+html|html|head|body|title|meta|main|article|section|div|p|h[1-6]|table|ul|ol)\b",
    re.IGNORECASE,
)
_TEXT_NAMES = {
    DocumentKind.HTML: "an HTML page",
    DocumentKind.MARKDOWN: "a Markdown file",
    DocumentKind.TEXT: "a text file",
    DocumentKind.CSV: "a CSV file",
}


def kind_for(
    filename: str,
    content: bytes,
    declared_type: str | None = None,
    *,
    limits: ExtractionLimits = DEFAULT_LIMITS,
) -> DocumentKind:
    """The kind of an uploaded or fetched file.

    Raises ``UnsupportedDocumentType`` (415) for an extension not listed in
    ``KIND_BY_EXTENSION``, ``EmptyDocument`` for no bytes, ``DocumentTooLarge`` (413) over
    ``limits.max_bytes``, ``DocumentTypeMismatch`` when the declared Content-Type (parameters such
    as charset allowed) or the content contradicts the extension, and for a .docx whatever
    ``open_docx_archive`` raises (``EncryptedDocument``, ``ArchiveBomb``, ``CorruptDocument``).
    """
    kind = kind_from_filename(filename)
    check_size(content, limits)
    check_declared_type(kind, declared_type)
    check_content(kind, content, limits)
    return kind


def kind_from_filename(filename: str) -> DocumentKind:
    """The kind a file name's extension names (case-insensitive); ``UnsupportedDocumentType``
    when it names none."""
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    kind = KIND_BY_EXTENSION.get(suffix)
    if kind is None:
        raise UnsupportedDocumentType()
    return kind


def check_declared_type(kind: DocumentKind, declared_type: str | None) -> None:
    """Raises ``DocumentTypeMismatch`` when ``declared_type`` names another kind of file."""
    if declared_type is None:
        return
    media_type = declared_type.split(";", 1)[0].strip().lower()
    if media_type in _ANY_TYPE or media_type in _DECLARED_TYPES[kind]:
        return
    raise DocumentTypeMismatch(
        "The type this file was sent with (its Content-Type) does not match its file name's extension.",
        kind=kind.value,
    )


def check_content(kind: DocumentKind, content: bytes, limits: ExtractionLimits) -> None:
    """Raises ``DocumentTypeMismatch`` unless ``content`` is plausibly of ``kind``: a PDF starts
    with ``%PDF-``, a DOCX is an OOXML archive with ``word/document.xml`` that passes
    ``open_docx_archive``, the text kinds decode as text, and HTML starts with markup."""
    if kind is DocumentKind.PDF:
        if not content.startswith(PDF_SIGNATURE):
            raise DocumentTypeMismatch("This file is not a PDF document.")
    elif kind is DocumentKind.DOCX:
        open_docx_archive(content, limits).close()
    else:
        check_text_content(kind, content)


def check_text_content(kind: DocumentKind, content: bytes) -> None:
    """Raises ``DocumentTypeMismatch`` unless ``content`` (of a text kind) is text: no binary
    format's signature, decodable as ``decoding`` allows, and for HTML markup from the start
    (only the first ``_HTML_SNIFF_BYTES`` are read, as a page's charset is its reader's job)."""
    refuse_binary_formats(kind, content)
    if kind is DocumentKind.HTML:
        head = decode_html(content[:_HTML_SNIFF_BYTES]).lstrip(" \t\r\n")
        if "\x00" in head or not head.startswith("<") or not _HTML_MARKUP.search(head):
            raise DocumentTypeMismatch("This file is not an HTML page.")
    else:
        decode_text(content)


def refuse_binary_formats(kind: DocumentKind, content: bytes) -> None:
    """Raises ``DocumentTypeMismatch`` when ``content`` starts like a binary format (PDF, zip,
    OLE, PNG, GIF, JPEG), whatever its bytes would decode to: an uncompressed PDF is ASCII."""
    if content.startswith(_BINARY_SIGNATURES):
        raise DocumentTypeMismatch(f"This file is not {_TEXT_NAMES[kind]}: it is a binary document.")
