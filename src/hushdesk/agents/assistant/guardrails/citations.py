"""Citation markers: keep those that point at a passage given, drop invented ones.

A marker is a bracketed number or list of numbers (``[2]``, ``[1, 3]``, ``[^2]``, ``[source 2]``),
not followed by ``(`` (that is a markdown link). Passages are numbered from 1 in the order they
were given. Kept markers are rewritten as ``[n]`` each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hushdesk.agents.assistant.guardrails.spacing import tidy_spacing

_MARKER = re.compile(
    r"\[\s*(?:\^|(?:passage|source|doc|document)\s*)?(?P<numbers>\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\s*\](?!\()",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class CitationCheck:
    """The reply with valid markers only; ``cited`` the passage numbers it cites, ascending;
    ``invented`` the numbers it cited that were not given, ascending."""

    text: str
    cited: tuple[int, ...]
    invented: tuple[int, ...]


def check_citations(text: str, passage_count: int) -> CitationCheck:
    """``text`` with markers for numbers outside 1..``passage_count`` taken out. Never raises."""
    cited: set[int] = set()
    invented: set[int] = set()

    def judge(match: re.Match[str]) -> str:
        numbers = [int(number) for number in re.split(r"\s*[,;]\s*", match.group("numbers"))]
        valid = [number for number in numbers if 1 <= number <= passage_count]
        invented.update(number for number in numbers if number not in valid)
        cited.update(valid)
        return "".join(f"[{number}]" for number in dict.fromkeys(valid))

    checked = _MARKER.sub(judge, text)
    if invented:
        checked = tidy_spacing(checked)
    return CitationCheck(checked, tuple(sorted(cited)), tuple(sorted(invented)))
