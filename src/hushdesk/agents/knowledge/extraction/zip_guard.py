"""Inspection of a DOCX (OOXML) archive before anything decompresses it.

Only the archive's directory is read here: its member count (first from the end-of-directory
record, so a directory of millions of entries is refused before it is parsed), each member's
declared size, compression ratio, method and encryption flag. Declared sizes are what bounds
memory later: ``zipfile`` never returns more bytes for a member than its declared size, and a
member that inflates to more fails its CRC check. Embedded Office files (charts'
spreadsheets under ``word/embeddings/``) are allowed, since nothing here opens them; a member
named as an archive (.zip, .gz, .7z, ...) is refused as a nested archive.
"""

from __future__ import annotations

import io
import struct
import zipfile

from hushdesk.agents.knowledge.extraction.errors import (
    ArchiveBomb,
    CorruptDocument,
    DocumentTypeMismatch,
    EncryptedDocument,
)
from hushdesk.agents.knowledge.extraction.limits import ExtractionLimits, megabytes

ZIP_SIGNATURE = b"PK\x03\x04"
EMPTY_ZIP_SIGNATURE = b"PK\x05\x06"
# An OLE compound file: legacy .doc, and also what Word writes for a password-protected .docx.
COMPOUND_FILE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
REQUIRED_PARTS = ("[Content_Types].xml", "word/document.xml")
_END_RECORD = struct.Struct("<4sHHHHIIH")
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_END_RECORD_ENTRIES = struct.Struct("<Q")
_ZIP64_ENTRIES_OFFSET = 32
_MAX_COMMENT = 0xFFFF
_NESTED_ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".7z", ".rar", ".tar", ".bz2", ".xz", ".zst")
_ENCRYPTED_FLAG = 0x1
_NOT_WORD = "This file is not a Word (.docx) document."


def refuse_non_docx_container(content: bytes) -> None:
    """Raises ``EncryptedDocument`` for a password-protected DOCX (an encrypted OLE container)
    and ``DocumentTypeMismatch`` for anything that is not a zip archive."""
    if content.startswith(COMPOUND_FILE_SIGNATURE):
        if "EncryptionInfo".encode("utf-16-le") in content:
            raise EncryptedDocument()
        raise DocumentTypeMismatch(
            "This is an old-style Word (.doc) file or another Office format, not a .docx document. "
            "Save it as .docx and upload it again."
        )
    if not content.startswith((ZIP_SIGNATURE, EMPTY_ZIP_SIGNATURE)):
        raise DocumentTypeMismatch(_NOT_WORD)


def open_docx_archive(content: bytes, limits: ExtractionLimits) -> zipfile.ZipFile:
    """The archive, once its directory passed every check. Raises ``ArchiveBomb`` (too many
    members, too much declared data, extreme ratio, nested archive), ``EncryptedDocument``,
    ``CorruptDocument`` (unreadable directory, duplicate or unsafe names, unknown compression)
    or ``DocumentTypeMismatch`` (a zip without the parts of a Word document)."""
    refuse_non_docx_container(content)
    _refuse_many_members_early(content, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, struct.error) as exc:
        raise CorruptDocument() from exc
    try:
        _check_members(archive.infolist(), limits)
    except BaseException:
        archive.close()
        raise
    return archive


def _check_members(members: list[zipfile.ZipInfo], limits: ExtractionLimits) -> None:
    if len(members) > limits.max_zip_members:
        raise _too_many_members(limits)
    names: set[str] = set()
    declared_total = 0
    for member in members:
        _check_name(member.filename, names)
        if member.flag_bits & _ENCRYPTED_FLAG:
            raise EncryptedDocument()
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CorruptDocument("This Word document uses a compression method Word does not write.")
        if member.filename.lower().endswith(_NESTED_ARCHIVE_SUFFIXES):
            raise ArchiveBomb("This Word document contains a nested archive, so it was not processed.")
        _check_ratio(member, limits)
        declared_total += member.file_size
        if declared_total > limits.max_zip_uncompressed_bytes:
            raise ArchiveBomb(
                f"This Word document expands to more than {megabytes(limits.max_zip_uncompressed_bytes)}, "
                "more than is safe to process.",
                limit=limits.max_zip_uncompressed_bytes,
            )
    if any(part not in names for part in REQUIRED_PARTS):
        raise DocumentTypeMismatch(_NOT_WORD)


def _check_name(name: str, seen: set[str]) -> None:
    # Two members of one name are read differently by different zip readers (a known way to hide
    # content from a scanner); absolute and parent-relative names appear only in crafted files.
    parts = name.replace("\\", "/").split("/")
    if name in seen or name.startswith(("/", "\\")) or ".." in parts:
        raise CorruptDocument()
    seen.add(name)


def _check_ratio(member: zipfile.ZipInfo, limits: ExtractionLimits) -> None:
    if member.file_size <= limits.zip_ratio_floor_bytes:
        return
    if member.compress_size == 0 or member.file_size / member.compress_size > limits.max_zip_ratio:
        raise ArchiveBomb()


def _refuse_many_members_early(content: bytes, limits: ExtractionLimits) -> None:
    """Read the member count from the end-of-directory record (and the ZIP64 one), so an archive
    declaring too many members is refused before ``zipfile`` builds an object for each."""
    window_start = max(0, len(content) - _END_RECORD.size - _MAX_COMMENT)
    at = content.rfind(EMPTY_ZIP_SIGNATURE, window_start)
    if at < 0 or at + _END_RECORD.size > len(content):
        return  # zipfile reports the damage
    entries = _END_RECORD.unpack_from(content, at)[4]
    if entries == 0xFFFF:
        entries = _zip64_entries(content, at)
    if entries > limits.max_zip_members:
        raise _too_many_members(limits)


def _zip64_entries(content: bytes, end_record_at: int) -> int:
    locator_at = end_record_at - _ZIP64_LOCATOR.size
    if locator_at < 0:
        return 0
    signature, _, record_at, _ = _ZIP64_LOCATOR.unpack_from(content, locator_at)
    entries_at = record_at + _ZIP64_ENTRIES_OFFSET
    if signature != b"PK\x06\x07" or entries_at + _ZIP64_END_RECORD_ENTRIES.size > len(content):
        return 0
    entries: int = _ZIP64_END_RECORD_ENTRIES.unpack_from(content, entries_at)[0]
    return entries


def _too_many_members(limits: ExtractionLimits) -> ArchiveBomb:
    return ArchiveBomb(
        f"This Word document is made of more than {limits.max_zip_members:,} parts, "
        "more than is safe to process.",
        limit=limits.max_zip_members,
    )
