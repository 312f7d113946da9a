"""The host page's origin against an agent's allowed domains, and the matching CSP.

An agent lists the host names its widget may run on: lower-case ASCII (IDNA) names, each
optionally starting with ``*.`` for "any subdomain, at any depth, but not the name itself".
The list names hosts, so any port of an allowed host is allowed. ``https`` is always
accepted; ``http`` only where the caller says so (development).

The same list, read by the same rules, yields the ``frame-ancestors`` source list of the
widget frame, so a page that may not start a session cannot frame the widget either.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_ORIGIN_CHARS = 255

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ORIGIN_SHAPE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#@\\]*)")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_ALLOWED_ENTRY_CHARS = re.compile(r"[a-z0-9.*-]+")
# What the WHATWG URL parser would read as an IPv4 address: a last label of digits or 0x-hex.
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")


class OriginRefusedError(Exception):
    """The origin is missing, malformed, or not one the agent allows (deliberately not saying
    which). It never carries the origin itself."""

    def __init__(self) -> None:
        super().__init__("The page's origin is not allowed.")


@dataclass(frozen=True, slots=True)
class ParsedOrigin:
    """An origin in normal form: ``scheme`` is ``http`` or ``https``; ``host`` is lower-case
    ASCII (IDNA), a dotted IPv4 address or a bracketed IPv6 address; ``port`` is ``None`` for
    the scheme's default; ``serialized`` is ``scheme://host[:port]``, as a browser sends it."""

    scheme: str
    host: str
    port: int | None
    serialized: str

    @property
    def is_ip_literal(self) -> bool:
        return self.host.startswith("[") or _IPV4.fullmatch(self.host) is not None


def parse_origin(value: str | None) -> ParsedOrigin:
    """Parse an ``Origin`` header value. Raises ``OriginRefusedError`` for a missing, empty or
    ``null`` value, one over 255 characters, a scheme other than http(s), userinfo, a path,
    query or fragment, an invalid port or host. Unicode host names are converted to IDNA;
    one trailing dot is kept (it is part of the browser's origin) but ignored by matching."""
    parsed = _parse(value)
    if parsed is None:
        raise OriginRefusedError
    return parsed


def match_origin(value: str | None, allowed_domains: Sequence[str], *, allow_http: bool) -> str:
    """The serialized origin if it is an https (or, with ``allow_http``, http) origin on one
    of ``allowed_domains`` (any port). Raises ``OriginRefusedError`` otherwise. IP literals
    never match; malformed entries of the list are skipped, as ``frame_ancestors`` skips them."""
    parsed = _parse(value)
    if parsed is None or parsed.is_ip_literal:
        raise OriginRefusedError
    if parsed.scheme != "https" and not (allow_http and parsed.scheme == "http"):
        raise OriginRefusedError
    host = parsed.host.removesuffix(".")
    for entry in _usable_entries(allowed_domains):
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and len(host) > len(entry) - 1:
                return parsed.serialized
        elif host == entry:
            return parsed.serialized
    raise OriginRefusedError


def frame_ancestors(allowed_domains: Sequence[str], *, allow_http: bool) -> str:
    """The CSP ``frame-ancestors`` source list for ``allowed_domains``: ``'none'`` when no entry
    is usable, else ``https://<entry>:*`` for each (and ``http://<entry>:*`` with
    ``allow_http``), in list order without repeats. Entries with any character outside
    ``[a-z0-9.*-]``, or that are not a host name optionally prefixed by ``*.``, are skipped."""
    schemes = ("https", "http") if allow_http else ("https",)
    sources = [f"{scheme}://{entry}:*" for entry in _usable_entries(allowed_domains) for scheme in schemes]
    return " ".join(sources) if sources else "'none'"


def _usable_entries(allowed_domains: Sequence[str]) -> list[str]:
    # The caller validated the list; this re-check is defence in depth, because an entry such
    # as "*" or "a.com https://evil" would otherwise widen the CSP to anyone.
    usable: list[str] = []
    for entry in allowed_domains:
        if isinstance(entry, str) and _is_usable_entry(entry) and entry not in usable:
            usable.append(entry)
    return usable


def _is_usable_entry(entry: str) -> bool:
    if _ALLOWED_ENTRY_CHARS.fullmatch(entry) is None or len(entry) > 253:
        return False
    wildcard = entry.startswith("*.")
    labels = entry.removeprefix("*.").split(".")
    if wildcard and len(labels) < 2:  # "*.com" would let any .com site in
        return False
    if _NUMERIC_LABEL.fullmatch(labels[-1]):  # an IP address, or what a browser reads as one
        return False
    return all(_DOMAIN_LABEL.fullmatch(label) for label in labels)


def _parse(value: object) -> ParsedOrigin | None:
    if not isinstance(value, str) or not value or value == "null" or len(value) > MAX_ORIGIN_CHARS:
        return None
    if any(char.isspace() or not char.isprintable() for char in value):
        return None
    shape = _ORIGIN_SHAPE.fullmatch(value)
    if shape is None:
        return None
    scheme = shape["scheme"].lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    split = _split_port(shape["authority"])
    if split is None:
        return None
    host_part, port = split
    host = _normal_host(host_part)
    if host is None:
        return None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    serialized = f"{scheme}://{host}" if port is None else f"{scheme}://{host}:{port}"
    return ParsedOrigin(scheme=scheme, host=host, port=port, serialized=serialized)


def _split_port(authority: str) -> tuple[str, int | None] | None:
    """``(host, port)`` with ``None`` for an absent port; ``None`` if the port is invalid."""
    if authority.startswith("["):
        host, bracket, rest = authority.partition("]")
        host += bracket
    else:
        host, colon, rest = authority.partition(":")
        rest = colon + rest
    if not rest:
        return host, None
    digits = rest.removeprefix(":")
    if not rest.startswith(":") or not digits.isascii() or not digits.isdigit() or len(digits) > 5:
        return None
    port = int(digits)
    return (host, port) if 1 <= port <= 65535 else None


def _normal_host(host: str) -> str | None:
    if host.startswith("["):
        # A zone id ("%eth0") names an interface of the visitor's machine: never an origin.
        if not host.endswith("]") or "%" in host:
            return None
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            return None
    if _IPV4.fullmatch(host):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    host = host.lower()
    labels = host.removesuffix(".").split(".")
    if len(host) > 254 or _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return host
