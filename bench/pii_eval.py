"""The PII engine against labelled messages, with Microsoft Presidio side by side, in one run.

Both detectors see the same messages in the same process. Per label: precision, recall and F1
with exact and with overlap matching; the share of gold PII characters left uncovered
(overall, checksum labels, per label); the share of messages without PII that get a
prediction; and messages per second. Detection alone is timed (``time.perf_counter``), after
loading and one untimed pass that gives the predictions, as whole passes over the messages, the
two detectors taking turns pass by pass; the figure is the median over ``--repeat`` passes.
Metrics are defined in bench/pii_metrics.py, Presidio's configuration in bench/pii_presidio.py,
and both are explained in docs/pii-evaluation.md.

Usage: .venv/bin/python bench/pii_eval.py [DATASET] [--no-presidio] [--json OUT]
           [--names-cache DIR | --no-names] [--repeat N] [--errors [N]] [--presidio-sweep]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import REPO_ROOT, machine_facts, median, print_table
from hushdesk.privacy.pii import ALL_LABELS, CHECKSUM_LABELS, Detector, NameLexicon
from pii_metrics import Counts, GoldSpan, LabelledRange, Leak, Report, evaluate
from pii_presidio import (
    OPTIONAL_ENTITY_LABELS,
    SCORE_THRESHOLDS,
    Candidate,
    PresidioDetector,
    PresidioOptions,
    to_spans,
)

DEFAULT_DATASET = REPO_ROOT.parent / "shared" / "pii-dev.jsonl"
DEFAULT_NAMES_CACHE = REPO_ROOT / ".cache"
LABELS = tuple(sorted(ALL_LABELS))
OURS, PRESIDIO = "hushdesk", "presidio"

Detect = Callable[[str], Sequence[LabelledRange]]


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    text: str
    gold: tuple[GoldSpan, ...]


@dataclass(frozen=True, slots=True)
class EngineRun:
    """One detector's predictions (from its untimed pass) and the duration of every timed pass."""

    predictions: tuple[tuple[LabelledRange, ...], ...]
    seconds: tuple[float, ...]

    @property
    def messages_per_second(self) -> float:
        seconds = median(self.seconds)
        return len(self.predictions) / seconds if seconds > 0 else float("inf")


def load_records(path: Path) -> list[Record]:
    """Reads a JSONL file in the pii-dev format. Raises ValueError, naming the line, for a span
    outside its text or an empty one."""
    records: list[Record] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        text: str = raw["text"]
        gold = tuple(GoldSpan(s["start"], s["end"], s["label"]) for s in raw["spans"])
        for span in gold:
            if not 0 <= span.start < span.end <= len(text):
                raise ValueError(f"{path}:{number}: span {span} is outside the text or empty")
        records.append(Record(id=str(raw["id"]), text=text, gold=gold))
    return records


def run_engines(
    engines: Mapping[str, Detect], records: Sequence[Record], *, repeat: int
) -> dict[str, EngineRun]:
    """One untimed pass of each detector over ``records`` (its predictions; it also pays for
    whatever loads lazily, such as phone metadata per region), then ``repeat`` timed passes,
    the detectors taking turns pass by pass so a slow moment of the machine hits both."""
    texts = [record.text for record in records]
    predictions = {name: tuple(tuple(detect(text)) for text in texts) for name, detect in engines.items()}
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(max(1, repeat)):
        for name, detect in engines.items():
            started = time.perf_counter()
            for text in texts:
                detect(text)
            seconds[name].append(time.perf_counter() - started)
    return {name: EngineRun(predictions[name], tuple(seconds[name])) for name in engines}


def score(records: Sequence[Record], predictions: Sequence[Sequence[LabelledRange]]) -> Report:
    pairs = zip((record.gold for record in records), predictions, strict=True)
    return evaluate(pairs, labels=LABELS, checksum_labels=CHECKSUM_LABELS)


def _counts_dict(counts: Counts) -> dict[str, Any]:
    return {
        "tp": counts.tp,
        "fp": counts.fp,
        "fn": counts.fn,
        "precision": counts.precision,
        "recall": counts.recall,
        "f1": counts.f1,
    }


def _leak_dict(leak: Leak) -> dict[str, Any]:
    return {"gold_chars": leak.gold_chars, "leaked_chars": leak.leaked_chars, "fraction": leak.fraction}


def engine_summary(report: Report, run: EngineRun) -> dict[str, Any]:
    """A detector's figures as plain JSON values (None where a ratio has no denominator)."""
    return {
        "exact": {label: _counts_dict(c) for label, c in report.exact.items()},
        "overlap": {label: _counts_dict(c) for label, c in report.overlap.items()},
        "exact_micro": _counts_dict(report.exact_micro),
        "overlap_micro": _counts_dict(report.overlap_micro),
        "leaked": {
            "overall": _leak_dict(report.leak_overall),
            "checksum_labels": _leak_dict(report.leak_checksum),
            "by_label": {label: _leak_dict(leak) for label, leak in report.leak_by_label.items()},
        },
        "no_pii_messages": report.negatives,
        "no_pii_messages_flagged": report.negatives_flagged,
        "false_positive_rate": report.false_positive_rate,
        "messages_per_second": run.messages_per_second,
        "seconds_per_pass": list(run.seconds),
    }


def build_report(records: Sequence[Record], runs: Mapping[str, EngineRun]) -> dict[str, Any]:
    engines = {name: engine_summary(score(records, run.predictions), run) for name, run in runs.items()}
    report: dict[str, Any] = {
        "messages": len(records),
        "gold_spans": {label: sum(g.label == label for r in records for g in r.gold) for label in LABELS},
        "engines": engines,
    }
    if OURS in runs and PRESIDIO in runs:
        report["throughput_ratio"] = runs[OURS].messages_per_second / runs[PRESIDIO].messages_per_second
    return report


def presidio_facts(presidio: PresidioDetector) -> dict[str, Any]:
    return {
        "recognizers_loaded": list(presidio.loaded.names),
        "recognizers_skipped": dict(presidio.loaded.skipped),
        "entity_types_requested": presidio.entity_types,
        "optional_entities": sorted(presidio.options.optional_entities),
        "entity_labels": presidio.options.entity_labels(),
        "score_threshold": presidio.options.score_threshold,
    }


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if percent else f"{value:.3f}"


def print_report(report: Mapping[str, Any]) -> None:
    """The side-by-side tables, one column group per detector in ``report["engines"]``."""
    engines: Mapping[str, Any] = report["engines"]
    for matching in ("exact", "overlap"):
        print(f"\n{matching.upper()} matching: precision / recall / F1")
        _print_matching_table(report, matching)
    print("\nLeaked PII characters (share of gold characters that no prediction covers)")
    leak_rows = []
    for key in ("overall", "checksum_labels", *LABELS):
        leaks = [_leak_of(figures, key) for figures in engines.values()]
        leak_rows.append(
            [key, str(leaks[0]["gold_chars"]), *(_fmt(x["fraction"], percent=True) for x in leaks)]
        )
    print_table(["label", "gold chars", *engines], leak_rows)
    print()
    summary_rows = [
        ["false-positive rate, messages without PII", *(_fp_cell(f) for f in engines.values())],
        ["messages per second (median pass)", *(f"{f['messages_per_second']:.0f}" for f in engines.values())],
    ]
    print_table(["", *engines], summary_rows)
    if "throughput_ratio" in report:
        print(f"\nthroughput ratio {OURS}/{PRESIDIO}: {report['throughput_ratio']:.1f}x")


def _print_matching_table(report: Mapping[str, Any], matching: str) -> None:
    engines: Mapping[str, Any] = report["engines"]
    gold_spans: Mapping[str, int] = report["gold_spans"]
    headers = ["label", "gold", *(f"{name} {m}" for name in engines for m in ("P", "R", "F1"))]
    rows = []
    for label in (*LABELS, "micro"):
        gold = sum(gold_spans.values()) if label == "micro" else gold_spans[label]
        row = [label, str(gold)]
        for figures in engines.values():
            counts = figures[f"{matching}_micro"] if label == "micro" else figures[matching][label]
            row += [_fmt(counts["precision"]), _fmt(counts["recall"]), _fmt(counts["f1"])]
        rows.append(row)
    print_table(headers, rows)


def _leak_of(figures: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    leaked: Mapping[str, Any] = figures["leaked"]
    found: Mapping[str, Any] = (
        leaked[key] if key in ("overall", "checksum_labels") else leaked["by_label"][key]
    )
    return found


def _fp_cell(figures: Mapping[str, Any]) -> str:
    rate = _fmt(figures["false_positive_rate"], percent=True)
    return f"{rate} ({figures['no_pii_messages_flagged']}/{figures['no_pii_messages']})"


def error_lines(records: Sequence[Record], predictions: Sequence[Sequence[LabelledRange]]) -> list[str]:
    """Each miss (no overlapping prediction of its label), false positive (no overlapping gold
    span of its label) and boundary error (overlapping, not exact), with its text."""
    lines: list[str] = []
    for record, predicted in zip(records, predictions, strict=True):
        text = record.text
        for g in record.gold:
            same = [p for p in predicted if p.label == g.label and _overlaps(g, p)]
            if not same:
                other = ", ".join(sorted({p.label for p in predicted if _overlaps(g, p)}))
                lines.append(f"{record.id} MISS  {g.label:<14} {text[g.start : g.end]!r}" + _also(other))
            elif all((p.start, p.end) != (g.start, g.end) for p in same):
                got = " | ".join(repr(text[p.start : p.end]) for p in same)
                lines.append(f"{record.id} EDGE  {g.label:<14} {text[g.start : g.end]!r} got {got}")
        for p in predicted:
            if not any(g.label == p.label and _overlaps(g, p) for g in record.gold):
                gold_there = ", ".join(sorted({g.label for g in record.gold if _overlaps(g, p)}))
                lines.append(f"{record.id} FP    {p.label:<14} {text[p.start : p.end]!r}" + _also(gold_there))
    return lines


def _also(labels: str) -> str:
    """For a miss, the labels predicted over it; for a false positive, the gold labels there."""
    return f" (there: {labels})" if labels else ""


def _overlaps(a: LabelledRange, b: LabelledRange) -> bool:
    return a.start < b.end and b.start < a.end


def sweep_presidio(presidio: PresidioDetector, records: Sequence[Record]) -> PresidioOptions:
    """Prints micro figures for every threshold and set of optional mappings, from one pass of
    threshold-0 results, and returns the best by overlap micro F1 (then exact micro F1)."""
    candidates: list[list[Candidate]] = [presidio.candidates(record.text) for record in records]
    optional = sorted(OPTIONAL_ENTITY_LABELS)
    subsets = [frozenset(c) for n in range(len(optional) + 1) for c in itertools.combinations(optional, n)]
    rows: list[tuple[tuple[float, float], list[str], PresidioOptions]] = []
    for threshold, subset in itertools.product(SCORE_THRESHOLDS, subsets):
        options = PresidioOptions(score_threshold=threshold, optional_entities=subset)
        report = score(records, [to_spans(found, options) for found in candidates])
        exact, overlap = report.exact_micro, report.overlap_micro
        key = (overlap.f1 or 0.0, exact.f1 or 0.0)
        cells = [f"{threshold:.1f}", ",".join(sorted(subset)) or "-", _fmt(exact.f1), _fmt(overlap.f1)]
        cells += [_fmt(report.leak_overall.fraction, percent=True), _fmt(report.false_positive_rate, True)]
        rows.append((key, cells, options))
    print("\nPresidio sweep (micro figures)")
    headers = ["threshold", "optional mappings", "exact F1", "overlap F1", "leaked", "FP rate"]
    print_table(headers, [cells for _, cells, _ in rows])
    best = max(rows, key=lambda row: row[0])
    print(f"best: threshold {best[2].score_threshold}, optional mappings {sorted(best[2].optional_entities)}")
    return best[2]


def print_presidio_setup(presidio: PresidioDetector) -> None:
    options = presidio.options
    optional = ", ".join(sorted(options.optional_entities)) or "none"
    print(f"Presidio: score threshold {options.score_threshold}, optional mappings: {optional}")
    names = ", ".join(presidio.loaded.names)
    print(textwrap.fill(f"{len(presidio.loaded.names)} recognizers loaded: {names}", subsequent_indent="  "))
    for name, why in presidio.loaded.skipped:
        print(f"not loaded: {name} ({why})")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", nargs="?", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--no-presidio", action="store_true", help="run our engine only")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON")
    parser.add_argument("--names-cache", type=Path, default=DEFAULT_NAMES_CACHE, metavar="DIR")
    parser.add_argument("--no-names", action="store_true", help="no name lexicon (names=None)")
    parser.add_argument("--repeat", type=int, default=5, metavar="N", help="timed passes (median)")
    parser.add_argument("--errors", type=int, nargs="?", const=60, metavar="N", help="list our errors")
    parser.add_argument("--presidio-sweep", action="store_true", help="try Presidio thresholds and mappings")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    records = load_records(args.dataset)
    names = None if args.no_names else NameLexicon.load(args.names_cache)
    engines: dict[str, Detect] = {OURS: Detector(names=names).detect}
    presidio = None if args.no_presidio else PresidioDetector()
    if presidio is not None:
        engines[PRESIDIO] = presidio.detect
    runs = run_engines(engines, records, repeat=args.repeat)
    report = build_report(records, runs)
    print(f"{args.dataset}: {len(records)} messages, {args.repeat} timed passes")
    if presidio is not None:
        report["presidio"] = presidio_facts(presidio)
        print_presidio_setup(presidio)
    print_report(report)
    if args.errors:
        lines = error_lines(records, runs[OURS].predictions)
        print(f"\n{OURS} errors: {len(lines)} (first {min(args.errors, len(lines))})")
        print("\n".join(lines[: args.errors]))
    if presidio is not None and args.presidio_sweep:
        sweep_presidio(presidio, records)
    if args.json:
        report["dataset"] = str(args.dataset)
        report["machine"] = machine_facts()
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
