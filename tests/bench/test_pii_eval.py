"""bench/pii_eval.py end to end on a slice of the development set: our engine (without the name
lexicon, which takes about a minute to build) and Presidio, in one run, with the network
disabled (pytest-socket) and warnings as errors."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hushdesk.privacy.pii import ALL_LABELS
from pii_eval import load_records, main
from pii_presidio import PresidioDetector, to_spans

# A small labelled set of our own, in the development set's format and conventions, with every
# label and some PII-free messages, so the evaluation runs end to end wherever the tests run.
SAMPLE = Path(__file__).with_name("pii_sample.jsonl")
SLICE = len(SAMPLE.read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="module")
def dev_slice() -> Path:
    return SAMPLE


@pytest.fixture(scope="module")
def presidio() -> PresidioDetector:
    return PresidioDetector()


@pytest.fixture(scope="module")
def run_output(dev_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("report") / "report.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main([str(dev_slice), "--no-names", "--repeat", "2", "--json", str(out), "--errors", "5"])
    assert code == 0
    return json.loads(out.read_text(encoding="utf-8")), printed.getvalue()


def _check_counts(counts: Mapping[str, Any]) -> None:
    assert min(counts["tp"], counts["fp"], counts["fn"]) >= 0
    for ratio in ("precision", "recall", "f1"):
        assert counts[ratio] is None or 0.0 <= counts[ratio] <= 1.0


def _check_leak(leak: Mapping[str, Any]) -> None:
    assert 0 <= leak["leaked_chars"] <= leak["gold_chars"]
    assert (leak["fraction"] is None) == (leak["gold_chars"] == 0)


def test_report_covers_both_engines_and_every_label(run_output: tuple[dict[str, Any], str]) -> None:
    report, _ = run_output
    assert report["messages"] == SLICE
    assert set(report["engines"]) == {"hushdesk", "presidio"}
    for figures in report["engines"].values():
        assert set(figures["exact"]) >= ALL_LABELS
        assert set(figures["overlap"]) >= ALL_LABELS
        assert set(figures["leaked"]["by_label"]) >= ALL_LABELS


def test_figures_are_in_range(run_output: tuple[dict[str, Any], str]) -> None:
    report, _ = run_output
    for figures in report["engines"].values():
        for matching in ("exact", "overlap"):
            for counts in [*figures[matching].values(), figures[f"{matching}_micro"]]:
                _check_counts(counts)
        leaked = figures["leaked"]
        for leak in [leaked["overall"], leaked["checksum_labels"], *leaked["by_label"].values()]:
            _check_leak(leak)
        assert 0 < figures["no_pii_messages"] < SLICE
        assert 0.0 <= figures["false_positive_rate"] <= 1.0
        assert len(figures["seconds_per_pass"]) == 2
        assert figures["messages_per_second"] > 0
    assert report["throughput_ratio"] > 0


def test_overlap_matching_finds_at_least_what_exact_matching_does(
    run_output: tuple[dict[str, Any], str],
) -> None:
    report, _ = run_output
    for figures in report["engines"].values():
        assert figures["overlap_micro"]["tp"] >= figures["exact_micro"]["tp"]
        assert figures["overlap_micro"]["tp"] + figures["overlap_micro"]["fn"] == sum(
            report["gold_spans"].values()
        )


def test_presidio_runs_offline_and_finds_emails(run_output: tuple[dict[str, Any], str]) -> None:
    report, printed = run_output
    emails = report["engines"]["presidio"]["overlap"]["EMAIL"]
    assert emails["tp"] > 0
    assert "UkNinoRecognizer" in report["presidio"]["recognizers_loaded"]
    assert "ZaIdNumberRecognizer" in report["presidio"]["recognizers_loaded"]
    for label in ALL_LABELS:
        assert label in printed
    assert "throughput ratio hushdesk/presidio" in printed
    assert "hushdesk errors:" in printed


def test_presidio_logs_no_warning_such_as_a_model_download(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        rebuilt = PresidioDetector()
        spans = rebuilt.detect("write to thandi.mokoena@example.co.za or call 082 555 1234")
    assert {span.label for span in spans} >= {"EMAIL", "PHONE"}
    assert [record.getMessage() for record in caplog.records] == []


def test_presidio_threshold_applied_afterwards_matches_presidio_own(
    presidio: PresidioDetector, dev_slice: Path
) -> None:
    # The sweep filters threshold-0 results; that must equal asking Presidio for the threshold.
    for record in load_records(dev_slice):
        later = to_spans(presidio.candidates(record.text), presidio.options)
        assert later == presidio.detect(record.text), record.id
