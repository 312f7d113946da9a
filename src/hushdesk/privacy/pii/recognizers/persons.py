"""Person names, without a statistical model: cue phrases ("my name is", "t.n.v.", sign-offs,
greetings, "... here"), the shape of the text (capitalised words where the rest is not, a line
or list item made of names alone), and name lists that say how common a word is as a first name,
as a last name and as an ordinary word."""

from __future__ import annotations

import functools
import re
from collections.abc import Container, Iterator
from dataclasses import dataclass
from enum import Enum

from hushdesk.privacy.pii.labels import Label, Span
from hushdesk.privacy.pii.names import NameLexicon
from hushdesk.privacy.pii.vocabulary import (
    GREETINGS,
    PLACE_WORDS,
    RELATIVE_CUES,
    SIGN_OFFS,
    STOP_WORDS,
    STRONG_NAME_CUES,
    TITLES,
    WEAK_NAME_CUES,
)

_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_PARTICLES = frozenset(
    "van von de der den le la du ten ter da dos das del della di mc ka bin ibn al el zu vd ben".split()
)
_NGUNI_PREFIX = re.compile(r"(ngu|ngi|ndingu|ndi|ngu-)(?=[A-Z][a-z])")
_DIGIT_NEXT = re.compile(r"\s*\d")
_POST_CUES = frozenset({"here", "speaking", "hier", "ici", "hierso"})
_POSSESSED = frozenset({"name", "names", "account", "behalf", "order", "card", "naam", "namen", "nom"})
# Between a cue and the name: spaces, and perhaps a colon, comma, dash or the full stop of "Mr.".
_CUE_GAP = re.compile(r"\s*[:=,\-–]?\s*|\.\s*")
_SIGN_OFF_GAP = re.compile(r"[\s,.!:;\-–~]*")
_GREETING_GAP = re.compile(r"\s*,?\s*")


class _Cue(Enum):
    STRONG = "strong"
    RELATIVE = "relative"
    TITLE = "title"
    WEAK = "weak"


_CUE_SCORES = {_Cue.STRONG: 0.88, _Cue.RELATIVE: 0.8, _Cue.TITLE: 0.85, _Cue.WEAK: 0.8}


def _phrase_key(phrase: str) -> tuple[str, ...]:
    return tuple(token.lower for token in _tokenize(phrase))


def _cue_table() -> dict[tuple[str, ...], _Cue]:
    table: dict[tuple[str, ...], _Cue] = {}
    # Later lists do not override earlier ones: a strong reading wins.
    for kind, phrases in (
        (_Cue.STRONG, STRONG_NAME_CUES),
        (_Cue.RELATIVE, RELATIVE_CUES),
        (_Cue.TITLE, TITLES),
        (_Cue.WEAK, WEAK_NAME_CUES),
    ):
        for phrase in phrases:
            table.setdefault(_phrase_key(phrase), kind)
    return table


@dataclass(slots=True)
class _Token:
    start: int
    end: int
    text: str
    lower: str
    possessive: bool
    titled: bool
    first_rank: int | None = None
    last_rank: int | None = None
    zipf: float = 0.0


class PersonRecognizer:
    """Callable recognizer; holds only the read-only lexicon, so it is thread-safe."""

    def __init__(self, names: NameLexicon | None) -> None:
        self._names = names

    def __call__(self, text: str) -> Iterator[Span]:
        tokens = _tokenize(text)
        if not tokens:
            return
        view = _View(text, tokens, self._names)
        yield from view.after_cues()
        yield from view.before_post_cues()
        yield from view.sign_off()
        yield from view.after_greeting()
        yield from view.name_segments()
        yield from view.name_pairs()


def _tokenize(text: str) -> list[_Token]:
    tokens = [
        _Token(m.start(), m.end(), w, w.casefold(), False, w[0].isupper() and not w[1:2].isupper())
        for m in _TOKEN.finditer(text)
        for w in (m.group(),)
    ]
    if "'" in text or "’" in text or "ng" in text or "nd" in text:
        for token in tokens:
            _split_affixes(token)
    return tokens


def _split_affixes(token: _Token) -> None:
    """A possessive "'s" comes off the end; a Zulu or Xhosa "ngu" ("it is") off the front of a
    capitalised name ("nguSipho")."""
    word = token.text
    if len(word) > 3 and word[-2] in "'’" and word[-1] in "sS":
        word, token.end, token.possessive = word[:-2], token.end - 2, True
    prefixed = _NGUNI_PREFIX.match(word) if word[0] in "nN" else None
    if prefixed:
        token.start, word = token.start + prefixed.end(1), word[prefixed.end(1) :]
    if word != token.text:
        token.text, token.lower = word, word.casefold()
        token.titled = word[0].isupper() and not word[1:2].isupper()


class _View:
    """One text's tokens and the judgements made of them."""

    def __init__(self, text: str, tokens: list[_Token], names: NameLexicon | None) -> None:
        self.text, self.tokens, self.names = text, tokens, names
        # Capital letters say something wherever the text is not all lower case; in text written
        # in capitals, the few words in title case stand out the same way.
        self.mixed_case = text != text.lower()
        self.lowers = [token.lower for token in tokens]
        if names is not None:
            raw = names.raw_entries
            for token in tokens:
                entry = raw.get(token.lower)
                if entry is not None:
                    token.first_rank, token.last_rank, token.zipf = (
                        entry[0] or None,
                        entry[1] or None,
                        entry[2],
                    )
        self.initial, self.breaks = self._judge_gaps()

    def _judge_gaps(self) -> tuple[list[bool], list[bool]]:
        """Which tokens are initials ("S."), and which gaps separate a token from the one before
        (punctuation or a line break; the full stop of an initial does not). Made once, in one
        pass: every rule below asks them often."""
        text, tokens, mixed = self.text, self.tokens, self.mixed_case
        last = len(tokens) - 1
        initial = [False] * len(tokens)
        breaks = [True] * len(tokens)
        previous: _Token | None = None
        for index, token in enumerate(tokens):
            if len(token.text) == 1 and 0 < index < last and text[token.end : token.end + 1] == ".":
                initial[index] = token.text.isupper() or not mixed
            if previous is not None and not previous.possessive:
                gap = text[previous.end : token.start]
                if initial[index - 1]:
                    breaks[index] = gap.strip() != "."
                else:
                    breaks[index] = gap != " " and (gap.strip() != "" or "\n" in gap)
            previous = token
        return initial, breaks

    # -- judgements of one token ---------------------------------------------------------------

    def zipf(self, token: _Token) -> float:
        return token.zipf

    def first_rank(self, token: _Token) -> int | None:
        return token.first_rank

    def last_rank(self, token: _Token) -> int | None:
        return token.last_rank

    def known_name(self, token: _Token) -> bool:
        return self.first_rank(token) is not None or self.last_rank(token) is not None

    def is_stop(self, token: _Token) -> bool:
        return token.lower in STOP_WORDS or len(token.text) < 2

    def name_like(self, token: _Token) -> bool:
        """Could be part of a name where the context already says a name is here."""
        if self.is_stop(token) or self.is_acronym(token):
            return False
        zipf = self.zipf(token)
        return zipf < 4.0 or (self.known_name(token) and zipf < 5.3)

    def likely_first_name(self, token: _Token, *, rank_limit: int = 8000) -> bool:
        """Could start a name where the context only hints at one."""
        if self.is_stop(token) or self.is_acronym(token):
            return False
        rank, zipf = self.first_rank(token), self.zipf(token)
        if self.names is None:
            return token.titled and self.mixed_case
        if self.mixed_case and token.titled:
            return rank is not None and rank <= rank_limit and zipf < (5.6 if rank <= 50 else 5.3)
        return rank is not None and rank <= rank_limit and zipf < 4.6

    def known_word(self, token: _Token) -> bool:
        return self.zipf(token) >= 3.0 and not self.known_name(token)

    def is_initial(self, index: int) -> bool:
        return self.initial[index]

    def gap_breaks(self, index: int) -> bool:
        """Whether the text between token ``index - 1`` and ``index`` separates them."""
        return self.breaks[index]

    @functools.cached_property
    def upper_text(self) -> bool:
        """Written mostly in capitals ("STILL WAITING ON PARCEL ...")."""
        return sum(map(str.isupper, self.text)) > 0.6 * sum(map(str.isalpha, self.text))

    def is_acronym(self, token: _Token) -> bool:
        return self.mixed_case and len(token.text) > 1 and token.text.isupper() and not self.upper_text

    def closes_clause(self, end: int) -> bool:
        """Whether the name ending before token ``end`` ends its clause."""
        if end == len(self.tokens):
            return not any(char.isalnum() for char in self.text[self.tokens[-1].end :])
        gap = self.text[self.tokens[end - 1].end : self.tokens[end].start].lstrip(" ")
        return gap[:1] in (",", ".", "!", "?", ";", ":", "\n", "-", "(")

    # -- spans ------------------------------------------------------------------------------------

    def extend(self, first: int, *, strong: bool, limit: int = 4) -> int:
        """The index after the last token of the name starting at ``first``."""
        keep_titled = self.mixed_case and self.tokens[first].titled
        end = first + 1
        while end < len(self.tokens) and end - first < limit and not self.gap_breaks(end):
            token = self.tokens[end]
            if token.lower in _PARTICLES and end + 1 < len(self.tokens) and not self.gap_breaks(end + 1):
                end += 1
                continue
            if self.is_initial(end):
                end += 1
                continue
            if not self.name_like(token) or (keep_titled and not token.titled):
                break
            end += 1
        while end - 1 > first and (self.tokens[end - 1].lower in _PARTICLES or self.is_initial(end - 1)):
            end -= 1
        return end

    def span(self, first: int, end: int, score: float) -> Span:
        tokens = self.tokens
        return Span(tokens[first].start, tokens[end - 1].end, Label.PERSON, score)

    def phrase_before(self, index: int, table: Container[tuple[str, ...]]) -> int:
        """How many tokens right before ``index`` form a phrase of ``table`` (0 if none),
        longest first."""
        if self.lowers[index - 1] not in _PHRASE_ENDINGS:
            return 0
        for length in range(min(_LONGEST, index), 0, -1):
            if tuple(self.lowers[index - length : index]) in table:
                return length
        return 0

    def cue_before(self, index: int) -> _Cue | None:
        if self.lowers[index - 1] not in _PHRASE_ENDINGS:
            return None
        gap = self.text[self.tokens[index - 1].end : self.tokens[index].start]
        if not _CUE_GAP.fullmatch(gap):
            return None
        length = self.phrase_before(index, _CUES)
        if not length:
            return None
        return _CUES[tuple(self.lowers[index - length : index])]

    def after_cues(self) -> Iterator[Span]:
        for first in range(1, len(self.tokens)):
            kind = self.cue_before(first)
            if kind is None:
                continue
            yield from self._after_cue(first, kind)

    def _after_cue(self, first: int, kind: _Cue) -> Iterator[Span]:
        token, strong, titled = self.tokens[first], kind is _Cue.STRONG, kind is _Cue.TITLE
        if titled and self.mixed_case and not token.titled:
            return
        end = self.extend(first, strong=strong or titled)
        if self._cue_accepts(first, end, kind):
            yield self.span(first, end, _CUE_SCORES[kind])

    def _cue_accepts(self, first: int, end: int, kind: _Cue) -> bool:
        strong, titled = kind is _Cue.STRONG, kind is _Cue.TITLE
        token = self.tokens[first]
        lower_in_mixed = self.mixed_case and not token.titled
        if strong:
            if self.is_initial(first) and end - first >= 2:
                return True  # "account holder: M. van der Merwe"
            return self.name_like(token) and not (lower_in_mixed and self.known_word(token))
        if _DIGIT_NEXT.match(self.text, token.end) or (lower_in_mixed and end - first < 2):
            return False  # "to April 22", "for May 5"; a lone lower-case word where case speaks
        if titled and self.name_like(token):
            return True
        # After "for", "to", "from" a lone common word that is also a name ("with Apple Pay") is
        # not enough; after "my mom" it is.
        lone_common = end - first < 2 and token.zipf >= 4.5 and kind is _Cue.WEAK
        if self.likely_first_name(token) and not lone_common:
            return True
        # Two capitalised words never seen as ordinary words: a name the lists lack.
        named = self.tokens[first:end]
        return (
            self.mixed_case
            and end - first >= 2
            and self.zipf(token) == 0
            and all(t.titled and self.name_like(t) for t in named)
        )

    def before_post_cues(self) -> Iterator[Span]:
        for index, token in enumerate(self.tokens):
            after_possessive = token.possessive and index + 1 < len(self.tokens)
            if after_possessive and self.tokens[index + 1].lower in _POSSESSED:
                yield from self._backwards(index + 1, score=0.8)
            elif token.lower in _POST_CUES and index > 0 and not self.gap_breaks(index):
                yield from self._backwards(index, score=0.8)

    def _backwards(self, stop: int, *, score: float) -> Iterator[Span]:
        first = stop
        while first > 0 and stop - first < 3 and self.name_like(self.tokens[first - 1]):
            first -= 1
            if self.gap_breaks(first):
                break
        if first == stop:
            return
        named = self.tokens[first:stop]
        capitalised = self.mixed_case and all(token.titled for token in named)
        if self.likely_first_name(named[0]) or (len(named) >= 2 and (capitalised or self._all_known(named))):
            yield self.span(first, stop, score)

    def _all_known(self, tokens: list[_Token]) -> bool:
        return all(token.first_rank is not None or token.last_rank is not None for token in tokens)

    def sign_off(self) -> Iterator[Span]:
        """A name at the very end, after a sign-off word or a dash, tilde or line break."""
        tail = self.text[self.tokens[-1].end :]
        if any(char.isalnum() for char in tail):
            return
        for length in (3, 2, 1):
            first = len(self.tokens) - length
            if first < 0 or any(self.gap_breaks(i) for i in range(first + 1, len(self.tokens))):
                continue
            names = self.tokens[first:]
            if not all(self.name_like(t) or self.is_initial(first + k) for k, t in enumerate(names)):
                continue
            before = self.text[: names[0].start]
            marked = before.rstrip(" \t").endswith(("-", "~", "–", "—", "\n")) or self._signed_off(first)
            if marked and (length > 1 or not self.known_word(names[0])):
                yield self.span(first, len(self.tokens), 0.85)
                return

    def _signed_off(self, first: int) -> bool:
        gap = self.text[self.tokens[first - 1].end : self.tokens[first].start] if first else ""
        return bool(first and _SIGN_OFF_GAP.fullmatch(gap) and self.phrase_before(first, _SIGN_OFFS))

    def _greeted(self, index: int) -> bool:
        gap = self.text[self.tokens[index - 1].end : self.tokens[index].start]
        length = self.phrase_before(index, _GREETINGS) if _GREETING_GAP.fullmatch(gap) else 0
        return bool(length) and self.gap_breaks(index - length)

    def after_greeting(self) -> Iterator[Span]:
        for index in range(1, min(len(self.tokens), 4)):
            if not self._greeted(index):
                continue
            end = self.extend(index, strong=False, limit=3)
            if self.closes_clause(end) and self.likely_first_name(self.tokens[index]):
                yield self.span(index, end, 0.75)

    def name_segments(self) -> Iterator[Span]:
        """A clause made only of two or three name words (a line, a list item)."""
        start = 0
        for index in range(1, len(self.tokens) + 1):
            if index == len(self.tokens) or self.gap_breaks(index):
                if 2 <= index - start <= 4 and self._all_names(start, index):
                    yield self.span(start, index, 0.72)
                start = index

    def _all_names(self, first: int, end: int) -> bool:
        tokens = self.tokens[first:end]
        if not self.likely_first_name(tokens[0]):
            return False
        if self.mixed_case and len({t.titled for t in tokens}) > 1:
            return False
        inner = range(first + 1, end)
        return all(
            self.name_like(self.tokens[i])
            or self.is_initial(i)
            or (self.tokens[i].lower in _PARTICLES and i < end - 1)
            for i in inner
        )

    def name_pairs(self) -> Iterator[Span]:
        """First name then last name, anywhere: both known as such and neither a common word."""
        for index in range(len(self.tokens) - 1):
            if self.tokens[index].first_rank is None:
                continue
            skip_initial = self.is_initial(index + 1) and index + 2 < len(self.tokens)
            following = index + 2 if skip_initial else index + 1
            if any(self.gap_breaks(i) for i in range(index + 1, following + 1)):
                continue
            score = self._pair_score(self.tokens[index], self.tokens[following])
            if score is None:
                continue
            end = following + 1
            if score > 0.6:
                end = max(end, self.extend(index, strong=False, limit=3))
            yield self.span(index, end, score)

    def _pair_score(self, first: _Token, second: _Token) -> float | None:
        if self.is_stop(first) or self.is_stop(second) or self.is_acronym(first):
            return None
        if second.lower in PLACE_WORDS:
            return None
        rank, last = self.first_rank(first), self.last_rank(second)
        if rank is None or (last is None and self.zipf(second) > 0):
            return None
        if self.mixed_case and first.titled and second.titled:
            surname_limit = 5.3 if last is not None and last <= 100 else 4.7
            if rank <= 4000 and self.zipf(first) < 4.7 and self.zipf(second) < surname_limit:
                return 0.65
            return None
        lower_pair = not first.titled and not second.titled
        if lower_pair and rank <= 2000 and last is not None and last <= 5000:
            return 0.55 if self.zipf(first) < 3.6 and self.zipf(second) < 3.6 else None
        return None


_CUES = _cue_table()
_SIGN_OFFS = frozenset(_phrase_key(phrase) for phrase in SIGN_OFFS)
_GREETINGS = frozenset(_phrase_key(phrase) for phrase in GREETINGS)
_LONGEST = max(len(key) for key in (*_CUES, *_SIGN_OFFS, *_GREETINGS))
_PHRASE_ENDINGS = frozenset(key[-1] for key in (*_CUES, *_SIGN_OFFS, *_GREETINGS))
