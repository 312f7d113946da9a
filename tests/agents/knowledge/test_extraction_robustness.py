"""Damaged files of every format end in a DocumentRejected or a document, never in another
exception: whatever the parsers raise on malformed input is mapped at their boundary."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from document_samples import docx_bytes, help_centre_pages, html_bytes, pdf_bytes
from hushdesk.agents.knowledge.extraction import DocumentKind, DocumentRejected, ExtractedDocument, extract

PDF = pdf_bytes(help_centre_pages(2, paragraphs=2), title="Help")
DOCX = docx_bytes([(1, "Leave", ["Everyone gets 25 days."])], table=[["a", "b"]])
HTML = html_bytes("Help", [(1, "Returns", ["Thirty days."])])
CSV = b'question,answer\nWhen?,Now.\nWhere?,"Here, there."\n'

# (offset as a fraction of the file, bytes to delete, bytes to insert) edits.
edits = st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 64), st.binary(max_size=32)),
    min_size=1,
    max_size=4,
)


def _damaged(content: bytes, changes: list[tuple[float, int, bytes]]) -> bytes:
    data = bytearray(content)
    for position, delete, insert in changes:
        at = min(int(position * len(data)), len(data))
        data[at : at + delete] = insert
    return bytes(data)


def _extract_or_reject(kind: DocumentKind, content: bytes) -> ExtractedDocument | DocumentRejected:
    try:
        return extract(kind, content)
    except DocumentRejected as rejected:
        return rejected


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(edits)
def test_a_damaged_pdf_is_read_or_rejected(changes: list[tuple[float, int, bytes]]) -> None:
    assert isinstance(
        _extract_or_reject(DocumentKind.PDF, _damaged(PDF, changes)), ExtractedDocument | DocumentRejected
    )


@SETTINGS
@given(edits)
def test_a_damaged_docx_is_read_or_rejected(changes: list[tuple[float, int, bytes]]) -> None:
    assert isinstance(
        _extract_or_reject(DocumentKind.DOCX, _damaged(DOCX, changes)), ExtractedDocument | DocumentRejected
    )


@SETTINGS
@given(edits)
def test_damaged_html_is_read_or_rejected(changes: list[tuple[float, int, bytes]]) -> None:
    assert isinstance(
        _extract_or_reject(DocumentKind.HTML, _damaged(HTML, changes)), ExtractedDocument | DocumentRejected
    )


@SETTINGS
@given(st.binary(max_size=2048), st.sampled_from(list(DocumentKind)))
def test_arbitrary_bytes_of_any_kind_are_read_or_rejected(content: bytes, kind: DocumentKind) -> None:
    assert isinstance(_extract_or_reject(kind, content), ExtractedDocument | DocumentRejected)


@SETTINGS
@given(edits)
def test_a_damaged_csv_is_read_or_rejected(changes: list[tuple[float, int, bytes]]) -> None:
    assert isinstance(
        _extract_or_reject(DocumentKind.CSV, _damaged(CSV, changes)), ExtractedDocument | DocumentRejected
    )
