"""The offline responder: answers with excerpts of the passages it is given, cited, or says it
does not know. No model, no network, deterministic.

The customer's question is the last user message of the request. Each passage is judged by how
much of the question's weight its words cover (terms weighted by how rare they are among the
given passages, so that a question word no passage contains counts most against an answer).
When the passages chosen cover less than half the question's weight, the reply is
``NOT_FOUND_REPLY``. Otherwise the reply is, for up to three passages, the sentences that share
most terms with the question, each excerpt followed by its passage's marker (``[1]`` for the
first passage of ``request.passages``), within ``MAX_REPLY_CHARS``.

Passages are read as data only: their text is quoted, never interpreted, and sentences that
address a model ("SYSTEM: ...", "assistant: ...") are not quoted at all, since they are never
knowledge meant for a customer. The system prompt is never read.

Limits: matching is lexical (word forms with a light suffix stripping), so a question asked
with words none of the passages use is not found even when a passage answers it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hushdesk.agents.knowledge.passages import Passage
from hushdesk.agents.providers.base import ChatRequest, ProviderKind, Role

NOT_FOUND_REPLY = (
    "I'm sorry, I don't know the answer to that. "
    "Would you like me to connect you with a person from our team?"
)
MAX_REPLY_CHARS = 600
MAX_PASSAGES_QUOTED = 3
MAX_SENTENCES_PER_PASSAGE = 3
# The share of the question's weight the quoted passages must cover together, and the share a
# second or third passage must add to be quoted.
MIN_COVERAGE = 0.5
MIN_ADDED_COVERAGE = 0.25

_WORD = re.compile(r"\w+", re.UNICODE)
_PLACEHOLDER_WORD = re.compile(r"[A-Z][A-Z0-9_]*_[0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_ADDRESSES_A_MODEL = re.compile(
    r"^\W*(system|assistant|developer|instructions?)\s*:|\[/?inst\]|<\||<<sys>>"
    r"|\b(ignore|disregard|forget)\b.{0,20}\b(previous|prior|above|earlier|your)\b.{0,20}\binstructions?\b",
    re.IGNORECASE,
)
# Words that carry no subject in a support question, in the languages customers most often use.
_STOPWORD_LIST = """
    a about above after again all also am an and any are as at be been before being but by can
    could did do does doing don for from get got had has have having he her here hers him his how
    i if in into is it its just let may me might more most much must my no not now of off on once
    only or other our ours out over own please same she should so some such than thank thanks that
    the their them then there these they this those through to too under until up very want was we
    were what when where which while who whom why will with would you your yours many tell know
    de het een en van ik je u jij wij we zij is zijn hoe wat waar wanneer kan kun mijn met voor op
    te niet der die das und ein eine ich du sie wir ist sind wie was wo wann kann mein mit fur für
    auf zu nicht le la les un une et je tu vous nous il elle est sont comment quoi où quand peux
    mon ma mes avec pour sur pas el los las y yo es son cómo qué dónde cuándo puedo mi con para por
"""
_STOPWORDS = frozenset(_STOPWORD_LIST.split())


@dataclass(frozen=True, slots=True)
class _Candidate:
    number: int  # 1-based position in request.passages
    sentences: tuple[str, ...]
    terms: frozenset[str]


class ExtractiveResponder:
    """A ``ChatProvider`` that needs no model: see the module docstring. Never raises."""

    @property
    def kind(self) -> ProviderKind:
        return ProviderKind.EXTRACTIVE

    def stream_chat(self, request: ChatRequest) -> Iterator[str]:
        yield compose_reply(_last_question(request), request.passages)


def compose_reply(question: str, passages: Sequence[Passage]) -> str:
    """The reply for ``question`` from ``passages`` (numbered from 1 in this order): cited
    excerpts, or ``NOT_FOUND_REPLY``. Deterministic; at most ``MAX_REPLY_CHARS`` characters."""
    question_terms = _terms_of(question)
    candidates = [_candidate(number, passage) for number, passage in enumerate(passages, start=1)]
    if not question_terms or not candidates:
        return NOT_FOUND_REPLY
    weights = _weights(question_terms, candidates)
    chosen = _choose(weights, candidates)
    covered = set().union(*(candidate.terms for candidate in chosen)) if chosen else set()
    coverage = sum(weight for term, weight in weights.items() if term in covered) / sum(weights.values())
    if coverage < MIN_COVERAGE:
        return NOT_FOUND_REPLY
    budget = MAX_REPLY_CHARS // len(chosen)
    excerpts = [_excerpt(candidate, weights, budget) for candidate in sorted(chosen, key=lambda c: c.number)]
    return " ".join(excerpts)


def _terms_of(text: str) -> frozenset[str]:
    """The subject words of ``text``: case-folded, light suffixes stripped, stop words and our
    placeholders (``PERSON_1``) left out."""
    found = set()
    for match in _WORD.finditer(text):
        word = match.group()
        if _PLACEHOLDER_WORD.fullmatch(word):
            continue
        folded = word.casefold()
        if folded in _STOPWORDS or (len(folded) < 2 and not folded.isdigit()):
            continue
        found.add(_stem(folded))
    return frozenset(found)


def _stem(word: str) -> str:
    """A light suffix stripping so that "returns", "returned" and "returning" meet."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            # "shipping" -> "shipp" -> "ship"
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
                word = word[:-1]
            return word
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _last_question(request: ChatRequest) -> str:
    for message in reversed(request.messages):
        if message.role is Role.USER:
            return message.content
    return ""


def _candidate(number: int, passage: Passage) -> _Candidate:
    sentences = tuple(
        sentence.strip()
        for sentence in _SENTENCE_END.split(passage.text)
        if sentence.strip() and not _ADDRESSES_A_MODEL.search(sentence)
    )
    words = _terms_of(" ".join((passage.heading, *sentences)))
    return _Candidate(number, sentences, words)


def _weights(question_terms: frozenset[str], candidates: Sequence[_Candidate]) -> dict[str, float]:
    """Inverse document frequency over the given passages: a term no passage has weighs most."""
    count = len(candidates)
    return {
        term: 1.0 + math.log((count + 1) / (1 + sum(term in c.terms for c in candidates)))
        for term in sorted(question_terms)
    }


def _choose(weights: dict[str, float], candidates: Sequence[_Candidate]) -> list[_Candidate]:
    """Greedy cover of the question: the passage covering most weight, then passages that add
    question terms not covered yet, up to ``MAX_PASSAGES_QUOTED``."""
    chosen: list[_Candidate] = []
    covered: set[str] = set()
    remaining = [c for c in candidates if c.sentences]
    total = sum(weights.values())
    while remaining and len(chosen) < MAX_PASSAGES_QUOTED:
        gains = [
            (sum(w for t, w in weights.items() if t in c.terms and t not in covered), c) for c in remaining
        ]
        gain, best = max(gains, key=lambda pair: (pair[0], -pair[1].number))
        if gain <= 0 or (chosen and gain < MIN_ADDED_COVERAGE * total):
            break
        chosen.append(best)
        covered |= best.terms
        remaining.remove(best)
    return chosen


def _excerpt(candidate: _Candidate, weights: dict[str, float], budget: int) -> str:
    """The candidate's best sentences, in their order, within ``budget`` characters with its
    marker; the first sentence when none shares a term with the question (a heading match)."""
    marker = f" [{candidate.number}]"
    room = budget - len(marker)

    def score(index: int) -> float:
        return sum(weights.get(term, 0.0) for term in _terms_of(candidate.sentences[index]))

    ranked = sorted(range(len(candidate.sentences)), key=lambda i: (-score(i), i))
    picked = [i for i in ranked[:MAX_SENTENCES_PER_PASSAGE] if score(i) > 0] or [ranked[0]]
    kept: list[int] = []
    used = 0
    for index in picked:
        length = len(candidate.sentences[index]) + (1 if kept else 0)
        if kept and used + length > room:
            continue
        kept.append(index)
        used += length
    text = " ".join(candidate.sentences[i] for i in sorted(kept))
    return _shortened(text, room) + marker


def _shortened(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)].rsplit(" ", 1)[0].rstrip(",;: ")
    return cut + "…"
