"""PDF documents through pypdf: one section per page with text, numbered from 1.

Untrusted input is read under tighter limits than pypdf's own defaults (applied to this
extraction only, through pypdf's context-local configuration): each decoded stream is capped at
``max_pdf_stream_bytes`` whatever its filter, and all page content streams together at
``max_pdf_decoded_bytes``, so a small file that inflates to gigabytes is refused after a bounded
amount of work and memory. Whatever pypdf or the parsing under it raises on malformed input
becomes ``CorruptDocument`` (``LimitReachedError``, pypdf's "this would cost too much",
becomes ``ArchiveBomb``).

A PDF encrypted with an empty user password (a "permissions" password only, which every viewer
opens without asking) is read; one that needs a password to open is refused.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

from pypdf import PageObject, PasswordType, PdfReader, apply_configuration
from pypdf.errors import LimitReachedError, PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, StreamObject

from hushdesk.agents.knowledge.extraction.builder import SectionBuilder
from hushdesk.agents.knowledge.extraction.document import DocumentKind, ExtractedDocument
from hushdesk.agents.knowledge.extraction.errors import (
    PARSER_FAILURES,
    ArchiveBomb,
    CorruptDocument,
    DocumentTooLarge,
    DocumentTypeMismatch,
    EncryptedDocument,
)
from hushdesk.agents.knowledge.extraction.kinds import PDF_SIGNATURE
from hushdesk.agents.knowledge.extraction.limits import ExtractionLimits, megabytes
from hushdesk.agents.knowledge.extraction.links import absolute_http_url
from hushdesk.agents.knowledge.extraction.normalise import join_hyphenated_lines

# Where "%%EOF" must appear: a file cut short in transfer has none, and pypdf's recovery would
# otherwise read the part that arrived as if it were the whole document.
EOF_MARKER_WINDOW = 2048
MAX_LINK_ANNOTATIONS_PER_PAGE = 1000
# Form XObjects a page's text extraction may draw; pypdf allows 5000, each possibly a large
# stream parsed again every time it is drawn.
MAX_FORM_INVOCATIONS_PER_PAGE = 500
_PDF_FAILURES: tuple[type[BaseException], ...] = (PyPdfError, *PARSER_FAILURES)
_TRUNCATED = "This PDF is incomplete (it was cut short, perhaps during upload). Upload the whole file again."


def extract_pdf(content: bytes, limits: ExtractionLimits) -> ExtractedDocument:
    """Raises ``DocumentTypeMismatch`` (no ``%PDF-`` header), ``CorruptDocument``,
    ``EncryptedDocument``, ``ArchiveBomb``, ``DocumentTooLarge`` (over ``max_pages`` or
    ``max_text_chars``) and ``EmptyDocument`` (no page has text: a scan without a text layer)."""
    if not content.startswith(PDF_SIGNATURE):
        raise DocumentTypeMismatch("This file is not a PDF document.")
    if b"%%EOF" not in content[-EOF_MARKER_WINDOW:]:
        raise CorruptDocument(_TRUNCATED)
    with _untrusted_input_limits(limits), _parser_failures_mapped():
        reader = _open(content)
        page_count = len(reader.pages)
        if page_count == 0:
            raise CorruptDocument("This PDF has no pages.")
        if page_count > limits.max_pages:
            raise DocumentTooLarge(
                f"This PDF has {page_count:,} pages; the knowledge base accepts up to {limits.max_pages:,}.",
                pages=page_count,
                limit=limits.max_pages,
            )
        builder = SectionBuilder(limits)
        budget = _DecodingBudget(limits)
        for number, page in enumerate(reader.pages, start=1):
            budget.charge(page)
            builder.page(number)
            builder.paragraph(join_hyphenated_lines(page.extract_text()))
            for url in _link_annotations(page):
                builder.link(url)
        title = reader.metadata.title if reader.metadata is not None else None
        return builder.finish(DocumentKind.PDF, title=str(title) if title else None, pages=page_count)


def _open(content: bytes) -> PdfReader:
    reader = PdfReader(io.BytesIO(content), strict=False)
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except (PyPdfError, NotImplementedError) as exc:  # an encryption scheme pypdf cannot undo
            raise EncryptedDocument() from exc
        if opened == PasswordType.NOT_DECRYPTED:
            raise EncryptedDocument()
    return reader


class _DecodingBudget:
    """Counts the decoded bytes of page content streams (a stream drawn on several pages counts
    on each, as its text is extracted again each time)."""

    def __init__(self, limits: ExtractionLimits) -> None:
        self._remaining = limits.max_pdf_decoded_bytes
        self._limit = limits.max_pdf_decoded_bytes

    def charge(self, page: PageObject) -> None:
        contents = page.get("/Contents")
        if contents is None:
            return
        resolved = contents.get_object()
        streams = resolved if isinstance(resolved, ArrayObject) else [resolved]
        for stream in streams:
            stream_object = stream.get_object()
            if isinstance(stream_object, StreamObject):
                # pypdf keeps the decoded data, so text extraction does not decode it again.
                self._remaining -= len(stream_object.get_data())
                if self._remaining < 0:
                    raise ArchiveBomb(
                        f"This PDF's pages decode to more than {megabytes(self._limit)} of content, "
                        "more than is safe to process.",
                        limit=self._limit,
                    )


def _link_annotations(page: PageObject) -> Iterator[str]:
    annotations = page.get("/Annots")
    if annotations is None:
        return
    resolved = annotations.get_object()
    if not isinstance(resolved, ArrayObject):
        return
    for annotation in list(resolved)[:MAX_LINK_ANNOTATIONS_PER_PAGE]:
        entry = annotation.get_object()
        action = entry.get("/A") if isinstance(entry, DictionaryObject) else None
        action = action.get_object() if action is not None else None
        uri = action.get("/URI") if isinstance(action, DictionaryObject) else None
        url = absolute_http_url(str(uri.get_object())) if uri is not None else None
        if url is not None:
            yield url


@contextmanager
def _untrusted_input_limits(limits: ExtractionLimits) -> Iterator[None]:
    stream_cap = limits.max_pdf_stream_bytes
    with apply_configuration(
        maximum_declared_stream_length=stream_cap,
        array_based_stream_maximum_output_length=stream_cap,
        jbig2_maximum_output_length=stream_cap,
        lzw_maximum_output_length=stream_cap,
        run_length_maximum_output_length=stream_cap,
        zlib_maximum_output_length=stream_cap,
        brotli_maximum_output_length=stream_cap,
        image_maximum_buffer_size=stream_cap,
        stream_decoding_work_maximum_length=stream_cap * 2,
        xform_maximum_invocations_per_extraction=MAX_FORM_INVOCATIONS_PER_PAGE,
        # Never run an external decoder on an uploaded file.
        jbig2dec_binary=None,
    ):
        yield


@contextmanager
def _parser_failures_mapped() -> Iterator[None]:
    try:
        yield
    except LimitReachedError as exc:
        raise ArchiveBomb() from exc
    except _PDF_FAILURES as exc:
        raise CorruptDocument() from exc
