"""HTML pages: the page's own text, headings as the heading path, and the links it makes.

When the page has a ``<main>`` (or ``role="main"``) only what is inside counts, else when it has
``<article>`` elements only those, else the whole body; links are taken from the same part. The
title is the ``<title>``, else the first ``<h1>``.
"""

from __future__ import annotations

from hushdesk.agents.knowledge.extraction.builder import SectionBuilder
from hushdesk.agents.knowledge.extraction.document import DocumentKind, ExtractedDocument
from hushdesk.agents.knowledge.extraction.html_blocks import (
    Block,
    BlockReader,
    BlockType,
    Region,
    defuse_unterminated_markup,
)
from hushdesk.agents.knowledge.extraction.html_charset import decode_html
from hushdesk.agents.knowledge.extraction.limits import ExtractionLimits
from hushdesk.agents.knowledge.extraction.links import absolute_http_url


def extract_html(
    content: bytes, limits: ExtractionLimits, *, base_url: str | None = None
) -> ExtractedDocument:
    """Raises ``EmptyDocument`` when the page's content holds no text and ``DocumentTooLarge``
    past ``limits.max_text_chars``. Relative links are resolved against the page's ``<base>``
    (itself resolved against ``base_url``) or ``base_url``; without either they are dropped."""
    reader = BlockReader()
    reader.feed(defuse_unterminated_markup(decode_html(content)))
    reader.close()
    region = _content_region(reader.blocks)
    builder = SectionBuilder(limits)
    _add_blocks(builder, [block for block in reader.blocks if block.region >= region])
    base = _effective_base(reader.base_href, base_url)
    for href, link_region in reader.links:
        url = absolute_http_url(href, base) if link_region >= region else None
        if url is not None:
            builder.link(url)
    title = reader.title if reader.title and reader.title.strip() else _first_h1(reader.blocks)
    return builder.finish(DocumentKind.HTML, title=title)


def _content_region(blocks: list[Block]) -> Region:
    return max((block.region for block in blocks), default=Region.BODY)


def _add_blocks(builder: SectionBuilder, blocks: list[Block]) -> None:
    lines: list[str] = []
    group = -1
    for block in blocks:
        if lines and (block.type is not BlockType.LINE or block.group != group):
            builder.paragraph("\n".join(lines))
            lines = []
        if block.type is BlockType.LINE:
            lines.append(block.text)
            group = block.group
            continue
        if block.type is BlockType.HEADING:
            builder.heading(block.level, block.text)
        else:
            builder.paragraph(block.text)
    if lines:
        builder.paragraph("\n".join(lines))


def _effective_base(base_href: str | None, base_url: str | None) -> str | None:
    if base_href:
        resolved = absolute_http_url(base_href, base_url)
        if resolved is not None:
            return resolved
    return base_url


def _first_h1(blocks: list[Block]) -> str | None:
    return next(
        (block.text for block in blocks if block.type is BlockType.HEADING and block.level == 1), None
    )
