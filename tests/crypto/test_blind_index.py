"""Blind indexes: equal values match within a workspace, nothing matches across workspaces."""

from __future__ import annotations

import pytest

from hushdesk.crypto.blind_index import IndexKind, UnindexableValueError, blind_index, normalise
from hushdesk.infra.db.uow import unit_of_work
from tests.crypto.conftest import Vault


@pytest.mark.parametrize(
    ("kind", "forms"),
    [
        (IndexKind.EMAIL, ["Thandi@Example.co.za", "  thandi@example.co.za ", "THANDI@EXAMPLE.CO.ZA"]),
        (IndexKind.PHONE, ["+27 82 123 4567", "+27821234567", "082 123 4567", "(082) 123-4567"]),
    ],
)
def test_forms_of_one_value_share_an_index(vault: Vault, kind: IndexKind, forms: list[str]) -> None:
    with unit_of_work(vault.sessions) as session:
        indexes = {
            blind_index(
                vault.keyring,
                session,
                workspace_id=vault.workspace_id,
                kind=kind,
                value=form,
                default_region="ZA",
            )
            for form in forms
        }
    assert len(indexes) == 1
    assert len(next(iter(indexes))) == 32


def test_the_same_value_indexes_differently_in_another_workspace(vault: Vault) -> None:
    with unit_of_work(vault.sessions) as session:
        here = blind_index(
            vault.keyring, session, workspace_id=vault.workspace_id, kind=IndexKind.EMAIL, value="a@b.co"
        )
        there = blind_index(
            vault.keyring,
            session,
            workspace_id=vault.other_workspace_id,
            kind=IndexKind.EMAIL,
            value="a@b.co",
        )
    assert here != there


def test_kinds_are_kept_apart(vault: Vault) -> None:
    with unit_of_work(vault.sessions) as session:
        exact = blind_index(
            vault.keyring, session, workspace_id=vault.workspace_id, kind=IndexKind.EXACT, value="a@b.co"
        )
        email = blind_index(
            vault.keyring, session, workspace_id=vault.workspace_id, kind=IndexKind.EMAIL, value="a@b.co"
        )
    assert exact != email


def test_the_index_key_is_stable_across_processes(vault: Vault) -> None:
    with unit_of_work(vault.sessions) as session:
        first = blind_index(
            vault.keyring, session, workspace_id=vault.workspace_id, kind=IndexKind.EMAIL, value="x@y.z"
        )
    other_process = vault.fresh_keyring_sessions()
    with unit_of_work(other_process) as session:
        keyring = session.info["hushdesk.keyring"]
        second = blind_index(
            keyring, session, workspace_id=vault.workspace_id, kind=IndexKind.EMAIL, value="X@Y.Z"
        )
    assert first == second


@pytest.mark.parametrize(
    ("kind", "value"), [(IndexKind.EMAIL, "no at sign"), (IndexKind.PHONE, "call me maybe")]
)
def test_invalid_values_are_refused(kind: IndexKind, value: str) -> None:
    with pytest.raises(UnindexableValueError):
        normalise(kind, value, default_region="ZA")
