"""serve, migrate, setup, check-config, version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from hushdesk import __version__
from hushdesk.app import create_app
from hushdesk.bootstrap import open_database, prepare_folders, setup_link
from hushdesk.cli.options import DataDir, KeysDir, fail, load_settings, refuse_unsafe, start_database
from hushdesk.identity.passwords import prepare_unknown_account_hash
from hushdesk.infra.logs import configure_logging
from hushdesk.infra.tls import server_ssl_context_factory
from hushdesk.settings import production_tradeoffs, unsafe_production_settings


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(migrate)
    app.command()(setup)
    app.command("check-config")(check_config)
    app.command()(version)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).", show_default=False)
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).", show_default=False)] = None,
    data_dir: DataDir = None,
    keys_dir: KeysDir = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate chain; serves HTTPS (TLS 1.3 only by default).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
) -> None:
    """Run the web server (and, on the embedded default, the background jobs)."""
    settings = load_settings(
        host=host, port=port, data_dir=data_dir, keys_dir=keys_dir, tls_cert=tls_cert, tls_key=tls_key
    )
    refuse_unsafe(settings)
    engine = start_database(settings)
    link = setup_link(settings, engine)
    application = create_app(settings, engine=engine)
    prepare_unknown_account_hash()
    typer.echo(f"Hushdesk {__version__} serving at {settings.base_url}")
    if link:
        typer.echo(
            f"First-run setup (one-time link, valid {settings.setup_link_ttl_minutes} minutes): {link}"
        )
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        proxy_headers=False,  # honoured in the app, and only from HUSHDESK_TRUSTED_PROXIES
        server_header=False,
        log_config=None,
        access_log=False,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        ssl_context_factory=server_ssl_context_factory(settings.tls_min_version.value)
        if settings.tls_enabled
        else None,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


def migrate(data_dir: DataDir = None) -> None:
    """Bring the database schema up to date (idempotent; safe to run from several machines)."""
    settings = load_settings(data_dir=data_dir)
    configure_logging(settings.log_level)
    prepare_folders(settings)
    engine = open_database(settings, migrate=True)
    engine.dispose()
    typer.echo("database schema is up to date")


def setup(data_dir: DataDir = None, keys_dir: KeysDir = None) -> None:
    """Print a fresh one-time setup link while no owner exists (earlier links stop working)."""
    settings = load_settings(data_dir=data_dir, keys_dir=keys_dir)
    engine = start_database(settings)
    link = setup_link(settings, engine)
    engine.dispose()
    if link is None:
        raise fail("setup is complete: an owner exists. Sign in at " + f"{settings.base_url}/login", code=1)
    typer.echo(link)


def check_config(data_dir: DataDir = None, keys_dir: KeysDir = None) -> None:
    """Print whether these settings are safe to serve with, without starting anything."""
    settings = load_settings(data_dir=data_dir, keys_dir=keys_dir)
    problems = unsafe_production_settings(settings)
    typer.echo(f"environment: {settings.env.value}")
    typer.echo(f"database: {'SQLite (embedded)' if settings.uses_sqlite else 'PostgreSQL'}")
    typer.echo(f"TLS: {'on, minimum ' + settings.tls_min_version.value if settings.tls_enabled else 'off'}")
    for note in production_tradeoffs(settings):
        typer.echo(f"note: {note}")
    if problems:
        for problem in problems:
            typer.secho(f"unsafe: {problem.setting}: {problem.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    typer.echo("verdict: ok")


def version() -> None:
    """Print the version."""
    typer.echo(__version__)
