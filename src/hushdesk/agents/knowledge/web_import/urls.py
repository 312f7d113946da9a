"""Addresses that may be imported, and which hosts count as the same site.

These checks are about the shape of an address. Whether its host may be reached (private,
loopback and metadata addresses, and the operator's allowed networks) is the outbound
client's SSRF guard's decision, made after DNS on every connection, redirects included.
"""

from __future__ import annotations

import ipaddress
import re

import httpx

from hushdesk.agents.knowledge.web_import.errors import InvalidImportUrl

MAX_URL_LENGTH = 2048
_ALLOWED_SCHEMES = frozenset({"http", "https"})
# Host names after IDNA encoding: dot-separated labels of letters, digits, '-' and '_' (seen
# in real host names although not in the hostname grammar), with an optional final dot.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_MAX_HOST_LENGTH = 253


def check_import_url(url: str) -> str:
    """The normalised form of ``url``, or ``InvalidImportUrl`` (a ``ValidationFailed``).

    Accepted: an absolute ``http`` or ``https`` URL (https is preferred; http is allowed for
    sites that have nothing else) with a host, no user name or password, a port in range and
    at most ``MAX_URL_LENGTH`` characters before and after normalisation. The scheme and host
    are lowercased, an international host name is IDNA-encoded, unsafe path characters are
    percent-encoded and a fragment is dropped (it never reaches the server). Sends nothing.
    """
    text = url.strip()
    if not text:
        raise InvalidImportUrl("Enter the web address to import.")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidImportUrl(f"The address is longer than {MAX_URL_LENGTH} characters.")
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, UnicodeError) as exc:
        # idna's errors are UnicodeErrors; neither carries anything the caller did not send.
        raise InvalidImportUrl("The address is not a valid web address.") from exc
    _check_parts(parsed)
    normalised = str(parsed.copy_with(fragment=None))
    if len(normalised) > MAX_URL_LENGTH:
        raise InvalidImportUrl(f"The address is longer than {MAX_URL_LENGTH} characters.")
    return normalised


def _check_parts(parsed: httpx.URL) -> None:
    if not parsed.scheme:
        raise InvalidImportUrl("Enter a full web address starting with https://.")
    if parsed.scheme not in _ALLOWED_SCHEMES:
        raise InvalidImportUrl("Only http and https addresses can be imported.")
    if parsed.userinfo:
        raise InvalidImportUrl("The address must not contain a user name or password.")
    if not _valid_host(parsed.raw_host.decode("ascii")):
        raise InvalidImportUrl("The address has no valid host name.")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise InvalidImportUrl("The address has a port number out of range.")


def _valid_host(host: str) -> bool:
    if not host or len(host) > _MAX_HOST_LENGTH:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return all(_LABEL.fullmatch(label) for label in labels)
    return True


def same_site(url: str, site_host: str) -> bool:
    """Whether ``url`` (already checked) is on ``site_host`` or its ``www.``/bare twin.

    Ports and schemes are not compared: both are the same operator's.
    """
    return _bare(httpx.URL(url).raw_host.decode("ascii")) == _bare(site_host)


def site_host(url: str) -> str:
    """The host of a checked ``url``, lowercased and IDNA-encoded."""
    return httpx.URL(url).raw_host.decode("ascii")


def _bare(host: str) -> str:
    host = host.removesuffix(".")
    return host.removeprefix("www.")
