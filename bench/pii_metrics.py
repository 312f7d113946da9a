"""Scoring a PII detector against gold spans: pure functions, no I/O, nothing of Hushdesk's.

Every function takes, per message, the gold spans and the predicted spans (anything with
``start``, ``end`` and ``label``; Python string offsets, end exclusive) and counts:

- EXACT matches: same start, same end, same label.
- OVERLAP matches: same label and the character ranges share at least one character. Each gold
  span is matched at most once and each prediction at most once; within a message and a label
  the matching is a maximum one (augmenting paths), so the count does not depend on span order.
- Leaked characters: gold PII characters that no predicted span covers, whatever its label (a
  redactor that masks a card number as a phone number still hides it).
- The false-positive rate on messages with no gold span: the share of them with at least one
  prediction (each such message would be needlessly redacted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


class LabelledRange(Protocol):
    """A labelled character range ``[start, end)``: a gold span or a prediction."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def label(self) -> str: ...


@dataclass(frozen=True, slots=True)
class GoldSpan:
    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class Counts:
    """True positives, false positives and false negatives of one label (or all of them)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float | None:
        """None when nothing was predicted."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        """None when there is nothing to find."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float | None:
        """None when there was nothing to find and nothing was predicted; 0.0 when one side is
        empty and the other is not."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)


@dataclass(frozen=True, slots=True)
class Leak:
    """Gold PII characters of some kind, and how many of them no prediction covered."""

    gold_chars: int = 0
    leaked_chars: int = 0

    def __add__(self, other: Leak) -> Leak:
        return Leak(self.gold_chars + other.gold_chars, self.leaked_chars + other.leaked_chars)

    @property
    def fraction(self) -> float | None:
        """Leaked over gold characters; None when there were no gold characters."""
        return _ratio(self.leaked_chars, self.gold_chars)


@dataclass(frozen=True, slots=True)
class Report:
    """Everything measured over a set of messages. ``exact`` and ``overlap`` hold every label
    asked for, and any other label that was predicted."""

    exact: Mapping[str, Counts]
    overlap: Mapping[str, Counts]
    leak_overall: Leak
    leak_checksum: Leak
    leak_by_label: Mapping[str, Leak]
    negatives: int
    negatives_flagged: int

    @property
    def exact_micro(self) -> Counts:
        return sum(self.exact.values(), Counts())

    @property
    def overlap_micro(self) -> Counts:
        return sum(self.overlap.values(), Counts())

    @property
    def false_positive_rate(self) -> float | None:
        """Share of messages without gold spans that got at least one prediction; None when
        every message had gold spans."""
        return _ratio(self.negatives_flagged, self.negatives)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def exact_counts(gold: Sequence[LabelledRange], predicted: Sequence[LabelledRange]) -> dict[str, Counts]:
    """Per-label counts for one message, matching (start, end, label) as a multiset."""
    gold_keys = Counter((g.start, g.end, g.label) for g in gold)
    predicted_keys = Counter((p.start, p.end, p.label) for p in predicted)
    matched = gold_keys & predicted_keys
    counts: dict[str, Counts] = {}
    for (_, _, label), n in matched.items():
        _add(counts, label, Counts(tp=n))
    for (_, _, label), n in (predicted_keys - matched).items():
        _add(counts, label, Counts(fp=n))
    for (_, _, label), n in (gold_keys - matched).items():
        _add(counts, label, Counts(fn=n))
    return counts


def overlap_counts(gold: Sequence[LabelledRange], predicted: Sequence[LabelledRange]) -> dict[str, Counts]:
    """Per-label counts for one message, matching same-label overlapping ranges one to one."""
    counts: dict[str, Counts] = {}
    for label in {g.label for g in gold} | {p.label for p in predicted}:
        label_gold = [g for g in gold if g.label == label]
        label_predicted = [p for p in predicted if p.label == label]
        tp = max_overlap_matching(label_gold, label_predicted)
        counts[label] = Counts(tp=tp, fp=len(label_predicted) - tp, fn=len(label_gold) - tp)
    return counts


def max_overlap_matching(gold: Sequence[LabelledRange], predicted: Sequence[LabelledRange]) -> int:
    """The largest number of (gold, prediction) pairs with overlapping ranges such that no span
    is in two pairs (Kuhn's augmenting paths; messages hold a handful of spans)."""
    candidates = [[j for j, p in enumerate(predicted) if _overlap(g, p)] for g in gold]
    owner: dict[int, int] = {}  # prediction index -> gold index

    def assign(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or assign(owner[j], seen):
                owner[j] = i
                return True
        return False

    return sum(assign(i, set()) for i in range(len(gold)))


def _overlap(a: LabelledRange, b: LabelledRange) -> bool:
    return a.start < b.end and b.start < a.end


def leaks(
    gold: Sequence[LabelledRange], predicted: Sequence[LabelledRange], checksum_labels: Iterable[str]
) -> tuple[Leak, Leak, dict[str, Leak]]:
    """For one message: (all gold characters, those of ``checksum_labels``, per label). A
    character under two gold spans counts once in the totals."""
    covered = {i for p in predicted for i in range(p.start, p.end)}
    by_label: dict[str, set[int]] = {}
    for g in gold:
        by_label.setdefault(g.label, set()).update(range(g.start, g.end))
    checksum = set(checksum_labels)
    every_char = set().union(*by_label.values())
    checksum_chars = set().union(*(chars for label, chars in by_label.items() if label in checksum))
    return (
        _leak(every_char, covered),
        _leak(checksum_chars, covered),
        {label: _leak(chars, covered) for label, chars in by_label.items()},
    )


def _leak(chars: set[int], covered: set[int]) -> Leak:
    return Leak(gold_chars=len(chars), leaked_chars=len(chars - covered))


def evaluate(
    messages: Iterable[tuple[Sequence[LabelledRange], Sequence[LabelledRange]]],
    *,
    labels: Iterable[str],
    checksum_labels: Iterable[str],
) -> Report:
    """Scores (gold, predicted) pairs, one per message. ``labels`` are reported even when no
    message has them (with empty counts)."""
    checksum = frozenset(checksum_labels)
    exact: dict[str, Counts] = dict.fromkeys(labels, Counts())
    overlap = dict(exact)
    leak_by_label: dict[str, Leak] = dict.fromkeys(exact, Leak())
    leak_overall, leak_checksum = Leak(), Leak()
    negatives = negatives_flagged = 0
    for gold, predicted in messages:
        _accumulate(exact, exact_counts(gold, predicted))
        _accumulate(overlap, overlap_counts(gold, predicted))
        overall, checksum_leak, per_label = leaks(gold, predicted, checksum)
        leak_overall += overall
        leak_checksum += checksum_leak
        for label, leak in per_label.items():
            leak_by_label[label] = leak_by_label.get(label, Leak()) + leak
        if not gold:
            negatives += 1
            negatives_flagged += bool(predicted)
    return Report(exact, overlap, leak_overall, leak_checksum, leak_by_label, negatives, negatives_flagged)


def _accumulate(total: dict[str, Counts], message: Mapping[str, Counts]) -> None:
    for label, counts in message.items():
        _add(total, label, counts)


def _add(total: dict[str, Counts], label: str, counts: Counts) -> None:
    total[label] = total.get(label, Counts()) + counts
