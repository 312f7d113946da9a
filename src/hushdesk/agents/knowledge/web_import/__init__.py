"""URL import for an agent's knowledge base: one web page, or the pages a sitemap lists.

Every request goes through a client from ``hushdesk.infra.http.build_http_client``, passed in
by the caller, who owns and closes it: certificate verification, timeouts, the SSRF guard
after DNS on every hop and the User-Agent are that client's. Requests go one at a time, no
cookie is sent or kept, and every body is read with a byte limit (``ImportLimits``), a
declared Content-Length over it refused before any byte is read.

These functions make network calls, so call them outside a database transaction: the client
refuses inside an open unit of work with ``TransactionOpenError``, which is not translated.
Everything else that goes wrong is an ``ImportFailed`` (a ``ValidationFailed``) with a public
message that never quotes what the site sent.

Gzip-compressed sitemaps (``.xml.gz`` served as application/gzip or application/x-gzip) are
accepted and decompressed within ``max_sitemap_bytes``; sitemaps in the plain-text, RSS or
Atom forms are not.
"""

from __future__ import annotations

from hushdesk.agents.knowledge.web_import.errors import (
    ImportEmpty,
    ImportFailed,
    ImportNotAllowed,
    ImportStatusError,
    ImportTooLarge,
    ImportTooManyRedirects,
    ImportTypeUnsupported,
    ImportUnreachable,
    InvalidImportUrl,
    SitemapEmpty,
    SitemapMalformed,
)
from hushdesk.agents.knowledge.web_import.limits import MAX_PAGES_CAP, ImportLimits
from hushdesk.agents.knowledge.web_import.pages import FetchedPage, fetch_page, page_filename
from hushdesk.agents.knowledge.web_import.sitemaps import (
    PageImportFailed,
    ProgressCallback,
    fetch_sitemap_pages,
    sitemap_page_urls,
)
from hushdesk.agents.knowledge.web_import.urls import MAX_URL_LENGTH, check_import_url

__all__ = [
    "MAX_PAGES_CAP",
    "MAX_URL_LENGTH",
    "FetchedPage",
    "ImportEmpty",
    "ImportFailed",
    "ImportLimits",
    "ImportNotAllowed",
    "ImportStatusError",
    "ImportTooLarge",
    "ImportTooManyRedirects",
    "ImportTypeUnsupported",
    "ImportUnreachable",
    "InvalidImportUrl",
    "PageImportFailed",
    "ProgressCallback",
    "SitemapEmpty",
    "SitemapMalformed",
    "check_import_url",
    "fetch_page",
    "fetch_sitemap_pages",
    "page_filename",
    "sitemap_page_urls",
]
