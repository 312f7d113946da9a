"""Credentials: sealed at rest, masked when shown, never logged, scoped to their workspace."""

from __future__ import annotations

import logging
import uuid

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from hushdesk.credentials.models import CredentialKind
from hushdesk.credentials.service import (
    do_delete_credential,
    do_store_credential,
    list_credentials,
    reveal_credential_for_use,
)
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import NotFound, ValidationFailed
from tests.crypto.conftest import Vault

API_KEY = "sk-live-4f9c2a7be0d14c3f9a1e77d2c0b5abcd"


def _store(vault: Vault, value: str = API_KEY) -> uuid.UUID:
    with unit_of_work(vault.sessions) as session:
        return do_store_credential(
            session,
            workspace_id=vault.workspace_id,
            name="OpenAI production",
            kind=CredentialKind.MODEL_API_KEY,
            value=SecretStr(value),
        ).id


def test_a_stored_credential_is_shown_masked_only(vault: Vault, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        credential_id = _store(vault)
        with unit_of_work(vault.sessions) as session:
            (view,) = list_credentials(session, workspace_id=vault.workspace_id)
    assert view.id == credential_id
    assert view.masked == "••••abcd"
    assert API_KEY not in repr(view)
    assert API_KEY not in caplog.text


def test_the_value_is_sealed_at_rest(vault: Vault) -> None:
    _store(vault)
    with vault.engine.connect() as connection:
        raw = bytes(connection.execute(text("SELECT value FROM credential")).scalar_one())
    assert API_KEY.encode() not in raw
    assert API_KEY[:12].encode() not in raw


def test_the_code_that_uses_it_gets_a_secret_str(vault: Vault) -> None:
    credential_id = _store(vault)
    with unit_of_work(vault.fresh_keyring_sessions()) as session:
        secret = reveal_credential_for_use(
            session, workspace_id=vault.workspace_id, credential_id=credential_id
        )
    assert secret.get_secret_value() == API_KEY
    assert API_KEY not in repr(secret)
    assert API_KEY not in str(secret)


def test_another_workspace_sees_nothing(vault: Vault) -> None:
    credential_id = _store(vault)
    with unit_of_work(vault.sessions) as session:
        assert list_credentials(session, workspace_id=vault.other_workspace_id) == []
        with pytest.raises(NotFound):
            reveal_credential_for_use(
                session, workspace_id=vault.other_workspace_id, credential_id=credential_id
            )
        with pytest.raises(NotFound):
            do_delete_credential(session, workspace_id=vault.other_workspace_id, credential_id=credential_id)
        with pytest.raises(NotFound):
            reveal_credential_for_use(session, workspace_id=vault.workspace_id, credential_id=uuid.uuid4())


def test_short_values_are_refused_without_echoing_them(vault: Vault) -> None:
    with pytest.raises(ValidationFailed) as caught, unit_of_work(vault.sessions) as session:
        do_store_credential(
            session,
            workspace_id=vault.workspace_id,
            name="x",
            kind=CredentialKind.CHANNEL_TOKEN,
            value=SecretStr("abc"),
        )
    assert "abc" not in caught.value.public_message


def test_short_secrets_get_no_hint(vault: Vault) -> None:
    _store(vault, value="hunter2hunter")
    with unit_of_work(vault.sessions) as session:
        (view,) = list_credentials(session, workspace_id=vault.workspace_id)
    assert view.masked == "••••••••"


def test_deleting_removes_it(vault: Vault) -> None:
    credential_id = _store(vault)
    with unit_of_work(vault.sessions) as session:
        do_delete_credential(session, workspace_id=vault.workspace_id, credential_id=credential_id)
    with unit_of_work(vault.sessions) as session:
        assert list_credentials(session, workspace_id=vault.workspace_id) == []
