"""CSV question/answer pairs."""

from __future__ import annotations

import pytest

from hushdesk.agents.knowledge.chunking import chunk_document
from hushdesk.agents.knowledge.extraction import (
    DocumentKind,
    DocumentRejected,
    DocumentTooLarge,
    EmptyDocument,
    ExtractionLimits,
    UnrecognisedColumns,
    extract,
)


def _pairs(content: bytes, limits: ExtractionLimits | None = None) -> list[tuple[tuple[str, ...], str]]:
    document = extract(DocumentKind.CSV, content, limits=limits or ExtractionLimits())
    return [(section.headings, section.text) for section in document.sections]


def test_a_header_row_names_the_columns_and_each_pair_is_a_section() -> None:
    content = (
        b'id,Question,Answer,owner\n1,How long is delivery?,"Two days, usually.",ops\n'
        b"2,Do you ship abroad?,Yes.,ops\n"
    )
    assert _pairs(content) == [
        (("How long is delivery?",), "Two days, usually."),
        (("Do you ship abroad?",), "Yes."),
    ]


@pytest.mark.parametrize(
    "header",
    [
        "q;a",
        "Questions;Answers",
        "Vraag;Antwoord",
        "FRAGE;ANTWORT",
        "pregunta;respuesta",
        "Question;R\u00e9ponse",
    ],
)
def test_headers_are_recognised_in_several_languages(header: str) -> None:
    assert _pairs(f"{header}\nWann?;Jetzt, sofort.\n".encode()) == [(("Wann?",), "Jetzt, sofort.")]


def test_tab_separated_pairs_are_read() -> None:
    assert _pairs(b"question\tanswer\nOpen on Sunday?\tNo, closed.\n") == [
        (("Open on Sunday?",), "No, closed.")
    ]


def test_two_columns_without_header_are_question_then_answer() -> None:
    content = (
        b"How do I reset my password?;Use the link, then check your mail.\n"
        b"Can I pay by card?;Yes, all cards.\n"
    )
    assert _pairs(content) == [
        (("How do I reset my password?",), "Use the link, then check your mail."),
        (("Can I pay by card?",), "Yes, all cards."),
    ]


def test_rows_missing_a_question_or_an_answer_are_skipped() -> None:
    content = b"question,answer\n,orphan answer\nno answer,\n  ,  \nReal?,Yes.\nshort row\n"
    assert _pairs(content) == [(("Real?",), "Yes.")]


def test_multi_line_quoted_answers_keep_their_paragraphs() -> None:
    content = b'question,answer\nSteps?,"First, log in.\n\nThen, click Export."\n'
    assert _pairs(content) == [(("Steps?",), "First, log in.\n\nThen, click Export.")]


def test_a_csv_with_no_usable_pair_is_empty() -> None:
    with pytest.raises(EmptyDocument):
        _pairs(b"question,answer\n,\n,only answer\n")


def test_unrecognisable_columns_are_refused_naming_the_expected_headers() -> None:
    with pytest.raises(UnrecognisedColumns) as raised:
        _pairs(b"name,email,city\nAda,ada@example.org,London\n")
    assert '"question"' in raised.value.public_message
    assert '"answer"' in raised.value.public_message
    assert "Ada" not in raised.value.public_message
    assert isinstance(raised.value, DocumentRejected)
    assert raised.value.status == 422


def test_more_rows_than_the_cap_are_too_large() -> None:
    content = b"question,answer\n" + b"".join(b"Q%d?,A%d.\n" % (index, index) for index in range(11))
    with pytest.raises(DocumentTooLarge):
        _pairs(content, ExtractionLimits(max_csv_rows=10))
    assert len(_pairs(content, ExtractionLimits(max_csv_rows=11))) == 11


def test_a_field_over_the_cap_is_too_large() -> None:
    with pytest.raises(DocumentTooLarge) as raised:
        _pairs(b"question,answer\nWhy?," + b"x" * 101 + b"\n", ExtractionLimits(max_csv_field_chars=100))
    assert "Row 2" in raised.value.public_message


def test_a_field_past_the_csv_modules_own_limit_is_too_large_not_a_crash() -> None:
    huge = b'question,answer\nWhy?,"' + b"x" * 200_000 + b'"\n'
    with pytest.raises(DocumentTooLarge):
        _pairs(huge, ExtractionLimits(max_csv_field_chars=500_000))


def test_stray_quotes_inside_fields_are_read_as_text() -> None:
    assert _pairs(b'question,answer\nWhat "is" it?,A "thing".\n') == [(('What "is" it?',), 'A "thing".')]


def test_an_unclosed_quote_runs_to_the_end_of_the_file() -> None:
    assert _pairs(b'question,answer\nWhy?,"Because\nit is\n') == [(("Why?",), "Because\nit is")]


def test_each_pair_is_one_chunk_headed_by_its_question() -> None:
    document = extract(DocumentKind.CSV, b"question,answer\nWhen?,Now.\nWhere?,Here.\n")
    chunks = chunk_document(document)
    assert [(chunk.ordinal, chunk.heading, chunk.text) for chunk in chunks] == [
        (0, "When?", "Now."),
        (1, "Where?", "Here."),
    ]
