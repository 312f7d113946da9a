"""The installation's settings reach the outbound client: HUSHDESK_OUTBOUND_ALLOWED_NETWORKS
opens exactly the networks it names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hushdesk.bootstrap import outbound_client
from hushdesk.infra.http import OutboundBlockedError
from tests.conftest import make_settings
from tests.infra.outbound_servers import local_server


@pytest.fixture
def port() -> Iterator[int]:
    with local_server() as server_port:
        yield server_port


def test_an_allowed_network_from_settings_is_reachable(tmp_path: Path, port: int) -> None:
    settings = make_settings(tmp_path, outbound_allowed_networks="127.0.0.0/8")
    with outbound_client(settings) as client:
        response = client.get(f"http://127.0.0.1:{port}/model")
    assert response.status_code == 200
    assert response.request.headers["user-agent"].startswith("Hushdesk/")


def test_by_default_private_networks_are_refused(tmp_path: Path, port: int) -> None:
    with outbound_client(make_settings(tmp_path)) as client, pytest.raises(OutboundBlockedError):
        client.get(f"http://127.0.0.1:{port}/model")
