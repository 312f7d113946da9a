"""The detector: every recognizer over one text, overlaps resolved, workspace labels applied."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from hushdesk.privacy.pii.custom import CustomPattern
from hushdesk.privacy.pii.labels import ALL_LABELS, Span
from hushdesk.privacy.pii.names import NameLexicon
from hushdesk.privacy.pii.recognizers import default_recognizers

Recognizer = Callable[[str], Iterable[Span]]


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """What a workspace chose: which labels are detected, its own patterns, and the score below
    which a candidate is dropped."""

    labels: frozenset[str] = ALL_LABELS
    custom_patterns: tuple[CustomPattern, ...] = field(default=())
    min_score: float = 0.5


class Detector:
    """Finds personal data in short informal text. Pure and thread-safe: ``detect`` keeps no
    state between calls, so one detector serves every request and worker thread."""

    def __init__(self, config: DetectorConfig | None = None, *, names: NameLexicon | None = None) -> None:
        self.config = config or DetectorConfig()
        self._recognizers: Sequence[Recognizer] = default_recognizers(names)
        self._enabled = self.config.labels | {p.name for p in self.config.custom_patterns}
        self._min_score = self.config.min_score

    def detect(self, text: str) -> list[Span]:
        """Spans in text order, none overlapping, each at or above ``min_score`` and of an
        enabled label (a workspace pattern's name counts as enabled)."""
        candidates: list[Span] = []
        for recognize in self._recognizers:
            candidates.extend(recognize(text))
        for pattern in self.config.custom_patterns:
            candidates.extend(pattern.find(text))
        enabled, min_score = self._enabled, self._min_score
        return resolve_overlaps({s for s in candidates if s.label in enabled and s.score >= min_score})


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Keeps the best of overlapping spans: higher score first, then the longer one, so a
    validated card number wins over a phone-shaped reading of the same digits."""
    chosen: list[Span] = []
    for span in sorted(spans, key=_preference):
        for other in chosen:
            if span.start < other.end and other.start < span.end:
                break
        else:
            chosen.append(span)
    chosen.sort(key=_start)
    return chosen


def _preference(span: Span) -> tuple[float, int, int]:
    return (-span.score, span.start - span.end, span.start)


def _start(span: Span) -> int:
    return span.start
