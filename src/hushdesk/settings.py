"""One settings object, read once from the environment (prefix ``HUSHDESK_``) and an optional
``.env`` file, then passed explicitly to everything that needs it. It is frozen: configuration
cannot change after it has been read.

``unsafe_production_settings`` lists what a production deployment must not run with; the server
refuses to start while the list is non-empty, and ``hushdesk check-config`` prints the same
verdict without starting.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hushdesk.infra.http import OutboundPolicy, parse_networks


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class KeyProviderName(enum.StrEnum):
    LOCAL = "local"
    AWS_KMS = "aws-kms"


class TLSVersion(enum.StrEnum):
    TLS1_2 = "1.2"
    TLS1_3 = "1.3"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of the server, worker and CLI.

    Secrets are ``SecretStr`` so that they never appear in a repr, a log line or an error.
    """

    model_config = SettingsConfigDict(
        env_prefix="HUSHDESK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    env: Environment = Environment.DEVELOPMENT
    debug: bool = False

    data_dir: Path = Path("./var")
    keys_dir: Path = Path("./keys")
    # Derived data built once from installed packages (the PII engine's name lists); default
    # <data dir>/cache.
    cache_dir: Path | None = None
    # Empty means the embedded default: a SQLite file in the data folder.
    database_url: SecretStr = SecretStr("")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # The public base URL, when a proxy or load balancer fronts the server
    # (for example https://support.example.com). Empty: derived from host and port.
    public_url: str = ""

    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_min_version: TLSVersion = TLSVersion.TLS1_3

    # Addresses (or networks) of reverse proxies whose X-Forwarded-For/-Proto are honoured.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Host header values the server answers to; empty means derived from host/public_url.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Addresses or networks the outbound HTTP client may reach although they are private,
    # such as a self-hosted model server on the office network.
    outbound_allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Knowledge-base uploads only (several files of up to 20 MiB each in one form).
    max_upload_body_bytes: int = Field(default=64 * 1_048_576, ge=1024)
    setup_link_ttl_minutes: int = Field(default=60, ge=1, le=24 * 60)

    # Background jobs: in the server process on the embedded default; set false when separate
    # `hushdesk worker` processes run the jobs.
    run_jobs_in_process: bool = True
    job_workers: int = Field(default=2, ge=1, le=64)
    # How long a claimed unit of work stays leased to one worker before another may take it over.
    job_lease_seconds: int = Field(default=300, ge=1)

    # Master key (KEK) provider: "local" (a key file in the keys folder, or HUSHDESK_MASTER_KEY)
    # or "aws-kms" (HUSHDESK_KMS_KEY_ID, HUSHDESK_KMS_REGION, optional HUSHDESK_KMS_ENDPOINT_URL).
    key_provider: KeyProviderName = KeyProviderName.LOCAL
    master_key: SecretStr = SecretStr("")
    kms_key_id: str = ""
    kms_region: str = ""
    kms_endpoint_url: str = ""
    # The contact key store (crypto-shredding). Empty: a SQLite file in the keys folder.
    keystore_url: SecretStr = SecretStr("")

    # Rate limits' counters: "memory://" (one process) or "redis://host:6379/0" (shared by
    # every process; rediss:// for TLS).
    rate_limit_storage_url: SecretStr = SecretStr("memory://")
    # Live updates between processes (the inbox, replies streamed to the widget): "memory://"
    # (one process, the embedded default), "redis://host:6379/0" (pub/sub) or the PostgreSQL
    # URL (LISTEN/NOTIFY). Events carry ids only, never what anyone wrote.
    event_bus_url: SecretStr = SecretStr("memory://")
    # Requests holding a database session at once per process; the rest wait their turn
    # without holding a thread (hushdesk.web.db_gate).
    max_concurrent_db_requests: int = Field(default=8, ge=1, le=32)
    # Widget messages one agent accepts per minute from all its visitors together.
    widget_agent_messages_per_minute: int = Field(default=1200, ge=1)

    log_level: str = "INFO"

    _split = field_validator("trusted_proxies", "allowed_hosts", "outbound_allowed_networks", mode="before")(
        _split_csv
    )

    @field_validator("trusted_proxies", "outbound_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        return self

    @model_validator(mode="after")
    def _kms_complete(self) -> Settings:
        if self.key_provider is KeyProviderName.AWS_KMS and not (self.kms_key_id and self.kms_region):
            raise ValueError("key_provider aws-kms needs kms_key_id and kms_region")
        return self

    # ---- derived values -------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def resolved_database_url(self) -> str:
        url = self.database_url.get_secret_value()
        if url:
            return url
        return f"sqlite:///{(self.data_dir / 'hushdesk.sqlite3').resolve()}"

    @property
    def widget_allows_http_origins(self) -> bool:
        """Outside production a page served over plain HTTP may embed the widget (a developer's
        test page); in production only HTTPS pages may."""
        return not self.is_production

    @property
    def uses_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_keystore_url(self) -> str:
        url = self.keystore_url.get_secret_value()
        if url:
            return url
        return f"sqlite:///{(self.keys_dir / 'contact-keys.sqlite3').resolve()}"

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else self.data_dir / "cache"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_enabled else "http"
        host = display_host(self.host)
        default_port = 443 if self.tls_enabled else 80
        port = "" if self.port == default_port else f":{self.port}"
        return f"{scheme}://{host}{port}"

    @property
    def effective_allowed_hosts(self) -> list[str]:
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        # Never "*" by default: a server bound to every interface answers to its loopback
        # names and public_url only, until HUSHDESK_ALLOWED_HOSTS names the others.
        hosts = {"localhost", "127.0.0.1", "::1", "[::1]"}
        if not _is_loopback(self.host) and not _is_unspecified(self.host):
            hosts |= {self.host, display_host(self.host)}
        if self.public_url:
            from urllib.parse import urlsplit

            public_host = urlsplit(self.public_url).hostname
            if public_host:
                hosts.add(public_host)
        return sorted(hosts)


def display_host(host: str) -> str:
    """The host name to print in URLs: ``localhost`` for any loopback address, because browsers
    treat ``localhost`` as a secure context and WebAuthn refuses bare IP addresses."""
    if _is_loopback(host):
        return "localhost"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    setting: str
    message: str


def unsafe_production_settings(settings: Settings) -> list[ConfigProblem]:
    """What production must not run with. Empty outside production: development is allowed
    to be convenient, production is not."""
    if not settings.is_production:
        return []
    problems: list[ConfigProblem] = []
    if not settings.tls_enabled and not settings.trusted_proxies:
        problems.append(
            ConfigProblem(
                "HUSHDESK_TLS_CERT / HUSHDESK_TRUSTED_PROXIES",
                "no TLS and no trusted proxy: set a certificate and key, or the address of the "
                "TLS-terminating proxy",
            )
        )
    if settings.debug:
        problems.append(ConfigProblem("HUSHDESK_DEBUG", "debug must be off in production"))
    if _inside(settings.keys_dir, settings.data_dir):
        problems.append(
            ConfigProblem(
                "HUSHDESK_KEYS_DIR",
                "the keys folder is inside the data folder: a copy of the data would carry its own keys",
            )
        )
    if settings.resolved_keystore_url == settings.resolved_database_url:
        problems.append(
            ConfigProblem(
                "HUSHDESK_KEYSTORE_URL",
                "the contact key store is the main database: restoring an old backup would bring "
                "erased contacts' keys back",
            )
        )
    if not settings.run_jobs_in_process and settings.event_bus_url.get_secret_value().startswith("memory:"):
        problems.append(
            ConfigProblem(
                "HUSHDESK_EVENT_BUS_URL",
                "separate worker processes with the in-process event bus: replies and hand-offs "
                "would not reach the widget and the inbox live; use Redis or PostgreSQL",
            )
        )
    if not settings.uses_sqlite and not _postgres_verifies_server(settings.resolved_database_url):
        problems.append(
            ConfigProblem(
                "HUSHDESK_DATABASE_URL",
                "PostgreSQL without sslmode=verify-full: the database connection must be "
                "encrypted and the server's certificate and name verified",
            )
        )
    return problems


def production_tradeoffs(settings: Settings) -> list[str]:
    """Allowed but worth knowing: what a production deployment gives up with this configuration."""
    notes: list[str] = []
    if settings.is_production and settings.uses_sqlite:
        notes.append(
            "SQLite in production suits one machine: one writer at a time, no separate worker "
            "machines, no read replicas; backups are file copies taken with the server stopped "
            "or with `sqlite3 .backup`."
        )
    if settings.tls_enabled and settings.tls_min_version is TLSVersion.TLS1_2:
        notes.append("TLS 1.2 is accepted for old clients (HUSHDESK_TLS_MIN_VERSION=1.2).")
    return notes


def _inside(child: Path, parent: Path) -> bool:
    child_resolved = child.resolve()
    parent_resolved = parent.resolve()
    return child_resolved == parent_resolved or parent_resolved in child_resolved.parents


def _postgres_verifies_server(url: str) -> bool:
    query = url.partition("?")[2]
    modes = parse_qs(query).get("sslmode", [])
    return modes == ["verify-full"]


def outbound_policy(settings: Settings) -> OutboundPolicy:
    """The outbound HTTP policy for these settings: the private networks the operator allowed
    (a self-hosted model server, say) and the default timeouts. The server, the worker's jobs
    and the CLI all build their outbound clients under it."""
    return OutboundPolicy(allowed_networks=parse_networks(settings.outbound_allowed_networks))
