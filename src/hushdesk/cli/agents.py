"""agent create|list|update|embed-snippet|identity-secret: agents from the command line. The
CLI acts as the local operator, who may reach every agent of a workspace; the audit log
records it as such. Changes go through the same services as the dashboard's, so they are
checked, versioned and audited alike; a refused change exits 2 having changed nothing."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.agents.config import (
    RETRIEVAL_MODES,
    Actor,
    check_domains,
    do_record_first_version,
    do_update_settings,
    settings_of,
)
from hushdesk.agents.knowledge.ranking import local_model_available
from hushdesk.agents.models import Agent
from hushdesk.agents.service import access_agent_by_slug, do_create_agent
from hushdesk.audit.models import ActorKind
from hushdesk.channels.widget.identity_secret import (
    do_remove_identity_secret,
    do_rotate_identity_secret,
    has_identity_secret,
)
from hushdesk.channels.widget.snippet import embed_snippet
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
    agent = typer.Typer(help="Create, list and configure agents.", no_args_is_help=True)
    agent.command("create")(create)
    agent.command("list")(list_agents)
    agent.command("update")(update)
    agent.command("embed-snippet")(show_embed_snippet)
    agent.command("identity-secret")(identity_secret)
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


def update(
    workspace: WorkspaceOption,
    agent: AgentOption,
    allowed_domain: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-domain",
            help="A site the widget may be embedded on (shop.example.com or *.example.com). "
            "Repeat it for each; the list given replaces the agent's.",
            show_default=False,
        ),
    ] = None,
    clear_allowed_domains: Annotated[
        bool,
        typer.Option("--clear-allowed-domains", help="Allow no site: the widget then loads nowhere."),
    ] = False,
    data_dir: DataDir = None,
    keys_dir: KeysDir = None,
) -> None:
    """Set the sites an agent's widget may be embedded on (a new configuration version)."""
    if clear_allowed_domains and allowed_domain:
        raise fail("give either --allowed-domain or --clear-allowed-domains, not both")
    if not clear_allowed_domains and not allowed_domain:
        raise fail("nothing to update: give --allowed-domain (repeatable) or --clear-allowed-domains")
    with (
        open_installation(data_dir, keys_dir) as installation,
        unit_of_work(installation.sessions) as session,
    ):
        found = agent_by_slugs(session, workspace, agent)
        try:
            domains = check_domains(allowed_domain or ())
            changed = do_update_settings(
                session,
                found,
                dataclasses.replace(settings_of(found), allowed_domains=domains),
                actor=operator(),
            )
        except HushdeskError as exc:
            # Raised before anything was written; leaving the block rolls the transaction back.
            raise fail(exc.public_message) from exc
        version = found.config_version
    if not changed:
        typer.echo(f"nothing changed (version {version})", err=True)
    else:
        typer.echo(f"saved as version {version}", err=True)
    typer.echo("\n".join(domains))
    if not domains:
        typer.echo(_NO_DOMAIN_WARNING, err=True)


def show_embed_snippet(
    workspace: WorkspaceOption, agent: AgentOption, data_dir: DataDir = None, keys_dir: KeysDir = None
) -> None:
    """Print the two-line snippet that embeds the agent's widget (its key is public)."""
    with (
        open_installation(data_dir, keys_dir) as installation,
        unit_of_work(installation.sessions) as session,
    ):
        found = agent_by_slugs(session, workspace, agent)
        snippet = embed_snippet(base_url=installation.settings.base_url, widget_key=found.widget_key)
        has_domains = bool(found.allowed_domains)
    typer.echo(snippet)
    if not has_domains:
        typer.echo(_NO_DOMAIN_WARNING, err=True)


def identity_secret(
    workspace: WorkspaceOption,
    agent: AgentOption,
    rotate: Annotated[
        bool,
        typer.Option("--rotate", help="Make a new secret, print it once; the previous one stops working."),
    ] = False,
    remove: Annotated[
        bool, typer.Option("--remove", help="Remove the secret: identity verification is off.")
    ] = False,
    data_dir: DataDir = None,
    keys_dir: KeysDir = None,
) -> None:
    """Whether the agent verifies identity tokens; with --rotate, a new identity secret,
    printed this once (a stored secret is never printed)."""
    if rotate and remove:
        raise fail("give either --rotate or --remove, not both")
    with (
        open_installation(data_dir, keys_dir) as installation,
        unit_of_work(installation.sessions) as session,
    ):
        found = agent_by_slugs(session, workspace, agent)
        secret = do_rotate_identity_secret(session, found, actor=operator()) if rotate else None
        removed = do_remove_identity_secret(session, found, actor=operator()) if remove else False
        verifying = has_identity_secret(found)
    if secret is not None:
        # Printed only after the commit: a secret that was never stored is never shown.
        typer.echo(secret)
        typer.echo(
            "Keep it on your server only; it is not shown again. Tokens signed with the previous "
            "secret no longer verify.",
            err=True,
        )
    elif remove:
        typer.echo("identity secret removed" if removed else "there was no identity secret", err=True)
    else:
        state = "on" if verifying else "off"
        typer.echo(f"identity verification: {state} (use --rotate to make a new secret)")


_NO_DOMAIN_WARNING = (
    "warning: the agent allows no domain: the widget will not load on any site until you add one "
    "(hushdesk agent update --allowed-domain shop.example.com)"
)
