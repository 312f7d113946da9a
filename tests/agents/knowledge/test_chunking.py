"""Chunking: sections to chunks within size, in order, never across headings, text whole."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hushdesk.agents.knowledge.chunking import Chunk, chunk_document
from hushdesk.agents.knowledge.extraction import DocumentKind, ExtractedDocument, Section


def _document(*sections: Section, kind: DocumentKind = DocumentKind.MARKDOWN) -> ExtractedDocument:
    return ExtractedDocument(kind=kind, title=None, sections=sections, pages=1, links=())


def _squashed(text: str) -> str:
    return "".join(text.split())


def test_small_paragraphs_of_one_section_are_packed_into_one_chunk() -> None:
    chunks = chunk_document(_document(Section(("Returns",), "One.\n\nTwo.\n\nThree.")))
    assert chunks == [Chunk(ordinal=0, heading="Returns", text="One.\n\nTwo.\n\nThree.", page=None)]


def test_sections_with_different_heading_paths_are_never_merged() -> None:
    chunks = chunk_document(
        _document(Section(("A",), "First."), Section(("A", "B"), "Second."), Section((), "Third."))
    )
    assert [(chunk.heading, chunk.text) for chunk in chunks] == [
        ("A", "First."),
        ("A > B", "Second."),
        ("", "Third."),
    ]


def test_pdf_pages_stay_apart_and_keep_their_page_number() -> None:
    document = ExtractedDocument(
        kind=DocumentKind.PDF,
        title=None,
        sections=(Section((), "Page one.", page=1), Section((), "Page two.", page=2)),
        pages=2,
        links=(),
    )
    assert [(chunk.text, chunk.page) for chunk in chunk_document(document)] == [
        ("Page one.", 1),
        ("Page two.", 2),
    ]


def test_paragraphs_are_packed_up_to_the_target() -> None:
    paragraphs = ["x" * 40 for _ in range(5)]
    chunks = chunk_document(_document(Section((), "\n\n".join(paragraphs))), target_chars=100, max_chars=150)
    assert [chunk.text.count("x") for chunk in chunks] == [80, 80, 40]


def test_a_long_paragraph_is_split_at_sentence_ends() -> None:
    sentences = [f"Sentence number {index} ends here." for index in range(30)]
    chunks = chunk_document(_document(Section((), " ".join(sentences))), target_chars=200, max_chars=300)
    assert len(chunks) > 1
    assert all(chunk.text.endswith("ends here.") for chunk in chunks)
    assert all(len(chunk.text) <= 300 for chunk in chunks)


def test_a_long_run_of_lines_is_split_at_line_breaks_first() -> None:
    lines = [f"Plan {index} | {index * 10} EUR" for index in range(100)]
    chunks = chunk_document(_document(Section((), "\n".join(lines))), target_chars=200, max_chars=300)
    assert all(chunk.text.startswith("Plan ") and chunk.text.endswith("EUR") for chunk in chunks)
    assert "\n".join(chunk.text for chunk in chunks) == "\n".join(lines)


def test_a_sentence_longer_than_max_is_split_at_whitespace_and_a_long_word_hard() -> None:
    text = "word " * 100 + "y" * 250
    chunks = chunk_document(_document(Section((), text)), target_chars=80, max_chars=100)
    assert all(len(chunk.text) <= 100 for chunk in chunks)
    assert _squashed("".join(chunk.text for chunk in chunks)) == _squashed(text)


def test_each_csv_pair_is_one_chunk_even_when_short() -> None:
    document = _document(Section(("Q1?",), "A1."), Section(("Q2?",), "A2."), kind=DocumentKind.CSV)
    assert [(chunk.heading, chunk.text) for chunk in chunk_document(document)] == [
        ("Q1?", "A1."),
        ("Q2?", "A2."),
    ]


def test_an_overlong_csv_answer_is_split_under_its_question() -> None:
    answer = " ".join(f"Step {index} is done." for index in range(200))
    chunks = chunk_document(
        _document(Section(("How?",), answer), kind=DocumentKind.CSV), target_chars=500, max_chars=800
    )
    assert len(chunks) > 1
    assert {chunk.heading for chunk in chunks} == {"How?"}


@pytest.mark.parametrize(("target", "maximum"), [(0, 10), (20, 10), (-1, 5)])
def test_invalid_sizes_are_refused(target: int, maximum: int) -> None:
    with pytest.raises(ValueError, match="target_chars"):
        chunk_document(_document(Section((), "text")), target_chars=target, max_chars=maximum)


def test_chunking_is_deterministic() -> None:
    document = _document(Section(("A",), "Alpha beta. " * 300), Section(("B",), "Gamma.\n\nDelta."))
    assert chunk_document(document) == chunk_document(document)


_TEXT = st.text(
    alphabet=st.sampled_from(list("abcdefghij ABC.!?\u2026\"')\n\t\u00a0\u00e9\u4e2d\u3002"))
    | st.characters(),
    max_size=3000,
)
_SECTIONS = st.lists(
    st.builds(Section, st.lists(st.text(min_size=1, max_size=10), max_size=3).map(tuple), _TEXT),
    max_size=6,
)
_SIZES = st.integers(min_value=1, max_value=400).flatmap(
    lambda target: st.tuples(st.just(target), st.integers(min_value=target, max_value=target + 600))
)


@settings(max_examples=200, deadline=None)
@given(_SECTIONS, _SIZES, st.sampled_from([DocumentKind.MARKDOWN, DocumentKind.CSV, DocumentKind.PDF]))
def test_chunk_properties_hold_for_any_text(
    sections: list[Section], sizes: tuple[int, int], kind: DocumentKind
) -> None:
    target, maximum = sizes
    document = _document(*sections, kind=kind)
    chunks = chunk_document(document, target_chars=target, max_chars=maximum)
    assert all(0 < len(chunk.text) <= maximum for chunk in chunks)
    assert all(chunk.text == chunk.text.strip() for chunk in chunks)
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    # Chunks partition the sections in order: each section's text (modulo whitespace) is exactly
    # that of the next chunks, which carry its heading and page.
    remaining = iter(chunks)
    for section in sections:
        expected, taken = _squashed(section.text), ""
        while len(taken) < len(expected):
            chunk = next(remaining)
            assert (chunk.heading, chunk.page) == (" > ".join(section.headings), section.page)
            taken += _squashed(chunk.text)
        assert taken == expected
    assert next(remaining, None) is None
