"""Housekeeping removes widget sessions a day after they ended and keeps their conversations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from hushdesk.conversations.models import ConsentRecord, Conversation, WidgetSession
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.tasks import purge_dead_records
from tests.widget.conftest import WidgetWorld


def test_dead_widget_sessions_go_and_their_conversations_stay(widget: WidgetWorld) -> None:
    old = widget.visitor().start()
    assert old.say("How many business days until refunds are paid back?").status_code == 202
    live = widget.visitor().start()
    now = utcnow()
    with unit_of_work(widget.sessions) as session:
        old_id = session.scalars(select(WidgetSession.id).order_by(WidgetSession.created_at)).first()
        session.execute(
            update(WidgetSession)
            .where(WidgetSession.id == old_id)
            .values(expires_at=now - dt.timedelta(days=2))
        )
    with unit_of_work(widget.sessions) as session:
        report = purge_dead_records(session, now=now)
    assert report.widget_sessions == 1
    with unit_of_work(widget.sessions) as session:
        remaining = session.scalars(select(WidgetSession.id)).all()
        assert old_id not in remaining
        assert len(remaining) == 1
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.widget_session_id is None
        links = sorted(str(link) for link in session.scalars(select(ConsentRecord.widget_session_id)))
        assert links == sorted(["None", str(remaining[0])])
    assert live.refresh().status_code == 200
    assert old.refresh().status_code == 401
