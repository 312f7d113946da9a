"""Widget visitor tokens: they round-trip, and nothing but an untouched, current token of the
right kind under the right key verifies."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hushdesk.channels.widget import tokens
from hushdesk.channels.widget.tokens import (
    MAX_TOKEN_CHARS,
    InvalidWidgetTokenError,
    TokenKind,
    WidgetClaims,
    decode_base64url,
    encode_base64url,
    peek_key_id,
    sign_widget_token,
    verify_widget_token,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
EXPIRES_AT = NOW + dt.timedelta(minutes=15)
CLAIMS = WidgetClaims(
    kind=TokenKind.SESSION,
    workspace_id=uuid.UUID("0b4f3c4e-0f43-4a53-9a4f-3e8f9d5c2a10"),
    agent_id=uuid.UUID("6a1e7c3b-9b0d-4f1e-8a52-4c7d2b9e1f30"),
    session_id=uuid.UUID("f2c1d0e9-8b7a-4c6d-9e5f-1a2b3c4d5e60"),
    origin="https://shop.example.com",
    generation=3,
    expires_at=EXPIRES_AT,
    key_id=uuid.UUID("9d8c7b6a-5f4e-4d3c-8b2a-190817263544"),
)
TOKEN = sign_widget_token(CLAIMS, key=KEY)


def _body(claims: WidgetClaims = CLAIMS) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(decode_base64url(sign_widget_token(claims, key=KEY).split(".")[1]))
    return body


def _forge(body: dict[str, Any] | bytes, *, key: bytes = KEY) -> str:
    """A token with a correct MAC over whatever payload we like, as a holder of the key could make."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    signed = "hdw1." + encode_base64url(raw)
    return signed + "." + encode_base64url(hmac.new(key, signed.encode(), hashlib.sha256).digest())


def _verify(token: str, *, key: bytes = KEY, kind: TokenKind = TokenKind.SESSION) -> WidgetClaims:
    return verify_widget_token(token, key=key, kind=kind, now=NOW)


_claims = st.builds(
    WidgetClaims,
    kind=st.sampled_from(TokenKind),
    workspace_id=st.uuids(),
    agent_id=st.uuids(),
    session_id=st.uuids(),
    origin=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255),
    generation=st.integers(min_value=0, max_value=2**63),
    expires_at=st.integers(min_value=0, max_value=253_402_300_799).map(
        lambda seconds: dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    ),
    key_id=st.uuids(),
)


@given(_claims)
def test_any_claims_round_trip(claims: WidgetClaims) -> None:
    token = sign_widget_token(claims, key=KEY)
    before = claims.expires_at - dt.timedelta(seconds=1)
    assert len(token) <= MAX_TOKEN_CHARS
    assert verify_widget_token(token, key=KEY, kind=claims.kind, now=before) == claims
    assert peek_key_id(token) == (claims.workspace_id, claims.key_id)


def test_a_token_has_the_documented_format() -> None:
    prefix, payload, mac = TOKEN.split(".")
    assert prefix == "hdw1"
    assert _body() == {
        "k": "session",
        "ws": str(CLAIMS.workspace_id),
        "ag": str(CLAIMS.agent_id),
        "sid": str(CLAIMS.session_id),
        "o": "https://shop.example.com",
        "g": 3,
        "exp": int(EXPIRES_AT.timestamp()),
        "kid": str(CLAIMS.key_id),
    }
    # Canonical JSON: sorted keys, no spaces.
    assert decode_base64url(payload) == json.dumps(_body(), separators=(",", ":"), sort_keys=True).encode()
    expected_mac = hmac.new(KEY, f"hdw1.{payload}".encode(), hashlib.sha256).digest()
    assert decode_base64url(mac) == expected_mac


def test_signing_is_deterministic() -> None:
    assert sign_widget_token(CLAIMS, key=KEY) == TOKEN


def test_verified_expiry_is_utc() -> None:
    claims = _verify(TOKEN)
    assert claims.expires_at == EXPIRES_AT
    assert claims.expires_at.tzinfo is dt.UTC


def test_expiry_in_another_timezone_round_trips_as_the_same_instant() -> None:
    johannesburg = dt.timezone(dt.timedelta(hours=2))
    local = dataclasses.replace(CLAIMS, expires_at=EXPIRES_AT.astimezone(johannesburg))
    assert _verify(sign_widget_token(local, key=KEY)).expires_at == EXPIRES_AT


@given(st.data())
def test_any_single_character_change_is_rejected(data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(TOKEN) - 1))
    replacement = data.draw(st.characters().filter(lambda char: char != TOKEN[position]))
    changed = TOKEN[:position] + replacement + TOKEN[position + 1 :]
    with pytest.raises(InvalidWidgetTokenError):
        _verify(changed)


@given(st.data())
def test_any_inserted_or_deleted_character_is_rejected(data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(TOKEN)))
    if data.draw(st.booleans()) and position < len(TOKEN):
        changed = TOKEN[:position] + TOKEN[position + 1 :]
    else:
        changed = TOKEN[:position] + data.draw(st.characters()) + TOKEN[position:]
    with pytest.raises(InvalidWidgetTokenError):
        _verify(changed)


@given(st.integers(min_value=0, max_value=len(TOKEN) - 1))
def test_any_truncation_is_rejected(length: int) -> None:
    with pytest.raises(InvalidWidgetTokenError):
        _verify(TOKEN[:length])


def test_the_same_mac_bytes_in_another_spelling_are_rejected() -> None:
    # The last character of a 32-byte MAC carries two unused bits; a lenient decoder would
    # accept four spellings of one MAC.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(TOKEN[-1])
    respelled = TOKEN[:-1] + alphabet[last ^ 1]
    assert respelled != TOKEN
    assert base64.urlsafe_b64decode(respelled.split(".")[2] + "=") == decode_base64url(TOKEN.split(".")[2])
    with pytest.raises(InvalidWidgetTokenError):
        _verify(respelled)


@pytest.mark.parametrize(
    "token",
    [
        TOKEN + "=",
        TOKEN.replace(".", "=.", 2),
        "hdw1." + TOKEN.split(".")[1] + "=." + TOKEN.split(".")[2],
        TOKEN[:-1] + "+",
        TOKEN[:-1] + "/",
        TOKEN + ".",
        TOKEN + ".x",
        "hdw2" + TOKEN[4:],
        "HDW1" + TOKEN[4:],
        " " + TOKEN,
        TOKEN + "\n",
    ],
)
def test_non_canonical_shapes_are_rejected(token: str) -> None:
    with pytest.raises(InvalidWidgetTokenError):
        _verify(token)


def test_a_token_under_another_key_is_rejected() -> None:
    with pytest.raises(InvalidWidgetTokenError):
        _verify(TOKEN, key=OTHER_KEY)
    with pytest.raises(InvalidWidgetTokenError):
        _verify(sign_widget_token(CLAIMS, key=OTHER_KEY))


@pytest.mark.parametrize(("signed_as", "expected"), [("session", "bootstrap"), ("bootstrap", "session")])
def test_a_token_of_the_other_kind_is_rejected(signed_as: str, expected: str) -> None:
    token = sign_widget_token(dataclasses.replace(CLAIMS, kind=TokenKind(signed_as)), key=KEY)
    assert _verify(token, kind=TokenKind(signed_as)).kind is TokenKind(signed_as)
    with pytest.raises(InvalidWidgetTokenError):
        _verify(token, kind=TokenKind(expected))


def test_a_token_is_valid_until_the_second_before_its_expiry() -> None:
    just_before = EXPIRES_AT - dt.timedelta(microseconds=1)
    assert verify_widget_token(TOKEN, key=KEY, kind=TokenKind.SESSION, now=just_before) == CLAIMS


@pytest.mark.parametrize("late", [dt.timedelta(0), dt.timedelta(microseconds=1), dt.timedelta(days=1)])
def test_a_token_is_expired_from_its_expiry_on(late: dt.timedelta) -> None:
    with pytest.raises(InvalidWidgetTokenError):
        verify_widget_token(TOKEN, key=KEY, kind=TokenKind.SESSION, now=EXPIRES_AT + late)


def test_an_oversized_token_is_rejected_even_with_a_good_mac() -> None:
    body = {**_body(), "o": "https://" + "a" * 1000}
    token = _forge(body)
    assert len(token) > MAX_TOKEN_CHARS
    with pytest.raises(InvalidWidgetTokenError):
        _verify(token)
    with pytest.raises(InvalidWidgetTokenError):
        peek_key_id(token)


def test_a_non_ascii_token_is_rejected() -> None:
    with pytest.raises(InvalidWidgetTokenError):
        _verify(TOKEN[:-1] + "é")
    with pytest.raises(InvalidWidgetTokenError):
        peek_key_id("hdw1.é.é")


def _without(name: str) -> dict[str, Any]:
    body = _body()
    del body[name]
    return body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({**_body(), "admin": True}, id="extra claim"),
        *[pytest.param(_without(name), id=f"missing {name}") for name in sorted(_body())],
        pytest.param({**_body(), "k": "refresh"}, id="unknown kind"),
        pytest.param({**_body(), "k": 1}, id="kind not a string"),
        pytest.param({**_body(), "g": -1}, id="negative generation"),
        pytest.param({**_body(), "g": True}, id="boolean generation"),
        pytest.param({**_body(), "g": 3.0}, id="float generation"),
        pytest.param({**_body(), "g": "3"}, id="string generation"),
        pytest.param({**_body(), "exp": float(_body()["exp"])}, id="float expiry"),
        pytest.param({**_body(), "exp": str(_body()["exp"])}, id="string expiry"),
        pytest.param({**_body(), "exp": 10**20}, id="expiry beyond any date"),
        pytest.param({**_body(), "exp": -1}, id="negative expiry"),
        pytest.param({**_body(), "ws": "not-a-uuid"}, id="workspace not a uuid"),
        pytest.param({**_body(), "ws": _body()["ws"].upper()}, id="upper-case uuid"),
        pytest.param({**_body(), "ag": _body()["ag"].replace("-", "")}, id="uuid without hyphens"),
        pytest.param({**_body(), "sid": "{" + _body()["sid"] + "}"}, id="braced uuid"),
        pytest.param({**_body(), "kid": 5}, id="key id not a string"),
        pytest.param({**_body(), "o": None}, id="origin null"),
        pytest.param({**_body(), "o": ""}, id="origin empty"),
        pytest.param({**_body(), "o": "https://" + "a" * 248}, id="origin of 256 characters"),
        pytest.param({**_body(), "o": "https://exämple.com"}, id="origin not ascii"),
        pytest.param({**_body(), "o": "https://a.com\n"}, id="origin with a control character"),
    ],
)
def test_well_signed_payloads_with_bad_claims_are_rejected(body: dict[str, Any]) -> None:
    token = _forge(body)
    with pytest.raises(InvalidWidgetTokenError):
        _verify(token)


def test_a_well_signed_correct_body_verifies() -> None:
    # The positive control for the forged tokens above: the forging itself is sound.
    assert _verify(_forge(_body())) == CLAIMS
    assert _verify(_forge({**_body(), "o": "https://" + "a" * 247})).origin == "https://" + "a" * 247


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"session"', id="string"),
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated json"),
        pytest.param(b"\xff\xfe{}", id="not utf-8"),
        pytest.param(
            json.dumps(_body()).replace('"k": "session"', '"k": "bootstrap", "k": "session"').encode(),
            id="repeated claim",
        ),
        pytest.param(json.dumps(_body()).replace(str(_body()["exp"]), "NaN").encode(), id="NaN expiry"),
        pytest.param(json.dumps(_body()).replace(str(_body()["g"]), "9" * 5000).encode(), id="huge integer"),
        pytest.param(b"[" * 100 + b"]" * 100, id="nested arrays"),
    ],
)
def test_well_signed_payloads_that_are_not_a_claims_object_are_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidWidgetTokenError):
        _verify(_forge(raw))


def test_a_forged_token_has_its_claims_never_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_parse(data: bytes) -> dict[str, Any]:
        raise AssertionError("claims parsed before the MAC was checked")

    monkeypatch.setattr(tokens, "load_json_object", must_not_parse)
    with pytest.raises(InvalidWidgetTokenError):
        _verify(_forge(_body(), key=OTHER_KEY))


def test_every_failure_is_the_same_error_carrying_nothing() -> None:
    failures = [
        "garbage",
        TOKEN[:-2],
        sign_widget_token(CLAIMS, key=OTHER_KEY),
        _forge({**_body(), "extra": 1}),
        _forge(b"{not json"),
    ]
    messages = set()
    for token in failures:
        with pytest.raises(InvalidWidgetTokenError) as caught:
            _verify(token)
        error = caught.value
        messages.add(str(error))
        assert error.__cause__ is None
        assert error.__context__ is None  # no JSON error holding the document rides along
        assert error.args == ("The widget token is not valid.",)
    assert messages == {"The widget token is not valid."}


def test_the_expired_error_is_the_same_error() -> None:
    with pytest.raises(InvalidWidgetTokenError) as caught:
        verify_widget_token(TOKEN, key=KEY, kind=TokenKind.SESSION, now=EXPIRES_AT)
    assert str(caught.value) == "The widget token is not valid."
    assert TOKEN.split(".")[1] not in repr(caught.value)


def test_peek_reads_workspace_and_key_without_the_key() -> None:
    forged = sign_widget_token(CLAIMS, key=OTHER_KEY)
    assert peek_key_id(forged) == (CLAIMS.workspace_id, CLAIMS.key_id)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "hdw1",
        "hdw1.",
        "hdw1..",
        "a.b.c",
        "hdw1.e30." + "A" * 43,  # "{}": no claims
        "hdw1.!!!." + TOKEN.split(".")[2],
        TOKEN.split(".")[0] + "." + TOKEN.split(".")[1] + ".AAAA",  # MAC of the wrong length
        "x" * 5000,
    ],
)
def test_peek_refuses_malformed_tokens(token: str) -> None:
    with pytest.raises(InvalidWidgetTokenError):
        peek_key_id(token)


@given(st.text(max_size=300))
def test_peek_and_verify_on_random_text_only_ever_refuse(text: str) -> None:
    with pytest.raises(InvalidWidgetTokenError):
        peek_key_id(text)
    with pytest.raises(InvalidWidgetTokenError):
        _verify(text)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_keys_must_be_32_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        sign_widget_token(CLAIMS, key=bytes(size))
    with pytest.raises(ValueError, match="32 bytes"):
        verify_widget_token(TOKEN, key=bytes(size), kind=TokenKind.SESSION, now=NOW)


def test_signing_refuses_claims_too_big_for_a_token() -> None:
    with pytest.raises(ValueError, match="MAX_TOKEN_CHARS"):
        sign_widget_token(dataclasses.replace(CLAIMS, generation=10**1000), key=KEY)


def test_verifying_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_widget_token(TOKEN, key=KEY, kind=TokenKind.SESSION, now=NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    "change",
    [
        {"expires_at": EXPIRES_AT.replace(tzinfo=None)},
        {"expires_at": EXPIRES_AT.replace(microsecond=5)},
        {"expires_at": dt.datetime(1969, 12, 31, tzinfo=dt.UTC)},
        {"generation": -1},
        {"generation": True},
        {"origin": ""},
        {"origin": "https://exämple.com"},
        {"origin": "https://" + "a" * 248},
        {"kind": "session"},
    ],
)
def test_claims_that_could_not_round_trip_are_refused_at_construction(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(CLAIMS, **change)  # type: ignore[arg-type]


@given(st.binary(max_size=200))
def test_base64url_round_trips(data: bytes) -> None:
    encoded = encode_base64url(data)
    assert "=" not in encoded
    assert decode_base64url(encoded) == data


@pytest.mark.parametrize("text", ["A", "AAAAA", "AA==", "AB", "a+b/", "YQ=", "YW Jj", "YWJj\n"])
def test_base64url_decoding_is_strict(text: str) -> None:
    with pytest.raises(ValueError):
        decode_base64url(text)
