"""Whether a reply reproduces the instructions a model was given.

A reply leaks when it shares a run of ``NGRAM`` consecutive words with the instructions (word
by word, ignoring case and punctuation, so reformatting does not hide it), or reproduces at
least half of their short distinctive lines (``MIN_LINE_WORDS`` words or more but too short for
a run) when there are two or more, or the whole of a short instruction text. Runs and lines that
also occur in a passage given for the reply do not count: quoting the knowledge is allowed even
where the business's prompt repeats it.

Limits: a paraphrase or a translation of the instructions is not detected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hushdesk.agents.knowledge.passages import Passage

NGRAM = 8
MIN_LINE_WORDS = 4

_WORD = re.compile(r"\w+", re.UNICODE)


def reproduces_instructions(reply: str, *, instructions: Sequence[str], passages: Sequence[Passage]) -> bool:
    """Whether ``reply`` reproduces any of ``instructions`` (see the module docstring)."""
    reply_words = _words(reply)
    reply_runs = _runs(reply_words)
    reply_joined = _joined(reply_words)
    passage_words = [_words(passage.text) for passage in passages]
    quotable = set().union(*(_runs(words) for words in passage_words)) if passage_words else set()
    passages_joined = " ".join(_joined(words) for words in passage_words)
    for text in instructions:
        words = _words(text)
        if len(words) >= NGRAM and (_runs(words) - quotable) & reply_runs:
            return True
        whole = _joined(words)
        if MIN_LINE_WORDS <= len(words) < NGRAM and whole in reply_joined and whole not in passages_joined:
            return True
        lines = [
            _joined(line) for line in map(_words, text.splitlines()) if MIN_LINE_WORDS <= len(line) < NGRAM
        ]
        distinctive = [line for line in lines if line not in passages_joined]
        reproduced = sum(line in reply_joined for line in distinctive)
        if len(distinctive) >= 2 and reproduced * 2 >= len(distinctive):
            return True
    return False


def _words(text: str) -> list[str]:
    return [word.casefold() for word in _WORD.findall(text)]


def _runs(words: Sequence[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)}


def _joined(words: Sequence[str]) -> str:
    """Words between single spaces, with a space at each end, so ``in`` matches whole words."""
    return f" {' '.join(words)} "
