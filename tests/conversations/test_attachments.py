"""Attachments: images and PDF recognised from their bytes, named to agree with what they are,
with clean display names; everything else refused with the documented codes."""

from __future__ import annotations

import struct
import unicodedata
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hushdesk.conversations.attachments import (
    GIF,
    JPEG,
    MAX_ATTACHMENT_BYTES,
    PDF,
    PNG,
    WEBP,
    AttachmentRefusedError,
    AttachmentTooLargeError,
    AttachmentType,
    check_attachment,
    sniff_attachment_type,
)
from hushdesk.infra.errors import HushdeskError, PayloadTooLarge, UnsupportedMediaType


def _png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = zlib.compress(b"\x00\x00\x00\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )


PNG_BYTES = _png()
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF87_BYTES = (
    b"GIF87a\x01\x00\x01\x00\x80\x00\x00"  # 1x1, a two-colour table
    b"\x00\x00\x00\xff\xff\xff"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"  # one image, then the trailer
)
GIF89_BYTES = b"GIF89a" + GIF87_BYTES[6:]
WEBP_BYTES = (
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
)
PDF_BYTES = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


@pytest.mark.parametrize(
    ("data", "file_name", "expected_type", "expected_name"),
    [
        (PNG_BYTES, "screenshot.png", PNG, "screenshot.png"),
        (JPEG_BYTES, "photo.jpg", JPEG, "photo.jpg"),
        (JPEG_BYTES, "photo.jpeg", JPEG, "photo.jpeg"),
        (JPEG_BYTES, "IMG_0042.JPG", JPEG, "IMG_0042.jpg"),
        (GIF87_BYTES, "old.gif", GIF, "old.gif"),
        (GIF89_BYTES, "wave.GIF", GIF, "wave.gif"),
        (WEBP_BYTES, "sticker.webp", WEBP, "sticker.webp"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(10), "lossy.webp", WEBP, "lossy.webp"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8X" + bytes(10), "extended.webp", WEBP, "extended.webp"),
        (PDF_BYTES, "Invoice 2025-03.pdf", PDF, "Invoice 2025-03.pdf"),
        (b"%PDF-", "tiny.pdf", PDF, "tiny.pdf"),
    ],
)
def test_each_accepted_type_is_recognised_from_its_bytes(
    data: bytes, file_name: str, expected_type: AttachmentType, expected_name: str
) -> None:
    assert check_attachment(data, file_name=file_name) == (expected_type, expected_name)


def test_the_types_carry_their_media_types_and_extensions() -> None:
    assert [(kind.media_type, kind.extension) for kind in (PNG, JPEG, GIF, WEBP, PDF)] == [
        ("image/png", "png"),
        ("image/jpeg", "jpg"),
        ("image/gif", "gif"),
        ("image/webp", "webp"),
        ("application/pdf", "pdf"),
    ]


@pytest.mark.parametrize(
    ("data", "file_name"),
    [
        (PNG_BYTES, "picture.jpg"),
        (JPEG_BYTES, "picture.png"),
        (PDF_BYTES, "picture.png"),
        (PNG_BYTES, "document.pdf"),
        (GIF89_BYTES, "anim.webp"),
        (WEBP_BYTES, "anim.gif"),
        (PNG_BYTES, "picture.png.exe"),
        (PDF_BYTES, "report.pdf.html"),
        (PNG_BYTES, "picture"),
        (PNG_BYTES, "picture."),
        (PNG_BYTES, "picture.svg"),
    ],
)
def test_a_name_that_disagrees_with_the_bytes_is_refused(data: bytes, file_name: str) -> None:
    with pytest.raises(AttachmentRefusedError):
        check_attachment(data, file_name=file_name)


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


@pytest.mark.parametrize(
    ("data", "file_name"),
    [
        (SVG, "logo.svg"),
        (SVG, "logo.png"),
        (b'<?xml version="1.0"?>\n' + SVG, "logo.svg"),
        (b"\xef\xbb\xbf" + SVG, "logo.svg"),
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "page.html"),
        (b"<html><body>%PDF-1.7</body></html>", "report.pdf"),
        (b" %PDF-1.7\n", "report.pdf"),
        (b"\n%PDF-1.7\n", "report.pdf"),
        (b"%PDF", "report.pdf"),
        (b"\x89PNG\r\n\x1a\n", "cut.png"),
        (PNG_BYTES[:32], "cut.png"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIDAT" + bytes(20), "no-ihdr.png"),
        (b"\xff\xd8", "cut.jpg"),
        (b"GIF88a" + GIF87_BYTES[6:], "odd.gif"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(10), "sound.webp"),
        (b"RIFF\x00\x00\x00\x00WEBPJUNK" + bytes(10), "odd.webp"),
        (b"PK\x03\x04" + bytes(30), "archive.pdf"),
        (b"MZ\x90\x00" + bytes(60), "setup.png"),
        (b"just some text", "note.pdf"),
        (b"", "empty.png"),
        (b"", ""),
    ],
)
def test_other_contents_are_refused(data: bytes, file_name: str) -> None:
    with pytest.raises(AttachmentRefusedError):
        check_attachment(data, file_name=file_name)


def test_a_gif_with_svg_after_its_signature_is_only_ever_a_gif() -> None:
    polyglot = b"GIF89a/*" + SVG
    with pytest.raises(AttachmentRefusedError):
        check_attachment(polyglot, file_name="image.svg")
    # Named as a GIF it is stored and served as image/gif, which no browser runs as SVG.
    assert check_attachment(polyglot, file_name="image.gif") == (GIF, "image.gif")


def test_the_size_limit_is_inclusive() -> None:
    data = PNG_BYTES + bytes(MAX_ATTACHMENT_BYTES - len(PNG_BYTES))
    assert len(data) == MAX_ATTACHMENT_BYTES
    assert check_attachment(data, file_name="big.png")[0] == PNG
    with pytest.raises(AttachmentTooLargeError):
        check_attachment(data + b"\x00", file_name="big.png")


def test_size_is_refused_before_the_type_is_considered() -> None:
    with pytest.raises(AttachmentTooLargeError):
        check_attachment(b"<svg>" + bytes(MAX_ATTACHMENT_BYTES), file_name="huge.svg")


def test_the_errors_carry_the_documented_codes_and_statuses_and_nothing_else() -> None:
    with pytest.raises(AttachmentRefusedError) as refused:
        check_attachment(SVG, file_name="secret-plans.svg")
    with pytest.raises(AttachmentTooLargeError) as too_large:
        check_attachment(bytes(MAX_ATTACHMENT_BYTES + 1), file_name="secret-plans.png")
    assert (refused.value.code, refused.value.status) == ("attachment_type", 415)
    assert (too_large.value.code, too_large.value.status) == ("attachment_too_large", 413)
    assert isinstance(refused.value, UnsupportedMediaType)
    assert isinstance(too_large.value, PayloadTooLarge)
    for error in (refused.value, too_large.value):
        assert isinstance(error, HushdeskError)
        assert error.data == {}
        assert "secret-plans" not in str(error)
        assert "svg" not in error.public_message.lower()
        assert error.__context__ is None


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("..\\..\\Windows\\System32\\shot.png", "shot.png"),
        ("C:\\Users\\thandi\\Pictures\\shot.png", "shot.png"),
        ("/var/tmp/shot.png", "shot.png"),
        ("mixed/dirs\\and/more\\shot.png", "shot.png"),
        ("uploads/", "attachment.png"),
        ("..", "attachment.png"),
        (".", "attachment.png"),
        ("", "attachment.png"),
        (".png", "attachment.png"),
        ("   .png", "attachment.png"),
        ("\x00\x01.png", "attachment.png"),
        ("sh\x00ot\r\n.png", "shot.png"),
        ("  shot.png  ", "shot.png"),
        ("shot \t.png", "shot.png"),
        ("evil\u202egnp.png", "evilgnp.png"),
        ("zero\u200bwidth.png", "zerowidth.png"),
        ("line\u2028break.png", "linebreak.png"),
        ("café.png", "café.png"),
        ("cafe\u0301.png", "café.png"),
        ("写真.png", "写真.png"),
        ("..png", "..png"),
    ],
)
def test_display_names_are_cleaned(file_name: str, expected: str) -> None:
    assert check_attachment(PNG_BYTES, file_name=file_name) == (PNG, expected)


def test_long_names_are_shortened_keeping_the_extension() -> None:
    _, name = check_attachment(JPEG_BYTES, file_name="a" * 300 + ".jpeg")
    assert name == "a" * 115 + ".jpeg"
    assert len(name) == 120
    _, name = check_attachment(PDF_BYTES, file_name="b" * 116 + ".pdf")
    assert name == "b" * 116 + ".pdf"


def test_a_nameless_file_is_named_for_its_type() -> None:
    assert check_attachment(JPEG_BYTES, file_name="")[1] == "attachment.jpg"
    assert check_attachment(PDF_BYTES, file_name="\\")[1] == "attachment.pdf"


def test_sniffing_alone_names_the_type_or_nothing() -> None:
    assert sniff_attachment_type(WEBP_BYTES) == WEBP
    assert sniff_attachment_type(SVG) is None
    assert sniff_attachment_type(b"") is None


@given(st.text(max_size=300))
def test_any_accepted_name_is_clean(file_name: str) -> None:
    try:
        attachment_type, name = check_attachment(PNG_BYTES, file_name=file_name)
    except AttachmentRefusedError:
        return
    assert attachment_type == PNG
    assert 5 <= len(name) <= 120
    assert name.endswith(".png")
    assert name == name.strip()
    assert "/" not in name
    assert "\\" not in name
    assert not any(unicodedata.category(char) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for char in name)


@given(st.text(max_size=100), st.sampled_from(["png", "PNG", "Png"]))
def test_any_name_with_the_right_extension_is_accepted(stem: str, extension: str) -> None:
    _, name = check_attachment(PNG_BYTES, file_name=f"{stem}.{extension}")
    assert name.endswith(".png")


@given(st.binary(max_size=64))
def test_random_bytes_are_refused_unless_they_carry_a_signature(data: bytes) -> None:
    sniffed = sniff_attachment_type(data)
    if sniffed is None:
        with pytest.raises(AttachmentRefusedError):
            check_attachment(data, file_name="file.pdf")
    else:
        assert data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"%PDF-"))
