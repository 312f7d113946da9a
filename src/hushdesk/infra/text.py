"""Checks on text that people type and the database stores."""

from __future__ import annotations

import unicodedata

REPLACEMENT = "\ufffd"


def has_control_characters(value: str) -> bool:
    """Whether ``value`` holds a control character (category Cc: NUL, escapes, line breaks).
    PostgreSQL refuses NUL in text outright; the others have no place in a name or address."""
    return any(unicodedata.category(character) == "Cc" for character in value)


def without_control_characters(value: str) -> str:
    """``value`` with each control character replaced by U+FFFD: safe to look up, and never
    equal to anything that was stored after ``has_control_characters`` refused it."""
    return "".join(
        REPLACEMENT if unicodedata.category(character) == "Cc" else character for character in value
    )
