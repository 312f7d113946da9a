"""Text normalisation applied to everything extracted, whatever the format.

NFC; CRLF, CR, form feed, vertical tab and the Unicode line and paragraph separators become
newlines; other control characters (C0 but tab and newline, DEL, C1) and zero-width characters
(including the soft hyphen and the BOM) are dropped; runs of whitespace within a line become one
space; lines are trimmed; more than one blank line becomes one.
"""

from __future__ import annotations

import re
import unicodedata

_NEWLINE_LIKE = (0x0B, 0x0C, 0x0D, 0x2028, 0x2029)
_ZERO_WIDTH = (0x00AD, 0x180E, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF)
_TRANSLATION: dict[int, str | None] = {
    **{code: None for code in range(0x00, 0x20) if code not in (0x09, 0x0A)},
    0x7F: None,
    **{code: None for code in range(0x80, 0xA0)},
    **{code: None for code in _ZERO_WIDTH},
    **{code: "\n" for code in _NEWLINE_LIKE},
}
_SPACES = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")
# A word broken across lines by a hyphen: "infor-\nmation". Joined only between lowercase
# letters, so "e-\nMail" and "2020-\n2021" stay as they are.
_HYPHENATED_BREAK = re.compile(r"([^\W\d_])-\n([^\W\d_])")


def normalise_text(text: str) -> str:
    """``text`` normalised as the module describes, stripped at both ends."""
    text = text.replace("\r\n", "\n").translate(_TRANSLATION)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def normalise_line(text: str) -> str:
    """``text`` normalised onto one line (for headings, titles and questions)."""
    return normalise_text(text).replace("\n", " ")


def join_hyphenated_lines(text: str) -> str:
    """Join words that a PDF broke across lines with a hyphen (both sides lowercase letters)."""
    return _HYPHENATED_BREAK.sub(_join_if_lowercase, text)


def _join_if_lowercase(match: re.Match[str]) -> str:
    before, after = match.group(1), match.group(2)
    if before.islower() and after.islower():
        return before + after
    return match.group(0)
