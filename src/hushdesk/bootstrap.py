"""What the server, the worker and the CLI do before they start: make the folders, open and
migrate the database, and issue the first-run setup link while no owner exists."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hushdesk import __version__
from hushdesk.agents.knowledge.ranking import LocalEmbedder, local_model_available
from hushdesk.agents.knowledge.search import KnowledgeIndexCache
from hushdesk.agents.runtime import AssistantServices, LoadedOnce
from hushdesk.crypto.columns import install_encryption
from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.keystore import ContactKeyStore
from hushdesk.crypto.providers import KeyProvider, LocalKeyProvider
from hushdesk.identity.setup import SetupAlreadyCompleteError, issue_setup_link_token, owner_exists
from hushdesk.infra.db.engine import create_db_engine
from hushdesk.infra.db.migrate import is_up_to_date, upgrade_to_head
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.infra.http import build_http_client
from hushdesk.privacy.pii import Detector, NameLexicon
from hushdesk.settings import KeyProviderName, Settings, outbound_policy


class DatabaseNotMigratedError(RuntimeError):
    """PostgreSQL deployments migrate explicitly (``hushdesk migrate``), once, before rolling
    out new code; the server refuses to start on an old schema instead of migrating under load."""


def prepare_folders(settings: Settings) -> None:
    """Create the data, uploads and keys folders, readable by this user only."""
    for folder in (settings.data_dir, settings.uploads_dir, settings.keys_dir):
        _private_dir(folder)


def _private_dir(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)


def open_database(settings: Settings, *, migrate: bool) -> Engine:
    """The engine for the configured database, migrated to head when ``migrate`` is true.

    Raises ``DatabaseNotMigratedError`` when the schema is behind and ``migrate`` is false.
    """
    engine = create_db_engine(settings.resolved_database_url)
    if migrate:
        upgrade_to_head(engine)
    elif not is_up_to_date(engine):
        engine.dispose()
        raise DatabaseNotMigratedError("the database schema is not up to date: run `hushdesk migrate`")
    return engine


def setup_link(settings: Settings, engine: Engine) -> str | None:
    """A fresh one-time setup link while no owner exists (earlier links stop working), else None."""
    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as session:
        if owner_exists(session):
            return None
        try:
            token = issue_setup_link_token(session, ttl=dt.timedelta(minutes=settings.setup_link_ttl_minutes))
        except SetupAlreadyCompleteError:
            return None
    return f"{settings.base_url}/setup/{token}"


def outbound_client(settings: Settings) -> httpx.Client:
    """An outbound HTTP client under this installation's policy (the caller closes it)."""
    return build_http_client(outbound_policy(settings), version=__version__)


def build_key_provider(settings: Settings) -> KeyProvider:
    """The master-key provider the settings name. The local key file is created (0600) in the
    keys folder at first run; AWS KMS is only reached when a key is first wrapped or unwrapped.
    """
    if settings.key_provider is KeyProviderName.AWS_KMS:
        # Imported here so that local-key installs never load boto3.
        from hushdesk.crypto.providers.aws_kms import AwsKmsKeyProvider

        return AwsKmsKeyProvider(
            key_id=settings.kms_key_id,
            region_name=settings.kms_region,
            endpoint_url=settings.kms_endpoint_url or None,
        )
    master_key = settings.master_key.get_secret_value()
    if master_key:
        return LocalKeyProvider.from_base64(master_key)
    return LocalKeyProvider.from_keys_dir(settings.keys_dir)


def build_keyring(settings: Settings) -> Keyring:
    """The process's keyring: the configured master-key provider and the contact key store
    (close it with ``keyring.contact_keys.dispose()``)."""
    return Keyring(
        provider=build_key_provider(settings),
        contact_keys=ContactKeyStore.open(settings.resolved_keystore_url),
    )


def encrypted_sessions(engine: Engine, keyring: Keyring) -> sessionmaker[Session]:
    """Sessions of ``engine`` that seal and open encrypted columns with ``keyring``."""
    sessions = make_sessionmaker(engine)
    install_encryption(sessions, keyring)
    return sessions


def assistant_services(settings: Settings) -> AssistantServices:
    """What answering needs in this process: the PII engine with its name lists (read on first
    use from the cache folder, built there once if missing), the knowledge index cache (with
    the local embedding model when its optional package is installed) and outbound clients."""

    names = LoadedOnce(lambda: NameLexicon.load(settings.resolved_cache_dir))

    def load_detector() -> Detector:
        return Detector(names=names())

    def load_embedder() -> LocalEmbedder | None:
        return LocalEmbedder.load() if local_model_available() else None

    return AssistantServices(
        detector=LoadedOnce(load_detector),
        index_cache=KnowledgeIndexCache(embedder=load_embedder),
        http_client=lambda: outbound_client(settings),
        names=names,
    )
