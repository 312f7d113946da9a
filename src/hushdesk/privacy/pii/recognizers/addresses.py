"""Street addresses, from the unit or house number through the town and postcode when given.

A street line is a house number with a street-type word ("16 Louis Botha Avenue", "90 rue de
diallo") or a German or Dutch street word with its number ("Römerplatz 12", "Kerkstraat 5a").
From there the address runs on over comma-separated places and postcodes and stops at the first
word that is not part of one ("..., Cape Town, 8005 and my number is ..."). A unit and complex
name before the street line belong to it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hushdesk.privacy.pii.context import HAS_DIGIT as _HAS_DIGIT
from hushdesk.privacy.pii.labels import Label, Span

_EN_TYPES = (
    "street st road rd avenue ave av drive dr lane ln close cl way crescent cres boulevard blvd "
    "place pl court ct terrace tce gardens gdns grove mews square sq hill park parkway pkwy "
    "highway hwy circle cir row walk rise view vale heights green trail trl trace knoll causeway "
    "tunnel ridge ridges lake lakes loop path pike plaza point pass port run spur summit track "
    "villas ways wells bypass junction manor meadow meadows mill mission motorway alley bend "
    "bluff bluffs branch bridge brook brooks burg burgs centre center cliff cliffs club common "
    "commons corner corners course courts cove coves creek crest crossing crossroad curve dale dam "
    "divide estate estates expressway extension falls ferry field fields flat flats ford fords "
    "forest forge forges fork forks fort freeway garden gateway glen glens greens groves harbor "
    "harbour haven hills hollow inlet island islands isle junctions key keys knolls landing light "
    "lights lock locks lodge mall manors mount mountain mountains neck orchard oval overpass "
    "parks passage pines plain plains plazas points ports prairie radial ramp ranch rapid rapids "
    "rest roads route shoal shoals shore shores skyway spring springs spurs squares station "
    "stravenue stream streets summit throughway trafficway turnpike underpass union unions valley "
    "valleys viaduct views village villages ville vista walks wall well wharf wynd quay esplanade "
    "promenade gate gates rank"
).split()
_FR_TYPES = (
    "rue avenue av boulevard bd chemin allée allee impasse place quai route cours passage square faubourg"
).split()
_COMPOUND_SUFFIXES = (
    "straße strasse str. weg platz allee ring gasse damm ufer chaussee pfad steig markt hof stieg "
    "wall graben kamp brücke garten tor berg straat laan plein gracht kade singel dijk pad steeg "
    "dreef baan park markt hof"
).split()

_WORD = r"[^\W\d_][\w'’.-]*"
_NUMBER = r"\d{1,5}[a-zA-Z]?(?:[-/]\d{1,4}[a-zA-Z]?)?"
_EN_TYPE_SET = frozenset(_EN_TYPES)
_FR_TYPE_SET = frozenset(_FR_TYPES)
_SUFFIXES = tuple(_COMPOUND_SUFFIXES)
# A house number and the up to six words after it; which of them is the street type is decided in
# Python (a set lookup), which is much cheaper than an alternation of 200 words in the pattern.
_NUMBERED = re.compile(rf"(?<![\w.,-]){_NUMBER},?\s+({_WORD}(?:\s+{_WORD}){{0,5}})")
_WORD_IN_LINE = re.compile(r"\S+")
_NUMBER_AFTER_WORD = re.compile(rf"(?<![\w-])([^\W\d_][\w'’-]*\.?)\s*{_NUMBER}(?![\w])")
_PO_BOX = re.compile(r"(?<![\w])p\.?\s?o\.?\s+box\s+\d{1,6}", re.IGNORECASE)
_UNIT_BEFORE = re.compile(
    rf"(?:^|(?<=[\s:(]))(?:unit|flat|apt|apartment|suite|block|no\.?|nr\.?)\s*\w{{1,5}},?\s+(?:(?:{_WORD}\s+){{0,3}}{_WORD},\s*)?$",
    re.IGNORECASE,
)
_APARTMENT_AFTER = re.compile(
    r"\s*,?\s+(?:apt|apartment|suite|unit|flat|ste)\.?\s*#?\w{1,5}\b", re.IGNORECASE
)
_POSTCODE = re.compile(
    r"(?:[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}|[A-Z]{2}\s+\d{5}(?:-\d{4})?|\d{4}\s?[A-Z]{2}(?![\w])|\d{4,5})(?![\w])",
    re.IGNORECASE,
)
_PLACE_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’.-])*(?![\w])")

# Words that end an address: what follows them is the rest of the message.
_ENDERS = frozenset(
    """
    and or but my is are was were please pls plz thanks thank thx bitte für danke merci svp stp
    asseblief dankie en maar with for from to i we it also because which who where when until
    before after since if so as has have had will can could would should kindly here there
    this that not no yes ok und oder aber mit ist et mais avec est pour en of niet met voor
    is het dat deze ons thanks regards cheers confirm asap today tomorrow graag alstublieft
    alsjeblieft bedankt dank danke bitte vielen merci svp stp asb dankie asseblief baie ngiyabonga
    enkosi thx ty tia also too now urgently urgent soon
    """.split()
)
_CUE = re.compile(
    r"(?:address|adres|adresse|anschrift|wohnadresse|woonadres|live at|living at|staying at|"
    r"deliver to|ship to|send it to|send to|i'm at|im at|i am at|located at|j'habite|ich wohne)\s*[:,-]?\s*$",
    re.IGNORECASE,
)


def find_street_addresses(text: str) -> Iterator[Span]:
    if not _HAS_DIGIT.search(text):
        return
    for line_start, line_end in _street_lines(text):
        start = _unit_start(text, line_start)
        end = _tail_end(text, _trim_line(text, line_start, line_end))
        cued = bool(_CUE.search(text[max(0, start - 30) : start]))
        yield Span(start, end, Label.STREET_ADDRESS, 0.93 if cued else 0.9)


def _street_lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each street line: number first ("16 Louis Botha Avenue", "90 rue de
    diallo"), or street word first ("Römerplatz 12"), or a post office box."""
    for match in _NUMBERED.finditer(text):
        words = list(_WORD_IN_LINE.finditer(text, match.start(1), match.end(1)))
        first = words[0].group().casefold().rstrip(".,")
        if first in ("bis", "ter") and len(words) > 1:
            words = words[1:]
            first = words[0].group().casefold().rstrip(".,")
        if first in _FR_TYPE_SET and len(words) > 1:
            yield match.start(), words[-1].end()
            continue
        # The last street-type word wins, as in "225 Dr Pixley KaSeme Street".
        typed = [word for word in words[:5] if word.group().casefold().rstrip(".") in _EN_TYPE_SET]
        if typed:
            yield match.start(), typed[-1].end()
    for match in _NUMBER_AFTER_WORD.finditer(text):
        if match.group(1).casefold().endswith(_SUFFIXES):
            yield match.start(), match.end()
    for match in _PO_BOX.finditer(text):
        yield match.start(), match.end()


def _trim_line(text: str, start: int, end: int) -> int:
    """A French street line ends at the first word that ends addresses."""
    for word in _PLACE_WORD.finditer(text, start, end):
        if word.group().casefold() in _ENDERS:
            return len(text[: word.start()].rstrip())
    return end


def _unit_start(text: str, start: int) -> int:
    match = _UNIT_BEFORE.search(text[max(0, start - 60) : start])
    return start - (len(text[max(0, start - 60) : start]) - match.start()) if match else start


def _tail_end(text: str, end: int) -> int:
    """Extends an address over an apartment, then over comma-separated places and postcodes."""
    apartment = _APARTMENT_AFTER.match(text, end)
    if apartment:
        end = apartment.end()
    for _ in range(6):
        extended = _segment_end(text, end)
        if extended is None:
            break
        end = extended
    return end


def _segment_end(text: str, end: int) -> int | None:
    """The end of the place or postcode that follows ``end`` (after a comma or a space before
    a postcode), or None when what follows is not one."""
    rest = text[end:]
    separator = re.match(r",\s*|\s+(?=\d)|\s+(?=[A-Z]{1,2}\d)", rest)
    if separator is None:
        return None
    position = end + separator.end()
    postcode = _POSTCODE.match(text, position)
    last = None
    if postcode:
        last = postcode.end()
        position = postcode.end()
        if not re.match(r"\s+[^\W\d_]", text[position:]):
            return last
        position += 1
    words = 0
    for word in _PLACE_WORD.finditer(text, position):
        between = text[position : word.start()]
        if between.strip() or "\n" in between or word.group().casefold().rstrip(".") in _ENDERS or words == 4:
            break
        word_end = word.end() - (1 if word.group().endswith(".") and len(word.group()) > 3 else 0)
        last, position, words = word_end, word_end, words + 1
    if last is not None and words:
        trailing = _POSTCODE.match(text, last + 1) if text[last : last + 1] == " " else None
        if trailing:
            last = trailing.end()
    return last
