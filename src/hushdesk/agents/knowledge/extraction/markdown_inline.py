"""Markdown inline syntax to plain text: links become their text (their URL is reported),
images and inline HTML tags disappear, emphasis and code markers are removed, backslash escapes
are resolved. Code spans keep their content verbatim.

Every pattern's variable part excludes its own opening delimiter (a link's text holds no "[",
emphasis holds no "*"), so a scan that starts at one opener stops at the next and a line of
thousands of unclosed openers costs linear time rather than quadratic. The price: emphasis
nested in the same marker (``**a *b* c**``) is undone in two passes, and link text with brackets
stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_CODE_SPAN = re.compile(r"(`+)([^`]+)\1")
_IMAGE = re.compile(r"!\[[^\[\]]*\]\([^()]*\)|!\[[^\[\]]*\]\[[^\[\]]*\]")
_LINK = re.compile(
    r"\[([^\[\]]*)\]\([ \t]*<?([^()\s<>]*)>?(?:[ \t]+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?[ \t]*\)"
)
_REFERENCE_LINK = re.compile(r"\[([^\[\]]+)\]\[[^\[\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|ftp)://[^<>\s]+|[^<>\s@]+@[^<>\s@]+)>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_STRONG = re.compile(r"\*\*(?=[^\s*])([^*]*?[^\s*])\*\*|__(?=[^\s_])([^_]*?[^\s_])__")
_STRIKE = re.compile(r"~~(?=[^\s~])([^~]*?[^\s~])~~")
_STAR_EMPHASIS = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*]*?[^\s*])\*(?![\w*])")
_UNDERSCORE_EMPHASIS = re.compile(r"(?<![\w_])_(?=[^\s_])([^_]*?[^\s_])_(?![\w_])")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def plain_inline(text: str, on_link: Callable[[str], None]) -> str:
    """``text`` without inline Markdown; ``on_link`` is called with each link's raw target."""
    if "`" not in text:
        return _plain_segment(text, on_link)
    pieces: list[str] = []
    position = 0
    for match in _CODE_SPAN.finditer(text):
        pieces.append(_plain_segment(text[position : match.start()], on_link))
        pieces.append(match.group(2).strip(" "))
        position = match.end()
    pieces.append(_plain_segment(text[position:], on_link))
    return "".join(pieces)


def _plain_segment(text: str, on_link: Callable[[str], None]) -> str:
    if not text:
        return text
    if "[" in text:
        text = _IMAGE.sub("", text)
        text = _LINK.sub(lambda match: _link_text(match, on_link), text)
        text = _REFERENCE_LINK.sub(r"\1", text)
    if "<" in text:
        text = _AUTOLINK.sub(lambda match: _autolink_text(match, on_link), text)
        text = _HTML_TAG.sub("", text)
    if "*" in text or "_" in text:
        text = _STRONG.sub(_strong_text, text)
        text = _STAR_EMPHASIS.sub(r"\1", text)
        text = _UNDERSCORE_EMPHASIS.sub(r"\1", text)
        text = _STRONG.sub(_strong_text, text)  # strong emphasis around emphasis, now undone
    if "~~" in text:
        text = _STRIKE.sub(r"\1", text)
    if "\\" in text:
        text = _ESCAPE.sub(r"\1", text)
    return text


def _link_text(match: re.Match[str], on_link: Callable[[str], None]) -> str:
    on_link(match.group(2))
    return match.group(1)


def _autolink_text(match: re.Match[str], on_link: Callable[[str], None]) -> str:
    on_link(match.group(1))
    return match.group(1)


def _strong_text(match: re.Match[str]) -> str:
    return match.group(1) or match.group(2)
