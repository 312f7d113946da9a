"""One bounded GET through the product's outbound client, with its failures in public words.

Redirects are followed here, one hop at a time, rather than by httpx: httpx reads the whole
body of every redirect response it follows, with no limit, while here each redirect response
is closed unread. Each hop still goes through the client's guard (transaction check, scheme,
credentials, and the SSRF guard after DNS), and the number of hops is the client's own
``max_redirects``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from hushdesk.agents.knowledge.web_import.errors import (
    ImportEmpty,
    ImportNotAllowed,
    ImportStatusError,
    ImportTooLarge,
    ImportTooManyRedirects,
    ImportTypeUnsupported,
    ImportUnreachable,
)
from hushdesk.agents.knowledge.web_import.limits import describe_size
from hushdesk.infra.http import OutboundBlockedError, ResponseTooLargeError, read_limited

# Only a well-formed media type or charset name from a site's header is repeated in a message
# or handed on; anything else is the site's free text.
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
_CHARSET = re.compile(r"[a-z0-9][a-z0-9._:-]{0,39}")


@dataclass(frozen=True, slots=True)
class Expected:
    """What a download is for: ``noun`` names it in messages ("page", "sitemap"),
    ``media_types`` are accepted, ``described`` lists them for a person."""

    noun: str
    media_types: frozenset[str]
    described: str

    @property
    def accept(self) -> str:
        return ", ".join(sorted(self.media_types))


@dataclass(frozen=True, slots=True)
class Download:
    """A successful download: the final ``url`` after redirects, the lowercased ``media_type``
    without parameters, the declared ``charset`` (lowercased) if any, and the decoded body."""

    url: str
    media_type: str
    charset: str | None
    body: bytes


def download(client: httpx.Client, url: str, *, expected: Expected, max_bytes: int) -> Download:
    """GET ``url`` (already checked) with ``client`` and return its body, at most ``max_bytes``.

    Raises ``ImportNotAllowed`` (the guard refused this URL or a redirect), ``ImportTooLarge``
    (declared or received length over ``max_bytes``; the rest is never read),
    ``ImportStatusError`` (a final status other than 2xx), ``ImportTypeUnsupported`` (a
    missing Content-Type or one outside ``expected``), ``ImportEmpty``,
    ``ImportTooManyRedirects`` and ``ImportUnreachable`` (timeouts, network and protocol
    failures). ``TransactionOpenError`` passes through: call this outside a unit of work.
    Cookies are neither sent nor kept: the client's cookie jar is emptied after every hop.
    """
    with _translated(expected, max_bytes):
        response = _send_following_redirects(client, url, accept=expected.accept)
        try:
            _check_status(response)
            media_type, charset = parse_content_type(response.headers.get("content-type"))
            _check_media_type(media_type, expected)
            body = read_limited(response, max_bytes=max_bytes)
        finally:
            response.close()
    if not body:
        raise ImportEmpty(f"The {expected.noun} is empty.")
    return Download(url=str(response.url), media_type=media_type, charset=charset, body=body)


def parse_content_type(value: str | None) -> tuple[str, str | None]:
    """``(media type, charset)`` from a Content-Type header, both lowercased; ``("", None)``
    when there is none. A charset that is not a plain name is dropped."""
    if not value:
        return "", None
    media_type, _, parameters = value.partition(";")
    charset: str | None = None
    for parameter in parameters.split(";"):
        name, _, raw = parameter.partition("=")
        if name.strip().lower() == "charset":
            candidate = raw.strip().strip('"').strip().lower()
            charset = candidate if _CHARSET.fullmatch(candidate) else None
    return media_type.strip().lower(), charset


def _send_following_redirects(client: httpx.Client, url: str, *, accept: str) -> httpx.Response:
    request = client.build_request("GET", url, headers={"Accept": accept})
    followed = 0
    while True:
        request.headers.pop("Cookie", None)
        response = client.send(request, stream=True, follow_redirects=False)
        client.cookies.clear()
        next_request = response.next_request
        if next_request is None:
            return response
        response.close()
        if followed >= client.max_redirects:
            raise ImportTooManyRedirects(f"The site redirected more than {client.max_redirects} times.")
        followed += 1
        request = next_request


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if not 200 <= status < 300:
        raise ImportStatusError(f"The site answered with status {status}.", status=status)


def _check_media_type(media_type: str, expected: Expected) -> None:
    if media_type in expected.media_types:
        return
    if not media_type:
        message = f"The site did not say what kind of document the {expected.noun} is."
    elif _MEDIA_TYPE.fullmatch(media_type):
        message = f"The {expected.noun} is of type {media_type}, which cannot be imported."
    else:
        message = f"The {expected.noun} has a content type that cannot be imported."
    raise ImportTypeUnsupported(f"{message} Accepted: {expected.described}.")


@contextmanager
def _translated(expected: Expected, max_bytes: int) -> Iterator[None]:
    """Map the client's errors to public ones; the originals stay chained as the cause."""
    try:
        yield
    except OutboundBlockedError as exc:
        raise ImportNotAllowed() from exc
    except ResponseTooLargeError as exc:
        limit = describe_size(max_bytes)
        raise ImportTooLarge(
            f"The {expected.noun} is larger than the {limit} import limit.", max_bytes=max_bytes
        ) from exc
    except httpx.TimeoutException as exc:
        raise ImportUnreachable("The site did not answer in time.") from exc
    except (httpx.DecodingError, httpx.ProtocolError) as exc:
        raise ImportUnreachable("The site sent an answer that could not be read.") from exc
    except httpx.TransportError as exc:
        raise ImportUnreachable("The site could not be reached.") from exc
