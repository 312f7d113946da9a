"""Dates of birth: a real date, written in any of the usual ways, that the text says is a birth
date. Every other date (a delivery day, a booking) is left alone."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from hushdesk.privacy.pii.labels import Label, Span

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "jan january januar janvier januari janvier jänner janeiro",
        "feb febr february februar février fevrier februari fév fev",
        "mar march märz maerz mars maart mrt",
        "apr april avril avr",
        "may mai mei",
        "jun june juni juin",
        "jul july juli juillet juil",
        "aug august août aout augustus augustus",
        "sep sept september septembre septembre",
        "oct october oktober octobre okt",
        "nov november novembre",
        "dec december dezember décembre decembre desember dez déc",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number

_MONTH = "|".join(sorted((re.escape(name) for name in _MONTHS), key=len, reverse=True))
_ORDINAL = r"(?:st|nd|rd|th|er|e|ste|de)?"
_DATE = re.compile(
    rf"(?<![\w./-])(?:"
    rf"(?P<d1>\d{{1,2}})(?P<s1>[./-])(?P<m1>\d{{1,2}})(?P=s1)(?P<y1>\d{{4}}|\d{{2}})"
    rf"|(?P<y2>\d{{4}})(?P<s2>[./-])(?P<m2>\d{{1,2}})(?P=s2)(?P<d2>\d{{1,2}})"
    rf"|(?P<d3>\d{{1,2}}){_ORDINAL}\.?\s(?:of\s)?(?P<m3>{_MONTH})\.?,?\s(?P<y3>\d{{4}})"
    rf"|(?P<m4>{_MONTH})\.?\s(?P<d4>\d{{1,2}}){_ORDINAL},?\s(?P<y4>\d{{4}})"
    rf")(?![\w]|[./-]\d)",
    re.IGNORECASE,
)
_BIRTH_CUES = (
    "dob", "d.o.b", "born", "birth", "bday", "b-day", "birthday", "geboren", "geburtsdatum",
    "geb.", "geburtstag", "né le", "née le", "né(e)", "naissance", "geboortedatum", "geboren op",
    "verjaardag", "gebore", "geboortedatum", "date de naissance", "fecha de nacimiento",
)  # fmt: skip


def find_birth_dates(text: str) -> Iterator[Span]:
    lowered = text.casefold()
    if not any(cue in lowered for cue in _BIRTH_CUES):
        return  # without a cue no date is a birth date: skip the costly scan
    for match in _DATE.finditer(text):
        if _real_date(match) is None:
            continue
        before = text[max(0, match.start() - 45) : match.start()].casefold()
        if any(cue in before for cue in _BIRTH_CUES):
            yield Span(match.start(), match.end(), Label.DATE_OF_BIRTH, 0.92)


def _real_date(match: re.Match[str]) -> dt.date | None:
    groups = match.groupdict()
    for day_key, month_key, year_key in (
        ("d1", "m1", "y1"),
        ("d2", "m2", "y2"),
        ("d3", "m3", "y3"),
        ("d4", "m4", "y4"),
    ):
        if groups[year_key] is None:
            continue
        month_text = groups[month_key]
        month = int(month_text) if month_text.isdigit() else _MONTHS[month_text.casefold()]
        day, year = int(groups[day_key]), int(groups[year_key])
        if year < 100:
            year += 1900 if year > dt.datetime.now(dt.UTC).date().year % 100 else 2000
        for d, m in ((day, month), (month, day)) if month_text.isdigit() else ((day, month),):
            try:
                candidate = dt.date(year, m, d)
            except ValueError:
                continue
            if dt.date(1900, 1, 1) <= candidate <= dt.datetime.now(dt.UTC).date():
                return candidate
    return None
