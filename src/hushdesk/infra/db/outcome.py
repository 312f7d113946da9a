"""Side effects outside the database that must follow the transaction's outcome.

A file written to the encrypted file store while a transaction is open belongs to rows that
may never commit, and a file whose rows are deleted must outlive a rollback. ``on_outcome``
runs the right callback once the session's outermost transaction has committed or rolled
back. A savepoint that rolls back (``begin_nested``) is not the outcome: the work around it
may still commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction


def on_outcome(
    session: Session,
    *,
    committed: Callable[[], None] | None = None,
    rolled_back: Callable[[], None] | None = None,
) -> None:
    """Call ``committed`` after the session's outermost transaction commits, or
    ``rolled_back`` after it rolls back; exactly one of them runs, once."""

    done = False

    def finish(callback: Callable[[], None] | None) -> None:
        # Listeners stay registered (removing one while the session dispatches its events is
        # not allowed); they do nothing once the outcome is known.
        nonlocal done
        if done:
            return
        done = True
        if callback is not None:
            callback()

    def after_commit(committing: Session) -> None:
        # SQLAlchemy also fires after_commit when a savepoint is released; that savepoint is
        # still the current transaction while the event runs. Only the outermost commit is
        # the outcome.
        if committing.in_nested_transaction():
            return
        finish(committed)

    def after_soft_rollback(_: Session, previous: SessionTransaction, *__: Any) -> None:
        if previous.parent is None and not previous.nested:
            finish(rolled_back)

    event.listen(session, "after_commit", after_commit)
    event.listen(session, "after_soft_rollback", after_soft_rollback)
