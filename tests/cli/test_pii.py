"""pii detect and pii redact: JSON lines in, JSON lines out, in order, with malformed lines
reported and the batch carrying on."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from hushdesk.cli import app
from hushdesk.cli import pii as pii_cli
from hushdesk.privacy.pii import Detector, DetectorConfig, NameLexicon
from hushdesk.privacy.pii.names import LEXICON_FILE

runner = CliRunner()
# The detection engine is developed apart; these tests are about the command, so they keep to
# the labels whose detection is plain pattern and checksum work (and to --pattern).
PLAIN = ["--no-names", "-l", "EMAIL", "-l", "PHONE", "-l", "CREDIT_CARD"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env; ./var lands in tmp_path
    monkeypatch.delenv("HUSHDESK_DATA_DIR", raising=False)


def _lines(*records: Any) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)


def _invoke(args: list[str], stdin: str | bytes) -> Result:
    return runner.invoke(app, ["pii", *args], input=stdin)


def _out(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def _found(result: Result) -> list[list[tuple[int, int, str]]]:
    """Each output line's spans as (start, end, label); every score checked in passing."""
    found = []
    for record in _out(result):
        assert all(
            0 <= span["score"] <= 1 and round(span["score"], 3) == span["score"] for span in record["spans"]
        )
        found.append([(span["start"], span["end"], span["label"]) for span in record["spans"]])
    return found


def _errors(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]


def test_detect_writes_one_line_per_input_in_input_order() -> None:
    stdin = _lines(
        {"id": "b", "text": "mail ada@example.com please"},
        {"id": 7, "text": "the parcel is late"},
        {"id": "a", "text": "card 4111 1111 1111 1111, phone 082 555 1234"},
    )
    result = _invoke(["detect", *PLAIN], stdin)
    assert result.exit_code == 0, result.stderr
    assert [record["id"] for record in _out(result)] == ["b", 7, "a"]
    assert set(_out(result)[0]) == {"id", "spans"}
    assert set(_out(result)[0]["spans"][0]) == {"start", "end", "label", "score"}
    assert _found(result) == [[(5, 20, "EMAIL")], [], [(5, 24, "CREDIT_CARD"), (32, 44, "PHONE")]]
    assert result.stderr == ""


def test_scores_are_rounded_to_three_decimals(monkeypatch: pytest.MonkeyPatch) -> None:
    from hushdesk.privacy.pii import Span

    monkeypatch.setattr(Detector, "detect", lambda self, text: [Span(0, 2, "EMAIL", 0.123456)])
    result = _invoke(["detect", "--no-names"], _lines({"id": 1, "text": "ab"}))
    assert _out(result) == [{"id": 1, "spans": [{"start": 0, "end": 2, "label": "EMAIL", "score": 0.123}]}]


def test_malformed_lines_are_reported_on_stderr_and_the_batch_goes_on() -> None:
    stdin = _lines(
        {"id": 1, "text": "ada@example.com"},
        "not json at all, ada@example.com",
        "",
        "[1, 2]",
        {"text": "no id, ada@example.com"},
        {"id": 2},
        {"id": 3, "text": 42},
        '{"id": NaN, "text": "x"}',
        {"id": 4, "text": "bob@example.org"},
    )
    result = _invoke(["detect", *PLAIN], stdin)
    assert result.exit_code == 1
    assert [record["id"] for record in _out(result)] == [1, 4]
    assert _errors(result) == [
        {"id": None, "line": 2, "error": "not valid JSON: Expecting value at column 1"},
        {"id": None, "line": 4, "error": "not a JSON object"},
        {"id": None, "line": 5, "error": "id is missing"},
        {"id": 2, "line": 6, "error": "text is missing"},
        {"id": 3, "line": 7, "error": "text is not a string"},
        {"id": None, "line": 8, "error": "not valid JSON: NaN is not JSON"},
    ]
    assert "ada@example.com" not in result.stderr  # an error never quotes the line


def test_bytes_that_are_not_utf8_are_a_malformed_line() -> None:
    stdin = b'{"id": 1, "text": "\xff"}\n' + _lines({"id": 2, "text": "x"}).encode()
    result = _invoke(["detect", "--no-names"], stdin)
    assert result.exit_code == 1
    assert _errors(result) == [{"id": None, "line": 1, "error": "not UTF-8"}]
    assert _out(result) == [{"id": 2, "spans": []}]


def test_blank_lines_are_skipped_and_empty_input_is_fine() -> None:
    assert _invoke(["detect", "--no-names"], "").exit_code == 0
    result = _invoke(["detect", "--no-names"], "\n  \n" + _lines({"id": 1, "text": "hi"}) + "\r\n")
    assert result.exit_code == 0
    assert _out(result) == [{"id": 1, "spans": []}]


def test_an_unknown_label_exits_2_before_reading() -> None:
    result = _invoke(["detect", "--no-names", "--label", "EMIAL"], _lines({"id": 1, "text": "x"}))
    assert result.exit_code == 2
    assert "unknown label EMIAL" in result.stderr
    assert result.stdout == ""
    assert _invoke(["detect", "--no-names", "--exclude", "NOPE"], "").exit_code == 2


def test_label_filters_keep_only_the_chosen_labels() -> None:
    stdin = _lines({"id": 1, "text": "ada@example.com or 082 555 1234"})
    only = _invoke(["detect", "--no-names", "-l", "email"], stdin)
    assert _found(only) == [[(0, 15, "EMAIL")]]
    without = _invoke(["detect", *PLAIN, "--exclude", "EMAIL"], stdin)
    assert _found(without) == [[(19, 31, "PHONE")]]
    everything_else = _invoke(["detect", "--no-names", "--exclude", "EMAIL"], stdin)
    assert all(label != "EMAIL" for _start, _end, label in _found(everything_else)[0])


def test_a_custom_pattern_becomes_a_label() -> None:
    stdin = _lines({"id": 1, "text": "customer CUS-123456, mail ada@example.com"})
    result = _invoke(["detect", "--no-names", "--pattern", r"CUSTOMER_NO=CUS-\d{6}", "-l", "EMAIL"], stdin)
    assert result.exit_code == 0, result.stderr
    assert _found(result) == [[(9, 19, "CUSTOMER_NO"), (26, 41, "EMAIL")]]
    excluded = _invoke(
        ["detect", *PLAIN, "--pattern", r"CUSTOMER_NO=CUS-\d+", "--exclude", "CUSTOMER_NO"], stdin
    )
    assert _found(excluded) == [[(26, 41, "EMAIL")]]


@pytest.mark.parametrize("option", ["CUSTOMER_NO", "lower=abc", "EMAIL=abc", "BAD=(", "EMPTY=a*"])
def test_a_bad_custom_pattern_exits_2(option: str) -> None:
    result = _invoke(["detect", "--no-names", "--pattern", option], "")
    assert result.exit_code == 2
    assert "--pattern" in result.stderr


def test_redact_replaces_spans_with_labels() -> None:
    stdin = _lines({"id": "x", "text": "mail ada@example.com 📧 or call 082 555 1234"})
    result = _invoke(["redact", *PLAIN], stdin)
    assert result.exit_code == 0, result.stderr
    assert _out(result) == [{"id": "x", "text": "mail [EMAIL] 📧 or call [PHONE]"}]


def test_redact_with_pseudonyms_needs_a_key_of_32_bytes(tmp_path: Path) -> None:
    stdin = _lines({"id": 1, "text": "call 082 555 1234"}, {"id": 2, "text": "again 082-555-1234"})
    missing = _invoke(["redact", "--no-names", "--mode", "pseudonym"], stdin)
    assert missing.exit_code == 2
    assert "--pseudonym-key-file" in missing.stderr
    short = tmp_path / "short.key"
    short.write_bytes(b"k" * 31)
    assert (
        _invoke(
            ["redact", "--no-names", "--mode", "pseudonym", "--pseudonym-key-file", str(short)], stdin
        ).exit_code
        == 2
    )
    key = tmp_path / "pseudonym.key"
    key.write_bytes(bytes(range(32)))
    result = _invoke(["redact", *PLAIN, "--mode", "pseudonym", "--pseudonym-key-file", str(key)], stdin)
    assert result.exit_code == 0, result.stderr
    first, second = (record["text"] for record in _out(result))
    pseudonym = first.removeprefix("call ")
    assert pseudonym.startswith("[PHONE_")
    assert second == f"again {pseudonym}"  # the same number, however written


def test_two_workers_give_the_same_output_as_one() -> None:
    texts = ["mail ada@example.com", "no pii", "card 4111 1111 1111 1111", "📞 082 555 1234", "not json"]
    records = [
        texts[i % len(texts)] if i % len(texts) == 4 else {"id": i, "text": texts[i % len(texts)]}
        for i in range(3 * pii_cli.CHUNK_LINES + 7)
    ]
    stdin = _lines(*records)
    one = _invoke(["detect", "--no-names", "--workers", "1"], stdin)
    two = _invoke(["detect", "--no-names", "--workers", "2"], stdin)
    assert any(_found(one))
    assert one.exit_code == two.exit_code == 1
    assert two.stdout == one.stdout
    assert two.stderr == one.stderr
    assert [record["id"] for record in _out(two)] == [i for i in range(len(records)) if i % len(texts) != 4]


def test_offsets_are_python_string_indexes_around_emoji_and_accents() -> None:
    text = "😀👍🏽 Привет! écrivez à zoe@example.com 🇿🇦 ou appelez +27 82 555 1234 ✉️ réf Ünïcödé-7"
    options = [*PLAIN, "--pattern", "ACCENTED=Ünïcödé-[0-9]"]
    result = _invoke(["detect", *options], _lines({"id": 1, "text": text}))
    found = {text[start:end]: label for start, end, label in _found(result)[0]}
    assert found == {"zoe@example.com": "EMAIL", "+27 82 555 1234": "PHONE", "Ünïcödé-7": "ACCENTED"}
    redacted = _invoke(["redact", *options], _lines({"id": 1, "text": text}))
    assert (
        _out(redacted)[0]["text"] == "😀👍🏽 Привет! écrivez à [EMAIL] 🇿🇦 ou appelez [PHONE] ✉️ réf [ACCENTED]"
    )
    assert "😀👍🏽 Привет!" in redacted.stdout  # written as UTF-8, not \u escapes


def test_output_is_utf8_json_and_a_lone_surrogate_is_escaped() -> None:
    result = _invoke(["redact", *PLAIN], '{"id": "é", "text": "x \\ud800 ada@example.com"}\n')
    assert result.exit_code == 0
    assert result.stdout == '{"id": "\\u00e9", "text": "x \\ud800 [EMAIL]"}\n'
    plain = _invoke(["redact", *PLAIN], _lines({"id": "é", "text": "ok"}))
    assert plain.stdout == '{"id": "é", "text": "ok"}\n'


def test_names_come_from_the_lexicon_in_the_cache_folder(
    name_lists_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[NameLexicon | None] = []

    def detector(config: DetectorConfig, *, names: NameLexicon | None) -> Detector:
        given.append(names)
        return Detector(config, names=names)

    monkeypatch.setattr(pii_cli, "Detector", detector)
    stdin = _lines({"id": 1, "text": "Hi, my name is Sarah Johnson, mail sarah@example.com"})
    result = _invoke(["detect", "--cache-dir", str(name_lists_dir)], stdin)
    assert result.exit_code == 0, result.stderr
    assert "building" not in result.stderr
    [names] = given
    assert names is not None
    assert names.first_rank("sarah") is not None
    assert ("PERSON", "Sarah Johnson") in {
        (label, "Hi, my name is Sarah Johnson"[start:end]) for start, end, label in _found(result)[0]
    }
    assert _invoke(["detect", "--no-names"], stdin).exit_code == 0
    assert given[1:] == [None]


def test_the_default_cache_folder_is_in_the_data_folder(
    name_lists_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    (data / "cache").mkdir(parents=True)
    shutil.copy(name_lists_dir / LEXICON_FILE, data / "cache" / LEXICON_FILE)
    monkeypatch.setenv("HUSHDESK_DATA_DIR", str(data))
    stdin = _lines({"id": 1, "text": "mail sarah@example.com"})
    result = _invoke(["detect", "--workers", "2", "-l", "EMAIL"], stdin)
    assert result.exit_code == 0, result.stderr
    assert "building" not in result.stderr
    assert _found(result) == [[(5, 22, "EMAIL")]]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_goes_to_a_terminal_on_stderr_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pii_cli, "PROGRESS_SECONDS", 0.0)
    terminal = _Terminal()
    progress = pii_cli.Progress(terminal)
    progress.add(500)
    progress.finish()
    assert terminal.getvalue().startswith("pii: 500 lines, ")
    piped = io.StringIO()
    quiet = pii_cli.Progress(piped)
    quiet.add(500)
    quiet.finish()
    assert piped.getvalue() == ""
