"""audit verify, audit checkpoint, audit public-key."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.audit.chain import VerifyReport
from hushdesk.audit.checkpoints import (
    CHECKPOINT_FILE,
    SIGNING_KEY_FILE,
    AuditKeyError,
    Checkpoint,
    CheckpointFileError,
    append_checkpoint,
    latest_checkpoints,
    load_or_create_signing_key,
    load_public_key,
    load_signing_key,
    public_key_pem,
)
from hushdesk.audit.models import INSTANCE_CHAIN, chain_for
from hushdesk.audit.verification import chains_in_database, checkpoint_heads, verify_chains
from hushdesk.cli.options import DataDir, KeysDir, fail, load_settings, start_database
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.engine import read_only
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.settings import Settings
from hushdesk.workspaces.models import Workspace

PublicKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--public-key",
        help="Verify checkpoints with this PEM public key, kept apart from the server "
        "(default: derived from the signing key in the keys folder).",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    audit = typer.Typer(help="Verify and checkpoint the tamper-evident audit log.", no_args_is_help=True)
    audit.command("verify")(verify)
    audit.command("checkpoint")(checkpoint)
    audit.command("public-key")(public_key)
    app.add_typer(audit, name="audit")


def verify(
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", help="Only this workspace's chain (slug).", show_default=False),
    ] = None,
    public_key: PublicKeyFile = None,
    data_dir: DataDir = None,
    keys_dir: KeysDir = None,
) -> None:
    """Check every chain (or one workspace's) link by link and against its latest signed
    checkpoint. Exits 0 when intact, 1 when any chain is broken, 2 on a usage error."""
    settings = load_settings(data_dir=data_dir, keys_dir=keys_dir)
    checkpoints = _read_checkpoints(settings)
    verifying_key = _verifying_key(settings, public_key)
    engine = start_database(settings)
    try:
        with unit_of_work(make_sessionmaker(read_only(engine))) as session:
            if workspace is None:
                chains = sorted(set(chains_in_database(session)) | set(checkpoints))
            else:
                chains = [chain_for(_workspace_id(session, workspace))]
            reports = verify_chains(session, chains, checkpoints=checkpoints, public_key=verifying_key)
            labels = _labels(session)
    finally:
        engine.dispose()
    if not reports:
        typer.echo("no audit events yet")
    for report in reports:
        _print_report(report, labels, checkpoints.get(report.chain))
    if not all(report.ok for report in reports):
        raise typer.Exit(1)


def checkpoint(data_dir: DataDir = None, keys_dir: KeysDir = None) -> None:
    """Verify every chain, then sign the head of each intact one and append it to the
    checkpoint file in the keys folder. A broken chain is reported and not signed (exit 1)."""
    settings = load_settings(data_dir=data_dir, keys_dir=keys_dir)
    checkpoints = _read_checkpoints(settings)
    try:
        key = load_or_create_signing_key(settings.keys_dir)
    except AuditKeyError as exc:
        raise fail(str(exc)) from exc
    engine = start_database(settings)
    try:
        with unit_of_work(make_sessionmaker(read_only(engine))) as session:
            chains = sorted(set(chains_in_database(session)) | set(checkpoints))
            reports = verify_chains(session, chains, checkpoints=checkpoints, public_key=key.public_key())
            labels = _labels(session)
    finally:
        engine.dispose()
    # Written after the transaction has ended: no I/O beyond the database inside one.
    for signed in checkpoint_heads(reports, key=key, signed_at=utcnow()):
        append_checkpoint(settings.keys_dir / CHECKPOINT_FILE, signed)
        head = signed.head
        typer.echo(f"{labels.get(head.chain, head.chain)}: checkpoint at seq {head.seq} {head.hash.hex()}")
    broken = [report for report in reports if not report.ok]
    for report in broken:
        _print_report(report, labels, checkpoints.get(report.chain))
    if broken:
        raise typer.Exit(1)


def public_key(keys_dir: KeysDir = None) -> None:
    """Print the checkpoint-signing public key (PEM), creating the key pair at first use. Keep a
    copy away from this server and verify with ``audit verify --public-key``."""
    settings = load_settings(keys_dir=keys_dir)
    try:
        key = load_or_create_signing_key(settings.keys_dir)
    except AuditKeyError as exc:
        raise fail(str(exc)) from exc
    typer.echo(public_key_pem(key).decode(), nl=False)


def _read_checkpoints(settings: Settings) -> dict[str, Checkpoint]:
    try:
        return latest_checkpoints(settings.keys_dir / CHECKPOINT_FILE)
    except CheckpointFileError as exc:
        raise fail(str(exc), code=1) from exc


def _verifying_key(settings: Settings, public_key_file: Path | None) -> Ed25519PublicKey | None:
    try:
        if public_key_file is not None:
            return load_public_key(public_key_file)
        key_file = settings.keys_dir / SIGNING_KEY_FILE
        return load_signing_key(key_file).public_key() if key_file.exists() else None
    except AuditKeyError as exc:
        raise fail(str(exc)) from exc


def _workspace_id(session: Session, slug: str) -> uuid.UUID:
    workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == slug))
    if workspace_id is None:
        raise fail(f"no workspace with the slug {slug!r}")
    return workspace_id


def _labels(session: Session) -> dict[str, str]:
    labels = {
        str(row.id): f"workspace {row.slug}" for row in session.execute(select(Workspace.id, Workspace.slug))
    }
    labels[INSTANCE_CHAIN] = "instance"
    return labels


def _print_report(report: VerifyReport, labels: dict[str, str], checkpoint: Checkpoint | None) -> None:
    label = labels.get(report.chain, f"chain {report.chain}")
    if not report.ok:
        where = f"seq {report.first_bad_seq}" + (
            f" (id {report.first_bad_id})" if report.first_bad_id else ""
        )
        typer.secho(f"{label}: BROKEN at {where}: {report.problem}", fg=typer.colors.RED)
        return
    head = f"head seq {report.head.seq}" if report.head else "empty"
    signed = f"checkpoint at seq {checkpoint.head.seq} verified" if checkpoint else "no checkpoint yet"
    typer.echo(f"{label}: intact, {report.events_checked} event(s), {head}, {signed}")
