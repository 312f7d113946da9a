"""A workspace's redaction policy: which labels are redacted, how, and its own patterns."""
