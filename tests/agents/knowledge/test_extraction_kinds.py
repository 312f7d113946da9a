"""kind_for: the extension decides, the content and a declared Content-Type must agree."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from document_samples import docx_bytes, html_bytes, pdf_bytes
from hushdesk.agents.knowledge.extraction import (
    DocumentKind,
    DocumentRejected,
    DocumentTooLarge,
    DocumentTypeMismatch,
    EmptyDocument,
    EncryptedDocument,
    ExtractionLimits,
    UnsupportedDocumentType,
    extract,
    kind_for,
)
from hushdesk.infra.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

PDF = pdf_bytes(["Our returns policy allows thirty days."])
HTML = html_bytes("Help", [(1, "Returns", ["Thirty days."])])
DOCX = docx_bytes([(1, "Returns", ["Thirty days."])])


@pytest.mark.parametrize(
    ("filename", "content", "kind"),
    [
        ("Returns.PDF", PDF, DocumentKind.PDF),
        ("help/page.html", HTML, DocumentKind.HTML),
        ("page.htm", HTML, DocumentKind.HTML),
        ("README.md", b"# Title\n\nText", DocumentKind.MARKDOWN),
        ("notes.markdown", b"Text", DocumentKind.MARKDOWN),
        ("C:\\Users\\me\\handbook.docx", DOCX, DocumentKind.DOCX),
        ("notes.txt", "Caf\u00e9 opening hours".encode(), DocumentKind.TEXT),
        ("faq.csv", b"question,answer\nWhen?,Now\n", DocumentKind.CSV),
    ],
)
def test_kind_comes_from_the_extension_when_the_content_matches(
    filename: str, content: bytes, kind: DocumentKind
) -> None:
    assert kind_for(filename, content) is kind


@pytest.mark.parametrize("filename", ["archive.zip", "photo.png", "no_extension", "sheet.xlsx", "old.doc"])
def test_unknown_extension_is_unsupported_with_status_415(filename: str) -> None:
    with pytest.raises(UnsupportedDocumentType) as raised:
        kind_for(filename, b"whatever")
    assert raised.value.status == 415
    assert isinstance(raised.value, UnsupportedMediaType)
    assert isinstance(raised.value, DocumentRejected)
    assert isinstance(raised.value, ValidationFailed)


def test_a_pdf_that_is_really_html_is_a_mismatch() -> None:
    with pytest.raises(DocumentTypeMismatch):
        kind_for("invoice.pdf", HTML)


def test_a_txt_that_is_really_a_pdf_is_a_mismatch() -> None:
    with pytest.raises(DocumentTypeMismatch):
        kind_for("notes.txt", PDF)


def test_a_docx_that_is_a_random_zip_is_a_mismatch() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("photos/holiday.jpg", os.urandom(256))
        zipped.writestr("readme.txt", "not a word document")
    with pytest.raises(DocumentTypeMismatch):
        kind_for("handbook.docx", archive.getvalue())


def test_a_docx_that_is_not_a_zip_is_a_mismatch() -> None:
    with pytest.raises(DocumentTypeMismatch):
        kind_for("handbook.docx", b"plain text pretending")


def test_a_password_protected_docx_is_refused_as_encrypted() -> None:
    # Word writes a protected .docx as an OLE compound file holding an EncryptionInfo stream.
    compound = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500) + "EncryptionInfo".encode("utf-16-le") + bytes(100)
    )
    with pytest.raises(EncryptedDocument):
        kind_for("secret.docx", compound)


def test_a_legacy_doc_renamed_docx_is_a_mismatch() -> None:
    compound = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600) + "WordDocument".encode("utf-16-le")
    with pytest.raises(DocumentTypeMismatch):
        kind_for("old.docx", compound)


def test_binary_garbage_as_txt_is_a_mismatch() -> None:
    garbage = bytes(range(256)) * 8
    with pytest.raises(DocumentTypeMismatch):
        kind_for("notes.txt", garbage)


def test_an_html_file_that_is_plain_prose_is_a_mismatch() -> None:
    with pytest.raises(DocumentTypeMismatch):
        kind_for("page.html", b"Just some words, no markup at all.")


def test_an_empty_file_is_refused_as_empty() -> None:
    with pytest.raises(EmptyDocument):
        kind_for("notes.txt", b"")
    with pytest.raises(EmptyDocument):
        extract(DocumentKind.PDF, b"")


def test_a_file_over_max_bytes_is_too_large_with_status_413() -> None:
    limits = ExtractionLimits(max_bytes=1024)
    content = b"a" * 1025
    with pytest.raises(DocumentTooLarge) as raised:
        kind_for("notes.txt", content, limits=limits)
    assert raised.value.status == 413
    assert isinstance(raised.value, PayloadTooLarge)
    with pytest.raises(DocumentTooLarge):
        extract(DocumentKind.TEXT, content, limits=limits)


@pytest.mark.parametrize(
    ("filename", "content", "declared"),
    [
        ("a.pdf", PDF, "application/pdf"),
        ("a.pdf", PDF, "application/octet-stream"),
        ("a.html", HTML, "text/html; charset=utf-8"),
        ("a.md", b"# T", "text/plain; charset=UTF-8"),
        ("a.csv", b"q,a\nx,y", "application/vnd.ms-excel"),
        ("a.docx", DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("a.txt", b"hello", "TEXT/PLAIN"),
    ],
)
def test_a_declared_type_that_agrees_is_accepted(filename: str, content: bytes, declared: str) -> None:
    kind_for(filename, content, declared)


@pytest.mark.parametrize(
    ("filename", "content", "declared"),
    [
        ("a.pdf", PDF, "text/html"),
        ("a.html", HTML, "application/pdf; charset=binary"),
        ("a.txt", b"hello", "image/png"),
        ("a.docx", DOCX, "application/pdf"),
        ("a.csv", b"q,a\nx,y", "not a media type"),
    ],
)
def test_a_declared_type_that_contradicts_the_extension_is_refused(
    filename: str, content: bytes, declared: str
) -> None:
    with pytest.raises(DocumentTypeMismatch):
        kind_for(filename, content, declared)


def test_rejection_messages_never_quote_the_content() -> None:
    secret = b"SECRET-CUSTOMER-NAME"
    attempts = [
        ("a.pdf", b"<html><body>" + secret + b"</body></html>"),
        ("a.txt", b"%PDF-1.4 " + secret),
        ("a.docx", secret),
        ("a.html", secret),
    ]
    for filename, content in attempts:
        with pytest.raises(DocumentRejected) as raised:
            kind_for(filename, content)
        assert "SECRET" not in raised.value.public_message
