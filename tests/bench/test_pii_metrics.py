"""The PII scoring functions on small cases computed by hand."""

from __future__ import annotations

import pytest

from pii_metrics import (
    Counts,
    GoldSpan,
    Leak,
    evaluate,
    exact_counts,
    leaks,
    max_overlap_matching,
    overlap_counts,
)

CHECKSUM = frozenset({"CREDIT_CARD", "IBAN"})


def g(start: int, end: int, label: str) -> GoldSpan:
    return GoldSpan(start, end, label)


def test_exact_matching_needs_the_same_start_end_and_label() -> None:
    gold = [g(0, 5, "PERSON"), g(10, 20, "PHONE")]
    predicted = [g(0, 5, "PERSON"), g(10, 19, "PHONE"), g(30, 35, "EMAIL")]
    assert exact_counts(gold, predicted) == {
        "PERSON": Counts(tp=1),
        "PHONE": Counts(fp=1, fn=1),
        "EMAIL": Counts(fp=1),
    }


def test_exact_matching_counts_a_repeated_prediction_once() -> None:
    assert exact_counts([g(0, 5, "PERSON")], [g(0, 5, "PERSON"), g(0, 5, "PERSON")]) == {
        "PERSON": Counts(tp=1, fp=1)
    }


def test_overlap_matching_accepts_a_shifted_boundary_of_the_same_label() -> None:
    gold = [g(0, 5, "PERSON"), g(10, 20, "PHONE")]
    predicted = [g(0, 5, "PERSON"), g(10, 19, "PHONE"), g(30, 35, "EMAIL")]
    assert overlap_counts(gold, predicted) == {
        "PERSON": Counts(tp=1),
        "PHONE": Counts(tp=1),
        "EMAIL": Counts(fp=1),
    }


def test_overlap_matching_needs_the_same_label() -> None:
    assert overlap_counts([g(0, 10, "PHONE")], [g(0, 10, "BANK_ACCOUNT")]) == {
        "PHONE": Counts(fn=1),
        "BANK_ACCOUNT": Counts(fp=1),
    }


def test_ranges_that_only_touch_do_not_overlap() -> None:
    assert overlap_counts([g(0, 5, "PERSON")], [g(5, 10, "PERSON")]) == {"PERSON": Counts(fp=1, fn=1)}


def test_one_prediction_over_two_gold_spans_matches_one_of_them() -> None:
    assert overlap_counts([g(0, 5, "PERSON"), g(6, 11, "PERSON")], [g(0, 11, "PERSON")]) == {
        "PERSON": Counts(tp=1, fn=1)
    }


def test_two_predictions_inside_one_gold_span_match_it_once() -> None:
    assert overlap_counts([g(0, 11, "PERSON")], [g(0, 5, "PERSON"), g(6, 11, "PERSON")]) == {
        "PERSON": Counts(tp=1, fp=1)
    }


def test_overlap_matching_is_maximal_not_greedy() -> None:
    # A greedy pass gives the first gold span the first prediction it overlaps (3-6), leaving
    # the second gold span unmatched; the best pairing is A with 0-2 and B with 3-6.
    gold = [g(0, 4, "PERSON"), g(5, 9, "PERSON")]
    predicted = [g(3, 6, "PERSON"), g(0, 2, "PERSON")]
    assert max_overlap_matching(gold, predicted) == 2
    assert overlap_counts(gold, predicted) == {"PERSON": Counts(tp=2)}


def test_precision_recall_and_f1() -> None:
    counts = Counts(tp=3, fp=1, fn=2)
    assert counts.precision == pytest.approx(0.75)
    assert counts.recall == pytest.approx(0.6)
    assert counts.f1 == pytest.approx(6 / 9)


def test_ratios_without_a_denominator_are_none_and_one_sided_f1_is_zero() -> None:
    assert (Counts().precision, Counts().recall, Counts().f1) == (None, None, None)
    assert (Counts(fp=2).precision, Counts(fp=2).recall, Counts(fp=2).f1) == (0.0, None, 0.0)
    assert (Counts(fn=2).precision, Counts(fn=2).recall, Counts(fn=2).f1) == (None, 0.0, 0.0)


def test_leaked_characters_ignore_the_label_of_the_covering_prediction() -> None:
    gold = [g(0, 5, "PERSON"), g(10, 20, "PHONE"), g(30, 46, "CREDIT_CARD")]
    # The card number is covered by a PHONE prediction: redacted all the same.
    predicted = [g(12, 20, "PHONE"), g(30, 46, "PHONE")]
    overall, checksum, by_label = leaks(gold, predicted, CHECKSUM)
    assert overall == Leak(gold_chars=31, leaked_chars=7)
    assert checksum == Leak(gold_chars=16, leaked_chars=0)
    assert by_label == {
        "PERSON": Leak(5, 5),
        "PHONE": Leak(10, 2),
        "CREDIT_CARD": Leak(16, 0),
    }
    assert overall.fraction == pytest.approx(7 / 31)


def test_a_character_under_two_gold_spans_counts_once_overall() -> None:
    overall, _, by_label = leaks(
        [g(0, 10, "STREET_ADDRESS"), g(6, 10, "PERSON")], [g(0, 3, "PERSON")], CHECKSUM
    )
    assert overall == Leak(gold_chars=10, leaked_chars=7)
    assert by_label == {"STREET_ADDRESS": Leak(10, 7), "PERSON": Leak(4, 4)}


def test_leak_fraction_is_none_without_gold_characters() -> None:
    assert Leak().fraction is None
    overall, checksum, by_label = leaks([], [g(0, 4, "PHONE")], CHECKSUM)
    assert (overall, checksum, by_label) == (Leak(), Leak(), {})


def test_evaluate_sums_messages_and_reports_every_label_asked_for() -> None:
    messages = [
        ([g(0, 5, "PERSON")], [g(0, 5, "PERSON"), g(8, 12, "PHONE")]),
        ([g(0, 16, "IBAN")], [g(0, 15, "IBAN")]),
        ([], [g(2, 6, "CUSTOM_REF")]),
        ([], []),
    ]
    report = evaluate(messages, labels=["PERSON", "PHONE", "IBAN", "EMAIL"], checksum_labels=CHECKSUM)
    assert report.exact == {
        "PERSON": Counts(tp=1),
        "PHONE": Counts(fp=1),
        "IBAN": Counts(fp=1, fn=1),
        "EMAIL": Counts(),
        "CUSTOM_REF": Counts(fp=1),
    }
    assert report.overlap["IBAN"] == Counts(tp=1)
    assert report.exact_micro == Counts(tp=1, fp=3, fn=1)
    assert report.overlap_micro == Counts(tp=2, fp=2, fn=0)
    assert report.leak_overall == Leak(gold_chars=21, leaked_chars=1)
    assert report.leak_checksum == Leak(gold_chars=16, leaked_chars=1)
    assert report.leak_by_label["EMAIL"] == Leak()
    assert (report.negatives, report.negatives_flagged) == (2, 1)
    assert report.false_positive_rate == pytest.approx(0.5)


def test_false_positive_rate_is_none_when_every_message_has_pii() -> None:
    report = evaluate([([g(0, 5, "PERSON")], [])], labels=["PERSON"], checksum_labels=CHECKSUM)
    assert report.false_positive_rate is None
    assert report.overlap["PERSON"] == Counts(fn=1)
