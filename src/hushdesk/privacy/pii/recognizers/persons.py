"""Person names, without a statistical model: cue phrases ("my name is", "t.n.v.", sign-offs,
greetings, "... here"), the shape of the text (capitalised words where the rest is not, a line
or list item made of names alone), and name lists that say how common a word is as a first name,
as a last name and as an ordinary word."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hushdesk.privacy.pii.labels import Label, Span
from hushdesk.privacy.pii.names import NameLexicon
from hushdesk.privacy.pii.vocabulary import (
    GREETINGS,
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


def _phrases(phrases: Sequence[str]) -> str:
    ordered = sorted(phrases, key=len, reverse=True)
    return "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in ordered)


_STRONG = re.compile(rf"(?<![\w])(?:{_phrases(STRONG_NAME_CUES)})(?:\s*[:=,\-–]\s*|\s+)", re.IGNORECASE)
_WEAK = re.compile(rf"(?<![\w'’])(?:{_phrases(WEAK_NAME_CUES)})\s*[:,]?\s+", re.IGNORECASE)
_RELATIVE = re.compile(rf"(?<![\w])(?:{_phrases(RELATIVE_CUES)})\s*[:,]?\s+", re.IGNORECASE)
_TITLE = re.compile(rf"(?<![\w])(?:{_phrases(TITLES)})(?:\.\s*|\s+)(?=[^\W\d_])", re.IGNORECASE)
_SIGN_OFF_END = re.compile(rf"(?:^|[^\w])(?:{_phrases(SIGN_OFFS)})[\s,.!:;\-–~]*$", re.IGNORECASE)
_GREETING_START = re.compile(rf"(?:^|[,.!?;:]\s*)(?:{_phrases(GREETINGS)})\s*,?\s+$", re.IGNORECASE)


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
        yield from view.after_cues(_STRONG, strong=True, score=0.88)
        yield from view.after_cues(_RELATIVE, strong=False, score=0.8)
        yield from view.after_cues(_TITLE, strong=False, score=0.85, titled=True)
        yield from view.after_cues(_WEAK, strong=False, score=0.8)
        yield from view.before_post_cues()
        yield from view.sign_off()
        yield from view.after_greeting()
        yield from view.name_segments()
        yield from view.name_pairs()


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        word, end, possessive = match.group(), match.end(), False
        if len(word) > 3 and word[-2] in "'’" and word[-1] in "sS":
            word, end, possessive = word[:-2], end - 2, True
        start = match.start()
        prefixed = _NGUNI_PREFIX.match(word)
        if prefixed:  # "nguSipho": "it is Sipho" in Zulu and Xhosa
            start, word = start + prefixed.end(1), word[prefixed.end(1) :]
        titled = word[0].isupper() and not word[1:2].isupper()
        tokens.append(_Token(start, end, word, word.casefold(), possessive, titled))
    return tokens


class _View:
    """One text's tokens and the judgements made of them."""

    def __init__(self, text: str, tokens: list[_Token], names: NameLexicon | None) -> None:
        self.text, self.tokens, self.names = text, tokens, names
        letters = [c for c in text if c.isalpha()]
        uppers = sum(1 for c in letters if c.isupper())
        self.upper_text = uppers > 0.6 * len(letters)
        # Capital letters say something wherever the text is not all lower case; in text written
        # in capitals, the few words in title case stand out the same way.
        self.mixed_case = uppers > 0
        self.by_start = {token.start: index for index, token in enumerate(tokens)}
        if names is not None:
            for token in tokens:
                token.first_rank = names.first_rank(token.lower)
                token.last_rank = names.last_rank(token.lower)
                token.zipf = names.word_zipf(token.lower)

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
        token = self.tokens[index]
        return (
            len(token.text) == 1
            and 0 < index < len(self.tokens) - 1
            and self.text[token.end : token.end + 1] == "."
            and (token.text.isupper() or not self.mixed_case)
        )

    def is_acronym(self, token: _Token) -> bool:
        return len(token.text) > 1 and token.text.isupper() and self.mixed_case and not self.upper_text

    def closes_clause(self, end: int) -> bool:
        """Whether the name ending before token ``end`` ends its clause."""
        if end == len(self.tokens):
            return not any(char.isalnum() for char in self.text[self.tokens[-1].end :])
        gap = self.text[self.tokens[end - 1].end : self.tokens[end].start].lstrip(" ")
        return gap[:1] in (",", ".", "!", "?", ";", ":", "\n", "-", "(")

    def gap_breaks(self, index: int) -> bool:
        """Whether the text between token ``index - 1`` and ``index`` separates them."""
        if index == 0:
            return True
        previous = self.tokens[index - 1]
        if previous.possessive:
            return True
        gap = self.text[previous.end : self.tokens[index].start]
        if self.is_initial(index - 1):
            return gap.strip() != "."
        return gap.strip() != "" or "\n" in gap

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

    def after_cues(
        self, cue: re.Pattern[str], *, strong: bool, score: float, titled: bool = False
    ) -> Iterator[Span]:
        for match in cue.finditer(self.text):
            first = self.by_start.get(match.end())
            if first is None:
                continue
            token = self.tokens[first]
            if titled and not (token.titled or not self.mixed_case):
                continue
            end = self.extend(first, strong=strong or titled)
            accepted = (
                self.name_like(token)
                if strong
                else self.likely_first_name(token) or (titled and self.name_like(token))
            )
            if strong and self.is_initial(first) and end - first >= 2:
                accepted = True  # "account holder: M. van der Merwe"
            if not strong and not accepted and self.mixed_case and end - first >= 2:
                # Two capitalised words never seen as ordinary words: a name the lists lack.
                named = self.tokens[first:end]
                accepted = self.zipf(token) == 0 and all(t.titled and self.name_like(t) for t in named)
            if not strong and _DIGIT_NEXT.match(self.text, token.end):
                accepted = False  # "to April 22", "for May 5"
            if strong and self.mixed_case and not token.titled and self.known_word(token):
                accepted = False
            if not strong and self.mixed_case and not token.titled and end - first < 2:
                accepted = False
            if accepted:
                yield self.span(first, end, score)

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
        if first < stop and (self.likely_first_name(self.tokens[first]) or stop - first >= 2):
            yield self.span(first, stop, score)

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
            marked = before.rstrip(" \t").endswith(("-", "~", "–", "—", "\n")) or bool(
                _SIGN_OFF_END.search(self.text, max(0, len(before) - 40), len(before))
            )
            if marked and (length > 1 or not self.known_word(names[0])):
                yield self.span(first, len(self.tokens), 0.85)
                return

    def after_greeting(self) -> Iterator[Span]:
        for index in range(1, min(len(self.tokens), 4)):
            start = self.tokens[index].start
            if not _GREETING_START.search(self.text, max(0, start - 40), start):
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
