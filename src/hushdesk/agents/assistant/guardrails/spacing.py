"""Tidy the gaps a guardrail leaves where it took something out."""

from __future__ import annotations

import re

_RUNS = re.compile(r"[ \t]{2,}")
_BEFORE_PUNCTUATION = re.compile(r"[ \t]+(?=[.,;:!?)])")
_LINE_EDGES = re.compile(r"[ \t]+$|^[ \t]+(?=\S)", re.MULTILINE)


def tidy_spacing(text: str) -> str:
    """``text`` with runs of spaces made one, no space before punctuation, no space at line
    ends, and no blank lines at either end."""
    text = _RUNS.sub(" ", text)
    text = _BEFORE_PUNCTUATION.sub("", text)
    return _LINE_EDGES.sub("", text).strip()
