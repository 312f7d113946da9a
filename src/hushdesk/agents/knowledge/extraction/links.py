"""The absolute http(s) URLs a document links to: from hrefs and link syntax, and bare in text.

Only http and https with a host are kept (``javascript:``, ``data:``, ``mailto:`` and the like
never are), without their fragment, at most ``MAX_URL_CHARS`` long. Relative references are kept
only when a base URL resolves them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urldefrag, urljoin, urlsplit

MAX_URL_CHARS = 2048
_HTTP_SCHEMES = frozenset({"http", "https"})
_FORBIDDEN_IN_URL = re.compile(r"[\x00-\x20\x7f<>\"\\^`{|}]")
_BARE_URL = re.compile(r"\bhttps?://[^\s<>\"'`{}|\\^\[\]]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?*_~'\""


def absolute_http_url(href: str, base_url: str | None = None) -> str | None:
    """``href`` as an absolute http(s) URL without fragment, resolved against ``base_url`` when
    it is relative; None when it is not (or cannot be made) one."""
    href = href.strip()
    if not href or len(href) > MAX_URL_CHARS or _FORBIDDEN_IN_URL.search(href):
        return None
    base = _http_base(base_url)
    try:
        resolved = urljoin(base, href) if base is not None else href
        url = urldefrag(resolved).url
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    if parts.scheme.lower() not in _HTTP_SCHEMES or not parts.hostname or len(url) > MAX_URL_CHARS:
        return None
    return url


def _http_base(base_url: str | None) -> str | None:
    if base_url is None:
        return None
    parts = urlsplit(base_url.strip())
    if parts.scheme.lower() in _HTTP_SCHEMES and parts.netloc:
        return base_url.strip()
    return None


def bare_urls(text: str) -> Iterable[str]:
    """The http(s) URLs written out in ``text``, trailing punctuation and an unmatched closing
    parenthesis excluded."""
    for match in _BARE_URL.finditer(text):
        candidate = _trim(match.group(0))
        url = absolute_http_url(candidate)
        if url is not None:
            yield url


def _trim(candidate: str) -> str:
    opened, closed = candidate.count("("), candidate.count(")")
    end = len(candidate)
    while end:
        last = candidate[end - 1]
        if last == ")" and opened < closed:
            closed -= 1
        elif last not in _TRAILING_PUNCTUATION:
            break
        end -= 1
    return candidate[:end]
