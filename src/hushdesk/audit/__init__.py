"""The tamper-evident audit log: one append-only hash chain per workspace plus one for the
instance, with Ed25519-signed checkpoints kept outside the database.

``do_record_event`` appends in the caller's transaction; ``verify_chain`` walks a chain and
names the first bad event; ``checkpoints`` signs chain heads so that a rewritten and fully
re-hashed chain is still caught. See docs/adr/0007-audit-log.md."""
