"""What a search hands to the assistant and to the model providers: passages of one agent's
knowledge, best first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Passage:
    """One chunk of an agent's knowledge, as retrieved for a question.

    ``source`` is the document's source (a path relative to what was ingested, a file name or a
    URL); ``heading`` the chunk's heading path, outermost first, joined by " > "; ``score`` the
    retrieval score, higher is better, comparable only within one search.
    """

    chunk_id: uuid.UUID
    document_id: uuid.UUID
    source: str
    heading: str
    text: str
    score: float
