"""Encryption at rest: AEAD, key providers, the keyring, encrypted columns, blind indexes,
the encrypted file store and the secret store. Imports nothing of ours but the foundation
(``hushdesk.infra``)."""
