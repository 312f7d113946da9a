"""agent create, agent list: agents from the command line. The CLI acts as the local operator,
who may reach every agent of a workspace; the audit log records it as such."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.agents.config import RETRIEVAL_MODES, Actor, do_record_first_version
from hushdesk.agents.knowledge.ranking import local_model_available
from hushdesk.agents.models import Agent
from hushdesk.agents.service import access_agent_by_slug, do_create_agent
from hushdesk.audit.models import ActorKind
from hushdesk.cli.installation import open_installation
from hushdesk.cli.options import DataDir, KeysDir, fail, local_operator
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import HushdeskError, NotFound
from hushdesk.workspaces.models import Workspace

WorkspaceOption = Annotated[
    str, typer.Option("--workspace", "-w", help="The workspace's slug.", show_default=False)
]
AgentOption = Annotated[str, typer.Option("--agent", "-a", help="The agent's slug.", show_default=False)]


def register(app: typer.Typer) -> None:
    agent = typer.Typer(help="Create and list agents.", no_args_is_help=True)
    agent.command("create")(create)
    agent.command("list")(list_agents)
    app.add_typer(agent, name="agent")


def operator() -> Actor:
    return Actor(ActorKind.OPERATOR, local_operator())


def workspace_id_by_slug(session: Session, slug: str) -> uuid.UUID:
    """The workspace ``slug``; exits 2 saying so when there is none."""
    workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == slug))
    if workspace_id is None:
        raise fail(f"no workspace with the slug {slug!r}")
    return workspace_id


def agent_by_slugs(session: Session, workspace: str, agent: str) -> Agent:
    """The agent ``agent`` of the workspace ``workspace``; exits 2 saying which is missing."""
    workspace_id = workspace_id_by_slug(session, workspace)
    try:
        return access_agent_by_slug(session, workspace_id=workspace_id, slug=agent)
    except NotFound as exc:
        raise fail(f"no agent with the slug {agent!r} in the workspace {workspace!r}") from exc


def create(
    name: Annotated[str, typer.Argument(help="The agent's name.", show_default=False)],
    workspace: WorkspaceOption,
    slug: Annotated[
        str | None, typer.Option("--slug", help="Its slug (default: from the name).", show_default=False)
    ] = None,
    retrieval: Annotated[
        str,
        typer.Option(
            "--retrieval",
            help="lexical (BM25, no model) or hybrid (BM25 fused with the local embedding model).",
        ),
    ] = "lexical",
    data_dir: DataDir = None,
    keys_dir: KeysDir = None,
) -> None:
    """Create an agent (offline extractive responder) and print its slug."""
    if retrieval not in RETRIEVAL_MODES:
        raise fail(f"--retrieval is one of: {', '.join(RETRIEVAL_MODES)}")
    if retrieval == "hybrid" and not local_model_available():
        raise fail("hybrid retrieval needs the embeddings extra (the wordllama package)")
    with (
        open_installation(data_dir, keys_dir) as installation,
        unit_of_work(installation.sessions) as session,
    ):
        workspace_id = workspace_id_by_slug(session, workspace)
        try:
            agent = do_create_agent(session, workspace_id=workspace_id, name=name, slug=slug)
        except HushdeskError as exc:
            raise fail(exc.public_message) from exc
        agent.retrieval_mode = retrieval
        do_record_first_version(session, agent, actor=operator())
        made = agent.slug
    typer.echo(made)


def list_agents(workspace: WorkspaceOption, data_dir: DataDir = None, keys_dir: KeysDir = None) -> None:
    """Each agent's slug, provider and name, one per line."""
    with (
        open_installation(data_dir, keys_dir) as installation,
        unit_of_work(installation.sessions) as session,
    ):
        workspace_id = workspace_id_by_slug(session, workspace)
        agents = session.scalars(select(Agent).where(Agent.workspace_id == workspace_id).order_by(Agent.slug))
        for agent in agents:
            typer.echo(f"{agent.slug}\t{agent.provider_kind}\t{agent.name}")
