"""The TOTP second factor and its single-use recovery codes.

A user has at most one TOTP factor (unique ``user_id``): unconfirmed while they set up their
authenticator app, confirmed once they have typed a correct code. The shared secret is sealed
at rest under the data key of the workspace the user enrolled from (``workspace_id``); deleting
that workspace destroys its keys, so the factor goes with it (``ON DELETE CASCADE``).

Audit: ``hushdesk.identity`` may not import ``hushdesk.audit`` (independent layers), so every
service that changes the factor takes ``record``, a callable with the keyword arguments of
``do_record_event`` minus the session and the actor kind. The caller binds those:
``record=functools.partial(do_record_event, session, actor_kind=ActorKind.USER)``. The event is
recorded in the caller's transaction, so it commits or rolls back with the change.

Services flush, never commit. Callers must throttle attempts (``verify_totp`` and
``use_recovery_code``) as they throttle passwords: three accepted steps make a 6-digit code a
1-in-333,333 guess.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from typing import NamedTuple, Protocol

from sqlalchemy import BigInteger, ForeignKey, String, delete, exists, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hushdesk.crypto.columns import EncryptedBytes, EncryptedModel
from hushdesk.identity.models import Membership, User
from hushdesk.identity.totp import hotp_code, new_totp_secret, provisioning_uri, totp_step
from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey, utcnow
from hushdesk.infra.errors import Conflict, NotFound, ValidationFailed

RECOVERY_CODE_COUNT = 10
# 16 base32 characters = 80 random bits (see ``RecoveryCode`` for why not 10).
_RECOVERY_CODE_LENGTH = 16
_RECOVERY_GROUP = 4
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Characters people misread for base32 ones (base32 has no 0, 1, 8 or 9).
_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B", "-": None, " ": None})
# Steps either side of the current one that are accepted, for clocks that drift.
DRIFT_STEPS = 1


class TotpFactor(EncryptedModel, UUIDPrimaryKey, CreatedAt, Base):
    """A user's authenticator-app secret. ``last_used_step`` is the replay guard: a code is
    accepted only for a time step later than the last accepted one."""

    __tablename__ = "totp_factor"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), unique=True)
    secret: Mapped[bytes] = mapped_column(EncryptedBytes())
    confirmed_at: Mapped[dt.datetime | None]
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(UUIDPrimaryKey, CreatedAt, Base):
    """A single-use code for when the authenticator is lost. Only a SHA-256 digest is stored.

    A fast hash is enough because the codes are random, not chosen: 16 base32 characters are
    80 bits, out of reach of an offline search of a stolen database, whereas argon2 would cost
    up to ten slow verifications per attempt. 10 characters (50 bits) would not be enough: a
    GPU computes 2^50 SHA-256 digests in about a day. The digest also covers the user id, so
    one search cannot target every account's codes at once.
    """

    __tablename__ = "recovery_code"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None]


AuditValue = str | int | bool | None


class RecordEvent(Protocol):
    """Records an audit event for the acting user (see the module docstring)."""

    def __call__(
        self,
        *,
        workspace_id: uuid.UUID | None,
        actor_id: str | None,
        action: str,
        target_kind: str | None,
        target_id: str | None,
        data: Mapping[str, AuditValue] | None,
    ) -> object: ...


class MfaAlreadyEnabled(Conflict):
    code = "mfa_already_enabled"
    default_message = "Two-step verification is already on. Turn it off first to set up a new device."


class InvalidTotpCode(ValidationFailed):
    code = "invalid_totp_code"
    default_message = "That code is not right. Check the time on your device and try the next code."


class TotpEnrolment(NamedTuple):
    factor_id: uuid.UUID
    secret: bytes
    provisioning_uri: str


def do_begin_totp_enrolment(session: Session, *, user: User, workspace_id: uuid.UUID) -> TotpEnrolment:
    """Create an unconfirmed factor for ``user``, sealed under ``workspace_id``'s key, replacing
    an older unconfirmed one. Raises ``NotFound`` if the user is not a member of the workspace
    and ``MfaAlreadyEnabled`` if a confirmed factor exists. Flushes; never commits."""
    member = session.scalar(
        select(Membership.id).where(Membership.user_id == user.id, Membership.workspace_id == workspace_id)
    )
    if member is None:
        raise NotFound()
    if has_confirmed_totp(session, user_id=user.id):
        raise MfaAlreadyEnabled()
    # A statement, not session.delete(): the unit of work inserts before it deletes, which
    # would trip the unique user_id.
    session.execute(
        delete(TotpFactor)
        .where(TotpFactor.user_id == user.id, TotpFactor.confirmed_at.is_(None))
        .execution_options(synchronize_session="fetch")
    )
    secret = new_totp_secret()
    factor = TotpFactor(workspace_id=workspace_id, user_id=user.id, secret=secret)
    session.add(factor)
    session.flush()
    return TotpEnrolment(factor.id, secret, provisioning_uri(secret, account=user.email))


def do_confirm_totp(
    session: Session,
    *,
    user_id: uuid.UUID,
    factor_id: uuid.UUID,
    code: str,
    record: RecordEvent,
    now: dt.datetime | None = None,
) -> list[str]:
    """Confirm the user's unconfirmed factor with a code from their app and return
    ``RECOVERY_CODE_COUNT`` new recovery codes, in plaintext, this once (older codes are
    deleted). Records ``mfa.totp_enrolled``. Raises ``NotFound`` for a factor that is not this
    user's or is already confirmed, ``InvalidTotpCode`` for a wrong code (nothing changes).
    Locks the factor row. Flushes; never commits."""
    factor = _locked_factor(session, user_id=user_id, factor_id=factor_id, confirmed=False)
    if factor is None:
        raise NotFound()
    step = _matching_step(factor, code, now=now)
    if step is None:
        raise InvalidTotpCode()
    factor.confirmed_at = utcnow()
    factor.last_used_step = step
    codes = _replace_recovery_codes(session, user_id=user_id)
    session.flush()
    record(
        workspace_id=factor.workspace_id,
        actor_id=str(user_id),
        action="mfa.totp_enrolled",
        target_kind="totp_factor",
        target_id=str(factor.id),
        data={"recovery_codes": len(codes)},
    )
    return codes


def verify_totp(session: Session, *, user_id: uuid.UUID, code: str, now: dt.datetime | None = None) -> bool:
    """Whether ``code`` is right for the user's confirmed factor, at the current time step or
    one either side, and for a step later than any accepted before (so a code works once, and an
    older code never works after a newer one). On success the step is stored.

    Locks the factor row (SELECT ... FOR UPDATE) until the transaction ends: two requests with
    the same code queue on the lock, and the second then reads the first's ``last_used_step``
    and is refused. On SQLite the write lock taken at BEGIN IMMEDIATE does the same. Flushes;
    never commits."""
    factor = _locked_factor(session, user_id=user_id, factor_id=None, confirmed=True)
    if factor is None:
        return False
    step = _matching_step(factor, code, now=now)
    if step is None:
        return False
    factor.last_used_step = step
    session.flush()
    return True


def use_recovery_code(session: Session, *, user_id: uuid.UUID, code: str, record: RecordEvent) -> bool:
    """Spend one of the user's unused recovery codes; case, dashes and spaces do not matter.
    Records ``mfa.recovery_code_used`` on success. Locks the user's unused codes so that one
    code cannot be spent twice concurrently. Flushes; never commits."""
    normalised = normalise_recovery_code(code)
    if len(normalised) != _RECOVERY_CODE_LENGTH or not set(normalised) <= set(_BASE32):
        return False
    digest = _recovery_digest(user_id, normalised)
    unused = list(
        session.scalars(
            select(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    match: RecoveryCode | None = None
    for candidate in unused:  # no early exit: every stored digest is compared
        if hmac.compare_digest(candidate.code_hash, digest) and match is None:
            match = candidate
    if match is None:
        return False
    match.used_at = utcnow()
    session.flush()
    workspace_id = session.scalar(select(TotpFactor.workspace_id).where(TotpFactor.user_id == user_id))
    record(
        workspace_id=workspace_id,
        actor_id=str(user_id),
        action="mfa.recovery_code_used",
        target_kind="user",
        target_id=str(user_id),
        data={"remaining": len(unused) - 1},
    )
    return True


def has_confirmed_totp(session: Session, *, user_id: uuid.UUID) -> bool:
    return bool(
        session.scalar(
            select(exists().where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None)))
        )
    )


def do_remove_totp(session: Session, *, user_id: uuid.UUID, record: RecordEvent) -> bool:
    """Remove the user's factor (confirmed or not) and recovery codes. Records
    ``mfa.totp_removed`` and returns True when a confirmed factor was removed. Idempotent.
    Re-authenticating the user first is the caller's job. Flushes; never commits."""
    confirmed = session.scalar(
        select(TotpFactor).where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None))
    )
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.execute(
        delete(TotpFactor).where(TotpFactor.user_id == user_id).execution_options(synchronize_session="fetch")
    )
    session.flush()
    if confirmed is None:
        return False
    record(
        workspace_id=confirmed.workspace_id,
        actor_id=str(user_id),
        action="mfa.totp_removed",
        target_kind="totp_factor",
        target_id=str(confirmed.id),
        data=None,
    )
    return True


def do_regenerate_recovery_codes(session: Session, *, user_id: uuid.UUID, record: RecordEvent) -> list[str]:
    """Replace the user's recovery codes with ``RECOVERY_CODE_COUNT`` new ones, returned in
    plaintext this once. Raises ``NotFound`` when the user has no confirmed TOTP factor.
    Records ``mfa.recovery_codes_regenerated``. Flushes; never commits."""
    factor = session.scalar(
        select(TotpFactor).where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None))
    )
    if factor is None:
        raise NotFound()
    codes = _replace_recovery_codes(session, user_id=user_id)
    session.flush()
    record(
        workspace_id=factor.workspace_id,
        actor_id=str(user_id),
        action="mfa.recovery_codes_regenerated",
        target_kind="user",
        target_id=str(user_id),
        data={"recovery_codes": len(codes)},
    )
    return codes


def recovery_codes_left(session: Session, *, user_id: uuid.UUID) -> int:
    return len(
        list(
            session.scalars(
                select(RecoveryCode.id).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
            )
        )
    )


def normalise_recovery_code(code: str) -> str:
    return code.upper().translate(_LOOKALIKES)


def _locked_factor(
    session: Session, *, user_id: uuid.UUID, factor_id: uuid.UUID | None, confirmed: bool
) -> TotpFactor | None:
    query = select(TotpFactor).where(TotpFactor.user_id == user_id)
    if factor_id is not None:
        query = query.where(TotpFactor.id == factor_id)
    state = TotpFactor.confirmed_at.is_not(None) if confirmed else TotpFactor.confirmed_at.is_(None)
    # populate_existing: a copy already in this session must not hide a newer last_used_step.
    return session.scalar(query.where(state).with_for_update().execution_options(populate_existing=True))


def _matching_step(factor: TotpFactor, code: str, *, now: dt.datetime | None) -> int | None:
    """The earliest step within the drift window whose code is ``code`` and that is later than
    the last accepted step, or None."""
    code = code.replace(" ", "")
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    current = totp_step(int((now or utcnow()).timestamp()))
    floor = -1 if factor.last_used_step is None else factor.last_used_step
    found: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is computed and compared, in constant time, whatever matched before.
        if (
            hmac.compare_digest(hotp_code(factor.secret, counter=step), code)
            and step > floor
            and found is None
        ):
            found = step
    return found


def _replace_recovery_codes(session: Session, *, user_id: uuid.UUID) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    session.add_all(
        RecoveryCode(user_id=user_id, code_hash=_recovery_digest(user_id, normalise_recovery_code(code)))
        for code in codes
    )
    return codes


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_BASE32) for _ in range(_RECOVERY_CODE_LENGTH))
    return "-".join(raw[i : i + _RECOVERY_GROUP] for i in range(0, _RECOVERY_CODE_LENGTH, _RECOVERY_GROUP))


def _recovery_digest(user_id: uuid.UUID, normalised: str) -> str:
    return hashlib.sha256(b"hushdesk-recovery-code:" + user_id.bytes + normalised.encode("ascii")).hexdigest()
