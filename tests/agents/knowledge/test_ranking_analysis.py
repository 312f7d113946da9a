"""Tokenisation, folding, stopwords and stemming of the search index's analyzer."""

from __future__ import annotations

import pytest

from hushdesk.agents.knowledge.ranking.analysis import Analyzer, fold
from hushdesk.agents.knowledge.ranking.stemmer import stem


def terms(text: str) -> list[str]:
    return Analyzer().terms(text)


def test_fold_lowercases_and_removes_accents_and_compatibility_forms() -> None:
    assert fold("Café Straße ÉLAN") == "cafe strasse elan"
    assert fold("\uff37\uff49-\uff26\uff49") == "wi-fi"  # full-width "Wi-Fi"
    assert fold("Øresund Æble łódź") == "oresund aeble lodz"


def test_accented_and_unaccented_spellings_give_the_same_terms() -> None:
    assert terms("contraseña résumé") == terms("contrasena resume")


@pytest.mark.parametrize(
    ("forms", "shared"),
    [
        (["charge", "charges", "charged", "charging"], "charg"),
        (["policy", "policies"], "polici"),
        (["ship", "shipped", "shipping"], "ship"),
        (["cancel", "cancelled", "canceled", "cancellation", "cancelling"], "cancel"),
        (["verify", "verified", "verification"], "verifi"),
        (["activate", "activated", "activation"], "activ"),
        (["install", "installed", "installation"], "instal"),
        (["paid", "pay"], "pay"),
        (["address", "addresses"], "address"),
        (["month", "monthly"], "month"),
    ],
)
def test_inflected_forms_meet_at_one_stem(forms: list[str], shared: str) -> None:
    assert {stem(form) for form in forms} == {shared}


@pytest.mark.parametrize(
    ("left", "right"),
    [("user", "use"), ("access", "acce"), ("status", "statu"), ("need", "ne"), ("thing", "th")],
)
def test_stemmer_leaves_words_that_only_look_inflected(left: str, right: str) -> None:
    assert stem(left) != stem(right)
    assert stem(left) == left


def test_stemmer_leaves_codes_and_short_words_alone() -> None:
    assert stem("2fa") == "2fa"
    assert stem("ipv6") == "ipv6"
    assert stem("go") == "go"


def test_english_and_other_stopwords_are_dropped() -> None:
    assert terms("how do I get the invoice") == ["invoic"]
    assert terms("wie kann ich die Rechnung") == ["rechnung"]
    assert terms("hoe kan ik het wachtwoord") == ["wachtwoord"]
    assert terms("je ne peux pas") == []


def test_content_words_of_other_languages_are_not_stopwords() -> None:
    assert terms("door sensor") == ["door", "sensor"]
    assert terms("plus plan") == ["plus", "plan"]


def test_hyphenated_words_give_the_joined_word_and_long_parts() -> None:
    assert terms("Wi-Fi") == ["wifi"]
    assert terms("wifi") == ["wifi"]
    assert terms("two-factor") == ["twofactor", "two", "factor"]
    assert terms("e-mail") == ["email", "mail"]


def test_codes_with_digits_stay_whole() -> None:
    assert terms("2FA") == ["2fa", "2", "fa"]
    assert terms("KH-200") == ["kh200", "200"]
    assert terms("v2.1 and 1.5") == ["v2.1", "1.5"]


def test_number_run_into_a_unit_meets_the_spaced_form() -> None:
    assert set(terms("5 GHz")) <= set(terms("5ghz"))


def test_number_ranges_are_separate_numbers() -> None:
    assert terms("3-5 days") == ["3", "5", "day"]


def test_possessives_and_apostrophes() -> None:
    assert terms("customer's invoice") == ["customer", "invoic"]
    assert terms("can't") == []  # "cant", a stopword


def test_dotted_words_split_and_punctuation_is_dropped() -> None:
    assert terms("example.com") == ["exampl", "com"]
    assert terms("end. (start), 'quoted'") == ["end", "start", "quot"]
    assert terms("snake_case") == terms("snake case")


def test_single_letters_dropped_single_digits_kept() -> None:
    assert terms("a b c 1 2") == ["1", "2"]


def test_chinese_text_becomes_character_pairs() -> None:
    assert terms("重置密码") == ["重置", "置密", "密码"]


def test_empty_and_symbol_only_text_has_no_terms() -> None:
    assert terms("") == []
    assert terms("!!! ??? ### 🙂 \x00\x01") == []


def test_unique_terms_keep_first_appearance_order() -> None:
    assert Analyzer().unique_terms("refund policy refund") == ["refund", "polici"]


def test_word_cache_stays_within_its_limit() -> None:
    analyzer = Analyzer(cache_limit=10)
    first = analyzer.terms(" ".join(f"word{i}" for i in range(25)))
    assert first == [f"word{i}" for i in range(25)]
    assert analyzer.max_cache_nbytes > 0
    assert len(analyzer._cache) <= 10
