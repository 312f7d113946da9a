"""hushdesk audit verify / checkpoint / public-key against a real database on each engine,
and the signing key file."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from hushdesk.audit.checkpoints import SIGNING_KEY_FILE, load_or_create_signing_key, public_key_pem
from hushdesk.audit.models import chain_for
from hushdesk.cli import app
from hushdesk.settings import Settings
from tests.audit.conftest import execute, record, rehash_from
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
    return make_settings(tmp_path)


def _run(settings: Settings, *args: str) -> tuple[int, str]:
    options = ["--data-dir", str(settings.data_dir), "--keys-dir", str(settings.keys_dir)]
    result = runner.invoke(app, ["audit", *args, *options])
    return result.exit_code, result.output


def test_verify_exits_0_when_intact_and_1_with_the_first_bad_event(
    engine: Engine, sessions: sessionmaker[Session], workspace_id: uuid.UUID, cli_settings: Settings
) -> None:
    record(sessions, workspace_id, 3)
    record(sessions, None, 1)
    code, output = _run(cli_settings, "verify")
    assert code == 0, output
    assert "workspace acme: intact, 3 event(s)" in output
    assert "instance: intact, 1 event(s)" in output
    execute(
        engine,
        "UPDATE audit_event SET action = 'a.b' WHERE chain = :chain AND seq = 2",
        chain=chain_for(workspace_id),
    )
    code, output = _run(cli_settings, "verify")
    assert code == 1
    assert "workspace acme: BROKEN at seq 2" in output
    code, output = _run(cli_settings, "verify", "--workspace", "acme")
    assert code == 1
    assert "instance" not in output


def test_verify_of_an_unknown_workspace_exits_2(
    sessions: sessionmaker[Session], workspace_id: uuid.UUID, cli_settings: Settings
) -> None:
    code, output = _run(cli_settings, "verify", "--workspace", "nope")
    assert code == 2
    assert "no workspace" in output


def test_checkpoint_catches_a_rewritten_and_rehashed_chain(
    engine: Engine, sessions: sessionmaker[Session], workspace_id: uuid.UUID, cli_settings: Settings
) -> None:
    record(sessions, workspace_id, 4)
    code, output = _run(cli_settings, "checkpoint")
    assert code == 0, output
    assert "workspace acme: checkpoint at seq 4" in output
    chain = chain_for(workspace_id)
    execute(
        engine, "UPDATE audit_event SET actor_id = 'someone' WHERE chain = :chain AND seq = 2", chain=chain
    )
    rehash_from(engine, sessions, chain, 2)
    code, output = _run(cli_settings, "verify")
    assert code == 1
    assert "BROKEN at seq 4" in output
    assert "checkpoint" in output
    # A broken chain is never signed: signing would vouch for the tampering.
    code, output = _run(cli_settings, "checkpoint")
    assert code == 1
    assert "checkpoint at seq" not in output


def test_verify_with_a_public_key_kept_elsewhere(
    sessions: sessionmaker[Session], workspace_id: uuid.UUID, cli_settings: Settings, tmp_path: Path
) -> None:
    record(sessions, workspace_id, 2)
    assert _run(cli_settings, "checkpoint")[0] == 0
    kept = tmp_path / "kept-elsewhere.pem"
    kept.write_bytes(public_key_pem(load_or_create_signing_key(cli_settings.keys_dir)))
    code, output = _run(cli_settings, "verify", "--public-key", str(kept))
    assert code == 0, output
    assert "checkpoint at seq 2 verified" in output
    other = tmp_path / "other-keys"
    kept.write_bytes(public_key_pem(load_or_create_signing_key(other)))
    code, output = _run(cli_settings, "verify", "--public-key", str(kept))
    assert code == 1
    assert "signature is invalid" in output


def test_signing_key_file_is_private_and_stable(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    first = load_or_create_signing_key(keys_dir)
    assert stat.S_IMODE((keys_dir / SIGNING_KEY_FILE).stat().st_mode) == 0o600
    assert public_key_pem(load_or_create_signing_key(keys_dir)) == public_key_pem(first)
    assert [path.name for path in keys_dir.iterdir()] == [SIGNING_KEY_FILE]
