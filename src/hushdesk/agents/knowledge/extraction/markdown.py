"""Markdown files (and pasted text): YAML front matter dropped (its ``title`` kept as the
title), ATX (``# Heading``) and setext (underlined) headings as the heading path, fenced code
kept verbatim and never read as headings, HTML comments, thematic breaks, reference definitions
and table rules dropped, inline syntax removed as ``markdown_inline`` describes. The title is the
front matter's, else the first level-1 heading.
"""

from __future__ import annotations

import re

from hushdesk.agents.knowledge.extraction.builder import SectionBuilder
from hushdesk.agents.knowledge.extraction.decoding import decode_text
from hushdesk.agents.knowledge.extraction.document import DocumentKind, ExtractedDocument
from hushdesk.agents.knowledge.extraction.limits import ExtractionLimits
from hushdesk.agents.knowledge.extraction.links import absolute_http_url
from hushdesk.agents.knowledge.extraction.markdown_inline import plain_inline

MAX_FRONT_MATTER_LINES = 200
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]|$)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$")
_QUOTE_MARKERS = re.compile(r"^[ \t]*(?:>[ \t]?)+")
_BULLET = re.compile(r"^([ \t]*)[*+][ \t]+")
_FRONT_MATTER_TITLE = re.compile(r"title[ \t]*:(.*)", re.IGNORECASE)


def extract_markdown(
    content: bytes, limits: ExtractionLimits, *, base_url: str | None = None
) -> ExtractedDocument:
    """Raises ``DocumentTypeMismatch`` for bytes that are not text, ``EmptyDocument`` and
    ``DocumentTooLarge`` as ``SectionBuilder`` does."""
    return markdown_document(decode_text(content), limits, base_url=base_url)


def markdown_document(
    text: str, limits: ExtractionLimits, *, base_url: str | None = None
) -> ExtractedDocument:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    front_title, start = _front_matter(lines)
    reader = _MarkdownReader(SectionBuilder(limits), base_url)
    for line in lines[start:]:
        reader.line(line)
    reader.end()
    return reader.builder.finish(DocumentKind.MARKDOWN, title=front_title or reader.first_h1)


def _front_matter(lines: list[str]) -> tuple[str | None, int]:
    """The front matter's title and the index of the first line after it."""
    if not lines or lines[0].rstrip() != "---":
        return None, 0
    for index in range(1, min(len(lines), MAX_FRONT_MATTER_LINES)):
        if lines[index].rstrip() in ("---", "..."):
            titles = (_FRONT_MATTER_TITLE.match(line) for line in lines[1:index])
            title = next((match.group(1).strip().strip("\"'") for match in titles if match), None)
            return title, index + 1
    return None, 0


def _atx_text(rest: str) -> str:
    """An ATX heading's text: without the optional closing run of "#" (after a space)."""
    text = rest.strip()
    without_closing = text.rstrip("#")
    if without_closing != text and (not without_closing or without_closing[-1] in " \t"):
        return without_closing.strip()
    return text


class _MarkdownReader:
    def __init__(self, builder: SectionBuilder, base_url: str | None) -> None:
        self.builder = builder
        self.first_h1: str | None = None
        self._base_url = base_url
        self._paragraph: list[str] = []
        self._fence: str | None = None
        self._in_comment = False

    def line(self, line: str) -> None:
        if self._fence is not None:
            self._code_line(line)
            return
        visible = self._without_comments(line)
        if visible is None:
            return
        fence = _FENCE.match(visible)
        if fence:
            self._flush()
            self._fence = fence.group(1)
            return
        self._block_line(_QUOTE_MARKERS.sub("", visible))

    def end(self) -> None:
        self._flush()

    def _block_line(self, line: str) -> None:
        if not line.strip():
            self._flush()
            return
        atx = _ATX.match(line)
        if atx:
            self._flush()
            self._heading(len(atx.group(1)), _atx_text(line[atx.end() :]))
        elif self._paragraph and _SETEXT.match(line):
            heading = " ".join(self._paragraph)
            self._paragraph = []
            self._heading(1 if line.strip().startswith("=") else 2, heading, already_plain=True)
        elif _TABLE_RULE.match(line):
            return  # the rule under a table's header row: the rows go on
        elif _THEMATIC_BREAK.match(line):
            self._flush()
        elif (definition := _REFERENCE_DEFINITION.match(line)) is not None:
            self._link(definition.group(1))
        else:
            self._paragraph.append(self._plain(line))

    def _code_line(self, line: str) -> None:
        stripped = line.strip()
        fence = self._fence or ""
        if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
            self._fence = None
            self._flush()
        else:
            self._paragraph.append(line)

    def _without_comments(self, line: str) -> str | None:
        """``line`` without HTML comments; None while inside a comment spanning lines."""
        kept: list[str] = []
        position = 0
        while True:
            if self._in_comment:
                end = line.find("-->", position)
                if end < 0:
                    break
                self._in_comment = False
                position = end + 3
            start = line.find("<!--", position)
            if start < 0:
                kept.append(line[position:])
                break
            kept.append(line[position:start])
            self._in_comment = True
            position = start + 4
        if not kept:
            return None
        return "".join(kept)

    def _plain(self, line: str) -> str:
        line = _BULLET.sub(r"\1- ", line)
        if line.lstrip().startswith("|"):
            line = line.strip().strip("|")
        return plain_inline(line, self._link)

    def _heading(self, level: int, text: str, *, already_plain: bool = False) -> None:
        heading = text if already_plain else plain_inline(text, self._link)
        if level == 1 and self.first_h1 is None and heading.strip():
            self.first_h1 = heading
        self.builder.heading(level, heading)

    def _link(self, target: str) -> None:
        url = absolute_http_url(target, self._base_url)
        if url is not None:
            self.builder.link(url)

    def _flush(self) -> None:
        if self._paragraph:
            self.builder.paragraph("\n".join(self._paragraph))
            self._paragraph = []
