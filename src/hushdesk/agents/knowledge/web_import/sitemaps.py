"""Importing the pages a sitemap lists: collect the page URLs, then fetch them one by one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from hushdesk.agents.knowledge.web_import.errors import ImportFailed, SitemapEmpty
from hushdesk.agents.knowledge.web_import.limits import DEFAULT_LIMITS, ImportLimits
from hushdesk.agents.knowledge.web_import.pages import FetchedPage, fetch_page
from hushdesk.agents.knowledge.web_import.sitemap_xml import (
    ParsedSitemap,
    SitemapKind,
    gunzip_limited,
    parse_sitemap,
)
from hushdesk.agents.knowledge.web_import.transfer import Expected, download
from hushdesk.agents.knowledge.web_import.urls import check_import_url, same_site, site_host

log = logging.getLogger(__name__)

_GZIP_TYPES = frozenset({"application/gzip", "application/x-gzip"})
SITEMAP = Expected(
    noun="sitemap",
    media_types=frozenset({"application/xml", "text/xml"}) | _GZIP_TYPES,
    described="an XML sitemap, plain or gzip-compressed",
)

ProgressCallback = Callable[[int, int, str], None]
"""``(pages done, pages in all, URL just done)``, called once per page, failed ones included."""


@dataclass(frozen=True, slots=True)
class PageImportFailed:
    """A page of a sitemap that could not be imported: its ``url`` (as listed, normalised),
    ``reason`` (the error's public message) and ``code`` (the error's machine code)."""

    url: str
    reason: str
    code: str


def sitemap_page_urls(client: httpx.Client, url: str, *, limits: ImportLimits = DEFAULT_LIMITS) -> list[str]:
    """The page URLs that the sitemap at ``url`` lists, at most ``limits.max_pages``.

    Follows a sitemap index to the sitemaps it lists, depth-first in document order, down to
    ``limits.max_sitemap_depth`` levels and ``limits.max_sitemap_documents`` documents, one
    request at a time. Every URL is normalised by ``check_import_url`` (invalid ones are
    skipped) and kept only when it is on the sitemap's own host (or its www./bare twin);
    duplicates are dropped, first occurrence kept.

    Raises ``InvalidImportUrl`` for ``url``; the ``ImportFailed`` family of
    ``transfer.download`` when the first sitemap cannot be fetched; ``SitemapMalformed`` and
    ``ImportTooLarge`` (also for a gzip sitemap past ``limits.max_sitemap_bytes`` once
    decompressed) when it cannot be read; ``SitemapEmpty`` when nothing is left to import. A
    nested sitemap that fails is skipped, and named in the ``SitemapEmpty`` message if nothing
    else was found. Makes network calls: call it outside a database transaction.
    """
    start = check_import_url(url)
    return _SitemapWalk(client, start, limits).run()


def fetch_sitemap_pages(
    client: httpx.Client,
    url: str,
    *,
    limits: ImportLimits = DEFAULT_LIMITS,
    on_progress: ProgressCallback | None = None,
) -> Iterator[FetchedPage | PageImportFailed]:
    """Each page the sitemap at ``url`` lists, fetched in order, or a failure record for it.

    The sitemap is read now, so its errors (those of ``sitemap_page_urls``) raise here; the
    pages are then fetched one at a time as the iterator is consumed. A page that fails with
    an ``ImportFailed`` yields a ``PageImportFailed`` and the import goes on; anything else
    (``TransactionOpenError`` among them) propagates. ``on_progress`` is called after each
    page. Both this call and the iteration make network calls: keep them outside a database
    transaction (commit what a page produced before taking the next).
    """
    page_urls = sitemap_page_urls(client, url, limits=limits)
    return _fetch_each(client, page_urls, limits=limits, on_progress=on_progress)


def _fetch_each(
    client: httpx.Client, page_urls: list[str], *, limits: ImportLimits, on_progress: ProgressCallback | None
) -> Iterator[FetchedPage | PageImportFailed]:
    total = len(page_urls)
    for done, page_url in enumerate(page_urls, start=1):
        outcome: FetchedPage | PageImportFailed
        try:
            outcome = fetch_page(client, page_url, limits=limits)
        except ImportFailed as exc:
            outcome = PageImportFailed(url=page_url, reason=exc.public_message, code=exc.code)
        if on_progress is not None:
            on_progress(done, total, page_url)
        yield outcome


class _SitemapWalk:
    """One traversal: the pages found so far, the sitemaps seen, and what was skipped."""

    def __init__(self, client: httpx.Client, start: str, limits: ImportLimits) -> None:
        self._client = client
        self._start = start
        self._limits = limits
        # Only URLs on the host the person asked for are followed or imported: a sitemap is
        # the site's own text, and must not make us fetch arbitrary third-party hosts on its
        # behalf (nor pull another site's pages into this knowledge base).
        self._host = site_host(start)
        self._pages: list[str] = []
        self._seen_pages: set[str] = set()
        self._seen_sitemaps = {start}
        self._first_nested_failure: ImportFailed | None = None
        self._deeper_skipped = False

    def run(self) -> list[str]:
        pending = [(self._start, 1)]
        fetched = 0
        while pending and len(self._pages) < self._limits.max_pages:
            if fetched >= self._limits.max_sitemap_documents:
                break
            sitemap_url, level = pending.pop()
            parsed = self._read(sitemap_url, level)
            fetched += 1
            if parsed is None:
                continue
            if parsed.kind is SitemapKind.PAGES:
                self._add_pages(parsed.locations)
            elif level < self._limits.max_sitemap_depth:
                # Reversed onto the stack so that the first listed sitemap is read first.
                pending.extend((child, level + 1) for child in reversed(self._new_sitemaps(parsed)))
            else:
                self._deeper_skipped = True
        if not self._pages:
            raise self._nothing_found()
        return self._pages

    def _read(self, sitemap_url: str, level: int) -> ParsedSitemap | None:
        try:
            return read_sitemap(self._client, sitemap_url, max_bytes=self._limits.max_sitemap_bytes)
        except ImportFailed as exc:
            if level == 1:
                raise
            log.info("nested sitemap skipped", extra={"host": self._host, "code": exc.code})
            if self._first_nested_failure is None:
                self._first_nested_failure = exc
            return None

    def _add_pages(self, locations: list[str]) -> None:
        for page_url in self._same_site(locations):
            if len(self._pages) >= self._limits.max_pages:
                return
            if page_url not in self._seen_pages:
                self._seen_pages.add(page_url)
                self._pages.append(page_url)

    def _new_sitemaps(self, parsed: ParsedSitemap) -> list[str]:
        children: list[str] = []
        for child in self._same_site(parsed.locations):
            if child not in self._seen_sitemaps:
                self._seen_sitemaps.add(child)
                children.append(child)
        return children

    def _same_site(self, locations: list[str]) -> Iterator[str]:
        for location in locations:
            try:
                checked = check_import_url(location)
            except ImportFailed:
                continue
            if same_site(checked, self._host):
                yield checked

    def _nothing_found(self) -> SitemapEmpty:
        if self._first_nested_failure is not None:
            return SitemapEmpty(
                "The sitemap lists no page that could be read; a sitemap it lists failed: "
                f"{self._first_nested_failure.public_message}"
            )
        if self._deeper_skipped:
            return SitemapEmpty(
                "The sitemap lists only further sitemaps, nested deeper than "
                f"{self._limits.max_sitemap_depth} levels."
            )
        return SitemapEmpty()


def read_sitemap(client: httpx.Client, url: str, *, max_bytes: int) -> ParsedSitemap:
    """Fetch and parse one sitemap document (``url`` already checked); gzip-compressed ones
    (served as application/gzip or application/x-gzip) are decompressed within ``max_bytes``.
    Raises as ``sitemap_page_urls`` describes for the first sitemap."""
    received = download(client, url, expected=SITEMAP, max_bytes=max_bytes)
    body = received.body
    if received.media_type in _GZIP_TYPES:
        body = gunzip_limited(body, max_bytes=max_bytes)
    return parse_sitemap(body)
