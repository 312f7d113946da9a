"""keys rotate-master, keys rotate-workspace and keys status, against a real database on each
engine."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from hushdesk.bootstrap import build_keyring, encrypted_sessions
from hushdesk.cli import app
from hushdesk.crypto.models import DataKeyRecord, KeyStatus
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.infra.jobs.models import WorkItem
from hushdesk.settings import Settings
from hushdesk.tasks import REENCRYPT_WORKSPACE
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.conftest import make_settings

runner = CliRunner()


@pytest.fixture
def cli_settings(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI's settings point at ``engine``'s database (the SQLite one is the data folder's)."""
    monkeypatch.chdir(tmp_path)
    for name in ("HUSHDESK_ENV", "HUSHDESK_DATABASE_URL", "HUSHDESK_MASTER_KEY", "HUSHDESK_KEYSTORE_URL"):
        monkeypatch.delenv(name, raising=False)
    if engine.dialect.name == "postgresql":
        monkeypatch.setenv("HUSHDESK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    settings = make_settings(tmp_path)
    for folder in (settings.data_dir, settings.keys_dir):
        folder.mkdir(mode=0o700, exist_ok=True)
    return settings


def _options(settings: Settings) -> list[str]:
    return ["--data-dir", str(settings.data_dir), "--keys-dir", str(settings.keys_dir)]


def _workspace_with_a_key(engine: Engine, settings: Settings, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A workspace whose data key exists; returns (workspace id, key id)."""
    keyring = build_keyring(settings)
    try:
        with unit_of_work(encrypted_sessions(engine, keyring)) as session:
            workspace_id = do_create_workspace(session, name=name, region=Region.EU).id
            key_id = keyring.data_key_for_writing(session, workspace_id=workspace_id).id
            keyring.contact_key_for_writing(workspace_id=workspace_id, contact_id=uuid.uuid4())
    finally:
        keyring.contact_keys.dispose()
    return workspace_id, key_id


def _printed(output: str) -> list[str]:
    """The command's own lines, without the JSON log lines (stderr is mixed in)."""
    return [line for line in output.splitlines() if not line.startswith("{")]


def _keys(engine: Engine) -> list[tuple[uuid.UUID, str, str]]:
    with unit_of_work(make_sessionmaker(engine)) as session:
        rows = session.execute(select(DataKeyRecord.id, DataKeyRecord.status, DataKeyRecord.kek_id))
        return sorted((row.id, row.status, row.kek_id) for row in rows)


def test_rotate_master_prints_progress_and_a_summary(engine: Engine, cli_settings: Settings) -> None:
    _workspace_with_a_key(engine, cli_settings, "Acme")
    _workspace_with_a_key(engine, cli_settings, "Other")
    result = runner.invoke(app, ["keys", "rotate-master", *_options(cli_settings)])
    assert result.exit_code == 0, result.output
    assert "re-wrapped 4/4 keys" in result.output
    assert "master key rotated: new KEK" in result.output
    assert "re-wrapped 4 key(s)" in result.output
    new_kek = result.output.split("new KEK ")[1].split(";")[0]
    assert {kek_id for _id, _status, kek_id in _keys(engine)} == {new_kek}
    fresh = build_keyring(cli_settings)  # as a restarted process: nothing cached
    try:
        with unit_of_work(encrypted_sessions(engine, fresh)) as session:
            for key_id, _status, _kek in _keys(engine):
                assert fresh.data_key_for_reading(session, key_id).id == key_id
        for stored in fresh.contact_keys.all_keys():
            assert fresh.contact_key_for_reading(stored.id).id == stored.id
    finally:
        fresh.contact_keys.dispose()


def test_rotate_master_with_an_environment_key_exits_2(
    engine: Engine, cli_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUSHDESK_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    result = runner.invoke(app, ["keys", "rotate-master", *_options(cli_settings)])
    assert result.exit_code == 2
    assert "rotation is not supported for a master key from the environment" in result.output


def test_rotate_workspace_retires_the_key_and_queues_the_reencryption(
    engine: Engine, cli_settings: Settings
) -> None:
    workspace_id, old = _workspace_with_a_key(engine, cli_settings, "Acme")
    result = runner.invoke(app, ["keys", "rotate-workspace", "acme", *_options(cli_settings)])
    assert result.exit_code == 0, result.output
    statuses = {key_id: status for key_id, status, _kek in _keys(engine)}
    assert statuses.pop(old) == KeyStatus.RETIRING
    [(new, status)] = statuses.items()
    assert status == KeyStatus.ACTIVE
    assert f"new data key {new}" in result.output
    assert "hushdesk keys status acme" in result.output
    with unit_of_work(make_sessionmaker(engine)) as session:
        item = session.scalars(select(WorkItem).where(WorkItem.kind == REENCRYPT_WORKSPACE)).one()
    assert item.idempotency_key == str(old)
    assert item.payload == {"workspace_id": str(workspace_id), "key_id": str(old)}


def test_rotate_workspace_with_an_unknown_slug_exits_2_and_changes_nothing(
    engine: Engine, cli_settings: Settings
) -> None:
    _workspace_with_a_key(engine, cli_settings, "Acme")
    before = _keys(engine)
    result = runner.invoke(app, ["keys", "rotate-workspace", "nope", *_options(cli_settings)])
    assert result.exit_code == 2
    assert "no workspace with the slug 'nope'" in result.output
    assert _keys(engine) == before
    with unit_of_work(make_sessionmaker(engine)) as session:
        assert session.scalar(select(func.count()).select_from(WorkItem)) == 0


def test_keys_status_lists_each_workspaces_keys(engine: Engine, cli_settings: Settings) -> None:
    _workspace, old = _workspace_with_a_key(engine, cli_settings, "Acme")
    _other, other_key = _workspace_with_a_key(engine, cli_settings, "Other")
    rotated = runner.invoke(app, ["keys", "rotate-workspace", "acme", *_options(cli_settings)])
    assert rotated.exit_code == 0, rotated.output
    result = runner.invoke(app, ["keys", "status", "--data-dir", str(cli_settings.data_dir)])
    assert result.exit_code == 0, result.output
    lines = _printed(result.output)
    assert lines[0].startswith("workspace acme (")
    retiring = next(line for line in lines if str(old) in line)
    assert "retiring" in retiring
    assert "encryptions=0" in retiring
    assert "still_seals=0" in retiring
    assert any(str(other_key) in line and "active" in line for line in lines)
    only = runner.invoke(app, ["keys", "status", "other", "--data-dir", str(cli_settings.data_dir)])
    assert only.exit_code == 0
    assert str(old) not in only.output
    assert str(other_key) in only.output
    unknown = runner.invoke(app, ["keys", "status", "nope", "--data-dir", str(cli_settings.data_dir)])
    assert unknown.exit_code == 2


def test_rotations_are_audit_events_of_a_local_operator(engine: Engine, cli_settings: Settings) -> None:
    from hushdesk.audit.chain import verify_chain
    from hushdesk.audit.models import INSTANCE_CHAIN, AuditEvent, chain_for

    workspace_id, _old = _workspace_with_a_key(engine, cli_settings, "Acme")
    assert runner.invoke(app, ["keys", "rotate-master", *_options(cli_settings)]).exit_code == 0
    assert runner.invoke(app, ["keys", "rotate-workspace", "acme", *_options(cli_settings)]).exit_code == 0
    with unit_of_work(make_sessionmaker(engine)) as session:
        events = {event.action: event for event in session.scalars(select(AuditEvent))}
        assert events["keys.rotate_master"].workspace_id is None
        assert events["keys.rotate_workspace"].workspace_id == workspace_id
        assert all(event.actor_kind == "operator" for event in events.values())
        assert all((event.actor_id or "").startswith("os") for event in events.values())
        assert verify_chain(session, INSTANCE_CHAIN).ok
        assert verify_chain(session, chain_for(workspace_id)).ok
