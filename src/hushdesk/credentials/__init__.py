"""Credentials a workspace gives Hushdesk: model provider API keys, channel tokens, webhook
secrets. Sealed at rest, shown only masked after creation, never logged, never returned by
any API; only the code that uses one (a channel, a provider) reads it, as a ``SecretStr``."""
