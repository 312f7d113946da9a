"""The periodic housekeeping task: registered, scheduled once per slot, deletes what it should."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.identity.models import Invitation, PasswordReset, SetupToken, User, WebSession
from hushdesk.identity.passkey_challenges import PasskeyChallenge
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.jobs.models import WorkItem
from hushdesk.infra.jobs.queue import JobQueue, Outcome
from hushdesk.tasks import HOUSEKEEPING, HOUSEKEEPING_EVERY, build_job_queue, register_tasks
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.conftest import make_settings
from tests.jobs.conftest import FakeClock

HOUR = dt.timedelta(hours=1)
DAYS_2 = dt.timedelta(days=2)


def _seed(session: Session, now: dt.datetime) -> None:
    tokens = {
        "live": {"expires_at": now + HOUR},
        "expired-long-ago": {"expires_at": now - DAYS_2},
        "expired-just-now": {"expires_at": now - HOUR},
        "used-long-ago": {"expires_at": now + HOUR, "used_at": now - DAYS_2},
        "used-just-now": {"expires_at": now + HOUR, "used_at": now - HOUR},
        "revoked-long-ago": {"expires_at": now + HOUR, "revoked_at": now - DAYS_2},
    }
    for name, fields in tokens.items():
        session.add(SetupToken(token_hash=name.ljust(64, "0"), **fields))
    workspace = do_create_workspace(session, name="Acme", region=Region.EU)
    user = User(email="a@example.com", display_name="A", password_hash="x")
    session.add(user)
    session.flush()
    web_sessions = {
        "live": {"expires_at": now + HOUR},
        "expired": {"expires_at": now - dt.timedelta(minutes=1)},
        "revoked-long-ago": {"expires_at": now + HOUR, "revoked_at": now - DAYS_2},
        "revoked-just-now": {"expires_at": now + HOUR, "revoked_at": now - HOUR},
    }
    for name, fields in web_sessions.items():
        session.add(
            WebSession(
                token_hash=name.ljust(64, "0"),
                user_id=user.id,
                workspace_id=workspace.id,
                last_seen_at=now - HOUR,
                **fields,
            )
        )
    session.flush()


def _remaining(sessions: sessionmaker[Session]) -> tuple[set[str], set[str]]:
    with unit_of_work(sessions) as session:
        tokens = {row.rstrip("0") for row in session.scalars(select(SetupToken.token_hash))}
        web = {row.rstrip("0") for row in session.scalars(select(WebSession.token_hash))}
    return tokens, web


def test_housekeeping_is_registered_as_hourly_periodic_work(queue: JobQueue) -> None:
    register_tasks(queue)
    assert queue.handles(HOUSEKEEPING)
    assert queue.periodic_work == {HOUSEKEEPING: HOUSEKEEPING_EVERY}


def test_housekeeping_deletes_dead_sign_in_records_once_per_slot(
    queue: JobQueue, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    register_tasks(queue)
    with unit_of_work(sessions) as session:
        _seed(session, clock())
    queue.tick()
    queue.tick()
    with unit_of_work(sessions) as session:
        items = session.scalars(select(WorkItem).where(WorkItem.kind == HOUSEKEEPING)).all()
    assert len(items) == 1
    assert queue.run_work_item(items[0].id).outcome is Outcome.DONE
    tokens, web = _remaining(sessions)
    assert tokens == {"live", "expired-just-now", "used-just-now"}
    assert web == {"live", "revoked-just-now"}
    with unit_of_work(sessions) as session:
        assert session.scalar(select(WorkItem.state).where(WorkItem.id == items[0].id)) == "done"


def test_housekeeping_removes_finished_work_after_thirty_days(
    queue: JobQueue, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    register_tasks(queue)
    queue.tick()
    with unit_of_work(sessions) as session:
        first = session.scalars(select(WorkItem.id)).one()
    assert queue.run_work_item(first).outcome is Outcome.DONE
    clock.advance(dt.timedelta(days=31))
    queue.tick()
    with unit_of_work(sessions) as session:
        second = session.scalars(select(WorkItem.id).where(WorkItem.id != first)).one()
    assert queue.run_work_item(second).outcome is Outcome.DONE
    with unit_of_work(sessions) as session:
        assert session.scalars(select(WorkItem.id)).all() == [second]


def test_the_application_queue_keeps_sqlite_messages_in_the_data_folder(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    queue = build_job_queue(settings, engine=sqlite_engine)
    try:
        assert queue.handles(HOUSEKEEPING)
        assert (settings.data_dir / "jobs.sqlite3").is_file()
        queue.ping()
    finally:
        queue.close()


def test_housekeeping_deletes_dead_links_and_passkey_challenges(
    queue: JobQueue, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    register_tasks(queue)
    now = clock()
    with unit_of_work(sessions) as session:
        workspace = do_create_workspace(session, name="Acme", region=Region.EU)
        user = User(email="a@example.com", display_name="A", password_hash="x")
        session.add(user)
        session.flush()
        links = {
            "live": {"expires_at": now + HOUR},
            "expired-long-ago": {"expires_at": now - DAYS_2},
            "revoked-just-now": {"expires_at": now + HOUR, "revoked_at": now - HOUR},
            "revoked-long-ago": {"expires_at": now + HOUR, "revoked_at": now - DAYS_2},
        }
        for name, fields in links.items():
            session.add(
                Invitation(
                    workspace_id=workspace.id,
                    email=f"{name}@example.com",
                    role="support",
                    agent_ids=[],
                    token_hash=name.ljust(64, "0"),
                    **fields,
                )
            )
            session.add(
                PasswordReset(
                    workspace_id=workspace.id, user_id=user.id, token_hash=name.ljust(64, "0"), **fields
                )
            )
        session.add(
            PasskeyChallenge(purpose="sign_in", challenge=b"old", expires_at=now - dt.timedelta(minutes=1))
        )
        session.add(
            PasskeyChallenge(purpose="sign_in", challenge=b"new", expires_at=now + dt.timedelta(minutes=4))
        )
    queue.tick()
    with unit_of_work(sessions) as session:
        item = session.scalars(select(WorkItem.id).where(WorkItem.kind == HOUSEKEEPING)).one()
    assert queue.run_work_item(item).outcome is Outcome.DONE
    with unit_of_work(sessions) as session:
        invitations = {row.rstrip("0") for row in session.scalars(select(Invitation.token_hash))}
        resets = {row.rstrip("0") for row in session.scalars(select(PasswordReset.token_hash))}
        challenges = set(session.scalars(select(PasskeyChallenge.challenge)))
    assert invitations == resets == {"live", "revoked-just-now"}
    assert challenges == {b"new"}
