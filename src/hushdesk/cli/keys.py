"""keys rotate-master, keys rotate-workspace, keys status."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.audit.models import ActorKind
from hushdesk.audit.service import do_record_event
from hushdesk.cli.installation import open_installation
from hushdesk.cli.options import DataDir, KeysDir, fail, load_settings, local_operator, start_database
from hushdesk.crypto.errors import KeyProviderError
from hushdesk.crypto.models import DataKeyRecord, KeyPurpose, KeyStatus
from hushdesk.crypto.reencrypt import data_key_tables, workspace_key_states
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.infra.jobs.queue import enqueue_work
from hushdesk.schema import mappers
from hushdesk.tasks import REENCRYPT_WORKSPACE, build_job_queue
from hushdesk.workspaces.models import Workspace

log = logging.getLogger(__name__)
# A progress line per this fraction of the keys (5%).
_PROGRESS_STEPS = 20

WorkspaceSlug = Annotated[str, typer.Argument(help="The workspace's slug.", show_default=False)]


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="Rotate the master and workspace keys; show key status.", no_args_is_help=True)
    keys.command("rotate-master")(rotate_master)
    keys.command("rotate-workspace")(rotate_workspace)
    keys.command("status")(status)
    app.add_typer(keys, name="keys")


def rotate_master(data_dir: DataDir = None, keys_dir: KeysDir = None) -> None:
    """Make a new master key (KEK) current and re-wrap every data key under it.

    Online: a running server keeps working (older KEKs still unwrap). Exits 2 when the
    provider cannot rotate (a master key from HUSHDESK_MASTER_KEY)."""
    with open_installation(data_dir, keys_dir) as opened:
        try:
            kek_id = opened.keyring.provider.rotate()
        except KeyProviderError as exc:
            raise fail(str(exc)) from exc
        log.info("master key rotated", extra={"kek_id": kek_id, "provider": opened.keyring.provider.name})
        with unit_of_work(opened.sessions) as session:
            total = opened.keyring.rewrap_all(session, progress=_progress_printer())
            do_record_event(
                session,
                workspace_id=None,
                actor_kind=ActorKind.OPERATOR,
                actor_id=local_operator(),
                action="keys.rotate_master",
                target_kind="kek",
                target_id=kek_id,
                data={"rewrapped": total, "provider": opened.keyring.provider.name},
            )
    typer.echo(f"master key rotated: new KEK {kek_id}; re-wrapped {total} key(s)")


def _progress_printer() -> Callable[[int, int], None]:
    printed = -1

    def report(done: int, total: int) -> None:
        nonlocal printed
        step = done * _PROGRESS_STEPS // total
        if step > printed or done == total:
            printed = step
            typer.echo(f"re-wrapped {done}/{total} keys", err=True)

    return report


def rotate_workspace(slug: WorkspaceSlug, data_dir: DataDir = None, keys_dir: KeysDir = None) -> None:
    """Retire the workspace's data key, make a new one, and queue the re-encryption of every
    value the old key seals (the old key is destroyed when none is left). Exits 2, changing
    nothing, for an unknown workspace."""
    with open_installation(data_dir, keys_dir) as opened:
        queue = build_job_queue(opened.settings, engine=opened.engine, sessions=opened.sessions)
        try:
            with unit_of_work(opened.sessions) as session:
                workspace_id = _workspace_id(session, slug)
                retiring = _active_data_key(session, workspace_id)
                new_key = opened.keyring.rotate_workspace_key(session, workspace_id=workspace_id)
                do_record_event(
                    session,
                    workspace_id=workspace_id,
                    actor_kind=ActorKind.OPERATOR,
                    actor_id=local_operator(),
                    action="keys.rotate_workspace",
                    target_kind="data_key",
                    target_id=str(new_key.id),
                    data={"retiring_key": str(retiring) if retiring else None},
                )
                if retiring is not None:
                    enqueue_work(
                        session,
                        queue=queue,
                        kind=REENCRYPT_WORKSPACE,
                        idempotency_key=str(retiring),
                        payload={"workspace_id": str(workspace_id), "key_id": str(retiring)},
                        workspace_id=workspace_id,
                    )
        finally:
            queue.close()
    log.info(
        "workspace key rotated",
        extra={
            "workspace_id": str(workspace_id),
            "new_key_id": str(new_key.id),
            "retiring_key_id": str(retiring) if retiring else None,
        },
    )
    typer.echo(f"workspace {slug}: new data key {new_key.id}")
    if retiring is None:
        typer.echo("there was no active data key: nothing to re-encrypt")
        return
    typer.echo(f"key {retiring} is retiring; its values are re-encrypted in the background")
    typer.echo(f"follow progress with: hushdesk keys status {slug}")


def status(
    slug: Annotated[
        str | None, typer.Argument(help="Only this workspace (default: all).", show_default=False)
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Show each workspace's keys and, for a retiring key, how many values it still seals."""
    settings = load_settings(data_dir=data_dir)
    engine = start_database(settings)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            query = select(Workspace).order_by(Workspace.slug)
            if slug is not None:
                _workspace_id(session, slug)
                query = query.where(Workspace.slug == slug)
            for workspace in session.scalars(query):
                _print_workspace_keys(session, workspace)
    finally:
        engine.dispose()


def _print_workspace_keys(session: Session, workspace: Workspace) -> None:
    typer.echo(f"workspace {workspace.slug} ({workspace.id})")
    states = workspace_key_states(session, workspace_id=workspace.id, tables=data_key_tables(mappers))
    if not states:
        typer.echo("  no keys yet")
    for state in states:
        line = (
            f"  {state.id}  {state.purpose:<5}  {state.status:<9}  "
            f"encryptions={state.encryptions}  created_at={state.created_at.isoformat()}"
        )
        if state.values_remaining is not None:
            line += f"  still_seals={state.values_remaining}"
        typer.echo(line)


def _workspace_id(session: Session, slug: str) -> uuid.UUID:
    workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == slug))
    if workspace_id is None:
        raise fail(f"no workspace with the slug {slug!r}")
    return workspace_id


def _active_data_key(session: Session, workspace_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalar(
        select(DataKeyRecord.id).where(
            DataKeyRecord.workspace_id == workspace_id,
            DataKeyRecord.purpose == KeyPurpose.DATA.value,
            DataKeyRecord.status == KeyStatus.ACTIVE.value,
        )
    )
