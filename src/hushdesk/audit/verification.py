"""Verifying every chain against its latest signed checkpoint, and signing new checkpoints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.audit.chain import VerifyReport, verify_chain
from hushdesk.audit.checkpoints import Checkpoint, sign_head, signature_valid
from hushdesk.audit.models import AuditEvent


def chains_in_database(session: Session) -> list[str]:
    return sorted(session.scalars(select(AuditEvent.chain).distinct()))


def verify_with_checkpoint(
    session: Session, chain: str, *, checkpoint: Checkpoint | None, public_key: Ed25519PublicKey | None
) -> VerifyReport:
    """``verify_chain``, then, when the chain has a checkpoint, its signature and that the chain
    still holds the checkpointed (seq, hash). A checkpoint that cannot be checked (no public
    key) or whose signature is wrong fails the chain: it is never silently ignored."""
    if checkpoint is None:
        return verify_chain(session, chain)
    seq = checkpoint.head.seq
    if public_key is None:
        return VerifyReport(chain, 0, None, "a signed checkpoint exists but there is no key to check it", seq)
    if not signature_valid(checkpoint, public_key):
        return VerifyReport(
            chain, 0, None, "the checkpoint's signature is invalid: it was forged or altered", seq
        )
    return verify_chain(session, chain, checkpoint=checkpoint.head)


def verify_chains(
    session: Session,
    chains: Iterable[str],
    *,
    checkpoints: Mapping[str, Checkpoint],
    public_key: Ed25519PublicKey | None,
) -> list[VerifyReport]:
    """One report per chain, in the order given."""
    return [
        verify_with_checkpoint(session, chain, checkpoint=checkpoints.get(chain), public_key=public_key)
        for chain in chains
    ]


def checkpoint_heads(
    reports: Iterable[VerifyReport], *, key: Ed25519PrivateKey, signed_at: dt.datetime
) -> list[Checkpoint]:
    """Signed checkpoints for the heads of intact, non-empty chains. A broken chain is never
    signed: that would vouch for the tampering. The caller appends them to the checkpoint file
    after the transaction (no I/O beyond the database inside it)."""
    return [
        sign_head(report.head, key, signed_at=signed_at) for report in reports if report.ok and report.head
    ]
