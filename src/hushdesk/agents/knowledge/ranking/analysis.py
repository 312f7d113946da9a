"""Text to search terms, the same way for chunks and for questions.

``fold`` lowercases (Unicode case folding), removes accents and compatibility forms ("Ｗｉ-Ｆｉ",
"café", "Straße" become "wi-fi", "cafe", "strasse"). ``Analyzer.terms`` splits folded text into
words and numbers, drops stopwords (English, Dutch, German, French, Spanish, Afrikaans) and
stems English words. Words joined by hyphens count as one term and as their parts of three
letters or more ("wi-fi" -> "wifi"; "two-factor" -> "twofactor", "two", "factor"), so either
spelling meets the other. Codes with digits stay whole ("2fa", "kh-200" -> "kh200", "v2.1");
a number run into a unit also gives its parts ("5ghz" -> "5ghz", "5", "ghz"). Single letters
are dropped, single digits kept. Possessive "'s" is dropped and other apostrophes closed up
("don't" -> "dont"). Runs of Chinese or Japanese characters, written without spaces, become
overlapping character pairs.
"""

from __future__ import annotations

import re
import unicodedata

from hushdesk.agents.knowledge.ranking.stemmer import stem
from hushdesk.agents.knowledge.ranking.stopwords import STOPWORDS

# Letters NFKD does not decompose into a base letter and a mark.
_LETTER_FOLDS = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
_JOINERS = "'’-‐‑."
# Runs of word characters and joiners: one cheap character class (the split into terms happens
# once per distinct word, cached, so the scan over the whole text is all that runs per token).
_WORD = re.compile(r"[\w'’\-‐‑.]+")
_HYPHENS = re.compile("[-‐‑]+")
_APOSTROPHES = re.compile("['’]")
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_DIGIT = re.compile(r"\d")
_NUMBER_AND_UNIT = re.compile(r"(\d+)([a-z]{2,})")
_MIN_PART_LENGTH = 3
# Distinct raw words whose terms are remembered; the cache is cleared when full, so memory stays
# bounded.
QUERY_CACHE_LIMIT = 4_096
# What one cache entry costs: the word, a tuple of one or two short strings, the dict slot.
CACHE_ENTRY_BYTES = 240


def fold(text: str) -> str:
    """Lowercase ``text`` and remove its accents and compatibility forms."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))
    return text.translate(_LETTER_FOLDS)


class Analyzer:
    """Turns text into terms. Stateless apart from a bounded cache of the terms of words already
    seen, which only saves time; one instance may serve many threads (the cache's dict
    operations are atomic under the GIL and a lost insertion only costs a recomputation)."""

    __slots__ = ("_cache", "_cache_limit")

    def __init__(self, *, cache_limit: int = QUERY_CACHE_LIMIT) -> None:
        self._cache: dict[str, tuple[str, ...]] = {}
        self._cache_limit = cache_limit

    @property
    def max_cache_nbytes(self) -> int:
        """About the most memory the word cache can hold."""
        return self._cache_limit * CACHE_ENTRY_BYTES

    def terms(self, text: str) -> list[str]:
        """Every term of ``text`` in order, repeats kept."""
        cache = self._cache
        found: list[str] = []
        for word in words(text):
            word_terms = cache.get(word)
            if word_terms is None:
                if len(cache) >= self._cache_limit:
                    cache.clear()
                word_terms = cache[word] = terms_of_word(word)
            found.extend(word_terms)
        return found

    def unique_terms(self, text: str) -> list[str]:
        """The distinct terms of ``text``, in order of first appearance."""
        return list(dict.fromkeys(self.terms(text)))


def words(text: str) -> list[str]:
    """The raw words of ``text``, folded: what ``terms_of_word`` takes, one at a time."""
    return _WORD.findall(fold(text))


def terms_of_word(word: str) -> tuple[str, ...]:
    """The terms of one raw word of folded text (word characters and joiners, as ``words``
    returns them)."""
    if "_" in word:
        return tuple(term for piece in word.split("_") for term in terms_of_word(piece))
    word = word.strip(_JOINERS)
    if not word:
        return ()
    if _CJK.search(word):
        return _cjk_terms(word)
    word = word.removesuffix("'s").removesuffix("’s")
    word = _APOSTROPHES.sub("", word)
    if "." in word and not all(_DIGIT.search(piece) for piece in word.split(".")):
        # "example.com", "e.g": the pieces are words; "2.4.1", "1.5" and "v2.1" stay whole.
        return tuple(term for piece in word.split(".") if piece for term in terms_of_word(piece))
    if _HYPHENS.search(word):
        return _compound_terms([part for part in _HYPHENS.split(word) if part])
    return _single_term(word)


def _single_term(word: str) -> tuple[str, ...]:
    if not word or word in STOPWORDS or (len(word) == 1 and not word.isdigit()):
        return ()
    unit = _NUMBER_AND_UNIT.fullmatch(word)
    if unit:
        return (word, unit.group(1), unit.group(2))  # "5ghz" meets "5 GHz"
    return (stem(word),)


def _compound_terms(parts: list[str]) -> tuple[str, ...]:
    if all(part.isdigit() for part in parts):
        return tuple(parts)  # "3-5" (days), "555-0134": the numbers, not one long number
    joined = "".join(parts)
    kept = [part for part in parts if len(part) >= _MIN_PART_LENGTH and part != joined]
    return tuple(dict.fromkeys(_single_term(joined) + tuple(t for part in kept for t in _single_term(part))))


def _cjk_terms(word: str) -> tuple[str, ...]:
    terms: list[str] = []
    position = 0
    for run in _CJK.finditer(word):
        terms.extend(_single_term(word[position : run.start()]))
        text = run.group()
        terms.extend([text] if len(text) == 1 else [text[i : i + 2] for i in range(len(text) - 1)])
        position = run.end()
    terms.extend(_single_term(word[position:]))
    return tuple(terms)
