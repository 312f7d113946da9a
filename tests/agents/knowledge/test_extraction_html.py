"""HTML extraction: the page's own content, headings as paths, links, charsets."""

from __future__ import annotations

import time

from document_samples import html_bytes
from hushdesk.agents.knowledge.extraction import DocumentKind, ExtractedDocument, extract
from hushdesk.agents.knowledge.extraction.html_blocks import defuse_unterminated_markup

HELP_PAGE = html_bytes(
    "Returns | Example Shop",
    [
        (1, "Returns", ["You can return any order within 30 days."]),
        (2, "Labels", ["Print the label from your account."]),
        (3, "Lost labels", ["Ask support for a new one."]),
        (2, "Refunds", ["Refunds take 5 business days."]),
    ],
    links=[
        ("/help/shipping", "Shipping"),
        ("https://courier.example/track?id=1#top", "Track"),
        ("javascript:alert(1)", "Script"),
        ("data:text/html,hi", "Data"),
        ("mailto:help@shop.example", "Mail"),
    ],
)


def _text(document: ExtractedDocument) -> str:
    return "\n".join(section.text for section in document.sections)


def _html(body: str) -> bytes:
    return f"<!DOCTYPE html><html><head><title>Page</title></head><body>{body}</body></html>".encode()


def test_headings_make_the_heading_path() -> None:
    document = extract(DocumentKind.HTML, HELP_PAGE)
    paths = [section.headings for section in document.sections]
    assert paths[:4] == [
        ("Returns",),
        ("Returns", "Labels"),
        ("Returns", "Labels", "Lost labels"),
        ("Returns", "Refunds"),
    ]
    assert document.sections[0].text == "You can return any order within 30 days."


def test_navigation_scripts_hidden_and_page_chrome_are_dropped() -> None:
    text = _text(extract(DocumentKind.HTML, HELP_PAGE))
    for marker in (
        "NAVIGATION-MENU",
        "TRACKING-SCRIPT",
        "HIDDEN-COOKIE-BANNER",
        "SIDEBAR-PROMOTION",
        "FOOTER-TEXT",
        "NOSCRIPT-TEXT",
        "display:flex",
        "Accept",
    ):
        assert marker not in text


def test_the_title_element_is_the_title_else_the_first_h1() -> None:
    assert extract(DocumentKind.HTML, HELP_PAGE).title == "Returns | Example Shop"
    untitled = b"<html><body><h1>Shipping &amp; delivery</h1><p>Two days.</p></body></html>"
    assert extract(DocumentKind.HTML, untitled).title == "Shipping & delivery"


def test_links_are_absolute_without_fragments_and_never_scripts_or_data() -> None:
    document = extract(DocumentKind.HTML, HELP_PAGE, base_url="https://shop.example/help/returns")
    assert document.links == ("https://shop.example/help/shipping", "https://courier.example/track?id=1")


def test_relative_links_are_dropped_without_a_base_url() -> None:
    assert extract(DocumentKind.HTML, HELP_PAGE).links == ("https://courier.example/track?id=1",)


def test_a_base_element_resolves_relative_links() -> None:
    page = (
        b'<html><head><base href="https://docs.example/v2/"></head>'
        b'<body><p><a href="start">Start</a></p></body></html>'
    )
    assert extract(DocumentKind.HTML, page).links == ("https://docs.example/v2/start",)


def test_main_content_is_preferred_over_the_rest_of_the_body() -> None:
    page = _html(
        "<div><p>Promo outside main</p></div><main><p>The answer.</p></main><div><p>More promo</p></div>"
    )
    assert _text(extract(DocumentKind.HTML, page)) == "The answer."


def test_articles_are_preferred_when_there_is_no_main() -> None:
    page = _html(
        "<div><p>Site blurb</p></div><article><h2>Post</h2><p>Body one.</p></article>"
        "<article><p>Body two.</p></article>"
    )
    document = extract(DocumentKind.HTML, page)
    assert _text(document) == "Body one.\n\nBody two."
    assert document.sections[0].headings == ("Post",)


def test_a_header_inside_an_article_is_content_but_the_page_banner_is_not() -> None:
    page = _html(
        "<header><p>BANNER</p></header>"
        "<article><header><h1>Refund policy</h1></header><p>Thirty days.</p></article>"
    )
    document = extract(DocumentKind.HTML, page)
    assert document.sections[0].headings == ("Refund policy",)
    assert "BANNER" not in _text(document)


def test_hidden_elements_are_dropped_however_they_are_hidden() -> None:
    page = _html(
        "<p>Visible.</p><p hidden>H1</p><div aria-hidden='true'><p>H2</p></div>"
        "<p style='display: none'>H3</p><span style='VISIBILITY:hidden'>H4</span>"
        "<div role='navigation'>H5</div><template><p>H6</p></template><svg><text>H7</text></svg>"
        "<iframe src='x'>H8</iframe><form><label>H9</label></form><button>H10</button>"
    )
    assert _text(extract(DocumentKind.HTML, page)) == "Visible."


def test_list_items_and_table_rows_become_lines() -> None:
    page = _html(
        "<h2>Plans</h2><ul><li>Basic<li>Pro</ul>"
        "<table><tr><th>Plan</th><th>Price</th></tr><tr><td><p>Basic</p></td><td>10 EUR</td></tr></table>"
    )
    assert (
        extract(DocumentKind.HTML, page).sections[0].text == "- Basic\n- Pro\n\nPlan | Price\nBasic | 10 EUR"
    )


def test_source_line_breaks_are_spaces_and_br_and_pre_keep_lines() -> None:
    page = _html("<p>One\n  sentence\nwrapped.</p><p>Street 1<br>Town</p><pre>line one\n  line two</pre>")
    assert (
        _text(extract(DocumentKind.HTML, page))
        == "One sentence wrapped.\n\nStreet 1\nTown\n\nline one\nline two"
    )


def test_entities_are_decoded() -> None:
    page = _html("<p>Fish &amp; chips &lt;3 &eacute;t&eacute; &#8364;5 &nbsp;now</p>")
    assert _text(extract(DocumentKind.HTML, page)) == "Fish & chips <3 \u00e9t\u00e9 \u20ac5 now"


def test_the_meta_charset_is_honoured() -> None:
    page = html_bytes(
        "Caf\u00e9", [(1, "Men\u00fc", ["Cr\u00e8me br\u00fbl\u00e9e"])], encoding="iso-8859-1", chrome=False
    )
    document = extract(DocumentKind.HTML, page)
    assert document.title == "Caf\u00e9"
    assert document.sections[0].headings == ("Men\u00fc",)


def test_a_utf16_page_with_bom_is_read() -> None:
    page = "\ufeff<html><body><p>Gr\u00fc\u00dfe</p></body></html>".encode("utf-16-le")
    assert _text(extract(DocumentKind.HTML, page)) == "Gr\u00fc\u00dfe"


def test_invalid_utf8_is_replaced_not_refused() -> None:
    page = b"<html><body><p>Price: \xff 5</p></body></html>"
    assert _text(extract(DocumentKind.HTML, page)) == "Price: \ufffd 5"


def test_unclosed_and_misnested_tags_do_not_lose_text() -> None:
    page = _html("<div><p>First<p>Second <b>bold <i>both</b> after</i><nav>menu</div><p>Outside nav again")
    text = _text(extract(DocumentKind.HTML, page))
    assert "First" in text
    assert "Second bold both after" in text
    assert "Outside nav again" in text
    assert "menu" not in text


def test_bare_urls_in_text_are_links_too() -> None:
    page = _html("<p>Status page: https://status.example/now. Or (https://help.example/faq).</p>")
    assert extract(DocumentKind.HTML, page).links == (
        "https://status.example/now",
        "https://help.example/faq",
    )


def test_deeply_nested_markup_is_read_in_linear_time() -> None:
    page = _html("<div>" * 5000 + "<p>Deep text.</p>" + "</div>" * 5000)
    assert _text(extract(DocumentKind.HTML, page)) == "Deep text."


def test_self_closing_br_is_one_line_break_and_inline_dropped_elements_keep_the_sentence() -> None:
    page = _html("<p>Street 1<br/>Town</p><p>Press <button>OK</button> to <img hidden src=x>continue.</p>")
    assert _text(extract(DocumentKind.HTML, page)) == "Street 1\nTown\n\nPress to continue."


def test_unterminated_markup_is_read_as_text_in_linear_time() -> None:
    # Python 3.11's tokenizer rescans the rest of the page for each never-closed "<a": this page
    # took minutes before the openers were escaped.
    page = b"<html><body><p>Hello</p>" + b"<a" * 100_000
    started = time.perf_counter()
    document = extract(DocumentKind.HTML, page)
    assert time.perf_counter() - started < 5
    assert document.sections[0].text.startswith("Hello\n\n<a<a")


def test_only_openers_without_a_terminator_are_escaped() -> None:
    assert defuse_unterminated_markup("<p>a < b</p> <!-- c") == "<p>a < b</p> &lt;!-- c"
    assert defuse_unterminated_markup("<p>x</p><b") == "<p>x</p>&lt;b"
    assert defuse_unterminated_markup("<![CDATA[x]]> <![y") == "<![CDATA[x]]> &lt;![y"
    assert defuse_unterminated_markup("<p>fine</p>") == "<p>fine</p>"
