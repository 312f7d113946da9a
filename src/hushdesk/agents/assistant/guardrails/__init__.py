"""Checks on a model's reply before a customer sees it: placeholders, instruction leaks, links
and images, citations, grounding. Each is a pure function of the reply and what was given."""
