"""Counting widget requests refused for their origin, per agent and day."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hushdesk.conversations.models import WidgetRefusal
from hushdesk.infra.db.base import utcnow

MAX_ORIGIN_CHARS = 255
DAYS_SHOWN = 30


def _printable(origin: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in origin)[:MAX_ORIGIN_CHARS]


def do_count_refusal(session: Session, *, workspace_id: uuid.UUID, agent_id: uuid.UUID, origin: str) -> None:
    """Add one to today's count for the agent and remember the origin (cut, made printable:
    it is whatever the caller sent). Flushes."""
    now = utcnow()
    values = {"count": WidgetRefusal.count + 1, "last_origin": _printable(origin), "last_at": now}
    changed = session.execute(
        update(WidgetRefusal)
        .where(WidgetRefusal.agent_id == agent_id, WidgetRefusal.day == now.date())
        .values(values)
        .execution_options(synchronize_session=False)
    )
    if getattr(changed, "rowcount", 0):
        return
    try:
        with session.begin_nested():
            session.add(
                WidgetRefusal(
                    workspace_id=workspace_id,
                    agent_id=agent_id,
                    day=now.date(),
                    count=1,
                    last_origin=_printable(origin),
                    last_at=now,
                )
            )
    except IntegrityError:
        # Another request made today's row first: add to it.
        session.execute(
            update(WidgetRefusal)
            .where(WidgetRefusal.agent_id == agent_id, WidgetRefusal.day == now.date())
            .values(values)
            .execution_options(synchronize_session=False)
        )


def refusal_summary(
    session: Session, *, workspace_id: uuid.UUID, agent_id: uuid.UUID
) -> tuple[int, WidgetRefusal | None]:
    """Refusals over the last ``DAYS_SHOWN`` days, and the latest day's row."""
    since = utcnow().date() - dt.timedelta(days=DAYS_SHOWN)
    rows = list(
        session.scalars(
            select(WidgetRefusal)
            .where(
                WidgetRefusal.workspace_id == workspace_id,
                WidgetRefusal.agent_id == agent_id,
                WidgetRefusal.day >= since,
            )
            .order_by(WidgetRefusal.day.desc())
        )
    )
    return sum(row.count for row in rows), (rows[0] if rows else None)
