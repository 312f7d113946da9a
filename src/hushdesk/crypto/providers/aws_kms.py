"""The AWS KMS master-key provider: keys are wrapped by KMS ``Encrypt`` under a symmetric KMS
key and unwrapped by ``Decrypt``; the KEK never leaves KMS.

The encryption context goes to KMS as its ``EncryptionContext``, which KMS binds to the
ciphertext (and writes to CloudTrail, so it holds ids, never secrets). The client is built
here with explicit timeouts, bounded retries and TLS verification; an error from KMS or the
network becomes a ``KeyProviderError`` naming the operation and the KMS error code, never the
key, the blob or the SDK's own message.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hushdesk.crypto.errors import KeyProviderError
from hushdesk.crypto.providers.base import WrappedKey, check_context, check_wrap_request

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

_ERROR_HINTS = {
    "InvalidCiphertextException": "another encryption context, another key or a damaged blob",
    "IncorrectKeyException": "the blob was sealed under another KMS key",
    "NotFoundException": "the KMS key does not exist in this account and region",
    "DisabledException": "the KMS key is disabled",
    "KMSInvalidStateException": "the KMS key is not enabled (disabled or pending deletion)",
    "AccessDeniedException": "access denied: check the key policy and the IAM permissions",
}


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """Explicit AWS credentials. Without them the SDK's default chain is used (instance or
    task role, web identity, environment, shared config)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def kms_client_config() -> Config:
    """Connect within 5 s, read within 10 s, and retry at most 3 times (4 attempts) with the
    SDK's standard back-off, so a slow KMS delays a request by bounded time."""
    return Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})


def build_kms_client(
    *,
    region_name: str,
    endpoint_url: str | None = None,
    ca_bundle: Path | None = None,
    credentials: AwsCredentials | None = None,
) -> KMSClient:
    """A KMS client on its own boto3 session (no process-wide default session), verifying
    TLS with the system trust store or ``ca_bundle``; verification cannot be turned off.

    ``endpoint_url`` (a VPC endpoint, or a local emulator) must be ``https``; plain ``http``
    is accepted only for a loopback address. Raises ``KeyProviderError`` otherwise.
    """
    if endpoint_url is not None:
        _check_endpoint(endpoint_url)
    session = boto3.session.Session(
        region_name=region_name,
        aws_access_key_id=credentials.access_key_id if credentials else None,
        aws_secret_access_key=credentials.secret_access_key if credentials else None,
        aws_session_token=credentials.session_token if credentials else None,
    )
    return session.client(
        "kms",
        endpoint_url=endpoint_url,
        verify=str(ca_bundle) if ca_bundle is not None else True,
        config=kms_client_config(),
    )


class AwsKmsKeyProvider:
    """Wraps keys under one symmetric KMS key, named by key id, key ARN, alias or alias ARN.
    Thread-safe (boto3 clients are)."""

    def __init__(
        self,
        *,
        key_id: str,
        region_name: str,
        endpoint_url: str | None = None,
        ca_bundle: Path | None = None,
        credentials: AwsCredentials | None = None,
    ) -> None:
        """Builds the client (``build_kms_client``) without calling KMS."""
        self._key_id = key_id
        self._client = build_kms_client(
            region_name=region_name, endpoint_url=endpoint_url, ca_bundle=ca_bundle, credentials=credentials
        )
        self._key_arn: str | None = key_id if _is_key_arn(key_id) else None

    @property
    def name(self) -> str:
        return "aws-kms"

    @property
    def client(self) -> KMSClient:
        """The KMS client, for inspection and tests."""
        return self._client

    def current_kek_id(self) -> str:
        """The ARN of the KMS key. For a key id or alias, asks KMS once (``DescribeKey``) and
        remembers the answer; an alias moved to another key is seen after a restart, while
        ``wrap`` always records the ARN KMS actually used."""
        if self._key_arn is None:
            with _mapped_errors("DescribeKey"):
                metadata = self._client.describe_key(KeyId=self._key_id)["KeyMetadata"]
            self._key_arn = metadata["Arn"]
        return self._key_arn

    def wrap(self, key: bytes, *, context: Mapping[str, str]) -> WrappedKey:
        """``Encrypt`` ``key`` (1 to 4096 bytes) under the KMS key, with ``context`` as the
        encryption context; ``kek_id`` is the ARN KMS reports. Raises ``KeyProviderError``."""
        check_wrap_request(key, context)
        with _mapped_errors("Encrypt"):
            response = self._client.encrypt(
                KeyId=self._key_id, Plaintext=key, EncryptionContext=dict(context)
            )
        return WrappedKey(kek_id=response["KeyId"], blob=response["CiphertextBlob"])

    def unwrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> bytes:
        """``Decrypt`` with the same encryption context, pinned to the key ``wrapped`` names
        (KMS refuses a blob sealed under any other key). Raises ``KeyProviderError``."""
        check_context(context)
        with _mapped_errors("Decrypt"):
            response = self._client.decrypt(
                CiphertextBlob=wrapped.blob, EncryptionContext=dict(context), KeyId=wrapped.kek_id
            )
        return response["Plaintext"]

    def rotate(self) -> str:
        """Rotate the KMS key's backing material now (``RotateKeyOnDemand``) and return the
        key's ARN, which does not change: KMS keeps every earlier backing key and picks the
        right one from the blob, so older wraps keep unwrapping. Needs the
        ``kms:RotateKeyOnDemand`` permission; KMS limits how many on-demand rotations a key
        may have. Raises ``KeyProviderError``."""
        arn = self.current_kek_id()
        with _mapped_errors("RotateKeyOnDemand"):
            self._client.rotate_key_on_demand(KeyId=arn)
        return arn


@contextmanager
def _mapped_errors(operation: str) -> Iterator[None]:
    """Translate SDK errors into ``KeyProviderError`` carrying the operation and KMS error
    code only: the SDK's messages are not ours to vouch for."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "unknown"))[:64]
        hint = _ERROR_HINTS.get(code)
        detail = f"{code} ({hint})" if hint else code
        raise KeyProviderError(f"AWS KMS {operation} failed: {detail}") from exc
    except BotoCoreError as exc:
        raise KeyProviderError(f"AWS KMS {operation} failed: {type(exc).__name__}") from exc


def _is_key_arn(key_id: str) -> bool:
    return key_id.startswith("arn:") and ":key/" in key_id


def _check_endpoint(endpoint_url: str) -> None:
    parts = urlsplit(endpoint_url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise KeyProviderError("the KMS endpoint must be an https URL (plain http only for a loopback address)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
