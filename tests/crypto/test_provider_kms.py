"""The AWS KMS provider against moto's KMS emulator in server mode on 127.0.0.1 (real HTTP,
real KMS JSON protocol), plus botocore's ``Stubber`` for errors the emulator does not model."""

from __future__ import annotations

import base64
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from hushdesk.crypto.errors import KeyProviderError
from hushdesk.crypto.providers import KeyProvider, WrappedKey
from hushdesk.crypto.providers.aws_kms import AwsCredentials, AwsKmsKeyProvider
from tests.crypto.kms_server import (  # kms_server_fixture registers the `kms_server` fixture
    DUMMY_CREDENTIALS,
    REGION,
    admin_client,
    kms_server_fixture,  # noqa: F401
)

WORKSPACE = str(uuid.UUID(int=1))
CONTEXT = {"purpose": "workspace-dek", "workspace": WORKSPACE, "key": str(uuid.UUID(int=2))}


def make_provider(endpoint_url: str, key_id: str) -> AwsKmsKeyProvider:
    return AwsKmsKeyProvider(
        key_id=key_id, region_name=REGION, endpoint_url=endpoint_url, credentials=DUMMY_CREDENTIALS
    )


def new_kms_key(endpoint_url: str) -> str:
    """A fresh symmetric KMS key in the emulator; its ARN."""
    return admin_client(endpoint_url).create_key(Description="hushdesk test KEK")["KeyMetadata"]["Arn"]


@pytest.fixture
def kms_key(kms_server: str) -> str:
    return new_kms_key(kms_server)


@pytest.fixture
def provider(kms_server: str, kms_key: str) -> AwsKmsKeyProvider:
    return make_provider(kms_server, kms_key)


def verify_setting(provider: AwsKmsKeyProvider) -> object:
    """What the client verifies TLS with; botocore keeps it on the endpoint's HTTP session
    only, which its type stubs do not describe."""
    client: Any = provider.client
    return client._endpoint.http_session._verify


def leaks(error: BaseException, *secrets: bytes) -> bool:
    """Whether the error or anything chained to it shows a secret, raw, hex or base64."""
    shown = []
    current: BaseException | None = error
    while current is not None:
        shown += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    text = "\n".join(shown)
    forms = [form for s in secrets for form in (repr(s), s.hex(), base64.b64encode(s).decode())]
    return any(form in text for form in forms)


def test_provider_satisfies_the_interface(provider: AwsKmsKeyProvider) -> None:
    typed: KeyProvider = provider
    assert typed.name == "aws-kms"


def test_wrap_then_unwrap_returns_the_key(provider: AwsKmsKeyProvider) -> None:
    key = os.urandom(32)
    wrapped = provider.wrap(key, context=CONTEXT)
    assert key not in wrapped.blob
    assert provider.unwrap(wrapped, context=dict(CONTEXT)) == key


def test_wrap_records_the_key_arn(provider: AwsKmsKeyProvider, kms_key: str) -> None:
    assert provider.wrap(os.urandom(32), context=CONTEXT).kek_id == kms_key
    assert provider.current_kek_id() == kms_key


def test_an_alias_resolves_to_the_key_arn(kms_server: str, kms_key: str) -> None:
    alias = f"alias/hushdesk-{uuid.uuid4().hex}"
    admin_client(kms_server).create_alias(AliasName=alias, TargetKeyId=kms_key)
    provider = make_provider(kms_server, alias)
    assert provider.current_kek_id() == kms_key
    wrapped = provider.wrap(b"k" * 32, context=CONTEXT)
    assert wrapped.kek_id == kms_key
    assert provider.unwrap(wrapped, context=CONTEXT) == b"k" * 32


@pytest.mark.parametrize(
    "other_context",
    [
        {**CONTEXT, "workspace": str(uuid.UUID(int=99))},
        {**CONTEXT, "extra": "x"},
        {"purpose": "workspace-dek", "workspace": WORKSPACE},
    ],
    ids=["another-workspace", "an-extra-entry", "a-missing-entry"],
)
def test_unwrap_under_another_context_fails(
    provider: AwsKmsKeyProvider, other_context: dict[str, str]
) -> None:
    wrapped = provider.wrap(os.urandom(32), context=CONTEXT)
    with pytest.raises(KeyProviderError, match="InvalidCiphertextException") as caught:
        provider.unwrap(wrapped, context=other_context)
    assert not leaks(caught.value, wrapped.blob)


def test_a_tampered_blob_fails(provider: AwsKmsKeyProvider) -> None:
    wrapped = provider.wrap(os.urandom(32), context=CONTEXT)
    blob = bytearray(wrapped.blob)
    blob[-1] ^= 0x01
    with pytest.raises(KeyProviderError):
        provider.unwrap(WrappedKey(wrapped.kek_id, bytes(blob)), context=CONTEXT)


def test_a_blob_claimed_by_another_kms_key_fails(kms_server: str, provider: AwsKmsKeyProvider) -> None:
    wrapped = provider.wrap(os.urandom(32), context=CONTEXT)
    other_key = new_kms_key(kms_server)
    with pytest.raises(KeyProviderError, match="Decrypt failed"):
        provider.unwrap(WrappedKey(other_key, wrapped.blob), context=CONTEXT)


def test_an_unknown_kms_key_fails_without_leaking_the_key(kms_server: str, kms_key: str) -> None:
    missing = kms_key.rsplit("/", 1)[0] + f"/{uuid.uuid4()}"
    provider = make_provider(kms_server, missing)
    key = os.urandom(32)
    with pytest.raises(KeyProviderError, match="NotFoundException") as caught:
        provider.wrap(key, context=CONTEXT)
    assert not leaks(caught.value, key)


def test_an_unknown_alias_fails_to_resolve(kms_server: str) -> None:
    provider = make_provider(kms_server, "alias/hushdesk-missing")
    with pytest.raises(KeyProviderError, match="DescribeKey failed: NotFoundException"):
        provider.current_kek_id()


def test_a_disabled_kms_key_is_a_provider_error_without_the_key(provider: AwsKmsKeyProvider) -> None:
    # moto accepts Encrypt under a disabled key, so KMS's answer is replayed through the real
    # client (request validation, response parsing, error mapping) by botocore's Stubber.
    key = os.urandom(32)
    with Stubber(provider.client) as stub:
        stub.add_client_error(
            "encrypt",
            service_error_code="DisabledException",
            service_message="arn is disabled",
            http_status_code=400,
        )
        with pytest.raises(
            KeyProviderError, match=r"Encrypt failed: DisabledException \(the KMS key is disabled\)"
        ) as caught:
            provider.wrap(key, context=CONTEXT)
    assert not leaks(caught.value, key)


def test_an_unreachable_kms_is_a_provider_error(kms_key: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    provider = make_provider(f"http://127.0.0.1:{closed_port}", kms_key)
    key = os.urandom(32)
    with pytest.raises(KeyProviderError, match="Encrypt failed: EndpointConnectionError") as caught:
        provider.wrap(key, context=CONTEXT)
    assert not leaks(caught.value, key)


def test_rotate_keeps_earlier_wraps_unwrappable(
    kms_server: str, provider: AwsKmsKeyProvider, kms_key: str
) -> None:
    before = provider.wrap(b"a" * 32, context=CONTEXT)
    assert provider.rotate() == kms_key
    after = provider.wrap(b"b" * 32, context=CONTEXT)
    assert provider.unwrap(before, context=CONTEXT) == b"a" * 32
    assert provider.unwrap(after, context=CONTEXT) == b"b" * 32
    rotations = admin_client(kms_server).list_key_rotations(KeyId=kms_key)["Rotations"]
    assert [rotation.get("RotationType") for rotation in rotations] == ["ON_DEMAND"]


def test_client_has_explicit_timeouts_retries_and_tls_verification() -> None:
    provider = AwsKmsKeyProvider(key_id="alias/any", region_name=REGION, credentials=DUMMY_CREDENTIALS)
    # botocore-stubs types Config's options as constructor arguments only.
    config: Any = provider.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (5, 10)
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert provider.client.meta.endpoint_url == f"https://kms.{REGION}.amazonaws.com"
    assert verify_setting(provider) is True


def test_a_ca_bundle_replaces_the_system_trust_store(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    provider = AwsKmsKeyProvider(
        key_id="alias/any", region_name=REGION, ca_bundle=bundle, credentials=DUMMY_CREDENTIALS
    )
    assert verify_setting(provider) == str(bundle)


@pytest.mark.parametrize(
    "endpoint_url", ["http://kms.internal.example:443", "ftp://127.0.0.1", "https://", "kms.example"]
)
def test_an_unsafe_endpoint_is_refused(endpoint_url: str) -> None:
    with pytest.raises(KeyProviderError, match="https"):
        AwsKmsKeyProvider(key_id="alias/any", region_name=REGION, endpoint_url=endpoint_url)


def test_explicit_credentials_keep_their_secret_out_of_repr() -> None:
    credentials = AwsCredentials("AKIDEXAMPLE", "secret-value-3f1c", "session-token-9a2b")
    assert "secret-value-3f1c" not in repr(credentials)
    assert "session-token-9a2b" not in repr(credentials)


def test_an_oversized_key_is_refused_before_any_call(provider: AwsKmsKeyProvider) -> None:
    with Stubber(provider.client), pytest.raises(KeyProviderError, match="1 to 4096 bytes"):
        provider.wrap(b"x" * 4097, context=CONTEXT)
