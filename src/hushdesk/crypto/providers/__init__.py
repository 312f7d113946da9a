"""Master-key (KEK) providers behind one interface, ``KeyProvider``: the local key file or
environment key (``LocalKeyProvider``) and AWS KMS (``AwsKmsKeyProvider``). They wrap data
keys and know nothing of the database."""

from __future__ import annotations

# The KMS adapter (and boto3 with it) is imported from hushdesk.crypto.providers.aws_kms only
# by deployments that use it, so a local-key install does not pay for loading boto3.
from hushdesk.crypto.providers.base import MAX_WRAPPED_KEY_BYTES, KeyProvider, WrappedKey
from hushdesk.crypto.providers.local import LocalKeyProvider

__all__ = ["MAX_WRAPPED_KEY_BYTES", "KeyProvider", "LocalKeyProvider", "WrappedKey"]
