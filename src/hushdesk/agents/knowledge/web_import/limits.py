"""How much one URL import may fetch."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
MAX_PAGES_CAP = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportLimits:
    """Bounds of one import; each document is refused, not truncated, past its limit.

    ``max_page_bytes``: one page, after any content encoding is undone. ``max_sitemap_bytes``:
    one sitemap document, and also a gzip-compressed sitemap after decompression.
    ``max_pages``: page URLs taken from a sitemap (the caller may lower it; at most
    ``MAX_PAGES_CAP``). ``max_sitemap_depth``: levels of sitemap documents read, the first one
    included (2: a sitemap index and the sitemaps it lists). ``max_sitemap_documents``:
    sitemap documents fetched in all, so that an index listing thousands of sitemaps costs a
    bounded number of requests. Raises ``ValueError`` for a bound out of range.
    """

    max_page_bytes: int = 5 * MIB
    max_sitemap_bytes: int = 10 * MIB
    max_pages: int = 50
    max_sitemap_depth: int = 2
    max_sitemap_documents: int = 20

    def __post_init__(self) -> None:
        if self.max_page_bytes <= 0 or self.max_sitemap_bytes <= 0:
            raise ValueError("byte limits must be positive")
        if not 1 <= self.max_pages <= MAX_PAGES_CAP:
            raise ValueError(f"max_pages must be between 1 and {MAX_PAGES_CAP}")
        if self.max_sitemap_depth < 1:
            raise ValueError("max_sitemap_depth must be at least 1 (the sitemap itself)")
        if self.max_sitemap_documents < 1:
            raise ValueError("max_sitemap_documents must be at least 1 (the sitemap itself)")


DEFAULT_LIMITS = ImportLimits()


def describe_size(size: int) -> str:
    """``size`` bytes in words for a message: "5 MiB", "512 KiB", "300 bytes"."""
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"
