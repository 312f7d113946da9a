"""Contacts, conversations and messages on every channel, consent records, and the hand-off inbox."""
