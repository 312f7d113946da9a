"""The limits every extraction runs under, and the size check shared by all formats."""

from __future__ import annotations

from dataclasses import dataclass, fields

from hushdesk.agents.knowledge.extraction.errors import DocumentTooLarge, EmptyDocument

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    """Caps on what one document may cost to read. Every value must be positive.

    - ``max_bytes``: the file (or pasted text, as UTF-8) itself.
    - ``max_pages``: pages of a PDF.
    - ``max_text_chars``: extracted text, after normalisation, across the whole document.
    - ``max_zip_members``, ``max_zip_uncompressed_bytes``, ``max_zip_ratio``: a DOCX archive's
      part count, the sum of its parts' declared sizes, and the largest compression ratio
      allowed for a part bigger than ``zip_ratio_floor_bytes`` (small parts may compress well).
    - ``max_csv_rows``, ``max_csv_field_chars``: rows of a CSV file and characters in one field.
    - ``max_pdf_stream_bytes``: one decoded PDF stream (pypdf's own per-filter limits are
      lowered to this); ``max_pdf_decoded_bytes``: all decoded page content streams together.
    """

    max_bytes: int = 20 * MIB
    max_pages: int = 2000
    max_text_chars: int = 5_000_000
    max_zip_members: int = 2000
    max_zip_uncompressed_bytes: int = 256 * MIB
    max_zip_ratio: int = 100
    zip_ratio_floor_bytes: int = 1 * MIB
    max_csv_rows: int = 50_000
    max_csv_field_chars: int = 20_000
    max_pdf_stream_bytes: int = 32 * MIB
    max_pdf_decoded_bytes: int = 256 * MIB

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"ExtractionLimits.{field.name} must be a positive integer")


DEFAULT_LIMITS = ExtractionLimits()


def megabytes(size: int) -> str:
    """``size`` in MB for a message an admin reads (one decimal, never "0.0")."""
    return f"{max(size / MIB, 0.1):.1f} MB"


def check_size(content: bytes, limits: ExtractionLimits) -> None:
    """Raises ``EmptyDocument`` for no bytes at all and ``DocumentTooLarge`` over ``max_bytes``."""
    if not content:
        raise EmptyDocument("The file is empty.")
    if len(content) > limits.max_bytes:
        raise DocumentTooLarge(
            f"The file is {megabytes(len(content))}; the knowledge base accepts files up to "
            f"{megabytes(limits.max_bytes)}.",
            size=len(content),
            limit=limits.max_bytes,
        )
