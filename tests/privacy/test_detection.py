"""The detector, label by label: what it finds, what it must leave alone, and the context that
decides. Messages here are written apart from the development set, in its conventions."""

from __future__ import annotations

import itertools

import pytest

from hushdesk.privacy.pii import CustomPattern, Detector, DetectorConfig, Span


def found(detector: Detector, text: str) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.label) for s in detector.detect(text)]


@pytest.mark.parametrize(
    ("text", "value", "label"),
    [
        ("reach me on thabo.m+shop@example.co.za thanks", "thabo.m+shop@example.co.za", "EMAIL"),
        ("pls call 082 555 0123 after 5", "082 555 0123", "PHONE"),
        ("my cell is +27 (0)82 555 0123", "+27 (0)82 555 0123", "PHONE"),
        ("bel me op 06-12345678", "06-12345678", "PHONE"),
        ("meine Handynummer ist 0151 23456789", "0151 23456789", "PHONE"),
        ("card 4111 1111 1111 1111 got declined", "4111 1111 1111 1111", "CREDIT_CARD"),
        ("amex 378282246310005 please", "378282246310005", "CREDIT_CARD"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00", "IBAN"),
        ("refund to gb82west12345698765432.", "gb82west12345698765432", "IBAN"),
        ("my id no is 8001015009087 thanks", "8001015009087", "ZA_ID"),
        ("ID 800101 5009 087.", "800101 5009 087", "ZA_ID"),
        ("ssn is 219-09-9999", "219-09-9999", "US_SSN"),
        ("social security 219099999", "219099999", "US_SSN"),
        ("NI: AB 12 34 56 C", "AB 12 34 56 C", "UK_NINO"),
        ("passport no. A12345678 expires soon", "A12345678", "PASSPORT"),
        ("pay into acc 1234 567 890 at FNB", "1234 567 890", "BANK_ACCOUNT"),
        ("login from 203.0.113.77 wasn't me", "203.0.113.77", "IP_ADDRESS"),
        ("blocked from 2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::8a2e:370:7334", "IP_ADDRESS"),
        ("I was born on 3 March 1985", "3 March 1985", "DATE_OF_BIRTH"),
        ("dob: 1979/11/23", "1979/11/23", "DATE_OF_BIRTH"),
        ("geboren am 02.01.1970 in Köln", "02.01.1970", "DATE_OF_BIRTH"),
    ],
)
def test_finds_each_kind_of_identifier(detector: Detector, text: str, value: str, label: str) -> None:
    assert (value, label) in found(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "order #4111111111111111 is late",  # a Luhn-valid number after "order" is an order number
        "gift voucher 4111 1111 1111 1112 has no balance",  # Luhn fails
        "barcode 4006381333931 scans wrong",  # an EAN-13 is not an identity number
        "my tracking number is 1Z999AA10123456784",
        "firmware 10.2.3.4 keeps crashing",  # a version that is also an IPv4 string
        "the total was R1 299,00 for 2 items",
        "delivery on 12/03/2024 please",  # a date that is not a birth date
        "Will you deliver on Saturday?",
        "May I change my delivery address?",
        "Is there a grace period for payment?",
        "Bill me later please",
        "The Apple store said it's under warranty",
        "Jordan 1 retro in size 10?",
        "collection at 20:30 works",
        "invoice 9001010000085 is wrong",  # a valid ZA ID shape, but the cue says invoice
        "Can I pay with Apple Pay or Google Pay?",
        "Does the Marina Mall branch have it?",
        "Do you stock Nike Air Max 90 in size 8?",
        "Meine Bestellung ist noch nicht angekommen",
        "Goeie môre, my bestelling het nie opgedaag nie",
        "Table for 4 at 19:30 on Friday please",
    ],
)
def test_leaves_decoys_alone(detector: Detector, text: str) -> None:
    assert detector.detect(text) == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hi there, my name is Pieter de Villiers and I need help", "Pieter de Villiers"),
        ("hello, this is sarah from accounts", "sarah"),
        ("My wife Thandiwe Nkosi will collect it", "Thandiwe Nkosi"),
        ("please ask for Mr. Johnson at reception", "Johnson"),
        ("ich heiße Klaus Müller", "Klaus Müller"),
        ("je m'appelle Camille Dubois", "Camille Dubois"),
        ("mijn naam is Daan de Jong", "Daan de Jong"),
        ("igama lami nguSipho Dlamini", "Sipho Dlamini"),
        ("Regards,\nAmanda", "Amanda"),
        ("the card still fails - Lindiwe", "Lindiwe"),
        ("account holder: M. van der Merwe", "M. van der Merwe"),
        ("the parcel was addressed to Nomvula Zungu but she moved", "Nomvula Zungu"),
        ("Can Lerato Mokoena pick it up instead?", "Lerato Mokoena"),
        ("My mom Grace will call you", "Grace"),
    ],
)
def test_finds_names_from_context(detector: Detector, text: str, name: str) -> None:
    assert (name, "PERSON") in found(detector, text)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Send it to 14 Church Street, Stellenbosch, 7600 please", "14 Church Street, Stellenbosch, 7600"),
        ("I live at 221B Baker Street, London NW1 6XE", "221B Baker Street, London NW1 6XE"),
        ("Lieferung an Hauptstraße 5, 10115 Berlin bitte", "Hauptstraße 5, 10115 Berlin"),
        ("livraison au 12 rue de la Paix, 75002 Paris", "12 rue de la Paix, 75002 Paris"),
        ("bezorgen op Kerkstraat 12, 1017 GC Amsterdam graag", "Kerkstraat 12, 1017 GC Amsterdam"),
    ],
)
def test_finds_street_addresses_through_town_and_postcode(
    detector: Detector, text: str, address: str
) -> None:
    assert (address, "STREET_ADDRESS") in found(detector, text)


def test_offsets_are_python_indexes_past_emoji(detector: Detector) -> None:
    text = "😡😡 call 082 555 0123"
    [span] = detector.detect(text)
    assert text[span.start : span.end] == "082 555 0123"


def test_disabled_labels_are_not_reported() -> None:
    only_email = Detector(DetectorConfig(labels=frozenset({"EMAIL"})))
    text = "mail a@example.com or call 082 555 0123"
    assert found(only_email, text) == [("a@example.com", "EMAIL")]


def test_a_workspace_pattern_is_found_under_its_own_name() -> None:
    config = DetectorConfig(custom_patterns=(CustomPattern("CUSTOMER_NUMBER", r"CUST-\d{6}"),))
    assert ("CUST-123456", "CUSTOMER_NUMBER") in found(Detector(config), "my number is CUST-123456")


def test_spans_never_overlap(detector: Detector) -> None:
    text = "Card 4111111111111111, call 0821234567, id 8001015009087, mail x@y.co.za - Sam"
    spans: list[Span] = detector.detect(text)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


def test_without_name_lists_capitalised_names_after_cues_are_still_found() -> None:
    assert ("Thabo Mokoena", "PERSON") in found(Detector(), "Hi, my name is Thabo Mokoena.")


def test_internationalised_email_addresses_are_found() -> None:
    assert ("zoë@exämple.com", "EMAIL") in found(Detector(), "write to zoë@exämple.com now")


def test_lower_case_words_before_here_are_not_a_name_without_name_lists() -> None:
    assert Detector().detect("nothing personal here") == []
