"""Sign-in throttling with growing delays, per (account, address) and per address.

After a few failures, each further attempt must wait: 1 s, 2 s, 4 s, ... up to a ceiling,
counted from the last failure; a success clears the (account, address) record. Keys are
SHA-256 digests, so the table holds no email or address in the clear.

Nothing here locks an account as such: an attacker failing from their own address slows only
themselves, so they cannot hold a victim out of their account (the victim signs in from
another address). A shared address (an office behind one NAT) has a looser allowance.
Records live in the database so that every server process sees the same counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hushdesk.identity.models import LoginThrottle, User
from hushdesk.infra.db.base import utcnow


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    scope: str
    free_failures: int
    max_delay: dt.timedelta


ACCOUNT_AT_ADDRESS = ThrottleRule("account+address", free_failures=3, max_delay=dt.timedelta(minutes=15))
ADDRESS = ThrottleRule("address", free_failures=30, max_delay=dt.timedelta(minutes=15))
# Second factors (TOTP and recovery codes) are counted per account, whatever the address: only
# someone who already has the password gets this far, and a 6-digit code must not be guessable
# by spreading attempts over many addresses. Passkeys are not guessable and are not counted.
SECOND_FACTOR = ThrottleRule("second-factor", free_failures=5, max_delay=dt.timedelta(minutes=15))
# Records untouched for this long are forgotten.
FORGET_AFTER = dt.timedelta(hours=24)


def _keys(email: str, address: str) -> list[tuple[ThrottleRule, str]]:
    account = email.strip().lower()
    return [
        (ACCOUNT_AT_ADDRESS, _digest(ACCOUNT_AT_ADDRESS.scope, account, address)),
        (ADDRESS, _digest(ADDRESS.scope, address)),
    ]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def delay_for(rule: ThrottleRule, failures: int) -> dt.timedelta:
    """How long after the last failure the next attempt must wait."""
    over = failures - rule.free_failures
    if over < 0:
        return dt.timedelta(0)
    return min(dt.timedelta(seconds=2 ** min(over, 20)), rule.max_delay)


def retry_after(
    session: Session, *, email: str, address: str, now: dt.datetime | None = None, lock: bool = False
) -> dt.timedelta:
    """How long this attempt must still wait (zero: go ahead). ``lock=True`` row-locks the
    (account, address) record until the transaction ends (PostgreSQL; SQLite writers are
    serialised already), so that concurrent attempts are counted one after another instead of
    all passing the same check."""
    keys = _keys(email, address)
    if lock:
        session.get(LoginThrottle, keys[0][1], with_for_update=True, populate_existing=True)
    return _wait(session, keys, now=now)


def second_factor_retry_after(
    session: Session, *, user_id: uuid.UUID, now: dt.datetime | None = None
) -> dt.timedelta:
    """How long the account's next second-factor attempt must still wait (zero: go ahead).

    Locks the account's row until the transaction ends, before reading the count: concurrent
    guesses for one account then run one after another, each seeing the failures before it,
    instead of all passing the same check (PostgreSQL; SQLite writers are serialised already)."""
    session.execute(select(User.id).where(User.id == user_id).with_for_update())
    return _wait(session, [_second_factor_key(user_id)], now=now)


def do_record_second_factor_failure(session: Session, *, user_id: uuid.UUID) -> None:
    """Count a wrong TOTP or recovery code for the account. Flushes; never commits."""
    _count(session, [_second_factor_key(user_id)])


def do_clear_second_factor_failures(session: Session, *, user_id: uuid.UUID) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == _second_factor_key(user_id)[1]))


def _second_factor_key(user_id: uuid.UUID) -> tuple[ThrottleRule, str]:
    return SECOND_FACTOR, _digest(SECOND_FACTOR.scope, str(user_id))


def _wait(session: Session, keys: list[tuple[ThrottleRule, str]], *, now: dt.datetime | None) -> dt.timedelta:
    now = now or utcnow()
    wait = dt.timedelta(0)
    for rule, key in keys:
        record = session.get(LoginThrottle, key)
        if record is None or record.last_failure_at + FORGET_AFTER <= now:
            continue
        ready_at = record.last_failure_at + delay_for(rule, record.failures)
        wait = max(wait, ready_at - now)
    return wait


def do_record_failure(session: Session, *, email: str, address: str) -> None:
    """Count a failed attempt (call in a transaction of its own: there is no change to commit
    with it). Flushes; never commits."""
    _count(session, _keys(email, address))


def _count(session: Session, keys: list[tuple[ThrottleRule, str]]) -> None:
    now = utcnow()
    for _rule, key in keys:
        record = session.get(LoginThrottle, key, with_for_update=True)
        if record is None:
            session.add(LoginThrottle(key=key, failures=1, last_failure_at=now))
        elif record.last_failure_at + FORGET_AFTER <= now:
            record.failures, record.last_failure_at = 1, now
        else:
            record.failures, record.last_failure_at = record.failures + 1, now
    session.flush()


def do_record_success(session: Session, *, email: str, address: str) -> None:
    """Clear the (account, address) record after a successful sign-in."""
    key = _keys(email, address)[0][1]
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def purge_stale(session: Session, *, now: dt.datetime) -> int:
    stale = list(
        session.scalars(select(LoginThrottle.key).where(LoginThrottle.last_failure_at < now - FORGET_AFTER))
    )
    if stale:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(stale)))
    return len(stale)
