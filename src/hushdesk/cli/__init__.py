"""The ``hushdesk`` command line."""

from __future__ import annotations

import typer

from hushdesk.cli import agents, audit, keys, knowledge, pii, server, worker, workspaces

app = typer.Typer(
    name="hushdesk",
    help="Hushdesk: AI customer-support agents whose data promises are real and tested.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
server.register(app)
worker.register(app)
keys.register(app)
audit.register(app)
pii.register(app)
workspaces.register(app)
agents.register(app)
knowledge.register(app)


def main() -> None:
    app()
