"""The sentences the assistant sends in its own words, not a model's. Each offers or announces
a person, and none repeats the instructions a model is given (so the leak check never fires on
them)."""

from __future__ import annotations

from hushdesk.agents.providers.extractive import NOT_FOUND_REPLY

# Shared with the extractive responder, so its "not found" path is recognised as such.
NOT_FOUND = NOT_FOUND_REPLY

HANDED_OFF_ON_REQUEST = (
    "Of course. I'm passing the conversation to a member of our team, "
    "who will reply here as soon as they can."
)
HANDED_OFF_AFTER_FAILURES = (
    "I'm sorry I couldn't help with this. I'm passing the conversation to a member of our team, "
    "who will reply here as soon as they can."
)
PROVIDER_FAILED = (
    "I'm sorry, I can't answer right now. I'm passing the conversation to a member of our team, "
    "who will reply here as soon as they can."
)
LEAK_REFUSAL = (
    "I'm sorry, I can't share that. I'm happy to help with questions about our products and "
    "services, or I can connect you with a person from our team."
)
