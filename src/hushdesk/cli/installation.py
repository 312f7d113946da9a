"""Opening the installation (settings, database, keyring) for a command that reads or writes
encrypted data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.bootstrap import build_keyring, encrypted_sessions
from hushdesk.cli.options import fail, load_settings, start_database
from hushdesk.crypto.errors import KeyProviderError
from hushdesk.crypto.keyring import Keyring
from hushdesk.settings import Settings


@dataclass(frozen=True, slots=True)
class Installation:
    settings: Settings
    engine: Engine
    keyring: Keyring
    sessions: sessionmaker[Session]


@contextmanager
def open_installation(data_dir: Path | None, keys_dir: Path | None) -> Iterator[Installation]:
    """Settings with these overrides, the database (migrated on the embedded default) and the
    keyring; exits with status 2 and the reason when the key provider cannot be reached."""
    settings = load_settings(data_dir=data_dir, keys_dir=keys_dir)
    engine = start_database(settings)
    try:
        keyring = build_keyring(settings)
    except KeyProviderError as exc:
        engine.dispose()
        raise fail(str(exc)) from exc
    try:
        yield Installation(settings, engine, keyring, encrypted_sessions(engine, keyring))
    finally:
        keyring.contact_keys.dispose()
        engine.dispose()
