"""PDF extraction: pages as sections, metadata, and every way a PDF is refused."""

from __future__ import annotations

import io
import time
import tracemalloc
import zlib

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject

from document_samples import page_content, pdf_bytes, pdf_from_content_streams
from hushdesk.agents.knowledge.extraction import (
    ArchiveBomb,
    CorruptDocument,
    DocumentKind,
    DocumentRejected,
    DocumentTooLarge,
    DocumentTypeMismatch,
    EmptyDocument,
    EncryptedDocument,
    ExtractionLimits,
    extract,
)

MIB = 1024 * 1024
HANDBOOK = pdf_bytes(
    [
        (
            "Returns (and exchanges)",
            ["You can return any order within 30 days.", "Refunds take 5 business days."],
        ),
        ("Shipping", ["Parcels ship from Rotterdam: Monday \\ Friday.", "Tracking numbers arrive by email."]),
        "A page without heading.\n\nIt has two paragraphs.",
    ],
    title="Customer handbook",
)


def test_each_page_is_a_section_with_its_page_number() -> None:
    document = extract(DocumentKind.PDF, HANDBOOK)
    assert document.kind is DocumentKind.PDF
    assert document.pages == 3
    assert [section.page for section in document.sections] == [1, 2, 3]
    assert "Returns (and exchanges)" in document.sections[0].text
    assert "within 30 days" in document.sections[0].text
    assert "Monday \\ Friday" in document.sections[1].text  # escaped backslash round-trips
    assert "It has two paragraphs." in document.sections[2].text


def test_the_title_comes_from_the_document_information() -> None:
    assert extract(DocumentKind.PDF, HANDBOOK).title == "Customer handbook"
    assert extract(DocumentKind.PDF, pdf_bytes(["Text."])).title is None


def test_non_ascii_text_in_winansi_is_extracted() -> None:
    document = extract(DocumentKind.PDF, pdf_bytes(["Caf\u00e9 cr\u00e8me \u20ac5 \u2013 na\u00efve"]))
    assert "Caf\u00e9 cr\u00e8me \u20ac5 \u2013 na\u00efve" in document.sections[0].text


def test_words_hyphenated_across_lines_are_joined() -> None:
    stream = (
        b"BT /F1 11 Tf 14 TL 72 700 Td (Please keep the infor-) Tj T* "
        b"(mation safe. See e-) Tj T* (Mail.) Tj ET"
    )
    document = extract(DocumentKind.PDF, pdf_from_content_streams([(stream, False)]))
    assert "information safe" in document.sections[0].text
    assert "e-\nMail" in document.sections[0].text


def test_link_annotations_are_collected() -> None:
    writer = PdfWriter(clone_from=io.BytesIO(pdf_bytes(["Read the policy online."])))
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject(
                [NumberObject(72), NumberObject(700), NumberObject(200), NumberObject(712)]
            ),
            NameObject("/A"): DictionaryObject(
                {
                    NameObject("/S"): NameObject("/URI"),
                    NameObject("/URI"): TextStringObject("https://shop.example/policy#returns"),
                }
            ),
        }
    )
    writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])
    out = io.BytesIO()
    writer.write(out)
    assert extract(DocumentKind.PDF, out.getvalue()).links == ("https://shop.example/policy",)


def test_a_scanned_pdf_without_text_layer_is_empty_and_says_so() -> None:
    image_only = pdf_from_content_streams([(b"q 500 0 0 700 50 50 cm Q", False)])
    with pytest.raises(EmptyDocument) as raised:
        extract(DocumentKind.PDF, image_only)
    assert "OCR" in raised.value.public_message


def test_a_truncated_pdf_is_corrupt() -> None:
    with pytest.raises(CorruptDocument) as raised:
        extract(DocumentKind.PDF, HANDBOOK[: len(HANDBOOK) // 2])
    assert "incomplete" in raised.value.public_message


def test_garbage_after_the_header_is_corrupt() -> None:
    garbage = b"%PDF-1.7\n" + bytes((index * 37 + 11) % 256 for index in range(4000)) + b"\n%%EOF\n"
    with pytest.raises(CorruptDocument):
        extract(DocumentKind.PDF, garbage)


def test_a_damaged_object_table_is_corrupt_not_a_crash() -> None:
    damaged = HANDBOOK.replace(b"/Type /Pages", b"/Type /Pagez").replace(b"/Kids [", b"/Kids <<")
    with pytest.raises(DocumentRejected):
        extract(DocumentKind.PDF, damaged)


def test_html_declared_as_pdf_is_a_mismatch() -> None:
    with pytest.raises(DocumentTypeMismatch):
        extract(DocumentKind.PDF, b"<!DOCTYPE html><html><body>Not a PDF</body></html>")


def test_a_password_protected_pdf_is_refused() -> None:
    writer = PdfWriter(clone_from=io.BytesIO(HANDBOOK))
    writer.encrypt(user_password="open-sesame", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(EncryptedDocument) as raised:
        extract(DocumentKind.PDF, out.getvalue())
    assert "password" in raised.value.public_message


def test_a_pdf_with_only_a_permissions_password_is_read() -> None:
    writer = PdfWriter(clone_from=io.BytesIO(HANDBOOK))
    writer.encrypt(user_password="", owner_password="owner-only", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    assert PdfReader(io.BytesIO(out.getvalue())).is_encrypted
    document = extract(DocumentKind.PDF, out.getvalue())
    assert "within 30 days" in document.sections[0].text


def _flate_of_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9)
    block = bytes(MIB)
    parts = [compressor.compress(block) for _ in range(size // MIB)]
    parts.append(compressor.flush())
    return b"".join(parts)


def test_a_small_pdf_inflating_to_200_mb_is_refused_quickly_with_bounded_memory() -> None:
    bomb_stream = _flate_of_zeros(200 * MIB)
    bomb = pdf_from_content_streams([(page_content("Hello", ["World"]), False), (bomb_stream, True)])
    assert len(bomb) < 1 * MIB
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises((ArchiveBomb, CorruptDocument)):
            extract(DocumentKind.PDF, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 10
    assert peak < 3 * ExtractionLimits().max_pdf_stream_bytes


def test_page_content_beyond_the_total_decoding_budget_is_a_bomb() -> None:
    pages = [(page_content("Page", ["x" * 2000] * 20), False) for _ in range(4)]
    limits = ExtractionLimits(max_pdf_decoded_bytes=100_000)
    with pytest.raises(ArchiveBomb):
        extract(DocumentKind.PDF, pdf_from_content_streams(pages), limits=limits)


def test_more_pages_than_the_cap_is_too_large() -> None:
    with pytest.raises(DocumentTooLarge) as raised:
        extract(DocumentKind.PDF, pdf_bytes(["one", "two", "three"]), limits=ExtractionLimits(max_pages=2))
    assert "3 pages" in raised.value.public_message


def test_more_text_than_the_cap_is_too_large() -> None:
    with pytest.raises(DocumentTooLarge):
        extract(DocumentKind.PDF, HANDBOOK, limits=ExtractionLimits(max_text_chars=100))
