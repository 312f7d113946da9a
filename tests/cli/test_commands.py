"""The command line: version, migrate, setup, check-config, and serve's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hushdesk import __version__
from hushdesk.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env, and ./var ./keys land in tmp_path
    for name in (
        "HUSHDESK_ENV",
        "HUSHDESK_DATABASE_URL",
        "HUSHDESK_DEBUG",
        "HUSHDESK_TLS_CERT",
        "HUSHDESK_TLS_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def test_migrate_creates_the_database_in_the_data_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["migrate", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "hushdesk.sqlite3").is_file()
    assert oct((tmp_path / "data").stat().st_mode & 0o777) == "0o700"


def test_setup_prints_a_fresh_link_each_time_until_an_owner_exists(tmp_path: Path) -> None:
    first = runner.invoke(
        app, ["setup", "--data-dir", str(tmp_path / "d"), "--keys-dir", str(tmp_path / "k")]
    )
    second = runner.invoke(
        app, ["setup", "--data-dir", str(tmp_path / "d"), "--keys-dir", str(tmp_path / "k")]
    )
    assert first.exit_code == 0
    assert first.stdout.startswith("http://localhost:8000/setup/")
    assert second.stdout.strip() != first.stdout.strip()
    assert (tmp_path / "k").is_dir()
    assert not (tmp_path / "d" / "keys").exists()


def test_check_config_development_is_ok() -> None:
    result = runner.invoke(app, ["check-config"])
    assert result.exit_code == 0
    assert "verdict: ok" in result.output


def test_check_config_names_each_unsafe_production_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HUSHDESK_ENV", "production")
    monkeypatch.setenv("HUSHDESK_DEBUG", "true")
    monkeypatch.setenv("HUSHDESK_DATABASE_URL", "postgresql://app@db/hushdesk")
    result = runner.invoke(
        app, ["check-config", "--data-dir", str(tmp_path), "--keys-dir", str(tmp_path / "keys")]
    )
    assert result.exit_code == 2
    for setting in (
        "HUSHDESK_DEBUG",
        "HUSHDESK_DATABASE_URL",
        "HUSHDESK_KEYS_DIR",
        "HUSHDESK_TRUSTED_PROXIES",
    ):
        assert setting in result.output


def test_check_config_says_what_sqlite_in_production_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUSHDESK_ENV", "production")
    monkeypatch.setenv("HUSHDESK_TRUSTED_PROXIES", "10.0.0.5")
    result = runner.invoke(app, ["check-config"])
    assert result.exit_code == 0
    assert "one writer" in result.output
    assert "no separate worker" in result.output


def test_serve_refuses_unsafe_production_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUSHDESK_ENV", "production")
    result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path / "var")])
    assert result.exit_code == 2
    assert "refusing to start" in result.output
    assert "HUSHDESK_TLS_CERT" in result.output
    assert not (tmp_path / "var").exists()


def test_invalid_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUSHDESK_ENV", "staging")
    result = runner.invoke(app, ["check-config"])
    assert result.exit_code == 2
    assert "invalid setting env" in result.output


def test_setup_refuses_once_an_owner_exists(tmp_path: Path) -> None:
    from hushdesk.identity.setup import do_complete_setup
    from hushdesk.infra.db.engine import create_db_engine
    from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
    from hushdesk.workspaces.models import Region

    data = ["--data-dir", str(tmp_path / "d"), "--keys-dir", str(tmp_path / "k")]
    link = runner.invoke(app, ["setup", *data]).stdout.strip()
    engine = create_db_engine(f"sqlite:///{tmp_path / 'd' / 'hushdesk.sqlite3'}")
    with unit_of_work(make_sessionmaker(engine)) as session:
        do_complete_setup(
            session,
            token=link.rsplit("/", 1)[1],
            workspace_name="Acme",
            region=Region.EU,
            owner_name="Ada",
            owner_email="ada@example.com",
            password="correct horse battery staple",
        )
    engine.dispose()
    result = runner.invoke(app, ["setup", *data])
    assert result.exit_code == 1
    assert "setup is complete" in result.output
