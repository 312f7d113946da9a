"""RFC 4226 and RFC 6238 codes, checked against the RFCs' published test vectors."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from hushdesk.identity.totp import Algorithm, hotp_code, new_totp_secret, provisioning_uri, totp_code

SEED_SHA1 = b"12345678901234567890"
SEED_SHA256 = b"12345678901234567890123456789012"
SEED_SHA512 = b"1234567890123456789012345678901234567890123456789012345678901234"

# RFC 6238 Appendix B: (time, SHA1, SHA256, SHA512), 8 digits, 30-second steps.
RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]

# RFC 4226 Appendix D: counters 0..9, 6 digits, HMAC-SHA1 with the 20-byte seed.
RFC4226 = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]


@pytest.mark.parametrize(("at", "sha1", "sha256", "sha512"), RFC6238)
def test_totp_matches_rfc_6238_appendix_b(at: int, sha1: str, sha256: str, sha512: str) -> None:
    cases: list[tuple[bytes, Algorithm, str]] = [
        (SEED_SHA1, "sha1", sha1),
        (SEED_SHA256, "sha256", sha256),
        (SEED_SHA512, "sha512", sha512),
    ]
    for seed, algorithm, expected in cases:
        assert totp_code(seed, at=at, digits=8, algorithm=algorithm) == expected


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226)))
def test_hotp_matches_rfc_4226_appendix_d(counter: int, expected: str) -> None:
    assert hotp_code(SEED_SHA1, counter=counter) == expected


def test_six_digit_totp_is_the_last_six_of_the_eight_digit_one() -> None:
    assert totp_code(SEED_SHA1, at=59) == "287082"


def test_codes_change_at_the_step_boundary_only() -> None:
    assert totp_code(SEED_SHA1, at=30) == totp_code(SEED_SHA1, at=59)
    assert totp_code(SEED_SHA1, at=59) != totp_code(SEED_SHA1, at=60)


def test_new_secrets_are_20_random_bytes() -> None:
    first, second = new_totp_secret(), new_totp_secret()
    assert len(first) == 20
    assert first != second


def test_provisioning_uri_parses_back() -> None:
    secret = new_totp_secret()
    uri = provisioning_uri(secret, account="ada lovelace+x@example.com", issuer="Hush Desk")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert " " not in uri
    issuer, account = unquote(parts.path.removeprefix("/")).split(":")
    assert (issuer, account) == ("Hush Desk", "ada lovelace+x@example.com")
    query = {name: values[0] for name, values in parse_qs(parts.query, strict_parsing=True).items()}
    assert query == {
        "secret": base64.b32encode(secret).decode().rstrip("="),
        "issuer": "Hush Desk",
        "algorithm": "SHA1",
        "digits": "6",
        "period": "30",
    }
    assert base64.b32decode(query["secret"] + "=" * (-len(query["secret"]) % 8)) == secret


def test_a_colon_in_the_account_cannot_change_the_issuer() -> None:
    uri = provisioning_uri(new_totp_secret(), account="evil:Bank")
    label = urlsplit(uri).path.removeprefix("/")
    assert label.count(":") == 1
    assert unquote(label.split(":", 1)[1]) == "evil:Bank"


def test_digits_outside_6_to_10_are_refused() -> None:
    with pytest.raises(ValueError, match="digits"):
        totp_code(SEED_SHA1, at=59, digits=5)
