"""Bytes to text for the plain-text kinds (TXT, Markdown, CSV).

Accepted: UTF-8 with or without a BOM; UTF-16 with a BOM (what Windows tools call "Unicode");
and, only when the bytes are not UTF-8, Windows-1252, the encoding of legacy Windows and Excel
exports, provided none of the five bytes it leaves undefined occurs. Whatever the encoding, text
holds no control character other than tab, line feed, vertical tab, form feed and carriage
return: binary data almost always does, so it is refused rather than stored as mojibake.
"""

from __future__ import annotations

import codecs
import re

from hushdesk.agents.knowledge.extraction.errors import DocumentTypeMismatch

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
NOT_TEXT_MESSAGE = (
    "This file is not readable text. Save it as UTF-8 text (or as the format it really is) "
    "and upload it again."
)


def decode_text(content: bytes) -> str:
    """``content`` as text per the module's rules; raises ``DocumentTypeMismatch`` otherwise."""
    text = _decode(content)
    if _CONTROL_CHARACTERS.search(text):
        raise DocumentTypeMismatch(NOT_TEXT_MESSAGE)
    return text


def _decode(content: bytes) -> str:
    if content.startswith(codecs.BOM_UTF8):
        return _strict(content[len(codecs.BOM_UTF8) :], "utf-8")
    for bom, encoding in _UTF16_BOMS:
        if content.startswith(bom):
            return _strict(content[len(bom) :], encoding)
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return _strict(content, "cp1252")


def _strict(content: bytes, encoding: str) -> str:
    try:
        return content.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DocumentTypeMismatch(NOT_TEXT_MESSAGE) from exc
