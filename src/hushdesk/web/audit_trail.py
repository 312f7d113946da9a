"""Audit events recorded by the pages for the person acting: the recorder that identity's
services take (identity may not import audit), events about the acting person, and the event
for a change to a member's agent assignments. Each is written in the request's transaction."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from hushdesk.audit.models import ActorKind
from hushdesk.audit.service import DataValue, do_record_event
from hushdesk.identity.mfa import RecordEvent
from hushdesk.identity.models import Membership
from hushdesk.identity.sessions import SignedIn


def recorder(db: Session) -> RecordEvent:
    """Records events for a person, in ``db``'s transaction (for identity's ``record=``)."""
    return functools.partial(do_record_event, db, actor_kind=ActorKind.USER)


def record_user_event(
    db: Session,
    user: SignedIn,
    action: str,
    *,
    target_kind: str = "user",
    target_id: str | None = None,
    data: dict[str, DataValue] | None = None,
) -> None:
    """Record ``action`` by the signed-in person in their workspace's chain. The target is the
    person themselves unless given."""
    do_record_event(
        db,
        workspace_id=user.workspace.id,
        actor_kind=ActorKind.USER,
        actor_id=str(user.user.id),
        action=action,
        target_kind=target_kind,
        target_id=target_id if target_id is not None or target_kind != "user" else str(user.user.id),
        data=data,
    )


def record_assignments(
    db: Session,
    *,
    actor_id: uuid.UUID,
    membership: Membership,
    added: Iterable[uuid.UUID],
    removed: Iterable[uuid.UUID],
) -> None:
    added, removed = sorted(added), sorted(removed)
    if not added and not removed:
        return
    data: dict[str, Any] = {"user_id": str(membership.user_id), "added": len(added), "removed": len(removed)}
    # Ids only while they fit comfortably in an event (a few dozen); counts always.
    for key, ids in (("added_ids", added), ("removed_ids", removed)):
        if 0 < len(ids) <= 20:
            data[key] = ",".join(str(agent_id) for agent_id in ids)
    do_record_event(
        db,
        workspace_id=membership.workspace_id,
        actor_kind=ActorKind.USER,
        actor_id=str(actor_id),
        action="assignment.changed",
        target_kind="membership",
        target_id=str(membership.id),
        data=data,
    )
