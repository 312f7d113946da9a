"""Pseudonymisation for model calls: stable placeholders per conversation, and a restore that
puts back only what it issued."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hushdesk.privacy.pii import Detector, Span
from hushdesk.privacy.pii.pseudonymise import ConversationPseudonyms, Restored, SpanFinder


class LiteralFinder:
    """A SpanFinder that reports every occurrence of the given values, so these tests do not
    depend on how well the real detector does."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values  # value -> label

    def detect(self, text: str) -> list[Span]:
        spans = []
        for value, label in self.values.items():
            start = text.find(value)
            while start != -1:
                spans.append(Span(start, start + len(value), label, 1.0))
                start = text.find(value, start + len(value))
        return sorted(spans, key=lambda span: span.start)


SECRETS = {
    "Alice Secret": "PERSON",
    "Bob Hidden": "PERSON",
    "zed@secret.example": "EMAIL",
    "+27 82 555 0100": "PHONE",
}


def _finder() -> SpanFinder:
    return LiteralFinder(SECRETS)


def test_each_value_gets_a_numbered_placeholder_per_label_in_order_of_appearance() -> None:
    pseudonyms = ConversationPseudonyms(_finder())
    text = "Alice Secret here, my brother Bob Hidden, mail zed@secret.example, call +27 82 555 0100"
    assert pseudonyms.pseudonymise(text) == (
        "<PERSON_1> here, my brother <PERSON_2>, mail <EMAIL_1>, call <PHONE_1>"
    )
    assert len(pseudonyms) == 4


def test_the_same_value_keeps_its_placeholder_across_turns_however_it_is_written() -> None:
    finder = LiteralFinder({"Ada Lovelace": "PERSON", "ada  LOVELACE": "PERSON", "082 555 1234": "PHONE"})
    finder.values["082-555-1234"] = "PHONE"
    pseudonyms = ConversationPseudonyms(finder)
    assert pseudonyms.pseudonymise("I am Ada Lovelace, 082 555 1234") == "I am <PERSON_1>, <PHONE_1>"
    assert pseudonyms.pseudonymise("again: ada  LOVELACE on 082-555-1234") == "again: <PERSON_1> on <PHONE_1>"
    restored = pseudonyms.restore("Dear <PERSON_1>, we will call <PHONE_1>.")
    assert restored == Restored("Dear Ada Lovelace, we will call 082 555 1234.", ())  # first written form


def test_from_history_rebuilds_the_same_numbering() -> None:
    history = ["hi, Bob Hidden here", "my mail is zed@secret.example", "and Alice Secret too"]
    live = ConversationPseudonyms(_finder())
    for message in history:
        live.pseudonymise(message)
    rebuilt = ConversationPseudonyms.from_history(_finder(), history)
    follow_up = "Alice Secret and Bob Hidden, zed@secret.example, +27 82 555 0100"
    assert rebuilt.pseudonymise(follow_up) == live.pseudonymise(follow_up)
    assert rebuilt.pseudonymise(follow_up) == "<PERSON_2> and <PERSON_1>, <EMAIL_1>, <PHONE_1>"


def test_restore_puts_back_the_values_it_issued() -> None:
    pseudonyms = ConversationPseudonyms(_finder())
    pseudonyms.pseudonymise("Alice Secret, zed@secret.example")
    restored = pseudonyms.restore("Hello <PERSON_1>! We wrote to <EMAIL_1> and <EMAIL_1>.")
    assert restored.text == "Hello Alice Secret! We wrote to zed@secret.example and zed@secret.example."
    assert restored.unresolved == ()


@pytest.mark.parametrize(
    ("token", "marker"),
    [
        ("<PERSON_7>", "[PERSON]"),
        ("<PERSON 1>", "[PERSON]"),
        ("<person_1>", "[PERSON]"),
        ("PERSON_1>", "[PERSON]"),
        ("<PERSON_1", "[PERSON]"),
        ("< PERSON_1 >", "[PERSON]"),
        ("[PERSON_1]", "[PERSON]"),
        ("<PERSON_01>", "[PERSON]"),
        ("<PERSON_0>", "[PERSON]"),
        ("PERSON_1", "[PERSON]"),
        ("<Person-1>", "[PERSON]"),
        ("\u2039PERSON_1\u203a", "[PERSON]"),
        ("<EMAIL_2>", "[EMAIL]"),
        ("<credit card 1>", "[CREDIT_CARD]"),
        ("<FOO_3>", ""),
        ("< ORDER_REF_1 >", ""),
    ],
)
def test_invented_or_mangled_placeholders_are_neutralised_and_reported(token: str, marker: str) -> None:
    pseudonyms = ConversationPseudonyms(_finder())
    pseudonyms.pseudonymise("Alice Secret, zed@secret.example")
    restored = pseudonyms.restore(f"Dear {token}, thanks.")
    assert restored == Restored(f"Dear {marker}, thanks.", (token,))
    assert "Alice Secret" not in restored.text


@pytest.mark.parametrize(
    "text", ["see page 2", "(room 12)", "PHONE 2 is broken", "XPERSON_1", "PERSON_1a", "[EMAIL]"]
)
def test_ordinary_words_and_numbers_are_left_alone(text: str) -> None:
    pseudonyms = ConversationPseudonyms(_finder())
    pseudonyms.pseudonymise("Alice Secret")
    assert pseudonyms.restore(text) == Restored(text, ())


def test_a_label_issued_in_the_conversation_is_readable_when_mangled() -> None:
    pseudonyms = ConversationPseudonyms(LiteralFinder({"CUST-0042": "CUSTOMER_NO"}))
    assert pseudonyms.pseudonymise("customer CUST-0042") == "customer <CUSTOMER_NO_1>"
    assert pseudonyms.restore("ref [customer no 1]").text == "ref [CUSTOMER_NO]"
    assert pseudonyms.restore("ref <CUSTOMER_NO_1>").text == "ref CUST-0042"


def test_a_placeholder_the_customer_typed_is_escaped_and_restores_only_to_itself() -> None:
    pseudonyms = ConversationPseudonyms(_finder())
    assert pseudonyms.pseudonymise("I am Alice Secret") == "I am <PERSON_1>"
    typed = "what is <PERSON_1>? and <EMAIL_1>, <PERSON_01>"
    sent = pseudonyms.pseudonymise(typed)
    assert sent == "what is <PLACEHOLDER_1>? and <PLACEHOLDER_2>, <PLACEHOLDER_3>"
    echoed = pseudonyms.restore(sent)
    assert echoed == Restored(typed, ())
    assert "Alice Secret" not in echoed.text


def test_a_typed_placeholder_before_any_value_does_not_later_stand_for_one() -> None:
    pseudonyms = ConversationPseudonyms(_finder())
    assert pseudonyms.pseudonymise("say <EMAIL_1> back") == "say <PLACEHOLDER_1> back"
    assert pseudonyms.pseudonymise("zed@secret.example") == "<EMAIL_1>"
    assert pseudonyms.restore("you said <PLACEHOLDER_1>").text == "you said <EMAIL_1>"
    assert pseudonyms.restore("mail <EMAIL_1>").text == "mail zed@secret.example"


def test_emoji_and_other_wide_characters_keep_offsets_right() -> None:
    detector = Detector(names=None)
    pseudonyms = ConversationPseudonyms(detector)
    text = "😀👍🏽 mail ada@example.com 🇿🇦 or bob@example.org ✉️ thx"
    sent = pseudonyms.pseudonymise(text)
    assert sent == "😀👍🏽 mail <EMAIL_1> 🇿🇦 or <EMAIL_2> ✉️ thx"
    assert pseudonyms.restore(sent).text == text


def test_the_real_detector_round_trips_emails_phones_and_cards() -> None:
    pseudonyms = ConversationPseudonyms(Detector(names=None))
    text = "mail me at ada@example.com, phone 082 555 1234, card 4111 1111 1111 1111"
    sent = pseudonyms.pseudonymise(text)
    assert sent == "mail me at <EMAIL_1>, phone <PHONE_1>, card <CREDIT_CARD_1>"
    assert pseudonyms.restore(sent) == Restored(text, ())


def test_overlapping_spans_leave_no_character_in_the_clear() -> None:
    class Overlapping:
        def detect(self, text: str) -> list[Span]:
            return [Span(0, 6, "PHONE", 0.9), Span(4, 10, "CREDIT_CARD", 0.9)]

    pseudonyms = ConversationPseudonyms(Overlapping())
    assert pseudonyms.pseudonymise("0123456789 end") == "<PHONE_1> end"
    assert pseudonyms.restore("<PHONE_1>").text == "0123456789"


def test_bad_spans_and_labels_are_refused() -> None:
    class Outside:
        def detect(self, text: str) -> list[Span]:
            return [Span(0, len(text) + 1, "EMAIL", 1.0)]

    class LowerCase:
        def detect(self, text: str) -> list[Span]:
            return [Span(0, 1, "email", 1.0)]

    with pytest.raises(ValueError, match="outside"):
        ConversationPseudonyms(Outside()).pseudonymise("abc")
    with pytest.raises(ValueError, match="cannot form a placeholder"):
        ConversationPseudonyms(LowerCase()).pseudonymise("abc")


def test_the_mapping_stays_in_memory() -> None:
    pseudonyms = ConversationPseudonyms(_finder())
    pseudonyms.pseudonymise("Alice Secret")
    assert "Alice" not in repr(pseudonyms)
    with pytest.raises(TypeError, match="only in memory"):
        pickle.dumps(pseudonyms)


# Pieces that random model output is made of: brackets, separators, labels in several cases,
# numbers with and without leading zeros, and now and then a real placeholder.
_PIECES = st.sampled_from(
    ["<", ">", "[", "]", "(", ")", "{", "}", "\u2039", "\u203a", " ", "_", "-", "\t", "x", "PERSON",
     "person", "EMAIL", "PHONE", "PLACEHOLDER", "FOO", "1", "2", "0", "01", "10", "<PERSON_1>",
     "<PERSON_2>", "<EMAIL_1>", "<PHONE_1>", "<PLACEHOLDER_1>", "<PERSON_3>", "<EMAIL_11>"]
)  # fmt: skip


def _issued() -> tuple[ConversationPseudonyms, dict[str, str]]:
    pseudonyms = ConversationPseudonyms(_finder())
    pseudonyms.pseudonymise("Alice Secret, Bob Hidden, zed@secret.example, +27 82 555 0100")
    pseudonyms.pseudonymise("typed <PERSON_9>")  # escaped as <PLACEHOLDER_1>
    issued = {
        "<PERSON_1>": "Alice Secret",
        "<PERSON_2>": "Bob Hidden",
        "<EMAIL_1>": "zed@secret.example",
        "<PHONE_1>": "+27 82 555 0100",
    }
    return pseudonyms, issued


@given(st.lists(_PIECES, max_size=40).map("".join))
def test_random_placeholder_like_text_restores_a_value_only_for_its_exact_token(text: str) -> None:
    pseudonyms, issued = _issued()
    restored = pseudonyms.restore(text)
    for token, value in issued.items():
        assert restored.text.count(value) == text.count(token)
    assert restored.text.count("<PERSON_9>") == text.count("<PLACEHOLDER_1>")
    assert not set(restored.unresolved) & set(issued)


@given(st.lists(st.one_of(_PIECES, st.sampled_from(sorted(SECRETS))), max_size=30).map("".join))
def test_pseudonymise_then_restore_gives_back_the_text(text: str) -> None:
    pseudonyms = ConversationPseudonyms(_finder())
    sent = pseudonyms.pseudonymise(text)
    assert not any(secret in sent for secret in SECRETS)
    assert pseudonyms.restore(sent) == Restored(text, ())
