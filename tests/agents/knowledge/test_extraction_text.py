"""Plain-text extraction, its encodings, and the normalisation every format shares."""

from __future__ import annotations

import pytest

from hushdesk.agents.knowledge.extraction import DocumentKind, DocumentTypeMismatch, extract
from hushdesk.agents.knowledge.extraction.normalise import join_hyphenated_lines, normalise_text


def test_paragraphs_are_separated_by_blank_lines_and_short_caps_or_colon_lines_are_headings() -> None:
    content = (
        b"SHIPPING AND RETURNS\n\nWe ship daily.\nTracking is included.\n\nOpening hours:\n\nMon to Fri."
    )
    document = extract(DocumentKind.TEXT, content)
    assert [(section.headings, section.text) for section in document.sections] == [
        (("SHIPPING AND RETURNS",), "We ship daily.\nTracking is included."),
        (("Opening hours",), "Mon to Fri."),
    ]
    assert document.title is None
    assert document.pages == 1


def test_a_caps_sentence_in_a_paragraph_is_not_a_heading() -> None:
    document = extract(DocumentKind.TEXT, b"READ THIS CAREFULLY.\n\nThen continue.")
    assert document.sections[0].headings == ()


def test_utf8_with_bom_and_crlf_is_read() -> None:
    document = extract(DocumentKind.TEXT, "\ufeffCaf\u00e9\r\n\r\nCr\u00e8me".encode("utf-8-sig"))
    assert document.sections[0].text == "Caf\u00e9\n\nCr\u00e8me"


def test_utf16_with_bom_is_read() -> None:
    assert (
        extract(DocumentKind.TEXT, "Gr\u00fc\u00dfe".encode("utf-16")).sections[0].text == "Gr\u00fc\u00dfe"
    )


def test_windows_1252_text_is_read_when_it_is_not_utf8() -> None:
    assert (
        extract(DocumentKind.TEXT, "Caf\u00e9 \u20ac5".encode("cp1252")).sections[0].text
        == "Caf\u00e9 \u20ac5"
    )


@pytest.mark.parametrize(
    "content",
    [b"text\x00with NUL", b"\x01\x02\x03 binary", b"\x81\x8d undefined in cp1252", b"\xff\xfe\x00\xd8"],
)
def test_bytes_that_are_not_text_are_refused(content: bytes) -> None:
    with pytest.raises(DocumentTypeMismatch):
        extract(DocumentKind.TEXT, content)


def test_normalisation_composes_collapses_and_drops_invisible_characters() -> None:
    raw = "Cafe\u0301\u00a0\u00a0 au\u200blait\t\ttoday\u00ad\x07\r\n\r\n\r\n\r\nnext\u2028line \x85end"
    assert normalise_text(raw) == "Caf\u00e9 aulait today\n\nnext\nline end"


def test_hyphenated_line_breaks_join_only_lowercase_words() -> None:
    assert (
        join_hyphenated_lines("infor-\nmation, e-\nMail, 2020-\n2021") == "information, e-\nMail, 2020-\n2021"
    )
