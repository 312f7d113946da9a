"""on_outcome: exactly one callback, after the outermost transaction's commit or rollback;
a savepoint's rollback is not the outcome."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

from hushdesk.infra.db.outcome import on_outcome
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work


class Boom(Exception):
    pass


def _recorder() -> tuple[list[str], dict[str, Callable[[], None]]]:
    seen: list[str] = []
    return seen, {
        "committed": lambda: seen.append("committed"),
        "rolled_back": lambda: seen.append("rolled back"),
    }


def test_a_commit_runs_the_committed_callback_once(engine: Engine) -> None:
    seen, callbacks = _recorder()
    with unit_of_work(make_sessionmaker(engine)) as session:
        session.execute(text("SELECT 1"))
        on_outcome(session, **callbacks)
        assert seen == []
    assert seen == ["committed"]


def test_a_rollback_runs_the_rolled_back_callback_once(engine: Engine) -> None:
    seen, callbacks = _recorder()
    with pytest.raises(Boom), unit_of_work(make_sessionmaker(engine)) as session:
        session.execute(text("SELECT 1"))
        on_outcome(session, **callbacks)
        raise Boom
    assert seen == ["rolled back"]


def test_a_savepoint_rollback_is_not_the_outcome(engine: Engine) -> None:
    seen, callbacks = _recorder()
    with unit_of_work(make_sessionmaker(engine)) as session:
        session.execute(text("SELECT 1"))
        on_outcome(session, **callbacks)
        savepoint = session.begin_nested()
        session.execute(text("SELECT 2"))
        savepoint.rollback()
        assert seen == []
    assert seen == ["committed"]


def test_a_released_savepoint_is_not_the_commit(engine: Engine) -> None:
    """SQLAlchemy signals after_commit when a savepoint is released too: the callback must wait
    for the outermost commit, or a rollback after it would leave the effect done."""
    seen, callbacks = _recorder()
    with pytest.raises(Boom), unit_of_work(make_sessionmaker(engine)) as session:
        on_outcome(session, **callbacks)
        with session.begin_nested():
            session.execute(text("SELECT 1"))
        assert seen == []
        raise Boom
    assert seen == ["rolled back"]
    seen.clear()
    with unit_of_work(make_sessionmaker(engine)) as session:
        on_outcome(session, **callbacks)
        with session.begin_nested():
            session.execute(text("SELECT 1"))
        assert seen == []
    assert seen == ["committed"]
