"""Options shared by several commands, and reading settings with command-line overrides."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import Engine

from hushdesk.bootstrap import DatabaseNotMigratedError, open_database, prepare_folders
from hushdesk.infra.logs import configure_logging
from hushdesk.settings import Settings, unsafe_production_settings

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Database and uploads (env HUSHDESK_DATA_DIR; default ./var).", show_default=False
    ),
]
KeysDir = Annotated[
    Path | None,
    typer.Option(
        "--keys-dir",
        help="Key material, kept apart from the data (env HUSHDESK_KEYS_DIR; default ./keys).",
        show_default=False,
    ),
]


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and .env, with the given non-None overrides on top.
    Exits with status 2 and the reason on invalid settings."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "settings"
            typer.secho(f"invalid setting {where}: {problem['msg']}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def start_database(settings: Settings) -> Engine:
    """What every long-running command does first: JSON logging, private folders, and the
    database (migrated automatically on the embedded default; on PostgreSQL it must already be
    migrated, else exit 2 with the reason)."""
    configure_logging(settings.log_level)
    prepare_folders(settings)
    try:
        return open_database(settings, migrate=settings.uses_sqlite)
    except DatabaseNotMigratedError as exc:
        raise fail(str(exc)) from exc


def refuse_unsafe(settings: Settings) -> None:
    """Exit 2, naming each offending setting, if production settings are unsafe."""
    problems = unsafe_production_settings(settings)
    if not problems:
        return
    typer.secho("refusing to start in production with unsafe settings:", fg=typer.colors.RED, err=True)
    for problem in problems:
        typer.secho(f"  {problem.setting}: {problem.message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def local_operator() -> str:
    """Who runs this command, as the audit log records a local operator: the OS account."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"os-uid:{os.getuid()}"
