"""Identity tokens: an HS256 JWT from the business's server verifies; any other algorithm,
any change, another secret, or a token that is stale or would live too long does not."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hushdesk.channels.widget import identity
from hushdesk.channels.widget.identity import (
    LEEWAY,
    MAX_IDENTITY_TOKEN_CHARS,
    MAX_LIFETIME,
    InvalidIdentityTokenError,
    VerifiedIdentity,
    generate_identity_secret,
    sign_identity_token,
    verify_identity_token,
)

SECRET = "hd_is_0nGqkq2ZrJm3fV9t8x7w6v5u4t3s2r1q0p9o8n7m6l5"
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
T = int(NOW.timestamp())
HS256 = {"alg": "HS256", "typ": "JWT"}
_ABSENT = object()  # a claim left out of the token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _part(value: dict[str, Any] | list[Any] | bytes) -> str:
    return _b64(value if isinstance(value, bytes) else json.dumps(value).encode())


def _jwt(
    claims: dict[str, Any] | list[Any] | bytes,
    *,
    header: dict[str, Any] | list[Any] | bytes = HS256,
    secret: str = SECRET,
    digest: str = "sha256",
) -> str:
    """A compact JWS built by hand, the way any JWT library would build it."""
    signing_input = f"{_part(header)}.{_part(claims)}"
    mac = hmac.new(secret.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{_b64(mac)}"


def _claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": "user-42", "iat": T, "exp": T + 600}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not _ABSENT}


def _verify(token: str, *, secret: str = SECRET, now: dt.datetime = NOW) -> VerifiedIdentity:
    return verify_identity_token(token, secret=secret, now=now)


def _refused(token: str, *, secret: str = SECRET, now: dt.datetime = NOW) -> None:
    with pytest.raises(InvalidIdentityTokenError):
        _verify(token, secret=secret, now=now)


def test_a_signed_token_verifies_with_its_identity() -> None:
    token = sign_identity_token(
        secret=SECRET, user_id="user-42", now=NOW, name="Thandi", email="t@example.co.za"
    )
    assert _verify(token) == VerifiedIdentity(
        user_id="user-42",
        name="Thandi",
        email="t@example.co.za",
        expires_at=NOW + dt.timedelta(minutes=10),
    )


def test_signing_writes_a_standard_hs256_jwt() -> None:
    token = sign_identity_token(secret=SECRET, user_id="u", now=NOW, lifetime=dt.timedelta(minutes=5))
    header, claims, mac = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(base64.urlsafe_b64decode(claims + "==")) == {"sub": "u", "iat": T, "exp": T + 300}
    expected = hmac.new(SECRET.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(mac + "=") == expected


def test_a_token_built_by_another_library_verifies() -> None:
    token = _jwt({"sub": "42", "exp": T + 120.5, "nbf": T - 5, "name": "Ana Lúcia"}, header={"alg": "HS256"})
    assert _verify(token) == VerifiedIdentity(
        user_id="42",
        name="Ana Lúcia",
        email=None,
        expires_at=dt.datetime.fromtimestamp(T + 120.5, tz=dt.UTC),
    )


def test_unknown_header_members_such_as_kid_are_ignored() -> None:
    assert _verify(_jwt(_claims(), header={**HS256, "kid": "2025-03"})).user_id == "user-42"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"alg": "none"}, id="none"),
        pytest.param({"alg": "None", "typ": "JWT"}, id="None"),
        pytest.param({"alg": "HS512"}, id="HS512"),
        pytest.param({"alg": "HS384"}, id="HS384"),
        pytest.param({"alg": "RS256"}, id="RS256 (key confusion)"),
        pytest.param({"alg": "ES256"}, id="ES256"),
        pytest.param({"alg": "hs256"}, id="lower-case"),
        pytest.param({"alg": ["HS256"]}, id="alg array"),
        pytest.param({"alg": None}, id="alg null"),
        pytest.param({"typ": "JWT"}, id="alg missing"),
        pytest.param({"alg": "HS256", "typ": "at+jwt"}, id="another typ"),
        pytest.param({"alg": "HS256", "typ": None}, id="typ null"),
        pytest.param({"alg": "HS256", "crit": ["exp"]}, id="crit"),
        pytest.param({"alg": "HS256", "b64": False, "crit": ["b64"]}, id="unencoded payload"),
        pytest.param(["HS256"], id="header not an object"),
        pytest.param(b'{"alg":"none","alg":"HS256"}', id="repeated alg"),
        pytest.param(b"", id="empty header"),
        pytest.param(b"\xff", id="header not utf-8"),
    ],
)
def test_headers_other_than_hs256_are_refused_even_with_a_valid_mac(
    header: dict[str, Any] | list[Any] | bytes,
) -> None:
    _refused(_jwt(_claims(), header=header))


def test_an_unsigned_alg_none_token_is_refused() -> None:
    _refused(f"{_part({'alg': 'none'})}.{_part(_claims())}.")


def test_an_hs512_token_under_the_right_secret_is_refused() -> None:
    _refused(_jwt(_claims(), header={"alg": "HS512", "typ": "JWT"}, digest="sha512"))
    _refused(_jwt(_claims(), header=HS256, digest="sha512"))


def test_a_tampered_payload_is_refused() -> None:
    header, _, mac = _jwt(_claims()).split(".")
    _refused(f"{header}.{_part(_claims(sub='admin'))}.{mac}")


def test_a_tampered_header_is_refused() -> None:
    _, claims, mac = _jwt(_claims()).split(".")
    _refused(f"{_part({'alg': 'HS256'})}.{claims}.{mac}")


def test_another_secret_is_refused() -> None:
    _refused(_jwt(_claims()), secret=SECRET + "x")
    _refused(_jwt(_claims(), secret=generate_identity_secret()))


def test_expiry_is_allowed_the_leeway_and_no_more() -> None:
    leeway = int(LEEWAY.total_seconds())
    assert _verify(_jwt(_claims(iat=T - 60, exp=T - leeway + 1))).user_id == "user-42"
    _refused(_jwt(_claims(iat=T - 60, exp=T - leeway)))
    _refused(_jwt(_claims(iat=T - 600, exp=T - 300)))


def test_a_far_future_expiry_is_refused_with_or_without_iat() -> None:
    ceiling = T + int((MAX_LIFETIME + LEEWAY).total_seconds())
    assert _verify(_jwt(_claims(iat=_ABSENT, exp=ceiling))).expires_at.timestamp() == ceiling
    _refused(_jwt(_claims(iat=_ABSENT, exp=ceiling + 1)))
    _refused(_jwt(_claims(iat=_ABSENT, exp=T + 86_400 * 365)))
    _refused(_jwt(_claims(iat=T, exp=T + 86_400)))


def test_a_lifetime_over_an_hour_is_refused_even_while_current() -> None:
    hour = int(MAX_LIFETIME.total_seconds())
    assert _verify(_jwt(_claims(iat=T - 3000, exp=T - 3000 + hour))).user_id == "user-42"
    _refused(_jwt(_claims(iat=T - 3000, exp=T - 3000 + hour + 1)))
    _refused(_jwt(_claims(iat=T - 7200, exp=T + 60)))


def test_not_before_is_allowed_the_leeway_and_no_more() -> None:
    leeway = int(LEEWAY.total_seconds())
    assert _verify(_jwt(_claims(nbf=T + leeway))).user_id == "user-42"
    _refused(_jwt(_claims(nbf=T + leeway + 1)))


def test_an_issue_time_in_the_future_is_refused() -> None:
    leeway = int(LEEWAY.total_seconds())
    assert _verify(_jwt(_claims(iat=T + leeway, exp=T + 600))).user_id == "user-42"
    _refused(_jwt(_claims(iat=T + leeway + 1, exp=T + 600)))


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(_claims(sub=_ABSENT), id="sub missing"),
        pytest.param(_claims(sub=42), id="sub integer"),
        pytest.param(_claims(sub=None), id="sub null"),
        pytest.param(_claims(sub=True), id="sub boolean"),
        pytest.param(_claims(sub=["u"]), id="sub array"),
        pytest.param(_claims(sub={"id": "u"}), id="sub object"),
        pytest.param(_claims(sub=""), id="sub empty"),
        pytest.param(_claims(sub="u" * 257), id="sub too long"),
        pytest.param(_claims(sub="user\n42"), id="sub with newline"),
        pytest.param(_claims(sub="user\x00"), id="sub with NUL"),
        pytest.param(_claims(sub="admin\u202e"), id="sub with bidi override"),
        pytest.param(_claims(sub="\ud800"), id="sub with lone surrogate"),
        pytest.param(_claims(exp=_ABSENT), id="exp missing"),
        pytest.param(_claims(exp=str(T + 600)), id="exp string"),
        pytest.param(_claims(exp=True), id="exp boolean"),
        pytest.param(_claims(exp=None), id="exp null"),
        pytest.param(_claims(exp=10**400), id="exp beyond any float"),
        pytest.param(_claims(iat="now"), id="iat string"),
        pytest.param(_claims(iat=None), id="iat null"),
        pytest.param(_claims(nbf=False), id="nbf boolean"),
        pytest.param(_claims(nbf=[T]), id="nbf array"),
    ],
)
def test_bad_claims_are_refused(claims: dict[str, Any]) -> None:
    _refused(_jwt(claims))


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(json.dumps(_claims()).replace(str(T + 600), "1e999").encode(), id="exp infinite"),
        pytest.param(json.dumps(_claims()).replace(str(T + 600), "NaN").encode(), id="exp NaN"),
        pytest.param(
            json.dumps(_claims()).replace('"sub"', '"sub": "admin", "sub"').encode(), id="repeated sub"
        ),
        pytest.param(b'["user-42"]', id="claims array"),
        pytest.param(b"", id="claims empty"),
        pytest.param("\ufeff".encode() + json.dumps(_claims()).encode(), id="byte order mark"),
        pytest.param(json.dumps(_claims()).encode("utf-16"), id="utf-16"),
    ],
)
def test_claims_that_are_not_one_clean_json_object_are_refused(raw: bytes) -> None:
    _refused(_jwt(raw))


def test_edge_values_of_sub_are_accepted() -> None:
    assert _verify(_jwt(_claims(sub="u" * 256))).user_id == "u" * 256
    assert _verify(_jwt(_claims(sub="José 🙂"))).user_id == "José 🙂"


@pytest.mark.parametrize(
    ("name", "email"),
    [
        ("n" * 121, "e" * 255),
        (7, ["a@b.c"]),
        ("", ""),
        ("Eve\x1b[31m", "a@b.c\r\nBcc: x"),
        (None, None),
    ],
)
def test_unusable_name_and_email_are_ignored(name: object, email: object) -> None:
    verified = _verify(_jwt(_claims(name=name, email=email)))
    assert (verified.user_id, verified.name, verified.email) == ("user-42", None, None)


def test_name_and_email_at_their_limits_are_kept() -> None:
    verified = _verify(_jwt(_claims(name="n" * 120, email="e" * 254)))
    assert (verified.name, verified.email) == ("n" * 120, "e" * 254)


def test_a_giant_token_is_refused_even_when_well_signed() -> None:
    token = _jwt(_claims(padding="x" * 4000))
    assert len(token) > MAX_IDENTITY_TOKEN_CHARS
    _refused(token)
    assert _verify(_jwt(_claims(padding="x" * 2000))).user_id == "user-42"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("a.b", id="two parts"),
        pytest.param(_jwt(_claims()) + ".x", id="four parts"),
        pytest.param(_jwt(_claims()) + ".x.y", id="five parts (JWE)"),
        pytest.param(_jwt(_claims()) + "=", id="padded signature"),
        pytest.param(_jwt(_claims()).replace(".", "=.", 1), id="padded header"),
        pytest.param(_jwt(_claims())[:-1] + "+", id="standard alphabet"),
        pytest.param(_jwt(_claims())[:-2], id="truncated signature"),
        pytest.param(_jwt(_claims()) + "AAAA", id="long signature"),
        pytest.param(" " + _jwt(_claims()), id="leading space"),
        pytest.param("Bearer " + _jwt(_claims()), id="scheme prefix"),
        pytest.param(_jwt(_claims())[:-1] + "é", id="non-ascii"),
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    _refused(token)


def test_the_header_is_not_parsed_before_the_mac_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_parse(data: bytes) -> dict[str, Any]:
        raise AssertionError("parsed before the MAC was checked")

    monkeypatch.setattr(identity, "load_json_object", must_not_parse)
    _refused(_jwt(_claims(), secret="another secret"))


VALID = _jwt(_claims())


@given(st.integers(min_value=0, max_value=len(VALID) * 8 - 1))
def test_any_bit_flip_in_the_token_text_is_refused(bit: int) -> None:
    raw = bytearray(VALID.encode())
    raw[bit // 8] ^= 1 << (bit % 8)
    _refused(raw.decode("latin-1"))


@given(st.data())
def test_any_byte_flip_in_a_decoded_part_is_refused(data: st.DataObject) -> None:
    parts = [base64.urlsafe_b64decode(part + "==") for part in VALID.split(".")]
    which = data.draw(st.integers(min_value=0, max_value=2))
    position = data.draw(st.integers(min_value=0, max_value=len(parts[which]) - 1))
    mask = data.draw(st.integers(min_value=1, max_value=255))
    flipped = bytearray(parts[which])
    flipped[position] ^= mask
    parts[which] = bytes(flipped)
    _refused(".".join(_b64(part) for part in parts))


@given(st.text(max_size=200))
def test_random_text_is_refused(text: str) -> None:
    _refused(text)


def test_every_failure_is_the_same_error_carrying_nothing() -> None:
    failures = [
        "nonsense",
        _jwt(_claims(), secret="wrong"),
        _jwt(_claims(), header={"alg": "none"}),
        _jwt(_claims(exp=T - 3600, iat=T - 3700)),
        _jwt(b"{not json"),
        _jwt(_claims(exp=10**400)),
    ]
    for token in failures:
        with pytest.raises(InvalidIdentityTokenError) as caught:
            _verify(token)
        assert caught.value.args == ("The identity token is not valid.",)
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None
        assert SECRET not in repr(caught.value)


def test_generated_secrets_are_prefixed_random_and_url_safe() -> None:
    secrets = {generate_identity_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("hd_is_")
        body = secret.removeprefix("hd_is_")
        assert len(body) == 43
        assert len(base64.urlsafe_b64decode(body + "=")) == 32
        assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_the_secret_is_used_as_its_utf8_bytes() -> None:
    secret = "clé secrète"
    token = _jwt(_claims(), secret=secret)
    assert _verify(token, secret=secret).user_id == "user-42"


@pytest.mark.parametrize(
    "arguments",
    [
        {"lifetime": dt.timedelta(0)},
        {"lifetime": dt.timedelta(seconds=-5)},
        {"lifetime": MAX_LIFETIME + dt.timedelta(seconds=1)},
        {"user_id": ""},
        {"user_id": "a\nb"},
        {"user_id": "u" * 257},
        {"name": "n" * 121},
        {"name": ""},
        {"email": "e" * 255},
        {"now": NOW.replace(tzinfo=None)},
        {"secret": ""},
    ],
)
def test_signing_refuses_what_verification_would(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        sign_identity_token(**{"secret": SECRET, "user_id": "u", "now": NOW, **arguments})


def test_a_signed_token_of_the_longest_lifetime_verifies_until_it_expires() -> None:
    token = sign_identity_token(secret=SECRET, user_id="u", now=NOW, lifetime=MAX_LIFETIME)
    assert _verify(token, now=NOW + MAX_LIFETIME).user_id == "u"
    _refused(token, now=NOW + MAX_LIFETIME + LEEWAY)


def test_verifying_needs_an_aware_now_and_a_secret() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_identity_token(VALID, secret=SECRET, now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="empty"):
        verify_identity_token(VALID, secret="", now=NOW)
