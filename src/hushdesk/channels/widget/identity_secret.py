"""An agent's identity secret: the key its business's server signs identity tokens with.

A new secret is returned once, for the caller to show once; it is stored sealed in
``Agent.identity_secret`` (AES-GCM under the workspace's data key, bound to the row and
column), and nothing ever reads it back for display. Making a new one replaces the old, which
stops verifying tokens as soon as the transaction commits; removing it turns identity
verification off, so a session request carrying a user token is refused. Both are audited,
without the secret. Services flush, never commit.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from hushdesk.agents.config import Actor, lock_agent
from hushdesk.agents.models import Agent
from hushdesk.audit.service import DataValue, do_record_event
from hushdesk.channels.widget.identity import generate_identity_secret

ROTATED = "agent.identity_secret.rotated"
REMOVED = "agent.identity_secret.removed"


def has_identity_secret(agent: Agent) -> bool:
    """Whether the agent verifies identity tokens (opens the sealed column, shows nothing)."""
    return agent.identity_secret is not None


def do_rotate_identity_secret(session: Session, agent: Agent, *, actor: Actor) -> str:
    """Give ``agent`` (obtained through an access function) a new identity secret and return
    it, to be shown once. Any previous secret is replaced: tokens it signed are refused from
    the commit on. Audits ``agent.identity_secret.rotated`` with whether a secret was
    replaced (never the secret). Locks the agent's row for the rest of the transaction, so two
    rotations commit one after the other and the audit order matches the stored secret.
    Flushes; never commits."""
    lock_agent(session, agent)
    replaced = has_identity_secret(agent)
    secret = generate_identity_secret()
    agent.identity_secret = secret
    session.flush()
    _audit(session, agent, actor=actor, action=ROTATED, data={"replaced": replaced})
    return secret


def do_remove_identity_secret(session: Session, agent: Agent, *, actor: Actor) -> bool:
    """Remove ``agent``'s identity secret, turning identity verification off. Returns whether
    there was one; idempotent: with none, nothing is written or audited. Otherwise audits
    ``agent.identity_secret.removed``. Locks the agent's row. Flushes; never commits."""
    lock_agent(session, agent)
    if not has_identity_secret(agent):
        return False
    agent.identity_secret = None
    session.flush()
    _audit(session, agent, actor=actor, action=REMOVED, data={})
    return True


def _audit(session: Session, agent: Agent, *, actor: Actor, action: str, data: dict[str, DataValue]) -> None:
    do_record_event(
        session,
        workspace_id=agent.workspace_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        target_kind="agent",
        target_id=str(agent.id),
        data=data,
    )
