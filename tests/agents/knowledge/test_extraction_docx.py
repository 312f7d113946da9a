"""Word documents: headings, tables, links, and the archive checks made before python-docx."""

from __future__ import annotations

import io
import time
import zipfile

import pytest

from document_samples import docx_bytes
from hushdesk.agents.knowledge.extraction import (
    ArchiveBomb,
    CorruptDocument,
    DocumentKind,
    DocumentTypeMismatch,
    EncryptedDocument,
    ExtractionLimits,
    extract,
    kind_for,
)

MIB = 1024 * 1024
HANDBOOK = docx_bytes(
    [
        (0, "Staff handbook", ["Welcome to the team."]),
        (1, "Leave", ["Everyone gets 25 days."]),
        (2, "Sick leave", ["Call your manager before 9."]),
        (1, "Equipment", ["Laptops are renewed every three years."]),
    ],
    table=[["Plan", "Price"], ["Basic", "10 EUR"], ["", ""]],
    hyperlink=("https://intranet.example/leave#form", "the leave form"),
)


def _rezipped(source: bytes, extra: dict[str, bytes] | None = None, *, skip: str | None = None) -> bytes:
    """``source``'s members (less ``skip``) plus ``extra``, deflated."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(source)) as original,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy,
    ):
        for member in original.infolist():
            if member.filename != skip:
                copy.writestr(member, original.read(member))
        for name, data in (extra or {}).items():
            copy.writestr(name, data)
    return out.getvalue()


def test_heading_styles_make_the_heading_path_with_title_outermost() -> None:
    document = extract(DocumentKind.DOCX, HANDBOOK)
    assert [(section.headings, section.text) for section in document.sections[:3]] == [
        (("Staff handbook",), "Welcome to the team."),
        (("Staff handbook", "Leave"), "Everyone gets 25 days."),
        (("Staff handbook", "Leave", "Sick leave"), "Call your manager before 9."),
    ]
    assert document.sections[3].headings == ("Staff handbook", "Equipment")


def test_tables_are_rows_of_cells_and_hyperlinks_are_links() -> None:
    document = extract(DocumentKind.DOCX, HANDBOOK)
    assert document.sections[3].text == (
        "Laptops are renewed every three years.\n\nPlan | Price\nBasic | 10 EUR\n\nSee the leave form"
    )
    assert document.links == ("https://intranet.example/leave",)


def test_the_title_is_the_core_property_else_the_title_paragraph() -> None:
    assert extract(DocumentKind.DOCX, HANDBOOK).title == "Staff handbook"
    titled = docx_bytes([(1, "Leave", ["25 days."])], title="HR policies")
    assert extract(DocumentKind.DOCX, titled).title == "HR policies"


def test_a_random_zip_is_not_a_word_document() -> None:
    with pytest.raises(DocumentTypeMismatch):
        extract(DocumentKind.DOCX, _rezipped(HANDBOOK, skip="word/document.xml"))


def test_a_member_declaring_1_gb_is_refused_before_python_docx_reads_it() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        with zipfile.ZipFile(io.BytesIO(HANDBOOK)) as original:
            for member in original.infolist():
                archive.writestr(member, original.read(member))
        archive.writestr("word/media/huge.bin", bytes(64 * 1024))
        # The directory is written from these records on close: declare 1 GB for the member.
        archive.infolist()[-1].file_size = 1024 * MIB
    started = time.perf_counter()
    with pytest.raises(ArchiveBomb):
        extract(DocumentKind.DOCX, out.getvalue())
    with pytest.raises(ArchiveBomb):
        kind_for("handbook.docx", out.getvalue())
    assert time.perf_counter() - started < 2


def test_a_member_with_an_extreme_compression_ratio_is_a_bomb() -> None:
    bomb = _rezipped(HANDBOOK, {"word/media/zeros.bin": bytes(16 * MIB)})
    assert len(bomb) < 200 * 1024
    with pytest.raises(ArchiveBomb):
        extract(DocumentKind.DOCX, bomb)


def test_too_much_declared_data_in_total_is_a_bomb() -> None:
    with pytest.raises(ArchiveBomb):
        extract(DocumentKind.DOCX, HANDBOOK, limits=ExtractionLimits(max_zip_uncompressed_bytes=10_000))


def test_a_zip_with_too_many_members_is_refused() -> None:
    many = {f"word/media/image{index}.png": b"" for index in range(ExtractionLimits().max_zip_members)}
    with pytest.raises(ArchiveBomb) as raised:
        extract(DocumentKind.DOCX, _rezipped(HANDBOOK, many))
    assert "parts" in raised.value.public_message


def test_a_nested_archive_is_refused() -> None:
    with pytest.raises(ArchiveBomb):
        extract(
            DocumentKind.DOCX, _rezipped(HANDBOOK, {"word/embeddings/inner.zip": b"PK\x05\x06" + bytes(18)})
        )


def test_an_encrypted_member_is_refused_as_encrypted() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(HANDBOOK)) as original, zipfile.ZipFile(out, "w") as archive:
        for member in original.infolist():
            archive.writestr(member, original.read(member))
        archive.writestr("word/secret.xml", b"ciphertext")
        archive.infolist()[-1].flag_bits |= 0x1  # the directory marks the member encrypted
    with pytest.raises(EncryptedDocument):
        extract(DocumentKind.DOCX, out.getvalue())


def test_duplicate_member_names_are_corrupt() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(HANDBOOK)) as original, zipfile.ZipFile(out, "w") as archive:
        for member in original.infolist():
            archive.writestr(member, original.read(member))
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("word/document.xml", b"<other/>")
    with pytest.raises(CorruptDocument):
        extract(DocumentKind.DOCX, out.getvalue())


def test_broken_document_xml_is_corrupt() -> None:
    broken = _rezipped(HANDBOOK, skip="word/document.xml")
    broken = _rezipped(broken, {"word/document.xml": b"<w:document><unclosed>"})
    with pytest.raises(CorruptDocument):
        extract(DocumentKind.DOCX, broken)


def test_a_truncated_docx_is_corrupt() -> None:
    with pytest.raises((CorruptDocument, DocumentTypeMismatch)):
        extract(DocumentKind.DOCX, HANDBOOK[: len(HANDBOOK) // 2])
