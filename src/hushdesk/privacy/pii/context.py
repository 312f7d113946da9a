"""Context around a candidate: the words just before it decide what a bare number is.

A 16-digit number after "order #" is an order number; after "card" it is a card. The engine looks
at the few words right before a candidate, nearest first, and lets the nearest cue decide.
"""

from __future__ import annotations

import re
from enum import Enum

HAS_DIGIT = re.compile(r"\d")
_WORD = re.compile(r"\b[^\W\d_]+(?:[./][^\W\d_]+)*\b\.?|#|/|[$€£]")


class Cue(Enum):
    PHONE = "phone"
    CARD = "card"
    ACCOUNT = "account"
    ID_NUMBER = "id"
    SSN = "ssn"
    PASSPORT = "passport"
    IP = "ip"
    VERSION = "version"
    DECOY = "decoy"  # order, invoice, tracking ... numbers that are not personal data
    PRICE = "price"


_CUE_WORDS: dict[str, Cue] = {}


def _add(cue: Cue, words: str) -> None:
    for word in words.split():
        _CUE_WORDS[word] = cue


_add(
    Cue.PHONE,
    "phone phoned tel tel. telephone cell cellphone mobile mob mob. cel whatsapp sms text call "
    "ring reach reachable contact handy telefon telefonnummer nummer "
    "handynummer rufnummer anrufen téléphone telephone portable numéro numero appeler "
    "telefoonnummer mobiel bel bellen nommer selfoon foon landline fax callback",
)
_add(
    Cue.CARD,
    "card cards visa mastercard amex maestro credit debit cc kaart karte kreditkarte carte bancaire "
    "kaartnummer kartennummer",
)
_add(
    Cue.ACCOUNT,
    "account acc acc. acct acct. a/c rekening rekeningnummer konto kontonummer compte "
    "rekeningnommer bankrekening",
)
_add(Cue.ID_NUMBER, "id identity identiteitsnommer idnumber id-number id-nommer ausweis fica")
_add(Cue.SSN, "ssn ss# social tin itin")
_add(
    Cue.PASSPORT,
    "passport passports reisepass reisepassnummer passnummer passeport paspoort paspoortnummer pass",
)
_add(Cue.IP, "ip ipv4 ipv6 wan lan address adres adresse addr from login logged connection router host")
_add(Cue.VERSION, "version ver ver. v firmware build release update updating updated android ios os app")
_add(
    Cue.DECOY,
    "order orders ord ord. invoice inv inv. tracking track parcel shipment package consignment "
    "waybill reference ref ref. case ticket booking reservation confirmation voucher gift coupon "
    "promo sku art art. item product model serial s/n barcode ean upc isbn receipt "
    "transaction txn claim member membership loyalty customer client bestellung bestellnummer "
    "rechnung rechnungsnummer sendung sendungsnummer auftrag kundennummer commande facture colis "
    "suivi référence bestelling bestelnummer factuur pakket zending referentie dossier "
    "quantity qty size room table seat flight gate platform bestelnommer faktuur verwysing #",
)
_add(
    Cue.PRICE,
    "r zar usd eur gbp $ € £ rand dollars euros pounds price total amount balance cost costs fee "
    "betrag preis prix montant bedrag prys",
)

# Words that sit between a cue and its value without changing what it is ("my card number is").
_FILLER = frozenset(
    "my the a an is was are be of on in to at for with no no. nr nr. number numbers num : "
    "new old same this that our your his her their me mine details here it its als ist mein "
    "meine le la les mon ma mes est de het mijn is van ons".split()
)


# "no. 123", "acc. 456": a full stop after these is not the end of a sentence.
_ABBREVIATION_END = re.compile(
    r"(?<![\w])(?:no|nr|tel|ref|acc|acct|inv|ord|art|mob|num|id|cell|ph)\.$", re.IGNORECASE
)


def nearest_cue(text: str, start: int, *, window: int = 40, max_words: int = 4) -> Cue | None:
    """The cue nearest before ``start`` within ``max_words`` words (fillers skipped, not counted),
    or None. Stops at a sentence boundary."""
    before = text[max(0, start - window) : start]
    for boundary in (". ", "? ", "! ", "\n"):
        cut = before.rfind(boundary)
        if cut != -1 and not (boundary == ". " and _ABBREVIATION_END.search(before, 0, cut + 1)):
            before = before[cut + len(boundary) :]
    words = _WORD.findall(before.casefold())
    counted = 0
    for word in reversed(words):
        cue = _CUE_WORDS.get(word) or _CUE_WORDS.get(word.rstrip("."))
        if cue is not None:
            return cue
        if word in _FILLER:
            continue
        counted += 1
        if counted >= max_words:
            return None
    return None


def words_before(text: str, start: int, count: int = 4, *, window: int = 60) -> list[str]:
    """The last ``count`` words before ``start``, casefolded."""
    return _WORD.findall(text[max(0, start - window) : start].casefold())[-count:]


def has_any(text: str, start: int, words: frozenset[str], *, window: int = 40) -> bool:
    """Whether any of ``words`` (casefolded phrases) occurs in the ``window`` characters before
    ``start``."""
    before = text[max(0, start - window) : start].casefold()
    return any(word in before for word in words)
