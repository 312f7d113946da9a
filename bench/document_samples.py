"""Realistic sample documents, made here from text: PDF (written out by hand: objects, a
cross-reference table, the standard Helvetica font, text drawn between BT and ET), HTML pages
with the chrome real sites have (navigation, banner, footer, scripts, hidden elements), and Word
documents through python-docx. Used by the tests and the extraction benchmark.
"""

from __future__ import annotations

import io
import random
import textwrap
import zlib
from collections.abc import Sequence
from html import escape

import docx

PageSpec = str | tuple[str, Sequence[str]]
# (heading level, heading, paragraphs); level 0 is a document title.
SectionSpec = tuple[int, str, Sequence[str]]

PAGE_WIDTH, PAGE_HEIGHT = 612, 792
MARGIN = 72
BODY_SIZE, HEADING_SIZE = 11, 16
LEADING = 14
WRAP_COLUMNS = 90
_WORDS = (
    "order",
    "refund",
    "shipping",
    "parcel",
    "delivery",
    "invoice",
    "account",
    "password",
    "customer",
    "support",
    "warranty",
    "return",
    "label",
    "courier",
    "tracking",
    "number",
    "subscription",
    "plan",
    "payment",
    "card",
    "address",
    "exchange",
    "store",
    "opening",
    "hours",
    "weekend",
    "holiday",
    "discount",
    "voucher",
    "product",
    "size",
    "colour",
    "stock",
    "available",
    "days",
    "business",
    "within",
    "after",
    "before",
    "receive",
    "request",
    "contact",
    "email",
    "phone",
    "team",
    "answer",
    "question",
    "policy",
)


# ---- PDF -------------------------------------------------------------------------------------


def pdf_string(text: str) -> bytes:
    """``text`` as a PDF literal string in WinAnsi (Windows-1252) encoding: backslash and
    parentheses escaped, bytes outside printable ASCII written as octal escapes, characters the
    encoding lacks replaced by '?'."""
    out = bytearray(b"(")
    for byte in text.encode("cp1252", errors="replace"):
        if byte in (0x5C, 0x28, 0x29):
            out += b"\\" + bytes([byte])
        elif 0x20 <= byte < 0x7F:
            out.append(byte)
        else:
            out += b"\\%03o" % byte
    out += b")"
    return bytes(out)


def page_content(heading: str | None, paragraphs: Sequence[str]) -> bytes:
    """A page's content stream: the heading in 16 pt, then the paragraphs wrapped at
    ``WRAP_COLUMNS`` characters in 11 pt, a blank line between paragraphs."""
    ops = [
        b"BT",
        b"/F1 %d Tf" % HEADING_SIZE,
        b"%d TL" % LEADING,
        b"%d %d Td" % (MARGIN, PAGE_HEIGHT - MARGIN),
    ]
    if heading:
        ops += [pdf_string(heading) + b" Tj", b"T* T*"]
    ops.append(b"/F1 %d Tf" % BODY_SIZE)
    for paragraph in paragraphs:
        for line in textwrap.wrap(paragraph, WRAP_COLUMNS) or [""]:
            ops.append(pdf_string(line) + b" Tj T*")
        ops.append(b"T*")
    ops.append(b"ET")
    return b"\n".join(ops) + b"\n"


def pdf_from_content_streams(
    streams: Sequence[tuple[bytes, bool]], *, title: str | None = None, encrypt_dict: bytes | None = None
) -> bytes:
    """A PDF with one page per ``(stream, already_flate_compressed)``; an uncompressed stream is
    compressed here. ``encrypt_dict`` is not supported on purpose (pypdf writes encrypted files)."""
    if encrypt_dict is not None:
        raise ValueError("write encrypted PDFs with pypdf's PdfWriter.encrypt")
    objects: list[bytes] = []
    page_ids = [4 + 2 * index for index in range(len(streams))]
    kids = b" ".join(b"%d 0 R" % page_id for page_id in page_ids)
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(streams)))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for page_id, (stream, compressed) in zip(page_ids, streams, strict=True):
        data = stream if compressed else zlib.compress(stream)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % (PAGE_WIDTH, PAGE_HEIGHT, page_id + 1)
        )
        objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data))
    info_id = None
    if title is not None:
        objects.append(b"<< /Title %s /Producer (Hushdesk samples) >>" % pdf_string(title))
        info_id = len(objects)
    return _pdf_file(objects, info_id)


def _pdf_file(objects: list[bytes], info_id: int | None) -> bytes:
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")  # the binary comment marks the file as binary
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref_at = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    info = b" /Info %d 0 R" % info_id if info_id is not None else b""
    out.write(b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, info))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return out.getvalue()


def pdf_bytes(pages: Sequence[PageSpec], *, title: str | None = None) -> bytes:
    """A valid multi-page PDF with a text layer: each page is its body text (paragraphs
    separated by blank lines) or ``(heading, paragraphs)``."""
    streams = []
    for page in pages:
        if isinstance(page, str):
            streams.append((page_content(None, [p for p in page.split("\n\n") if p.strip()]), False))
        else:
            streams.append((page_content(page[0], page[1]), False))
    return pdf_from_content_streams(streams, title=title)


# ---- HTML ------------------------------------------------------------------------------------


def html_bytes(
    title: str,
    sections: Sequence[SectionSpec],
    *,
    links: Sequence[tuple[str, str]] = (),
    chrome: bool = True,
    encoding: str = "utf-8",
) -> bytes:
    """An HTML page: ``sections`` inside ``<main>``, ``links`` as a list of ``(href, text)``
    after them; with ``chrome``, also a banner with navigation, a cookie dialog hidden with
    ``hidden``, an aside, scripts, styles and a footer, none of which is content."""
    body = [
        f"<h{max(level, 1)}>{escape(heading)}</h{max(level, 1)}>"
        + "".join(f"<p>{escape(paragraph)}</p>" for paragraph in paragraphs)
        for level, heading, paragraphs in sections
    ]
    if links:
        items = "".join(f'<li><a href="{escape(href)}">{escape(text)}</a></li>' for href, text in links)
        body.append(f"<ul>{items}</ul>")
    main = "<main>" + "\n".join(body) + "</main>"
    head = f'<meta charset="{encoding}"><title>{escape(title)}</title>'
    if not chrome:
        return f"<!DOCTYPE html><html><head>{head}</head><body>{main}</body></html>".encode(encoding)
    page = (
        f'<!DOCTYPE html><html lang="en"><head>{head}'
        "<style>.banner{display:flex} body{font-family:sans-serif}</style>"
        "<script>window.dataLayer=[];function track(){return 'TRACKING-SCRIPT'}</script></head><body>"
        '<header class="banner"><a href="/">Shop logo</a><nav><a href="/shop">Shop</a> '
        '<a href="/cart">Cart</a> <a href="/account">NAVIGATION-MENU</a></nav></header>'
        '<div id="cookies" hidden><p>HIDDEN-COOKIE-BANNER We use cookies.</p><button>Accept</button></div>'
        f"{main}"
        "<aside><h3>Related</h3><p>SIDEBAR-PROMOTION Subscribe now.</p></aside>"
        '<footer><p>FOOTER-TEXT © Example Shop</p><a href="/imprint">Imprint</a></footer>'
        "<noscript>NOSCRIPT-TEXT</noscript><script>track()</script></body></html>"
    )
    return page.encode(encoding)


# ---- DOCX ------------------------------------------------------------------------------------


def docx_bytes(
    sections: Sequence[SectionSpec],
    *,
    title: str | None = None,
    table: Sequence[Sequence[str]] | None = None,
    hyperlink: tuple[str, str] | None = None,
) -> bytes:
    """A Word document: each section's heading (level 0 is the Title style, 1-9 Heading n) then
    its paragraphs; ``table`` (rows of cells) at the end; ``hyperlink`` as ``(url, text)`` in a
    last paragraph; ``title`` as the core property."""
    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    for level, heading, paragraphs in sections:
        document.add_heading(heading, level=level)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=max(len(row) for row in table))
        for row_cells, row in zip(grid.rows, table, strict=True):
            for cell, value in zip(row_cells.cells, row, strict=False):
                cell.text = value
    if hyperlink is not None:
        _add_hyperlink(document, *hyperlink)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _add_hyperlink(document: docx.document.Document, url: str, text: str) -> None:
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    paragraph = document.add_paragraph("See ")
    relationship_id = paragraph.part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), relationship_id)
    run = OxmlElement("w:r")
    text_element = OxmlElement("w:t")
    text_element.text = text
    run.append(text_element)
    link.append(run)
    paragraph._p.append(link)


# ---- generated prose -------------------------------------------------------------------------


def prose(rng: random.Random, sentences: int) -> str:
    """``sentences`` plausible support-centre sentences (deterministic for a seeded ``rng``)."""
    out = []
    for _ in range(sentences):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 18))]
        out.append(" ".join(words).capitalize() + rng.choice((".", ".", ".", "?", "!")))
    return " ".join(out)


def help_centre_pages(count: int, *, seed: int = 7, paragraphs: int = 6) -> list[tuple[str, list[str]]]:
    """``count`` pages of a help centre as ``(heading, paragraphs)``: about 3,500 characters
    each, as on a full printed page."""
    rng = random.Random(seed)
    return [
        (
            f"Article {number}: {rng.choice(_WORDS)} and {rng.choice(_WORDS)}",
            [prose(rng, 4) for _ in range(paragraphs)],
        )
        for number in range(1, count + 1)
    ]
