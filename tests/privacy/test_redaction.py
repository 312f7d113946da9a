"""Redacting detected spans: by label, or by a stable keyed pseudonym."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hushdesk.privacy.pii import ALL_LABELS, Label, Span
from hushdesk.privacy.pii.redaction import RedactionMode, normal_form, pseudonym, redact

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PSEUDONYM = re.compile(r"\[([A-Z_]+)_([0-9a-f]{8})\]")
# Tokens built from characters that no replacement contains (replacements use capitals, "_",
# brackets and 0-9a-f), astral ones included, so a value can only survive as itself.
TOKEN_ALPHABET = "ghijklmnopqrstuvwxyz\U0001f600\U0001d518\U0001f1ff\u00e9"
LABELS = [*sorted(ALL_LABELS), "CUSTOMER_NUMBER"]


def _span(text: str, value: str, label: str) -> Span:
    start = text.index(value)
    return Span(start, start + len(value), label, 0.9)


def _pseudonymise(text: str, value: str, label: str, key: bytes = KEY) -> str:
    return redact(text, [_span(text, value, label)], mode=RedactionMode.PSEUDONYM, pseudonym_key=key)


def test_label_mode_puts_the_label_in_place_of_each_span() -> None:
    text = "mail ada@example.com or call 082 555 1234."
    spans = [_span(text, "082 555 1234", Label.PHONE), _span(text, "ada@example.com", Label.EMAIL)]
    assert redact(text, spans) == "mail [EMAIL] or call [PHONE]."


def test_a_pseudonym_is_the_label_and_eight_hex_digits_of_the_keyed_hmac() -> None:
    redacted = _pseudonymise("call 082 555 1234 now", "082 555 1234", Label.PHONE)
    expected = hmac.new(KEY, b"PHONE\x000825551234", hashlib.sha256).hexdigest()[:8]
    assert redacted == f"call [PHONE_{expected}] now"


@pytest.mark.parametrize(
    ("label", "forms"),
    [
        (
            Label.PHONE,
            ["082 555 1234", "082-555-1234", "(082) 555.1234", "0825551234", "082\u2013555\u20131234"],
        ),
        (Label.IBAN, ["GB82 WEST 1234 5698 7654 32", "gb82west12345698765432"]),
        ("CUSTOMER_NUMBER", ["CUST-123456", "cust 123456", "[CUST.123456]"]),
        (Label.PERSON, ["Thabo Nkosi", "thabo   nkosi", " THABO\tNKOSI "]),
        (Label.STREET_ADDRESS, ["12 Long Street", "12  long street"]),
        (Label.EMAIL, ["Ada@Example.com", "ada@example.com"]),
    ],
)
def test_forms_of_one_value_share_a_pseudonym(label: str, forms: list[str]) -> None:
    assert len({pseudonym(KEY, label, form) for form in forms}) == 1


@pytest.mark.parametrize(
    ("label", "first", "second"),
    [
        (Label.EMAIL, "a.b@example.com", "ab@example.com"),
        (Label.IP_ADDRESS, "1.2.3.4", "12.3.4"),
        (Label.PERSON, "Ann Lee", "Annlee"),
        (Label.PHONE, "082 555 1234", "082 555 1235"),
    ],
)
def test_different_values_get_different_pseudonyms(label: str, first: str, second: str) -> None:
    assert pseudonym(KEY, label, first) != pseudonym(KEY, label, second)


def test_the_label_and_the_key_are_part_of_the_pseudonym() -> None:
    assert pseudonym(KEY, Label.PHONE, "0825551234") != pseudonym(KEY, Label.BANK_ACCOUNT, "0825551234")
    assert pseudonym(KEY, Label.PHONE, "0825551234") != pseudonym(OTHER_KEY, Label.PHONE, "0825551234")


def test_the_normal_forms() -> None:
    assert normal_form(Label.PHONE, " (082) 555-12.34 ") == "0825551234"
    assert normal_form(Label.PERSON, "  Thabo \n Nkosi ") == "thabo nkosi"
    assert normal_form(Label.EMAIL, " Ada.B@Example.com ") == "ada.b@example.com"


@pytest.mark.parametrize("key", [None, b"", b"x" * 31])
def test_pseudonym_mode_refuses_a_missing_or_short_key(key: bytes | None) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        redact("nothing here", [], mode=RedactionMode.PSEUDONYM, pseudonym_key=key)


def test_label_mode_needs_no_key_and_ignores_one_given() -> None:
    text = "mail ada@example.com"
    spans = [_span(text, "ada@example.com", Label.EMAIL)]
    assert redact(text, spans) == redact(text, spans, pseudonym_key=KEY) == "mail [EMAIL]"
    pseudonymised = redact(text, spans, mode=RedactionMode.PSEUDONYM, pseudonym_key=KEY)
    match = PSEUDONYM.fullmatch(pseudonymised.removeprefix("mail "))
    assert match is not None
    assert match.group(1) == "EMAIL"


def test_spans_in_any_order_are_placed_in_text_order() -> None:
    text = "a@b.co then c@d.co"
    spans = [_span(text, "c@d.co", Label.EMAIL), _span(text, "a@b.co", Label.EMAIL)]
    assert redact(text, spans) == "[EMAIL] then [EMAIL]"


def test_an_overlapping_span_is_trimmed_and_nothing_it_covers_is_left() -> None:
    text = "0123456789 tail"
    spans = [Span(0, 6, Label.PHONE, 0.9), Span(4, 10, Label.BANK_ACCOUNT, 0.9), Span(1, 3, Label.EMAIL, 0.9)]
    assert redact(text, spans) == "[PHONE][BANK_ACCOUNT] tail"


def test_a_span_inside_another_is_dropped_and_an_empty_one_ignored() -> None:
    text = "0123456789"
    spans = [Span(2, 4, Label.EMAIL, 0.9), Span(0, 10, Label.PHONE, 0.9), Span(5, 5, Label.EMAIL, 0.9)]
    assert redact(text, spans) == "[PHONE]"


@pytest.mark.parametrize(("start", "end"), [(-1, 2), (3, 11), (6, 4)])
def test_a_span_outside_the_text_is_refused(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        redact("0123456789", [Span(start, end, Label.PHONE, 0.9)])


@given(
    tokens=st.lists(
        st.text(alphabet=TOKEN_ALPHABET, min_size=4, max_size=4), unique=True, min_size=1, max_size=12
    ),
    data=st.data(),
    mode=st.sampled_from(list(RedactionMode)),
)
def test_no_redacted_value_survives_and_the_rest_is_kept(
    tokens: list[str], data: st.DataObject, mode: RedactionMode
) -> None:
    masked = data.draw(st.lists(st.booleans(), min_size=len(tokens), max_size=len(tokens)))
    labels = data.draw(st.lists(st.sampled_from(LABELS), min_size=len(tokens), max_size=len(tokens)))
    text = " ".join(tokens)
    spans, position = [], 0
    for token, hide, label in zip(tokens, masked, labels, strict=True):
        if hide:
            spans.append(Span(position, position + len(token), label, 0.9))
        position += len(token) + 1
    redacted = redact(text, list(reversed(spans)), mode=mode, pseudonym_key=KEY)

    words = redacted.split(" ")
    assert len(words) == len(tokens)
    for word, token, hide, label in zip(words, tokens, masked, labels, strict=True):
        if not hide:
            assert word == token
        elif mode is RedactionMode.LABEL:
            assert word == f"[{label}]"
        else:
            assert word == f"[{label}_{pseudonym(KEY, label, token)}]"
    for token, hide in zip(tokens, masked, strict=True):
        if hide:
            assert token not in redacted


@given(
    before=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
    after=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
)
def test_offsets_count_code_points_whatever_the_characters_around(before: str, after: str) -> None:
    value = "th\u00e9o@exampl\U0001f600.com"
    text = f"{before}{value}{after}"
    span = Span(len(before), len(before) + len(value), Label.EMAIL, 0.9)
    assert redact(text, [span]) == f"{before}[EMAIL]{after}"


@given(digits=st.text(alphabet="0123456789", min_size=6, max_size=16), data=st.data())
def test_separators_inside_a_number_never_change_its_pseudonym(digits: str, data: st.DataObject) -> None:
    separators = st.sampled_from(["", " ", "-", ".", "(", ")", " - ", "\u2013"])
    typed = "".join(digit + data.draw(separators) for digit in digits)
    assert pseudonym(KEY, Label.PHONE, typed) == pseudonym(KEY, Label.PHONE, digits)


@given(text=st.text())
def test_no_spans_leave_the_text_as_it_was(text: str) -> None:
    assert redact(text, []) == text
    assert redact(text, [], mode=RedactionMode.PSEUDONYM, pseudonym_key=KEY) == text
