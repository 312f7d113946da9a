"""Fetching one web page for the knowledge base."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

import httpx

from hushdesk.agents.knowledge.web_import.limits import DEFAULT_LIMITS, ImportLimits
from hushdesk.agents.knowledge.web_import.transfer import Expected, download
from hushdesk.agents.knowledge.web_import.urls import check_import_url

# Media type -> the extension the knowledge base's kind detector reads, then other spellings
# of it that a URL may already end with and that are replaced by the first.
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "text/html": (".html", ".htm"),
    "application/xhtml+xml": (".html", ".htm", ".xhtml"),
    "text/plain": (".txt", ".text"),
    "text/markdown": (".md", ".markdown"),
    "text/csv": (".csv",),
    "application/pdf": (".pdf",),
}
PAGE = Expected(
    noun="page",
    media_types=frozenset(_EXTENSIONS),
    described="HTML, plain text, Markdown, CSV or PDF",
)
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM_LENGTH = 80


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A page as received: ``url`` is the final URL after redirects, ``content`` the body (any
    content encoding undone), ``content_type`` the media type without parameters,
    lowercased, ``charset`` the declared one (lowercased) if any, and ``filename`` a safe
    name with the extension that matches ``content_type`` ("index.html", "guide.pdf")."""

    url: str
    content: bytes
    content_type: str
    charset: str | None
    filename: str


def fetch_page(client: httpx.Client, url: str, *, limits: ImportLimits = DEFAULT_LIMITS) -> FetchedPage:
    """GET one page with ``client`` (from ``build_http_client``) and return it.

    Accepts HTML, XHTML, plain text, Markdown, CSV and PDF; anything else, or no declared
    type, is refused rather than guessed at. Raises ``InvalidImportUrl`` for a URL that
    ``check_import_url`` refuses, and the ``ImportFailed`` family described in
    ``transfer.download`` (not allowed, too large, status, type, empty, redirects,
    unreachable), with ``limits.max_page_bytes`` as the size limit. Makes network calls: call
    it outside a database transaction (the client raises ``TransactionOpenError`` inside one).
    """
    checked = check_import_url(url)
    received = download(client, checked, expected=PAGE, max_bytes=limits.max_page_bytes)
    return FetchedPage(
        url=received.url,
        content=received.body,
        content_type=received.media_type,
        charset=received.charset,
        filename=page_filename(received.url, received.media_type),
    )


def page_filename(url: str, media_type: str) -> str:
    """A file name for a page fetched from ``url`` with ``media_type`` (one of the accepted).

    The last path segment, reduced to letters, digits, '.', '-' and '_', or "index" for a
    directory; its extension is made the one for ``media_type``: "faq.md", "guide.pdf",
    "page.htm" -> "page.html", "report.php" -> "report.php.html", "/" -> "index.html".
    """
    extensions = _EXTENSIONS[media_type]
    segment = posixpath.basename(httpx.URL(url).path)
    name = _UNSAFE_NAME_CHARACTERS.sub("-", segment).strip(".-") or "index"
    stem, suffix = posixpath.splitext(name)
    if suffix.lower() in extensions:
        name = stem
    return name[:_MAX_STEM_LENGTH].rstrip(".-") + extensions[0]
