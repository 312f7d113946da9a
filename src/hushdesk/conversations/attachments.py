"""What a customer may attach: images (PNG, JPEG, GIF, WebP) and PDF, recognised from their
bytes, never from what the sender claims.

The declared file name must agree with the sniffed type, so a file is never shown to the team
under a name that suggests something else. SVG and HTML are refused outright: both can carry
script. Nothing here keeps or logs the file or its name; the errors carry neither.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from hushdesk.infra.errors import PayloadTooLarge, UnsupportedMediaType

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_NAME_CHARS = 120
DEFAULT_STEM = "attachment"

# Removed from display names: control and format characters (the latter include the
# bidirectional overrides that make "invoice\u202efdp.exe" read as "invoiceexe.pdf"),
# unpaired surrogates, and line and paragraph separators.
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


@dataclass(frozen=True, slots=True)
class AttachmentType:
    """A sniffed type: its media type and its usual extension (no dot)."""

    media_type: str
    extension: str


PNG = AttachmentType("image/png", "png")
JPEG = AttachmentType("image/jpeg", "jpg")
GIF = AttachmentType("image/gif", "gif")
WEBP = AttachmentType("image/webp", "webp")
PDF = AttachmentType("application/pdf", "pdf")

# The declared extensions each type may carry.
_EXTENSIONS: dict[AttachmentType, frozenset[str]] = {
    PNG: frozenset({"png"}),
    JPEG: frozenset({"jpg", "jpeg"}),
    GIF: frozenset({"gif"}),
    WEBP: frozenset({"webp"}),
    PDF: frozenset({"pdf"}),
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The first chunk of every PNG: length 13, type IHDR.
_PNG_IHDR = b"\x00\x00\x00\x0dIHDR"
_PNG_MIN_BYTES = len(_PNG_SIGNATURE) + len(_PNG_IHDR) + 13 + 4  # the IHDR data and its CRC
_WEBP_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"VP8X"})


class AttachmentRefusedError(UnsupportedMediaType):
    """The file is empty, not one of the accepted types, or named as another type."""

    code = "attachment_type"
    default_message = "Only images (PNG, JPEG, GIF, WebP) and PDF files can be sent, with a matching name."


class AttachmentTooLargeError(PayloadTooLarge):
    code = "attachment_too_large"
    default_message = "The file is larger than 5 MB."


def sniff_attachment_type(data: bytes) -> AttachmentType | None:
    """The accepted type the bytes are, by their signature, or ``None``."""
    if data.startswith(_PNG_SIGNATURE):
        ihdr_at = len(_PNG_SIGNATURE)
        is_png = data[ihdr_at : ihdr_at + len(_PNG_IHDR)] == _PNG_IHDR and len(data) >= _PNG_MIN_BYTES
        return PNG if is_png else None
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP" and data[12:16] in _WEBP_CHUNKS:
        return WEBP
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def check_attachment(data: bytes, *, file_name: str) -> tuple[AttachmentType, str]:
    """The type of ``data`` and a clean display name made from ``file_name``.

    The clean name is the last path segment (``/`` and ``\\`` both separate), without control
    or format characters, trimmed, at most 120 characters (the extension kept); with nothing
    left before the extension, or no name at all, it is ``attachment.<ext>``.

    Raises ``AttachmentTooLargeError`` over ``MAX_ATTACHMENT_BYTES``, and
    ``AttachmentRefusedError`` for an empty file, an unaccepted type, or a name whose extension
    does not agree with the type (a name without one does not agree)."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLargeError
    attachment_type = sniff_attachment_type(data)
    if attachment_type is None:
        raise AttachmentRefusedError
    name = _display_form(file_name)
    if not name:
        return attachment_type, f"{DEFAULT_STEM}.{attachment_type.extension}"
    stem, dot, extension = name.rpartition(".")
    extension = extension.lower()
    if not dot or extension not in _EXTENSIONS[attachment_type]:
        raise AttachmentRefusedError
    stem = stem.strip()[: MAX_NAME_CHARS - len(extension) - 1].rstrip() or DEFAULT_STEM
    return attachment_type, f"{stem}.{extension}"


def _display_form(file_name: str) -> str:
    last_segment = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(char for char in last_segment if unicodedata.category(char) not in _REMOVED_CATEGORIES)
    name = unicodedata.normalize("NFC", kept).strip()
    return "" if name in {".", ".."} else name
