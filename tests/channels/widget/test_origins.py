"""Origins: parsed to their normal form, matched against an agent's allowed domains, and the
same list rendered as a frame-ancestors source list that can never say more than it lists."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hushdesk.channels.widget.origins import (
    OriginRefusedError,
    ParsedOrigin,
    frame_ancestors,
    match_origin,
    parse_origin,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://example.com", ParsedOrigin("https", "example.com", None, "https://example.com")),
        ("HTTPS://Example.COM", ParsedOrigin("https", "example.com", None, "https://example.com")),
        ("https://example.com:443", ParsedOrigin("https", "example.com", None, "https://example.com")),
        ("http://example.com:80", ParsedOrigin("http", "example.com", None, "http://example.com")),
        ("https://example.com:80", ParsedOrigin("https", "example.com", 80, "https://example.com:80")),
        ("http://localhost:8000", ParsedOrigin("http", "localhost", 8000, "http://localhost:8000")),
        (
            "https://a.b.example.com:8443",
            ParsedOrigin("https", "a.b.example.com", 8443, "https://a.b.example.com:8443"),
        ),
        ("https://example.com.", ParsedOrigin("https", "example.com.", None, "https://example.com.")),
        ("https://bücher.de", ParsedOrigin("https", "xn--bcher-kva.de", None, "https://xn--bcher-kva.de")),
        ("https://BÜCHER.de", ParsedOrigin("https", "xn--bcher-kva.de", None, "https://xn--bcher-kva.de")),
        (
            "https://xn--bcher-kva.de",
            ParsedOrigin("https", "xn--bcher-kva.de", None, "https://xn--bcher-kva.de"),
        ),
        (
            "https://my_shop.example.com",
            ParsedOrigin("https", "my_shop.example.com", None, "https://my_shop.example.com"),
        ),
        ("https://192.0.2.7:8080", ParsedOrigin("https", "192.0.2.7", 8080, "https://192.0.2.7:8080")),
        ("http://[::1]:3000", ParsedOrigin("http", "[::1]", 3000, "http://[::1]:3000")),
        ("https://[2001:DB8:0:0::1]", ParsedOrigin("https", "[2001:db8::1]", None, "https://[2001:db8::1]")),
    ],
)
def test_origins_parse_to_their_normal_form(value: str, expected: ParsedOrigin) -> None:
    assert parse_origin(value) == expected


def test_an_origin_of_255_characters_is_accepted() -> None:
    value = "https://" + ("a" * 63 + ".") * 3 + "a" * 55
    assert len(value) == 255
    assert parse_origin(value).serialized == value


def test_ip_literals_parse_as_such() -> None:
    assert parse_origin("https://192.0.2.7").is_ip_literal
    assert parse_origin("https://[::1]").is_ip_literal
    assert not parse_origin("https://example.com").is_ip_literal


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "null",
        "NULL",
        "https://example.com/",
        "https://example.com/path",
        "https://example.com?q=1",
        "https://example.com#top",
        "https://user@example.com",
        "https://user:pass@example.com",
        "https://example.com\\@evil.org",
        "https:\\\\example.com",
        "ftp://example.com",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,hi",
        "chrome-extension://abcdefghijklmnop",
        "ws://example.com",
        "example.com",
        "//example.com",
        "https:/example.com",
        "https://",
        "https://:443",
        "https://example.com:",
        "https://example.com:0",
        "https://example.com:65536",
        "https://example.com:123456",
        "https://example.com:-1",
        "https://example.com:+80",
        "https://example.com:8o",
        "https://example.com:٨٠",
        "https://example.com:80:80",
        "https://exa mple.com",
        " https://example.com",
        "https://example.com\n",
        "https://example.com\t",
        "https://exa\x00mple.com",
        "https://example..com",
        "https://.example.com",
        "https://example.com..",
        "https://-shop.example.com",
        "https://shop-.example.com",
        "https://exa$mple.com",
        "https://exa*mple.com",
        "https://*.example.com",
        "https://" + "a" * 64 + ".com",
        "https://[::1",
        "https://[::1]x",
        "https://[not-an-ip]",
        "https://[fe80::1%25eth0]",
        "https://999.1.1.1",
        "https://01.2.3.4",
        "https://1.2.3.4.",
        "https://2130706433",
        "https://0x7f.1",
        "https://example.123",
        "https://" + ("a" * 63 + ".") * 3 + "a" * 56,  # 256 characters
    ],
)
def test_malformed_or_unsupported_origins_are_refused(value: str | None) -> None:
    with pytest.raises(OriginRefusedError):
        parse_origin(value)


def test_refusals_do_not_carry_the_origin() -> None:
    with pytest.raises(OriginRefusedError) as caught:
        match_origin("https://evil.example.org", ["example.com"], allow_http=False)
    assert "evil" not in str(caught.value)
    assert caught.value.args == ("The page's origin is not allowed.",)


ALLOWED = ["example.com", "*.shop.example.org", "xn--bcher-kva.de", "localhost"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://example.com", "https://example.com"),
        ("https://example.com:8443", "https://example.com:8443"),
        ("https://EXAMPLE.com", "https://example.com"),
        ("https://example.com.", "https://example.com."),
        ("https://eu.shop.example.org", "https://eu.shop.example.org"),
        ("https://a.b.shop.example.org:444", "https://a.b.shop.example.org:444"),
        ("https://bücher.de", "https://xn--bcher-kva.de"),
        ("https://localhost:3000", "https://localhost:3000"),
    ],
)
def test_allowed_origins_match_and_come_back_serialized(value: str, expected: str) -> None:
    assert match_origin(value, ALLOWED, allow_http=False) == expected


@pytest.mark.parametrize(
    "value",
    [
        "https://www.example.com",  # an exact entry does not cover subdomains
        "https://shop.example.org",  # a wildcard does not cover the name itself
        "https://badshop.example.org",
        "https://evilshop.example.org",
        "https://eu-shop.example.org",
        "https://shop.example.org.evil.net",
        "https://example.com.evil.org",
        "https://badexample.com",
        "https://example.co",
        "https://example.org",
        "https://xn--bcher-kva.de.evil",
        "https://bucher.de",
        "http://example.com",
        "http://eu.shop.example.org",
        "https://127.0.0.1",
        "null",
        None,
        "",
        "garbage",
        "https://example.com/",
    ],
)
def test_other_origins_are_refused(value: str | None) -> None:
    with pytest.raises(OriginRefusedError):
        match_origin(value, ALLOWED, allow_http=False)


def test_the_wildcard_covers_every_depth_of_subdomain_but_not_the_apex() -> None:
    allowed = ["*.example.com"]
    assert match_origin("https://sub.example.com", allowed, allow_http=False) == "https://sub.example.com"
    assert match_origin("https://a.b.example.com", allowed, allow_http=False) == "https://a.b.example.com"
    for refused in ("https://example.com", "https://badexample.com", "https://example.com.evil.org"):
        with pytest.raises(OriginRefusedError):
            match_origin(refused, allowed, allow_http=False)


def test_http_is_allowed_only_in_development() -> None:
    with pytest.raises(OriginRefusedError):
        match_origin("http://localhost:8000", ["localhost"], allow_http=False)
    assert match_origin("http://localhost:8000", ["localhost"], allow_http=True) == "http://localhost:8000"
    assert match_origin("https://localhost", ["localhost"], allow_http=True) == "https://localhost"


def test_ip_literals_never_match_even_when_listed() -> None:
    for listed, value in [("127.0.0.1", "http://127.0.0.1:8000"), ("[::1]", "http://[::1]:8000")]:
        with pytest.raises(OriginRefusedError):
            match_origin(value, [listed], allow_http=True)


def test_an_empty_list_allows_nothing() -> None:
    with pytest.raises(OriginRefusedError):
        match_origin("https://example.com", [], allow_http=True)


@pytest.mark.parametrize(
    "entry",
    [
        "*",
        "*.com",
        "EXAMPLE.COM",
        "example.com.",
        ".example.com",
        "ex*ample.com",
        "*.*.example.com",
        "https://example.com",
        "example.com:443",
        "exämple.com",
    ],
)
def test_malformed_entries_never_match(entry: str) -> None:
    for value in ("https://example.com", "https://www.example.com", "https://a.com"):
        with pytest.raises(OriginRefusedError):
            match_origin(value, [entry], allow_http=True)


def test_later_entries_are_still_read_after_a_malformed_one() -> None:
    assert (
        match_origin("https://example.com", ["*", "bad entry", "example.com"], allow_http=False)
        == "https://example.com"
    )


@pytest.mark.parametrize(
    ("domains", "allow_http", "expected"),
    [
        ([], False, "'none'"),
        ([], True, "'none'"),
        (["example.com"], False, "https://example.com:*"),
        (["example.com"], True, "https://example.com:* http://example.com:*"),
        (
            ["example.com", "*.shop.example.org"],
            False,
            "https://example.com:* https://*.shop.example.org:*",
        ),
        (
            ["*.example.com", "example.com"],
            True,
            "https://*.example.com:* http://*.example.com:* https://example.com:* http://example.com:*",
        ),
        (["example.com", "example.com"], False, "https://example.com:*"),
        (["localhost"], True, "https://localhost:* http://localhost:*"),
        (["xn--bcher-kva.de"], False, "https://xn--bcher-kva.de:*"),
    ],
)
def test_frame_ancestors_lists_each_domain_on_any_port(
    domains: list[str], allow_http: bool, expected: str
) -> None:
    assert frame_ancestors(domains, allow_http=allow_http) == expected


@pytest.mark.parametrize(
    "entry",
    [
        "*",
        "*.com",
        "'self'",
        "example.com; script-src *",
        "example.com https://evil.org",
        "https://example.com",
        "example.com:443",
        "EXAMPLE.COM",
        "a.*.com",
        "**.example.com",
        "example..com",
        ".example.com",
        "example.com.",
        "-example.com",
        "127.0.0.1",
        "exämple.com",
        "",
    ],
)
def test_frame_ancestors_skips_anything_that_is_not_a_plain_domain(entry: str) -> None:
    assert frame_ancestors([entry], allow_http=True) == "'none'"
    assert frame_ancestors([entry, "example.com"], allow_http=False) == "https://example.com:*"


_SOURCE = re.compile(r"https?://(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*:\*")


@given(st.lists(st.text(max_size=40), max_size=6), st.booleans())
def test_frame_ancestors_never_emits_anything_but_host_sources(domains: list[str], allow_http: bool) -> None:
    policy = frame_ancestors(domains, allow_http=allow_http)
    if policy == "'none'":
        return
    for source in policy.split(" "):
        assert _SOURCE.fullmatch(source), source
        assert source != "https://*:*"


_origin_like = st.builds(
    lambda scheme, host, port: f"{scheme}://{host}" + ("" if port is None else f":{port}"),
    st.sampled_from(["http", "https", "HTTPS", "ftp", "http:"]),
    st.text(alphabet="abcAB.-_ü0123456789[]:*@/%", max_size=24),
    st.one_of(st.none(), st.integers(min_value=-1, max_value=70_000)),
)


@given(st.one_of(st.text(max_size=80), _origin_like))
def test_parsing_any_text_refuses_or_gives_a_fixed_point(value: str) -> None:
    try:
        parsed = parse_origin(value)
    except OriginRefusedError:
        return
    assert parse_origin(parsed.serialized) == parsed
    assert parsed.scheme in {"http", "https"}
    assert parsed.host == parsed.host.lower()
    assert parsed.host.isascii()


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_domain = st.lists(_label, min_size=1, max_size=3).map(".".join).map(lambda name: f"{name}.example")


@given(_domain, _label, st.integers(min_value=1, max_value=65535))
def test_wildcards_and_exact_entries_agree_with_their_definitions(domain: str, label: str, port: int) -> None:
    apex, sub = f"https://{domain}:{port}", f"https://{label}.{domain}:{port}"
    assert match_origin(apex, [domain], allow_http=False) == parse_origin(apex).serialized
    assert match_origin(sub, [f"*.{domain}"], allow_http=False) == parse_origin(sub).serialized
    with pytest.raises(OriginRefusedError):
        match_origin(apex, [f"*.{domain}"], allow_http=False)
    with pytest.raises(OriginRefusedError):
        match_origin(sub, [domain], allow_http=False)
    with pytest.raises(OriginRefusedError):
        match_origin(f"https://{label}{domain}:{port}", [domain, f"*.{domain}"], allow_http=False)
