"""Put the customer's personal data back into a reply, and nothing else.

``ConversationPseudonyms.restore`` resolves only the placeholders it issued and neutralises
mangled or invented ones. What it resolves may itself be placeholder-shaped: a customer who
typed ``<PERSON_1>`` gets those characters back. No placeholder-shaped token may reach a
customer (it could be mistaken for, or later resolved into, someone's data), so each one left
becomes its neutral marker ``[PERSON]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hushdesk.privacy.pii.pseudonymise import ConversationPseudonyms

_LEFTOVER = re.compile(r"<([A-Za-z][A-Za-z0-9_]*?)_[0-9]+>")


@dataclass(frozen=True, slots=True)
class RestoredReply:
    """The reply with the customer's values back; ``neutralised`` says whether any
    placeholder-like token was not ours (and so was replaced by a marker or left out)."""

    text: str
    neutralised: bool


def restore_personal_data(pseudonyms: ConversationPseudonyms, text: str) -> RestoredReply:
    """``text`` with our placeholders resolved and every other placeholder-shaped token
    neutralised. Never raises."""
    restored = pseudonyms.restore(text)
    cleaned, leftovers = _LEFTOVER.subn(lambda match: f"[{match.group(1).upper()}]", restored.text)
    return RestoredReply(cleaned, bool(restored.unresolved) or leftovers > 0)
