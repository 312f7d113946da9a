"""URL import: one page or a sitemap's pages, through the product's outbound client.

Sites are played by ``httpx.MockTransport`` behind ``build_http_client``, so the client's own
guard (transaction check, scheme, credentials) runs on every hop; the SSRF address checks are
exercised with the real network client, which refuses before any socket is opened.
"""

from __future__ import annotations

import gzip
import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import create_engine, text

from hushdesk.agents.knowledge.web_import import (
    MAX_PAGES_CAP,
    FetchedPage,
    ImportEmpty,
    ImportFailed,
    ImportLimits,
    ImportNotAllowed,
    ImportStatusError,
    ImportTooLarge,
    ImportTooManyRedirects,
    ImportTypeUnsupported,
    ImportUnreachable,
    InvalidImportUrl,
    PageImportFailed,
    SitemapEmpty,
    SitemapMalformed,
    check_import_url,
    fetch_page,
    fetch_sitemap_pages,
    page_filename,
    sitemap_page_urls,
)
from hushdesk.infra.db.uow import TransactionOpenError, make_sessionmaker, unit_of_work
from hushdesk.infra.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from hushdesk.infra.http import IPAddress, OutboundPolicy, build_http_client, parse_networks
from tests.infra.outbound_servers import REDIRECT_BODY, local_server

HTML = "text/html; charset=utf-8"
XML = "application/xml"
NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
SECRET = b"body-secret-5d1e"

Answer = Callable[[httpx.Request], httpx.Response]


@dataclass
class Site:
    """Answers by full URL (query and fragment aside); anything unknown is a 404. Records
    every request it is sent, in order."""

    answers: dict[str, Answer] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def page(self, url: str, body: bytes, content_type: str | None = HTML, **headers: str) -> None:
        if content_type is not None:
            headers["Content-Type"] = content_type
        self.answers[url] = lambda request: httpx.Response(200, headers=headers, content=body)

    def sitemap(self, url: str, body: str, content_type: str = XML) -> None:
        self.page(url, body.encode(), content_type)

    def status(self, url: str, status: int) -> None:
        self.answers[url] = lambda request: httpx.Response(
            status, headers={"Content-Type": HTML}, content=SECRET
        )

    def redirect(self, url: str, location: str, status: int = 302) -> None:
        self.answers[url] = lambda request: httpx.Response(status, headers={"Location": location})

    def requested(self) -> list[str]:
        return [str(request.url) for request in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.get(str(request.url.copy_with(query=None)))
        return answer(request) if answer is not None else httpx.Response(404, content=SECRET)


@contextmanager
def client_for(handler: Answer, *, max_redirects: int = 3) -> Iterator[httpx.Client]:
    policy = OutboundPolicy(max_redirects=max_redirects)
    with build_http_client(policy, version="test", transport=httpx.MockTransport(handler)) as client:
        yield client


class FixedResolver:
    """Every name resolves to one address; no real DNS."""

    def __init__(self, address: str) -> None:
        self.address = ipaddress.ip_address(address)

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        return [self.address]


def urlset(*locations: str, namespace: str | None = NS) -> str:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    entries = "".join(f"<url><loc>{location}</loc></url>" for location in locations)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset{xmlns}>{entries}</urlset>'


def sitemap_index(*locations: str) -> str:
    entries = "".join(f"<sitemap><loc>{location}</loc></sitemap>" for location in locations)
    return f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="{NS}">{entries}</sitemapindex>'


class TrackedBody:
    """A streamed body that records how many chunks were taken from it."""

    def __init__(self, chunks: int, size: int = 64 * 1024) -> None:
        self.chunks = chunks
        self.size = size
        self.taken = 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.chunks):
            self.taken += 1
            yield b"x" * self.size


# --- checking addresses


def test_an_address_is_normalised_and_its_fragment_dropped() -> None:
    assert (
        check_import_url("  HTTPS://Docs.Example.COM/Guide?q=1#section ")
        == "https://docs.example.com/Guide?q=1"
    )


def test_an_international_host_is_idna_encoded() -> None:
    assert check_import_url("https://bücher.example/katalog") == "https://xn--bcher-kva.example/katalog"


def test_plain_http_is_allowed() -> None:
    assert check_import_url("http://example.com/") == "http://example.com/"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("javascript:alert(1)", "Only http and https"),
        ("ftp://example.com/file.txt", "Only http and https"),
        ("file:///etc/passwd", "Only http and https"),
        ("https://user:secret@example.com/", "user name or password"),
        ("https://user@example.com/", "user name or password"),
        ("/relative/path", "full web address"),
        ("example.com/page", "full web address"),
        ("//example.com/page", "full web address"),
        ("https:///no-host", "valid host"),
        ("https://exa mple.com/", "valid host"),
        ("https://a..b/", "valid host"),
        ("https://xn--/", "valid host"),
        ("https://\u2603.example/", "not a valid web address"),
        ("https://example.com:99999/", "port"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
        ("https://example.com/a\nb", "not a valid web address"),
        ("   ", "Enter the web address"),
    ],
)
def test_addresses_that_cannot_be_imported_are_refused_with_a_reason(url: str, says: str) -> None:
    with pytest.raises(InvalidImportUrl) as caught:
        check_import_url(url)
    assert isinstance(caught.value, ValidationFailed)
    assert caught.value.status == 422
    assert says in caught.value.public_message


def test_an_address_that_grows_past_the_limit_when_encoded_is_refused() -> None:
    url = "https://example.com/" + "é" * 1000  # 1020 characters, 6020 once percent-encoded
    with pytest.raises(InvalidImportUrl, match="longer than 2048"):
        check_import_url(url)


# --- fetch_page


def test_a_page_is_fetched_with_its_type_charset_and_a_file_name() -> None:
    site = Site()
    site.page("https://docs.example.com/guide/", b"<h1>Guide</h1>", 'Text/HTML; Charset="ISO-8859-1"')
    with client_for(site) as client:
        page = fetch_page(client, "https://docs.example.com/guide/#top")
    assert page == FetchedPage(
        url="https://docs.example.com/guide/",
        content=b"<h1>Guide</h1>",
        content_type="text/html",
        charset="iso-8859-1",
        filename="index.html",
    )
    assert site.requests[0].headers["user-agent"] == "Hushdesk/test"
    assert "text/html" in site.requests[0].headers["accept"]


def test_a_page_without_a_charset_reports_none() -> None:
    site = Site()
    site.page("https://example.com/faq.md", b"# FAQ", "text/markdown")
    with client_for(site) as client:
        page = fetch_page(client, "https://example.com/faq.md")
    assert (page.content_type, page.charset, page.filename) == ("text/markdown", None, "faq.md")


@pytest.mark.parametrize(
    ("url", "media_type", "filename"),
    [
        ("https://e.com/", "text/html", "index.html"),
        ("https://e.com/manuals/guide", "application/pdf", "guide.pdf"),
        ("https://e.com/faq.md", "text/markdown", "faq.md"),
        ("https://e.com/notes", "text/plain", "notes.txt"),
        ("https://e.com/prices.CSV", "text/csv", "prices.csv"),
        ("https://e.com/old.htm", "text/html", "old.html"),
        ("https://e.com/page.xhtml", "application/xhtml+xml", "page.html"),
        ("https://e.com/report.php", "text/html", "report.php.html"),
        ("https://e.com/..%2F..%2Fetc%2Fpasswd", "text/plain", "passwd.txt"),
        ("https://e.com/.hidden", "text/plain", "hidden.txt"),
        ("https://e.com/%E2%98%83%20snow", "text/html", "snow.html"),
        ("https://e.com/" + "n" * 300, "text/plain", "n" * 80 + ".txt"),
    ],
)
def test_the_file_name_is_safe_and_has_the_extension_of_the_media_type(
    url: str, media_type: str, filename: str
) -> None:
    assert page_filename(url, media_type) == filename


def test_a_redirect_is_followed_and_the_final_url_reported_without_reading_its_body() -> None:
    redirect_body = TrackedBody(chunks=3)
    site = Site()
    site.answers["https://example.com/old"] = lambda request: httpx.Response(
        301, headers={"Location": "https://www.example.com/new.txt"}, content=redirect_body
    )
    site.page("https://www.example.com/new.txt", b"moved here", "text/plain")
    with client_for(site) as client:
        page = fetch_page(client, "https://example.com/old")
    assert page.url == "https://www.example.com/new.txt"
    assert page.filename == "new.txt"
    assert site.requested() == ["https://example.com/old", "https://www.example.com/new.txt"]
    assert redirect_body.taken == 0


def test_redirects_are_bounded_by_the_client_policy() -> None:
    site = Site()
    for hop in range(5):
        site.redirect(f"https://example.com/{hop}", f"/{hop + 1}")
    with client_for(site, max_redirects=2) as client, pytest.raises(ImportTooManyRedirects):
        fetch_page(client, "https://example.com/0")
    assert len(site.requests) == 3


def test_cookies_are_neither_sent_nor_kept() -> None:
    site = Site()
    site.answers["https://example.com/login"] = lambda request: httpx.Response(
        302, headers={"Location": "/page", "Set-Cookie": "session=abc; Path=/"}
    )
    site.page("https://example.com/page", b"hello", HTML, **{"Set-Cookie": "tracker=1; Path=/"})
    with client_for(site) as client:
        fetch_page(client, "https://example.com/login")
        fetch_page(client, "https://example.com/page")
        assert not client.cookies
    assert all("cookie" not in request.headers for request in site.requests)
    assert len(site.requests) == 3


@pytest.mark.parametrize("content_type", ["image/png", "application/octet-stream", None])
def test_a_page_of_another_type_is_refused_unread(content_type: str | None) -> None:
    body = TrackedBody(chunks=2)

    def answer(request: httpx.Request) -> httpx.Response:
        headers = {} if content_type is None else {"Content-Type": content_type}
        return httpx.Response(200, headers=headers, content=body)

    with client_for(answer) as client, pytest.raises(ImportTypeUnsupported) as caught:
        fetch_page(client, "https://example.com/file")
    assert isinstance(caught.value, UnsupportedMediaType)
    assert caught.value.status == 415
    assert "HTML, plain text, Markdown, CSV or PDF" in caught.value.public_message
    assert body.taken == 0


def test_a_missing_content_type_is_named_as_missing() -> None:
    site = Site()
    site.page("https://example.com/x", b"data", content_type=None)
    with client_for(site) as client, pytest.raises(ImportTypeUnsupported, match="did not say"):
        fetch_page(client, "https://example.com/x")


def test_a_hostile_content_type_is_not_repeated() -> None:
    site = Site()
    site.page("https://example.com/x", b"data", "text/<script>alert(1)</script>")
    with client_for(site) as client, pytest.raises(ImportTypeUnsupported) as caught:
        fetch_page(client, "https://example.com/x")
    assert "<script>" not in caught.value.public_message


def test_a_page_declared_over_the_limit_is_refused_before_reading() -> None:
    body = TrackedBody(chunks=1)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": HTML, "Content-Length": "6000000"}, content=body)

    with client_for(answer) as client, pytest.raises(ImportTooLarge) as caught:
        fetch_page(client, "https://example.com/huge")
    assert isinstance(caught.value, PayloadTooLarge)
    assert caught.value.status == 413
    assert caught.value.public_message == "The page is larger than the 5 MiB import limit."
    assert body.taken == 0


def test_a_streamed_page_over_the_limit_stops_at_the_limit() -> None:
    body = TrackedBody(chunks=1000)  # 64 MiB if it were all read

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "text/plain"}, content=body)

    with client_for(answer) as client, pytest.raises(ImportTooLarge, match="256 KiB"):
        fetch_page(client, "https://example.com/endless", limits=ImportLimits(max_page_bytes=256 * 1024))
    assert body.taken == 5


def test_a_page_within_the_limit_exactly_is_accepted() -> None:
    site = Site()
    site.page("https://example.com/a.txt", b"y" * 1000, "text/plain")
    with client_for(site) as client:
        page = fetch_page(client, "https://example.com/a.txt", limits=ImportLimits(max_page_bytes=1000))
    assert len(page.content) == 1000


@pytest.mark.parametrize("status", [404, 403, 500, 503])
def test_an_error_status_is_reported_without_the_body(status: int) -> None:
    site = Site()
    site.status("https://example.com/missing", status)
    with client_for(site) as client, pytest.raises(ImportStatusError) as caught:
        fetch_page(client, "https://example.com/missing")
    assert caught.value.public_message == f"The site answered with status {status}."
    assert caught.value.data == {"status": status}
    assert SECRET.decode() not in str(caught.value)


def test_an_empty_page_is_refused() -> None:
    site = Site()
    site.page("https://example.com/blank", b"")
    with client_for(site) as client, pytest.raises(ImportEmpty, match="The page is empty"):
        fetch_page(client, "https://example.com/blank")


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (httpx.ReadTimeout("read timed out"), "did not answer in time"),
        (httpx.ConnectTimeout("connect timed out"), "did not answer in time"),
        (httpx.ConnectError("connection refused"), "could not be reached"),
        (httpx.RemoteProtocolError("garbage"), "could not be read"),
    ],
)
def test_network_failures_say_the_site_could_not_be_reached(error: Exception, says: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error

    with client_for(answer) as client, pytest.raises(ImportUnreachable) as caught:
        fetch_page(client, "https://example.com/")
    assert says in caught.value.public_message
    assert caught.value.__cause__ is error


def test_a_timeout_while_the_body_streams_is_a_timeout() -> None:
    def stalls() -> Iterator[bytes]:
        yield b"<p>start"
        raise httpx.ReadTimeout("read timed out")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": HTML}, content=stalls())

    with client_for(answer) as client, pytest.raises(ImportUnreachable, match="in time"):
        fetch_page(client, "https://example.com/")


def test_an_invalid_address_is_refused_before_any_request() -> None:
    site = Site()
    with client_for(site) as client, pytest.raises(InvalidImportUrl):
        fetch_page(client, "javascript:alert(document.cookie)")
    assert site.requests == []


# --- the SSRF guard, as the outbound client really applies it


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8080/admin",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://[::ffff:192.168.1.1]/",
    ],
)
def test_internal_addresses_are_not_allowed(url: str) -> None:
    with (
        build_http_client(OutboundPolicy(), version="test") as client,
        pytest.raises(ImportNotAllowed) as caught,
    ):
        fetch_page(client, url)
    assert caught.value.status == 422
    assert "private, internal" in caught.value.public_message


def test_a_name_that_resolves_to_a_private_address_is_not_allowed() -> None:
    with (
        build_http_client(OutboundPolicy(), version="test", resolver=FixedResolver("10.1.2.3")) as client,
        pytest.raises(ImportNotAllowed),
    ):
        fetch_page(client, "https://wiki.example.com/")


def test_a_sitemap_on_an_internal_address_is_not_allowed() -> None:
    with build_http_client(OutboundPolicy(), version="test") as client, pytest.raises(ImportNotAllowed):
        sitemap_page_urls(client, "http://169.254.169.254/sitemap.xml")


def test_a_redirect_to_the_metadata_service_is_not_allowed_even_from_an_allowed_host() -> None:
    # A real local server, allowed by the policy, redirects to the metadata address: the
    # guard refuses the second hop, and nothing of the redirect's body surfaces.
    policy = OutboundPolicy(allowed_networks=parse_networks(["127.0.0.1"]))
    with local_server() as port, build_http_client(policy, version="test") as client:
        url = f"http://127.0.0.1:{port}/redirect?to=http://169.254.169.254/latest/meta-data/"
        with pytest.raises(ImportNotAllowed) as caught:
            fetch_page(client, url)
    assert REDIRECT_BODY.decode() not in str(caught.value)


@pytest.mark.parametrize("location", ["https://admin:pw@example.com/", "ftp://example.com/file"])
def test_a_redirect_the_guard_refuses_is_not_allowed(location: str) -> None:
    site = Site()
    site.redirect("https://example.com/go", location)
    with client_for(site) as client, pytest.raises(ImportNotAllowed):
        fetch_page(client, "https://example.com/go")
    assert site.requested() == ["https://example.com/go"]


def test_no_page_is_fetched_inside_a_database_transaction() -> None:
    site = Site()
    site.page("https://example.com/", b"hello")
    engine = create_engine("sqlite://")
    try:
        with client_for(site) as client, unit_of_work(make_sessionmaker(engine)) as session:
            session.execute(text("SELECT 1"))
            with pytest.raises(TransactionOpenError):
                fetch_page(client, "https://example.com/")
    finally:
        engine.dispose()
    assert site.requests == []


# --- sitemaps


def test_a_urlset_lists_its_pages_in_order_normalised_and_without_duplicates() -> None:
    site = Site()
    body = urlset(
        "https://example.com/a",
        " https://example.com/b\n",
        "https://example.com/a#again",
        "HTTPS://EXAMPLE.COM/c?x=1&amp;y=2",
    )
    site.sitemap("https://example.com/sitemap.xml", body)
    with client_for(site) as client:
        urls = sitemap_page_urls(client, "https://example.com/sitemap.xml")
    assert urls == ["https://example.com/a", "https://example.com/b", "https://example.com/c?x=1&y=2"]
    assert "application/xml" in site.requests[0].headers["accept"]


def test_a_sitemap_without_the_namespace_is_read() -> None:
    site = Site()
    site.sitemap(
        "https://example.com/sitemap.xml", urlset("https://example.com/a", namespace=None), "text/xml"
    )
    with client_for(site) as client:
        assert sitemap_page_urls(client, "https://example.com/sitemap.xml") == ["https://example.com/a"]


def test_extension_locations_and_stray_locs_are_ignored() -> None:
    body = (
        f'<urlset xmlns="{NS}" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
        "<url><loc>https://example.com/page</loc>"
        "<image:image><image:loc>https://example.com/photo.jpg</image:loc></image:image></url>"
        "<note><loc>https://example.com/not-an-entry</loc></note>"
        "<url><lastmod>2024-01-01</lastmod></url><url><loc>   </loc></url>"
        "</urlset>"
    )
    site = Site()
    site.sitemap("https://example.com/sitemap.xml", body)
    with client_for(site) as client:
        assert sitemap_page_urls(client, "https://example.com/sitemap.xml") == ["https://example.com/page"]


def test_a_sitemap_index_is_followed_to_its_sitemaps_in_order() -> None:
    site = Site()
    site.sitemap(
        "https://example.com/sitemap.xml",
        sitemap_index("https://example.com/docs.xml", "https://example.com/blog.xml"),
    )
    site.sitemap(
        "https://example.com/docs.xml", urlset("https://example.com/docs/1", "https://example.com/docs/2")
    )
    site.sitemap(
        "https://example.com/blog.xml", urlset("https://example.com/blog/1", "https://example.com/docs/1")
    )
    with client_for(site) as client:
        urls = sitemap_page_urls(client, "https://example.com/sitemap.xml")
    assert urls == [
        "https://example.com/docs/1",
        "https://example.com/docs/2",
        "https://example.com/blog/1",
    ]
    assert site.requested() == [
        "https://example.com/sitemap.xml",
        "https://example.com/docs.xml",
        "https://example.com/blog.xml",
    ]


def _nested_three_levels(site: Site) -> None:
    site.sitemap("https://example.com/sitemap.xml", sitemap_index("https://example.com/middle.xml"))
    site.sitemap("https://example.com/middle.xml", sitemap_index("https://example.com/leaf.xml"))
    site.sitemap("https://example.com/leaf.xml", urlset("https://example.com/deep"))


def test_sitemaps_nested_past_the_depth_limit_are_not_fetched() -> None:
    site = Site()
    _nested_three_levels(site)
    with client_for(site) as client, pytest.raises(SitemapEmpty, match="deeper than 2 levels"):
        sitemap_page_urls(client, "https://example.com/sitemap.xml")
    assert "https://example.com/leaf.xml" not in site.requested()


def test_a_deeper_limit_reaches_deeper_sitemaps() -> None:
    site = Site()
    _nested_three_levels(site)
    with client_for(site) as client:
        urls = sitemap_page_urls(
            client, "https://example.com/sitemap.xml", limits=ImportLimits(max_sitemap_depth=3)
        )
    assert urls == ["https://example.com/deep"]


def test_an_index_that_lists_itself_is_read_once() -> None:
    site = Site()
    site.sitemap(
        "https://example.com/sitemap.xml",
        sitemap_index("https://example.com/sitemap.xml", "https://example.com/pages.xml"),
    )
    site.sitemap("https://example.com/pages.xml", urlset("https://example.com/p"))
    with client_for(site) as client:
        urls = sitemap_page_urls(
            client, "https://example.com/sitemap.xml", limits=ImportLimits(max_sitemap_depth=5)
        )
    assert urls == ["https://example.com/p"]
    assert site.requested().count("https://example.com/sitemap.xml") == 1


def test_the_page_limit_stops_collecting_and_fetching() -> None:
    site = Site()
    site.sitemap(
        "https://example.com/sitemap.xml",
        sitemap_index("https://example.com/one.xml", "https://example.com/two.xml"),
    )
    site.sitemap("https://example.com/one.xml", urlset(*(f"https://example.com/p{i}" for i in range(10))))
    site.sitemap("https://example.com/two.xml", urlset("https://example.com/never"))
    with client_for(site) as client:
        urls = sitemap_page_urls(client, "https://example.com/sitemap.xml", limits=ImportLimits(max_pages=3))
    assert urls == ["https://example.com/p0", "https://example.com/p1", "https://example.com/p2"]
    assert "https://example.com/two.xml" not in site.requested()


def test_the_number_of_sitemap_documents_is_bounded() -> None:
    site = Site()
    children = [f"https://example.com/empty{i}.xml" for i in range(6)]
    site.sitemap("https://example.com/sitemap.xml", sitemap_index(*children))
    for child in children:
        site.sitemap(child, urlset())
    with client_for(site) as client, pytest.raises(SitemapEmpty):
        sitemap_page_urls(
            client, "https://example.com/sitemap.xml", limits=ImportLimits(max_sitemap_documents=3)
        )
    assert len(site.requests) == 3


def test_pages_and_sitemaps_on_other_hosts_are_dropped() -> None:
    site = Site()
    site.sitemap(
        "https://example.com/sitemap.xml",
        sitemap_index("https://tracker.example.net/sitemap.xml", "https://www.example.com/pages.xml"),
    )
    site.sitemap(
        "https://www.example.com/pages.xml",
        urlset(
            "https://www.example.com/a",
            "http://example.com:8080/b",
            "https://evil.example.org/c",
            "https://sub.example.com/d",
            "https://example.com.evil.org/e",
            "javascript:alert(1)",
            "/relative",
        ),
    )
    with client_for(site) as client:
        urls = sitemap_page_urls(client, "https://example.com/sitemap.xml")
    assert urls == ["https://www.example.com/a", "http://example.com:8080/b"]
    assert all(request.url.host in {"example.com", "www.example.com"} for request in site.requests)


def test_a_sitemap_listing_only_other_hosts_is_empty() -> None:
    site = Site()
    site.sitemap("https://example.com/sitemap.xml", urlset("https://other.example.org/a"))
    with client_for(site) as client, pytest.raises(SitemapEmpty) as caught:
        sitemap_page_urls(client, "https://example.com/sitemap.xml")
    assert caught.value.public_message == "The sitemap lists no pages of this site that can be imported."


def test_an_empty_urlset_is_empty() -> None:
    site = Site()
    site.sitemap("https://example.com/sitemap.xml", urlset())
    with client_for(site) as client, pytest.raises(SitemapEmpty):
        sitemap_page_urls(client, "https://example.com/sitemap.xml")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&lol3;</loc></url></urlset>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<urlset><url><loc>https://example.com/&xxe;</loc></url></urlset>"""


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        '<!doctype urlset SYSTEM "http://example.com/x.dtd"><urlset/>',
        "<urlset><url><loc>https://example.com/</loc></url></urlset><! ENTITY x 'y'>",
    ],
)
def test_a_sitemap_declaring_a_doctype_or_entities_is_refused(body: str) -> None:
    site = Site()
    site.sitemap("https://example.com/sitemap.xml", body)
    with client_for(site) as client, pytest.raises(SitemapMalformed, match="DOCTYPE or entities"):
        sitemap_page_urls(client, "https://example.com/sitemap.xml")


def test_a_sitemap_not_in_utf8_is_refused() -> None:
    body = urlset("https://example.com/a").replace("UTF-8", "UTF-16").encode("utf-16")
    site = Site()
    site.page("https://example.com/sitemap.xml", body, XML)
    with client_for(site) as client, pytest.raises(SitemapMalformed, match="UTF-8"):
        sitemap_page_urls(client, "https://example.com/sitemap.xml")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("<urlset><url><loc>https://example.com/a</loc></url>", "well-formed"),
        ("<urlset><url><loc>https://example.com/a</url></loc></urlset>", "well-formed"),
        ("not xml at all", "well-formed"),
        ("<html><body>Sitemap</body></html>", "not a sitemap"),
        (
            '<urlset xmlns="http://example.com/other"><url><loc>https://example.com/</loc></url></urlset>',
            "not a sitemap",
        ),
    ],
)
def test_a_malformed_sitemap_is_refused(body: str, says: str) -> None:
    site = Site()
    site.sitemap("https://example.com/sitemap.xml", body)
    with client_for(site) as client, pytest.raises(SitemapMalformed, match=says):
        sitemap_page_urls(client, "https://example.com/sitemap.xml")


def test_a_sitemap_of_another_type_is_refused() -> None:
    site = Site()
    site.sitemap("https://example.com/sitemap.xml", urlset("https://example.com/a"), HTML)
    with client_for(site) as client, pytest.raises(ImportTypeUnsupported, match="XML sitemap"):
        sitemap_page_urls(client, "https://example.com/sitemap.xml")


def test_a_missing_sitemap_reports_its_status() -> None:
    with client_for(Site()) as client, pytest.raises(ImportStatusError, match="status 404"):
        sitemap_page_urls(client, "https://example.com/sitemap.xml")


def test_a_failing_nested_sitemap_is_skipped() -> None:
    site = Site()
    site.sitemap(
        "https://example.com/sitemap.xml",
        sitemap_index("https://example.com/gone.xml", "https://example.com/ok.xml"),
    )
    site.sitemap("https://example.com/ok.xml", urlset("https://example.com/a"))
    with client_for(site) as client:
        assert sitemap_page_urls(client, "https://example.com/sitemap.xml") == ["https://example.com/a"]


def test_an_index_whose_sitemaps_all_fail_says_why() -> None:
    site = Site()
    site.sitemap("https://example.com/sitemap.xml", sitemap_index("https://example.com/gone.xml"))
    with client_for(site) as client, pytest.raises(SitemapEmpty, match="status 404"):
        sitemap_page_urls(client, "https://example.com/sitemap.xml")


def test_a_gzip_sitemap_is_decompressed() -> None:
    site = Site()
    site.page(
        "https://example.com/sitemap.xml.gz",
        gzip.compress(urlset("https://example.com/a").encode()),
        "application/x-gzip",
    )
    with client_for(site) as client:
        assert sitemap_page_urls(client, "https://example.com/sitemap.xml.gz") == ["https://example.com/a"]


def test_a_gzip_sitemap_that_expands_past_the_limit_is_refused() -> None:
    bomb = gzip.compress(b"<" + b" " * (2 * 1024 * 1024))
    site = Site()
    site.page("https://example.com/sitemap.xml.gz", bomb, "application/gzip")
    limits = ImportLimits(max_sitemap_bytes=1024 * 1024)
    with (
        client_for(site) as client,
        pytest.raises(ImportTooLarge, match="1 MiB import limit once decompressed"),
    ):
        sitemap_page_urls(client, "https://example.com/sitemap.xml.gz", limits=limits)
    assert len(bomb) < 10_000


@pytest.mark.parametrize(
    ("body", "says"),
    [(gzip.compress(b"<urlset/>")[:-12], "cut short"), (b"not gzip at all", "could not be decompressed")],
)
def test_a_broken_gzip_sitemap_is_malformed(body: bytes, says: str) -> None:
    site = Site()
    site.page("https://example.com/sitemap.xml.gz", body, "application/gzip")
    with client_for(site) as client, pytest.raises(SitemapMalformed, match=says):
        sitemap_page_urls(client, "https://example.com/sitemap.xml.gz")


def test_a_sitemap_over_its_size_limit_is_refused() -> None:
    site = Site()
    site.sitemap("https://example.com/sitemap.xml", urlset(*(f"https://example.com/{i}" for i in range(100))))
    limits = ImportLimits(max_sitemap_bytes=1024)
    with (
        client_for(site) as client,
        pytest.raises(ImportTooLarge, match="The sitemap is larger than the 1 KiB"),
    ):
        sitemap_page_urls(client, "https://example.com/sitemap.xml", limits=limits)


# --- fetch_sitemap_pages


def _three_page_site(failing: int | None = None) -> Site:
    site = Site()
    pages = [f"https://example.com/p{i}" for i in range(3)]
    site.sitemap("https://example.com/sitemap.xml", urlset(*pages))
    for number, page in enumerate(pages):
        if number == failing:
            site.status(page, 500)
        else:
            site.page(page, f"page {number}".encode(), "text/plain")
    return site


def test_every_page_of_a_sitemap_is_fetched_with_progress() -> None:
    site = _three_page_site()
    progress: list[tuple[int, int, str]] = []
    with client_for(site) as client:
        results = list(
            fetch_sitemap_pages(
                client,
                "https://example.com/sitemap.xml",
                on_progress=lambda done, total, url: progress.append((done, total, url)),
            )
        )
    assert [r.content for r in results if isinstance(r, FetchedPage)] == [b"page 0", b"page 1", b"page 2"]
    assert progress == [(n + 1, 3, f"https://example.com/p{n}") for n in range(3)]


def test_one_failing_page_does_not_stop_the_rest() -> None:
    site = _three_page_site(failing=1)
    progress: list[int] = []
    with client_for(site) as client:
        results = list(
            fetch_sitemap_pages(
                client,
                "https://example.com/sitemap.xml",
                limits=ImportLimits(max_pages=10),
                on_progress=lambda done, total, url: progress.append(done),
            )
        )
    assert results[1] == PageImportFailed(
        url="https://example.com/p1",
        reason="The site answered with status 500.",
        code="import_remote_status",
    )
    assert [type(result) for result in results] == [FetchedPage, PageImportFailed, FetchedPage]
    assert progress == [1, 2, 3]


def test_the_sitemap_is_read_at_the_call_and_pages_while_iterating() -> None:
    site = _three_page_site()
    with client_for(site) as client:
        pages = fetch_sitemap_pages(client, "https://example.com/sitemap.xml")
        assert site.requested() == ["https://example.com/sitemap.xml"]
        first = next(pages)
        assert isinstance(first, FetchedPage)
        assert len(site.requests) == 2


def test_a_broken_sitemap_raises_at_the_call() -> None:
    site = Site()
    site.sitemap("https://example.com/sitemap.xml", BILLION_LAUGHS)
    with client_for(site) as client, pytest.raises(SitemapMalformed):
        fetch_sitemap_pages(client, "https://example.com/sitemap.xml")


def test_a_transaction_opened_during_the_import_is_not_swallowed() -> None:
    site = _three_page_site()
    engine = create_engine("sqlite://")
    try:
        with client_for(site) as client:
            pages = fetch_sitemap_pages(client, "https://example.com/sitemap.xml")
            with unit_of_work(make_sessionmaker(engine)) as session:
                session.execute(text("SELECT 1"))
                with pytest.raises(TransactionOpenError):
                    next(pages)
    finally:
        engine.dispose()
    assert site.requested() == ["https://example.com/sitemap.xml"]


# --- limits


@pytest.mark.parametrize(
    "bad",
    [
        {"max_pages": 0},
        {"max_pages": MAX_PAGES_CAP + 1},
        {"max_page_bytes": 0},
        {"max_sitemap_bytes": -1},
        {"max_sitemap_depth": 0},
        {"max_sitemap_documents": 0},
    ],
)
def test_limits_out_of_range_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ImportLimits(**bad)


def test_every_import_error_is_a_validation_failure_with_its_own_code() -> None:
    errors = [
        InvalidImportUrl(),
        ImportNotAllowed(),
        ImportTooLarge(),
        ImportTypeUnsupported(),
        ImportStatusError(),
        ImportUnreachable(),
        ImportTooManyRedirects(),
        ImportEmpty(),
        SitemapEmpty(),
        SitemapMalformed(),
    ]
    assert all(isinstance(error, ImportFailed) and isinstance(error, ValidationFailed) for error in errors)
    assert len({error.code for error in errors}) == len(errors)
