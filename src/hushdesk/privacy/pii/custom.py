"""A workspace's own patterns (its customer-number format, say), run with RE2.

Workspace admins write these expressions, so they are untrusted input to the server: RE2 matches
in time linear in the text whatever the expression (no backtracking, no catastrophic cases) and
caps the memory a compiled expression may take. Python's ``re`` would let one pattern stall every
worker thread on one message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import re2

from hushdesk.privacy.pii.labels import ALL_LABELS, Span

NAME_RULE = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")
MAX_PATTERN_LENGTH = 300
_MAX_PROGRAM_MEMORY = 1 << 20


class CustomPatternError(ValueError):
    """The name or expression of a workspace pattern is not acceptable; the message says why."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_PROGRAM_MEMORY
    return options


@dataclass(frozen=True, slots=True)
class CustomPattern:
    """``name`` is the label its matches get (upper case, like ``CUSTOMER_NUMBER``)."""

    name: str
    expression: str
    score: float = 0.9
    _compiled: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_pattern(self.name, self.expression)
        object.__setattr__(self, "_compiled", re2.compile(self.expression, options=_options()))

    def find(self, text: str) -> Iterator[Span]:
        for match in self._compiled.finditer(text):
            if match.end() > match.start():
                yield Span(match.start(), match.end(), self.name, self.score)


def check_pattern(name: str, expression: str) -> None:
    """Raises CustomPatternError unless the name is an upper-case label that is not one of the
    built-in ones and the expression compiles under RE2, is at most 300 characters, and cannot
    match the empty string (which would match everywhere)."""
    if not NAME_RULE.match(name):
        raise CustomPatternError(
            "a pattern name is 2 to 32 capital letters, digits or _, starting with a letter"
        )
    if name in ALL_LABELS:
        raise CustomPatternError(f"{name} is a built-in label; choose another name")
    if not expression or len(expression) > MAX_PATTERN_LENGTH:
        raise CustomPatternError(f"a pattern is 1 to {MAX_PATTERN_LENGTH} characters")
    try:
        compiled = re2.compile(expression, options=_options())
    except re2.error as exc:
        raise CustomPatternError(f"the pattern does not compile: {_reason(exc)}") from exc
    if compiled.fullmatch("") is not None:
        raise CustomPatternError("the pattern matches empty text; it must match at least one character")


def _reason(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else ""
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
