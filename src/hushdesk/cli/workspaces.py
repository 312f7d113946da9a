"""workspace create, workspace list: workspaces from the command line, for an installation
served without the dashboard (or before anyone has signed in)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from hushdesk.audit.models import ActorKind
from hushdesk.audit.service import do_record_event
from hushdesk.cli.installation import open_installation
from hushdesk.cli.options import DataDir, KeysDir, fail, local_operator
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.text import has_control_characters
from hushdesk.workspaces.models import Region, Workspace
from hushdesk.workspaces.service import do_create_workspace

Name = Annotated[str, typer.Argument(help="The workspace's name.", show_default=False)]
RegionOption = Annotated[
    Region, typer.Option("--region", help="Where its data lives; fixed for good.", case_sensitive=False)
]


def register(app: typer.Typer) -> None:
    workspace = typer.Typer(help="Create and list workspaces.", no_args_is_help=True)
    workspace.command("create")(create)
    workspace.command("list")(list_workspaces)
    app.add_typer(workspace, name="workspace")


def create(
    name: Name, region: RegionOption = Region.EU, data_dir: DataDir = None, keys_dir: KeysDir = None
) -> None:
    """Create a workspace and print its slug (what --workspace takes)."""
    clean = " ".join(name.split())
    if not 1 <= len(clean) <= 120 or has_control_characters(clean):
        raise fail("give the workspace a name of 1 to 120 characters, without control characters")
    with (
        open_installation(data_dir, keys_dir) as installation,
        unit_of_work(installation.sessions) as session,
    ):
        workspace = do_create_workspace(session, name=clean, region=region)
        do_record_event(
            session,
            workspace_id=workspace.id,
            actor_kind=ActorKind.OPERATOR,
            actor_id=local_operator(),
            action="workspace.created",
            target_kind="workspace",
            target_id=str(workspace.id),
            data={"region": workspace.region},
        )
        slug = workspace.slug
    typer.echo(slug)


def list_workspaces(data_dir: DataDir = None, keys_dir: KeysDir = None) -> None:
    """Each workspace's slug, region and name, one per line."""
    with (
        open_installation(data_dir, keys_dir) as installation,
        unit_of_work(installation.sessions) as session,
    ):
        for workspace in session.scalars(select(Workspace).order_by(Workspace.slug)):
            typer.echo(f"{workspace.slug}\t{workspace.region}\t{workspace.name}")
