"""An HTML page read into text blocks with the standard library's tokenizer.

Content a reader does not see or that is not the page's own is dropped: scripts, styles,
templates, SVG, frames, forms and buttons; navigation, complementary asides and page-level
banners (``<header>``/``<footer>`` outside ``<main>``, ``<article>`` and ``<section>``, where
they are part of the content, as for ARIA's banner and contentinfo roles); and anything marked
``hidden``, ``aria-hidden="true"``, ``display: none`` or ``visibility: hidden``. Each block notes
whether it was inside ``<main>`` and ``<article>``, so the page's own content can be preferred.

The standard library's tokenizer (as in Python 3.11.7) rescans the rest of the page for each
markup opener that is never closed ("<a<a<a..." with no ">" after it), which makes such a page
quadratic to read; ``defuse_unterminated_markup`` escapes exactly those openers first, in one
linear pass, so they are read as the text a browser would show.

The open-element stack is capped at ``MAX_DEPTH`` (deeper elements are read as text, not
tracked), which keeps matching an end tag to its element linear in the page's size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from html.parser import HTMLParser

MAX_DEPTH = 512
DROPPED_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed", "canvas"}
    | {"nav", "aside", "form", "button", "select", "textarea", "dialog"}
)
PAGE_CHROME_TAGS = frozenset({"header", "footer"})
DROPPED_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "dialog"})
CONTENT_CONTAINERS = frozenset({"main", "article", "section"})
VOID_TAGS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
BLOCK_TAGS = frozenset(
    {"address", "article", "blockquote", "body", "caption", "center", "details", "dialog", "div", "dl"}
    | {"fieldset", "figcaption", "figure", "hr", "html", "legend", "main", "ol", "p", "pre", "section"}
    | {"summary", "table", "tbody", "tfoot", "thead", "ul", "header", "footer"}
)
LINE_TAGS = frozenset({"li", "dt", "dd", "tr"})
# Inside a list item or table row, other block elements (a paragraph in a cell) only separate
# words: the item or row stays one line. Lists and tables nested in them still start new lines.
LINE_CONTAINERS = frozenset({"ul", "ol", "dl", "table", "thead", "tbody", "tfoot"})
CELL_TAGS = frozenset({"td", "th"})
HEADING_LEVELS = {f"h{level}": level for level in range(1, 7)}
BREAKING_TAGS = (
    BLOCK_TAGS | LINE_TAGS | HEADING_LEVELS.keys() | {"nav", "aside", "form", "dialog", "template"}
)
# Start tags that close an open element of the same name directly above (as a browser would:
# "<li>one<li>two" is two items).
SIBLING_CLOSING_TAGS = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "option"})
_MARKUP_OPENER = re.compile(r"<(!--|!\[|[!?/A-Za-z])")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_SOURCE_WHITESPACE = str.maketrans({"\n": " ", "\r": " ", "\t": " ", "\f": " "})


def defuse_unterminated_markup(text: str) -> str:
    """``text`` with each "<" that opens a tag, comment or marked section whose terminator never
    occurs after it written as "&lt;" (which the tokenizer reads back as "<" in text)."""
    last_tag_end = text.rfind(">")
    last_comment_end = text.rfind("-->")
    last_section_end = text.rfind("]]>")
    pieces: list[str] = []
    position = 0
    for match in _MARKUP_OPENER.finditer(text):
        opener = match.group(1)
        if opener == "!--":
            terminated = last_comment_end >= match.end()
        elif opener == "![":
            terminated = last_section_end >= match.end()
        else:
            terminated = last_tag_end >= match.end()
        if not terminated:
            pieces.append(text[position : match.start()])
            pieces.append("&lt;")
            position = match.start() + 1
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


class Region(IntEnum):
    """Where a block sits: the more specific, the more likely it is the page's own content."""

    BODY = 0
    ARTICLE = 1
    MAIN = 2


class BlockType(IntEnum):
    PARAGRAPH = 0
    LINE = 1  # a list item, table row or definition: joined with its neighbours by newlines
    HEADING = 2


@dataclass(frozen=True, slots=True)
class Block:
    type: BlockType
    text: str
    region: Region
    level: int = 0
    group: int = 0  # lines merge into one paragraph only within one group (one list, one table)


@dataclass(slots=True)
class _Open:
    tag: str
    dropped: bool
    region_tag: str | None  # "main" or "article" when it opens one


class BlockReader(HTMLParser):
    """Feed it a page's text; then ``blocks``, ``links`` (raw hrefs with their region),
    ``title`` and ``base_href`` hold what was read."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.links: list[tuple[str, Region]] = []
        self.title: str | None = None
        self.base_href: str | None = None
        self._stack: list[_Open] = []
        self._dropped = 0
        self._main = 0
        self._article = 0
        self._containers = 0
        self._pre = 0
        self._buffer: list[str] = []
        self._buffer_type = BlockType.PARAGRAPH
        self._heading_level = 0
        self._title_parts: list[str] | None = None
        self._cell_in_row = False
        self._group = 0
        self._lines = 0

    # -- tokenizer callbacks -----------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in SIBLING_CLOSING_TAGS and self._stack and self._stack[-1].tag == tag:
            self._pop_to(len(self._stack) - 1)
        dropped = self._is_dropped(tag, attributes)
        if self._dropped == 0:
            if dropped:
                if tag in BREAKING_TAGS:
                    self._flush()  # text before a dropped block is not continued by text after it
            else:
                self._open_effects(tag, attributes)
        if tag in VOID_TAGS or len(self._stack) >= MAX_DEPTH:
            return
        region_tag = _region_tag(tag, attributes)
        self._stack.append(_Open(tag=tag, dropped=dropped, region_tag=region_tag))
        self._dropped += dropped
        self._main += region_tag == "main"
        self._article += region_tag == "article"
        self._containers += tag in CONTENT_CONTAINERS
        self._pre += tag == "pre"
        self._lines += tag in LINE_TAGS
        if tag == "title" and self._dropped == 0 and self.title is None:
            self._title_parts = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # "<br/>" is one line break (the default would add a second one as its end tag).
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index].tag == tag:
                self._pop_to(index)
                return
        if tag in ("br", "p"):  # "</br>" and a stray "</p>" break lines in browsers too
            self._open_effects(tag, {})

    def handle_data(self, data: str) -> None:
        if self._dropped:
            return
        if self._title_parts is not None:
            self._title_parts.append(data)
        elif self._pre:
            self._buffer.append(data)
        else:
            self._buffer.append(data.translate(_SOURCE_WHITESPACE))

    def close(self) -> None:
        super().close()
        self._pop_to(0)
        self._flush()

    # -- element effects ---------------------------------------------------------------------

    def _open_effects(self, tag: str, attributes: dict[str, str | None]) -> None:
        if tag == "a":
            href = attributes.get("href")
            if href:
                self.links.append((href, self._region()))
        elif tag == "base" and self.base_href is None:
            self.base_href = attributes.get("href")
        elif tag == "br":
            self._buffer.append("\n")
        elif tag in HEADING_LEVELS:
            self._flush()
            self._heading_level = HEADING_LEVELS[tag]
        elif tag in LINE_TAGS:
            self._flush()
            self._buffer_type = BlockType.LINE
            self._cell_in_row = False
            if tag == "li":
                self._buffer.append("- ")
        elif tag in CELL_TAGS:
            if self._cell_in_row:
                self._buffer.append(" | ")
            self._cell_in_row = True
        elif tag in BLOCK_TAGS:
            self._block_boundary(tag)

    def _close_effects(self, closed: _Open) -> None:
        if closed.tag == "title" and self._title_parts is not None:
            self.title = "".join(self._title_parts)
            self._title_parts = None
        elif closed.tag in HEADING_LEVELS or closed.tag in LINE_TAGS:
            self._flush()
        elif closed.tag in BLOCK_TAGS:
            self._block_boundary(closed.tag)

    def _block_boundary(self, tag: str) -> None:
        if self._lines and tag not in LINE_CONTAINERS:
            self._buffer.append(" ")
        else:
            self._flush()
            self._group += 1

    def _pop_to(self, index: int) -> None:
        while len(self._stack) > index:
            closed = self._stack.pop()
            if self._dropped == 0:
                self._close_effects(closed)
            self._dropped -= closed.dropped
            self._main -= closed.region_tag == "main"
            self._article -= closed.region_tag == "article"
            self._containers -= closed.tag in CONTENT_CONTAINERS
            self._pre -= closed.tag == "pre"
            self._lines -= closed.tag in LINE_TAGS

    def _is_dropped(self, tag: str, attributes: dict[str, str | None]) -> bool:
        if tag in DROPPED_TAGS or (tag in PAGE_CHROME_TAGS and self._containers == 0):
            return True
        if "hidden" in attributes or (attributes.get("aria-hidden") or "").strip().lower() == "true":
            return True
        if (attributes.get("role") or "").strip().lower() in DROPPED_ROLES:
            return True
        return bool(_HIDDEN_STYLE.search(attributes.get("style") or ""))

    def _region(self) -> Region:
        if self._main:
            return Region.MAIN
        return Region.ARTICLE if self._article else Region.BODY

    def _flush(self) -> None:
        if self._buffer:
            text = "".join(self._buffer)
            if text.strip() and text.strip() != "-":
                block_type = BlockType.HEADING if self._heading_level else self._buffer_type
                self.blocks.append(Block(block_type, text, self._region(), self._heading_level, self._group))
            self._buffer = []
        self._heading_level = 0
        self._buffer_type = BlockType.PARAGRAPH


def _region_tag(tag: str, attributes: dict[str, str | None]) -> str | None:
    if tag == "main" or (attributes.get("role") or "").strip().lower() == "main":
        return "main"
    return "article" if tag == "article" else None
