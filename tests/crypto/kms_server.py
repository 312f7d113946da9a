"""Moto's KMS emulator in server mode on 127.0.0.1, so the provider speaks the real KMS wire
protocol over HTTP, and an administrator's client for setting keys up.

Credentials are dummies given to each client, never read from the environment.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer
from mypy_boto3_kms import KMSClient

from hushdesk.crypto.providers.aws_kms import AwsCredentials

REGION = "eu-west-1"
DUMMY_CREDENTIALS = AwsCredentials(access_key_id="testing", secret_access_key="testing")


@pytest.fixture(scope="module", name="kms_server")
def kms_server_fixture() -> Iterator[str]:
    """``kms_server``: the emulator's endpoint URL (``http://127.0.0.1:<port>``), one server
    per test module. Import ``kms_server_fixture`` into a test module to use it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def admin_client(endpoint_url: str) -> KMSClient:
    """A plain client for creating, disabling and inspecting keys in the emulator."""
    return boto3.session.Session(
        region_name=REGION,
        aws_access_key_id=DUMMY_CREDENTIALS.access_key_id,
        aws_secret_access_key=DUMMY_CREDENTIALS.secret_access_key,
    ).client("kms", endpoint_url=endpoint_url)
