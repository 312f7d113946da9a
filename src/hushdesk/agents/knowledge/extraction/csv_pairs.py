"""CSV files of question/answer pairs, one section per pair: the question is its heading, the
answer its text.

The delimiter is the first of comma, semicolon and tab with which the first row names a
question and an answer column (see ``QUESTION_HEADERS`` and ``ANSWER_HEADERS``; other columns
are ignored); failing that, the first with which the first rows all have exactly two columns,
read as question then answer with no header row (when several delimiters do, the one leaving
the fewest other delimiters inside questions). Rows missing either are skipped.

``csv.field_size_limit`` is process-wide and left alone; rows and field lengths are capped here
instead (``max_csv_rows``, ``max_csv_field_chars``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from hushdesk.agents.knowledge.extraction.builder import SectionBuilder
from hushdesk.agents.knowledge.extraction.decoding import decode_text
from hushdesk.agents.knowledge.extraction.document import DocumentKind, ExtractedDocument
from hushdesk.agents.knowledge.extraction.errors import CorruptDocument, DocumentTooLarge, UnrecognisedColumns
from hushdesk.agents.knowledge.extraction.limits import ExtractionLimits

DELIMITERS = (",", ";", "\t")
SNIFF_ROWS = 20
QUESTION_HEADERS = frozenset(
    {"question", "questions", "q", "vraag", "vragen", "frage", "fragen", "pregunta", "preguntas"}
)
ANSWER_HEADERS = frozenset(
    {"answer", "answers", "a", "antwoord", "antwoorden", "antwort", "antworten", "respuesta", "respuestas"}
    | {"réponse", "réponses", "reponse", "reponses"}
)


def extract_csv_pairs(content: bytes, limits: ExtractionLimits) -> ExtractedDocument:
    """Raises ``UnrecognisedColumns`` when no delimiter yields question/answer columns,
    ``EmptyDocument`` when no row has both, ``DocumentTooLarge`` past ``max_csv_rows`` rows or a
    field past ``max_csv_field_chars``, ``CorruptDocument`` for malformed quoting, and
    ``DocumentTypeMismatch`` for bytes that are not text."""
    text = decode_text(content)
    delimiter, question_column, answer_column, has_header = _layout(text)
    builder = SectionBuilder(limits)
    rows = _rows(text, delimiter, limits)
    if has_header:
        next(rows, None)
    for row in rows:
        if len(row) <= max(question_column, answer_column):
            continue
        question, answer = row[question_column].strip(), row[answer_column].strip()
        if question and answer:
            builder.section((question,), answer)
    return builder.finish(DocumentKind.CSV, title=None)


def _layout(text: str) -> tuple[str, int, int, bool]:
    """(delimiter, question column, answer column, whether the first row is a header)."""
    samples = {delimiter: _sample(text, delimiter) for delimiter in DELIMITERS}
    for delimiter, rows in samples.items():
        if rows:
            header = [_header_name(cell) for cell in rows[0]]
            question = next((index for index, name in enumerate(header) if name in QUESTION_HEADERS), None)
            answer = next((index for index, name in enumerate(header) if name in ANSWER_HEADERS), None)
            if question is not None and answer is not None and question != answer:
                return delimiter, question, answer, True
    two_columns = [
        delimiter
        for delimiter, rows in samples.items()
        if rows and all(len(row) == 2 for row in rows if any(cell.strip() for cell in row))
    ]
    if not two_columns:
        raise UnrecognisedColumns()
    # "How?;Yes, we do" splits in two on both ";" and ",": answers hold commas (and semicolons)
    # far more often than questions do, so the delimiter leaving the fewest other candidates in
    # the question column wins.
    best = min(two_columns, key=lambda delimiter: _delimiters_in_questions(samples[delimiter], delimiter))
    return best, 0, 1, False


def _delimiters_in_questions(rows: list[list[str]], delimiter: str) -> int:
    others = [other for other in DELIMITERS if other != delimiter]
    return sum(1 for row in rows if any(other in row[0] for other in others))


def _sample(text: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) == SNIFF_ROWS:
                break
    except csv.Error:
        # Keep what was read (a header before an overlong field); reading the rows reports it.
        return rows
    return rows


def _header_name(cell: str) -> str:
    return cell.strip().strip("\ufeff\"'").rstrip(":?").strip().casefold()


def _rows(text: str, delimiter: str, limits: ExtractionLimits) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    count = 0
    try:
        for row in reader:
            count += 1
            if count > limits.max_csv_rows + 1:  # one header row on top of the cap
                raise DocumentTooLarge(
                    f"This CSV file has more than {limits.max_csv_rows:,} rows. Split it into smaller files.",
                    limit=limits.max_csv_rows,
                )
            if any(len(cell) > limits.max_csv_field_chars for cell in row):
                raise _field_too_long(count, limits)
            yield row
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise _field_too_long(count + 1, limits) from exc
        raise CorruptDocument(f"Row {count + 1} of this CSV file is malformed (check its quotes).") from exc


def _field_too_long(row: int, limits: ExtractionLimits) -> DocumentTooLarge:
    return DocumentTooLarge(
        f"Row {row} of this CSV file has a field longer than {limits.max_csv_field_chars:,} characters.",
        row=row,
        limit=limits.max_csv_field_chars,
    )
