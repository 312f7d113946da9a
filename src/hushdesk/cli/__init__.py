"""The ``hushdesk`` command line."""

from __future__ import annotations

import typer

from hushdesk.cli import audit, keys, pii, server, worker

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


def main() -> None:
    app()
