"""Reading a sitemap document (sitemaps.org protocol 0.9): a ``<urlset>`` of pages or a
``<sitemapindex>`` of further sitemaps. Pure: no I/O.

A document that declares a DOCTYPE or an entity is refused before the parser sees it. That
shuts out entity-expansion bombs ("billion laughs") and external entities with the standard
library's parser and no further dependency; sitemaps have no use for either. Sitemaps are
UTF-8 by the protocol, and the check runs on the decoded text, so no other declared encoding
can hide a declaration from it: the parser is then given that same text.
"""

from __future__ import annotations

import enum
import re
import zlib
from dataclasses import dataclass
from xml.etree import ElementTree

from hushdesk.agents.knowledge.web_import.errors import ImportTooLarge, SitemapMalformed
from hushdesk.agents.knowledge.web_import.limits import describe_size

SITEMAP_NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"
# XML allows no space between "<!" and the keyword; allowing it here costs nothing.
_DECLARATION = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_FEED_CHARACTERS = 1 << 20


class SitemapKind(enum.Enum):
    PAGES = "urlset"
    INDEX = "sitemapindex"


@dataclass(frozen=True, slots=True)
class ParsedSitemap:
    """The ``<loc>`` values of a sitemap's entries, in document order, whitespace trimmed and
    empty ones left out; unchecked (they are the site's text)."""

    kind: SitemapKind
    locations: list[str]


def gunzip_limited(data: bytes, *, max_bytes: int) -> bytes:
    """Decompress a gzip-compressed sitemap, refusing (``ImportTooLarge``) as soon as the
    output passes ``max_bytes``, so a small bomb never expands in memory. Raises
    ``SitemapMalformed`` for data that is not one complete gzip stream."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        output = decompressor.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise SitemapMalformed("The compressed sitemap could not be decompressed.") from exc
    if len(output) > max_bytes or decompressor.unconsumed_tail:
        limit = describe_size(max_bytes)
        raise ImportTooLarge(
            f"The sitemap is larger than the {limit} import limit once decompressed.", max_bytes=max_bytes
        )
    if not decompressor.eof:
        raise SitemapMalformed("The compressed sitemap is cut short.")
    return output


def parse_sitemap(data: bytes) -> ParsedSitemap:
    """Parse a sitemap document.

    Accepts a ``<urlset>`` or ``<sitemapindex>`` root in the sitemaps.org 0.9 namespace or in
    none; only ``<loc>`` elements that are direct children of ``<url>``/``<sitemap>`` entries
    in that same namespace count, so extension elements (``image:loc`` and the like) are
    ignored. Raises ``SitemapMalformed`` for text that is not UTF-8, declares a DOCTYPE or
    an entity, is not well-formed XML, or has another root.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SitemapMalformed("The sitemap is not UTF-8 text.") from exc
    if _DECLARATION.search(text):
        raise SitemapMalformed("The sitemap declares a DOCTYPE or entities, which are not accepted.")
    try:
        return _read_entries(text)
    except ElementTree.ParseError as exc:
        raise SitemapMalformed("The sitemap is not well-formed XML.") from exc


def _read_entries(text: str) -> ParsedSitemap:
    parser: ElementTree.XMLPullParser[ElementTree.Element] = ElementTree.XMLPullParser(
        events=("start", "end")
    )
    reader = _EntryReader()
    for start in range(0, len(text), _FEED_CHARACTERS):
        parser.feed(text[start : start + _FEED_CHARACTERS])
        reader.take(parser)
    parser.close()
    reader.take(parser)
    return reader.result()


class _EntryReader:
    """Follows the pull parser's events: the root (depth 1), its entries (depth 2) and their
    children (depth 3), of which only ``loc`` is read."""

    def __init__(self) -> None:
        self._depth = 0
        self._root: ElementTree.Element | None = None
        self._namespace = ""
        self._kind: SitemapKind | None = None
        self._in_entry = False
        self._locations: list[str] = []

    def take(self, parser: ElementTree.XMLPullParser[ElementTree.Element]) -> None:
        for item in parser.read_events():
            # Only start and end events were asked for: each carries its element.
            event, element = item[0], item[-1]
            assert isinstance(element, ElementTree.Element)
            if event == "start":
                self._depth += 1
                self._start(element)
            else:
                self._end(element)
                self._depth -= 1

    def _start(self, element: ElementTree.Element) -> None:
        if self._depth == 1:
            self._begin(element)
        elif self._depth == 2:
            entry = "url" if self._kind is SitemapKind.PAGES else "sitemap"
            self._in_entry = element.tag == self._tag(entry)

    def _begin(self, root: ElementTree.Element) -> None:
        tag = root.tag
        namespace, _, name = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
        if namespace not in ("", SITEMAP_NAMESPACE) or name not in {kind.value for kind in SitemapKind}:
            raise SitemapMalformed("The document is not a sitemap (no <urlset> or <sitemapindex>).")
        self._root = root
        self._namespace = namespace
        self._kind = SitemapKind(name)

    def _end(self, element: ElementTree.Element) -> None:
        if self._depth == 3 and self._in_entry and element.tag == self._tag("loc"):
            location = (element.text or "").strip()
            if location:
                self._locations.append(location)
        elif self._depth == 2 and self._root is not None:
            # A finished entry is no longer needed: keep the tree from growing with the file.
            self._root.remove(element)

    def _tag(self, name: str) -> str:
        return f"{{{self._namespace}}}{name}" if self._namespace else name

    def result(self) -> ParsedSitemap:
        assert self._kind is not None
        return ParsedSitemap(kind=self._kind, locations=self._locations)
