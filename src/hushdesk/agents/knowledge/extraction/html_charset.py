"""Bytes to text for HTML: the encoding from a byte-order mark, else from a ``<meta>`` charset
declaration near the start, else UTF-8; undecodable bytes become U+FFFD rather than failing.

As browsers do, ISO-8859-1 and ASCII are read as their superset Windows-1252, and UTF-7 (a known
way to smuggle markup past filters) is never honoured.
"""

from __future__ import annotations

import codecs
import re

_META_SNIFF_BYTES = 2048
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]{1,40})", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_AS_WINDOWS_1252 = frozenset({"latin_1", "iso8859-1", "ascii"})
_NEVER = frozenset({"utf-7"})


def decode_html(content: bytes) -> str:
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return content[len(bom) :].decode(encoding, errors="replace")
    return content.decode(_declared_encoding(content) or "utf-8", errors="replace")


def _declared_encoding(content: bytes) -> str | None:
    match = _META_CHARSET.search(content[:_META_SNIFF_BYTES])
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None
    if name in _NEVER or name.startswith("utf-16") or name.startswith("utf-32"):
        # A page that really were UTF-16 would have needed a BOM to be read this far.
        return None
    if name in _AS_WINDOWS_1252:
        return "cp1252"
    try:
        # Text encodings only: never a bytes-to-bytes codec such as zlib (an empty input would
        # not be checked, hence one byte).
        b"a".decode(name, errors="replace")
    except LookupError:
        return None
    return name
