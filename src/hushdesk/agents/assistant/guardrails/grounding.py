"""Whether a reply is grounded in the passages it was given.

A reply is grounded when it cites at least one passage given and says something besides its
markers. Otherwise it is either a "not found" reply (it says it does not know, as the extractive
responder's does) or ungrounded (a model answering from its own knowledge, or with no passages
at all): the pipeline sends the standard "not found" reply instead of either, so a customer is
always offered a person and never gets an answer that no passage supports.

Limits: a reply that cites a passage but says something the passage does not is not caught.
"""

from __future__ import annotations

import re
from enum import StrEnum

from hushdesk.agents.assistant.wording import NOT_FOUND

_MARKERS = re.compile(r"\[\d+\]")
_WORD = re.compile(r"\w+", re.UNICODE)
_NOT_FOUND_CUES = (
    "don't know",
    "do not know",
    "not sure",
    "couldn't find",
    "could not find",
    "can't find",
    "cannot find",
    "unable to find",
    "no information",
    "don't have information",
    "do not have information",
    "weet ik niet",
    "weiß ich nicht",
    "weiss ich nicht",
    "je ne sais pas",
    "no lo sé",
    "no sé",
)


class Grounding(StrEnum):
    GROUNDED = "grounded"
    NOT_FOUND = "not_found"
    UNGROUNDED = "ungrounded"


def judge_grounding(text: str, *, cited: tuple[int, ...], passage_count: int) -> Grounding:
    """How ``text``, whose valid citations are ``cited``, stands against ``passage_count``
    passages (see the module docstring)."""
    content = _WORD.findall(_MARKERS.sub(" ", text))
    if passage_count > 0 and cited and len(content) >= 2:
        return Grounding.GROUNDED
    return Grounding.NOT_FOUND if says_not_found(text) else Grounding.UNGROUNDED


def says_not_found(text: str) -> bool:
    """Whether ``text`` says it does not know (in the phrasings of the languages listed)."""
    folded = " ".join(text.replace("\u2019", "'").casefold().split())
    return folded == " ".join(NOT_FOUND.casefold().split()) or any(cue in folded for cue in _NOT_FOUND_CUES)
