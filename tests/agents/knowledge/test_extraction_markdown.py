"""Markdown extraction and pasted text."""

from __future__ import annotations

import time

import pytest

from hushdesk.agents.knowledge.extraction import (
    DocumentKind,
    DocumentTooLarge,
    EmptyDocument,
    ExtractedDocument,
    ExtractionLimits,
    extract,
    extract_pasted_text,
)

GUIDE = b"""---
title: "Support guide"
tags: [help]
---
# Orders

Orders ship **within two days**, _usually_ sooner. See [our page](https://shop.example/shipping "Ship")
and ![a parcel](https://cdn.example/parcel.png) the [FAQ][faq].

## Cancelling

<!-- internal: ask Bob before
promising anything -->
Cancel from *My orders*; a `cancel_order` button appears.

```bash
# not a heading
curl https://api.example/orders
```

Refunds
=======

Money back in ~~ten~~ five days.

Exchanges
---------

* Same size
+ Other colour

| Plan | Price |
|------|------:|
| Basic | 10 |

[faq]: https://shop.example/faq
"""


def _markdown(content: bytes) -> ExtractedDocument:
    return extract(DocumentKind.MARKDOWN, content)


def test_front_matter_is_dropped_and_its_title_kept() -> None:
    document = _markdown(GUIDE)
    assert document.title == "Support guide"
    assert all("tags:" not in section.text for section in document.sections)


def test_atx_and_setext_headings_make_the_heading_path() -> None:
    paths = [section.headings for section in _markdown(GUIDE).sections]
    assert paths == [("Orders",), ("Orders", "Cancelling"), ("Refunds",), ("Refunds", "Exchanges")]


def test_links_become_their_text_and_their_urls_are_collected() -> None:
    document = _markdown(GUIDE)
    first = document.sections[0].text
    assert first.startswith("Orders ship within two days, usually sooner. See our page\nand")
    assert "the FAQ." in first
    assert document.links == (
        "https://shop.example/shipping",
        "https://shop.example/faq",
        "https://api.example/orders",
    )


def test_images_and_html_comments_are_dropped() -> None:
    text = "\n".join(section.text for section in _markdown(GUIDE).sections)
    assert "parcel" not in text
    assert "Bob" not in text
    assert "promising" not in text


def test_fenced_code_keeps_its_text_and_makes_no_heading() -> None:
    cancelling = _markdown(GUIDE).sections[1]
    assert cancelling.text == (
        "Cancel from My orders; a cancel_order button appears.\n\n# not a heading\ncurl https://api.example/orders"
    )


def test_emphasis_lists_and_tables_are_plain() -> None:
    sections = _markdown(GUIDE).sections
    assert sections[2].text == "Money back in ten five days."
    assert sections[3].text == "- Same size\n- Other colour\n\nPlan | Price\nBasic | 10"


def test_the_first_h1_is_the_title_without_front_matter() -> None:
    assert _markdown(b"Intro line\n\n# Warranty\n\nTwo years.").title == "Warranty"


def test_relative_links_resolve_against_the_base_url() -> None:
    document = extract(
        DocumentKind.MARKDOWN, b"See [terms](../terms).", base_url="https://shop.example/help/faq"
    )
    assert document.links == ("https://shop.example/terms",)


def test_pasted_text_is_read_as_markdown_paragraphs() -> None:
    document = extract_pasted_text(
        "Opening hours\n\nWe are open **9 to 5**.\r\n\r\n## Holidays\nClosed on Sundays."
    )
    assert document.kind is DocumentKind.MARKDOWN
    assert [(section.headings, section.text) for section in document.sections] == [
        ((), "Opening hours\n\nWe are open 9 to 5."),
        (("Holidays",), "Closed on Sundays."),
    ]


def test_blank_pasted_text_is_empty() -> None:
    with pytest.raises(EmptyDocument):
        extract_pasted_text(" \n\t\n")


def test_pasted_text_over_the_byte_cap_is_too_large() -> None:
    with pytest.raises(DocumentTooLarge):
        extract_pasted_text("\u00e9" * 600, limits=ExtractionLimits(max_bytes=1000))


def test_markdown_of_only_comments_and_images_is_empty() -> None:
    with pytest.raises(EmptyDocument):
        _markdown(b"<!-- nothing -->\n\n![logo](logo.png)\n\n---\n")


@pytest.mark.parametrize(
    "line",
    [
        b"[" * 50_000,
        b"![" * 25_000,
        b"<" * 50_000 + b"a",
        b"**a " * 12_500,
        b"_a " * 16_000,
        b"<!--" * 12_500,
    ],
)
def test_a_line_of_unclosed_inline_markup_is_read_in_linear_time(line: bytes) -> None:
    started = time.perf_counter()
    document = extract(DocumentKind.MARKDOWN, b"Intro.\n\n" + line)
    assert time.perf_counter() - started < 2
    assert document.sections[0].text.startswith("Intro.")


def test_emphasis_nested_in_strong_emphasis_is_removed() -> None:
    assert (
        _markdown(b"**Always *check* the label** first.").sections[0].text == "Always check the label first."
    )


def test_atx_closing_hashes_are_dropped_but_a_hash_in_the_text_stays() -> None:
    document = _markdown(b"## Plans ##\n\nText.\n\n## Plan C#\n\nMore.")
    assert [section.headings for section in document.sections] == [("Plans",), ("Plan C#",)]
