"""Passkey ceremony challenges: one row per challenge handed to a browser, single use,
bound to its purpose and (except for a sign-in) its user, live for ``CHALLENGE_LIFETIME``."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, LargeBinary, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey, utcnow
from hushdesk.infra.errors import ValidationFailed

CHALLENGE_LIFETIME = dt.timedelta(minutes=5)


class PasskeyChallenge(UUIDPrimaryKey, CreatedAt, Base):
    """A challenge handed to the browser for one ceremony. ``user_id`` is set for
    registration and second-factor checks, None for a passkey sign-in (the user is not known
    until the authenticator answers)."""

    __tablename__ = "passkey_challenge"

    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[dt.datetime]


class PasskeyPurpose(enum.StrEnum):
    """What a challenge was issued for; a challenge answers only its own ceremony."""

    REGISTER = "register"
    SIGN_IN = "sign_in"
    SECOND_FACTOR = "second_factor"
    STEP_UP = "step_up"


class PasskeyVerificationFailed(ValidationFailed):
    """Any failed ceremony: unknown, expired, reused or foreign challenge, wrong origin or RP
    ID, bad signature, unknown or foreign credential, suspected clone, malformed answer. One
    class and one message, so that a client learns nothing about which check failed."""

    code = "passkey_verification_failed"
    default_message = "That passkey could not be verified. Try again."


def store_challenge(
    session: Session,
    *,
    purpose: PasskeyPurpose,
    user_id: uuid.UUID | None,
    challenge: bytes,
    now: dt.datetime | None,
) -> uuid.UUID:
    """Store a new challenge for ``purpose`` (and ``user_id``), live for ``CHALLENGE_LIFETIME``,
    and delete expired ones on the way. Flushes; never commits."""
    moment = now or utcnow()
    session.execute(
        delete(PasskeyChallenge)
        .where(PasskeyChallenge.expires_at <= moment)
        .execution_options(synchronize_session=False)
    )
    row = PasskeyChallenge(
        purpose=purpose.value, user_id=user_id, challenge=challenge, expires_at=moment + CHALLENGE_LIFETIME
    )
    session.add(row)
    session.flush()
    return row.id


def take_challenge(
    session: Session,
    *,
    challenge_id: uuid.UUID,
    purpose: PasskeyPurpose,
    user_id: uuid.UUID | None,
    now: dt.datetime | None,
) -> bytes:
    """Delete the challenge and return its bytes if it is live and was issued for ``purpose``
    to ``user_id``. The row is gone whatever the outcome. DELETE ... RETURNING makes the taking
    atomic: of two requests with one challenge, the second finds nothing (on PostgreSQL it
    waits on the row lock, then sees the row deleted; SQLite writers are serialised)."""
    taken = session.execute(
        delete(PasskeyChallenge)
        .where(PasskeyChallenge.id == challenge_id)
        .returning(
            PasskeyChallenge.purpose,
            PasskeyChallenge.user_id,
            PasskeyChallenge.challenge,
            PasskeyChallenge.expires_at,
        )
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if taken is None:
        raise PasskeyVerificationFailed()
    if taken.purpose != purpose.value or taken.user_id != user_id or taken.expires_at <= (now or utcnow()):
        raise PasskeyVerificationFailed()
    return bytes(taken.challenge)
