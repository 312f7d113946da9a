"""Privacy: the PII engine (``pii``, a pure library) and the per-workspace redaction policy."""
