"""Settings: defaults, environment, and the refusal of unsafe production settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hushdesk.settings import Settings, production_tradeoffs, unsafe_production_settings


def _settings(tmp_path: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {"data_dir": tmp_path / "var", "keys_dir": tmp_path / "keys"}
    base.update(values)
    return Settings(_env_file=None, **base)


def _offending(settings: Settings) -> set[str]:
    return {problem.setting for problem in unsafe_production_settings(settings)}


def test_defaults_are_the_embedded_development_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUSHDESK_ENV", "HUSHDESK_DATA_DIR", "HUSHDESK_KEYS_DIR", "HUSHDESK_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.env.value == "development"
    assert settings.uses_sqlite
    assert settings.resolved_database_url.endswith("var/hushdesk.sqlite3")
    assert settings.base_url == "http://localhost:8000"
    assert unsafe_production_settings(settings) == []


def test_folders_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUSHDESK_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("HUSHDESK_KEYS_DIR", str(tmp_path / "k"))
    settings = Settings(_env_file=None)
    assert settings.data_dir == tmp_path / "d"
    assert settings.keys_dir == tmp_path / "k"


def test_secrets_never_show_in_repr(tmp_path: Path) -> None:
    settings = _settings(tmp_path, database_url="postgresql://app:hunter2@db/hushdesk?sslmode=verify-full")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(ValidationError):
        settings.debug = True  # type: ignore[misc]


def test_loopback_urls_use_localhost(tmp_path: Path) -> None:
    assert _settings(tmp_path, host="127.0.0.1", port=9000).base_url == "http://localhost:9000"
    assert (
        _settings(tmp_path, host="::1", port=443, tls_cert="c", tls_key="k").base_url == "https://localhost"
    )


def test_wildcard_bind_does_not_mean_any_host(tmp_path: Path) -> None:
    assert "*" not in _settings(tmp_path, host="0.0.0.0").effective_allowed_hosts
    assert (
        "support.example.com"
        in _settings(
            tmp_path,
            host="0.0.0.0",
            public_url="https://support.example.com",
        ).effective_allowed_hosts
    )


def test_tls_cert_and_key_go_together(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="together"):
        _settings(tmp_path, tls_cert="cert.pem")


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    assert _settings(tmp_path, trusted_proxies="10.0.0.1, 192.168.0.0/16").trusted_proxies == [
        "10.0.0.1",
        "192.168.0.0/16",
    ]
    with pytest.raises(ValidationError):
        _settings(tmp_path, trusted_proxies="proxy.internal")


def test_production_names_every_unsafe_setting(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        env="production",
        debug=True,
        keys_dir=tmp_path / "var" / "keys",
        database_url="postgresql://app@db/hushdesk?sslmode=require",
    )
    assert _offending(settings) == {
        "HUSHDESK_TLS_CERT / HUSHDESK_TRUSTED_PROXIES",
        "HUSHDESK_DEBUG",
        "HUSHDESK_KEYS_DIR",
        "HUSHDESK_DATABASE_URL",
    }


def test_production_with_tls_and_verified_postgres_is_safe(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        env="production",
        tls_cert="cert.pem",
        tls_key="key.pem",
        database_url="postgresql://app@db/hushdesk?sslmode=verify-full",
    )
    assert _offending(settings) == set()
    assert production_tradeoffs(settings) == []


def test_production_behind_a_trusted_proxy_is_safe(tmp_path: Path) -> None:
    settings = _settings(tmp_path, env="production", trusted_proxies="10.0.0.5")
    assert _offending(settings) == set()


def test_sqlite_in_production_is_allowed_but_its_limits_are_said(tmp_path: Path) -> None:
    settings = _settings(tmp_path, env="production", trusted_proxies="10.0.0.5")
    assert _offending(settings) == set()
    assert any("one writer" in note for note in production_tradeoffs(settings))


def test_the_contact_key_store_defaults_to_the_keys_folder(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    expected = (tmp_path / "keys" / "contact-keys.sqlite3").resolve()
    assert settings.resolved_keystore_url == f"sqlite:///{expected}"


def test_production_refuses_the_key_store_in_the_main_database(tmp_path: Path) -> None:
    url = "postgresql://app@db/hushdesk?sslmode=verify-full"
    settings = _settings(
        tmp_path, env="production", trusted_proxies="10.0.0.5", database_url=url, keystore_url=url
    )
    assert _offending(settings) == {"HUSHDESK_KEYSTORE_URL"}


def test_aws_kms_needs_a_key_and_a_region(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="kms_key_id and kms_region"):
        _settings(tmp_path, key_provider="aws-kms", kms_region="eu-west-1")
    assert _settings(tmp_path, key_provider="aws-kms", kms_key_id="alias/hushdesk", kms_region="eu-west-1")
