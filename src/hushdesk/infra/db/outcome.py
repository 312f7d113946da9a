"""Side effects outside the database that must follow the transaction's outcome.

A file written to the encrypted file store while a transaction is open belongs to rows that
may never commit, and a file whose rows are deleted must outlive a rollback. ``on_outcome``
runs the right callback once the session's transaction has committed or rolled back.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session


def on_outcome(
    session: Session,
    *,
    committed: Callable[[], None] | None = None,
    rolled_back: Callable[[], None] | None = None,
) -> None:
    """Call ``committed`` after the session's next commit, or ``rolled_back`` after its next
    rollback; exactly one of them runs (whichever comes first), once."""
    state = {"done": False}

    def after_commit(_: Session) -> None:
        if not state["done"]:
            state["done"] = True
            if committed is not None:
                committed()

    def after_rollback(_: Session) -> None:
        if not state["done"]:
            state["done"] = True
            if rolled_back is not None:
                rolled_back()

    event.listen(session, "after_commit", after_commit, once=True)
    event.listen(session, "after_soft_rollback", lambda s, _previous: after_rollback(s), once=True)
