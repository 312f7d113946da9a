"""Password sign-in. Multi-factor and throttling build on this in the identity module."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, SQLColumnExpression, exists, select
from sqlalchemy.orm import Session

from hushdesk.identity.mfa import TotpFactor
from hushdesk.identity.models import Membership, User
from hushdesk.identity.passkeys import PasskeyCredential
from hushdesk.identity.passwords import hash_password, needs_rehash, verify_password
from hushdesk.identity.setup import normalise_email


@dataclass(frozen=True, slots=True)
class Authenticated:
    user: User
    membership: Membership


def authenticate(session: Session, *, email: str, password: str) -> Authenticated | None:
    """The account and its first membership if the password is right, else None.

    "No such user" and "wrong password" cost the same argon2 verification and give the same
    answer. A hash made with older parameters is upgraded on success. Flushes; never commits.
    """
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if not verify_password(user.password_hash if user else None, password) or user is None:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    membership = session.scalar(
        select(Membership).where(Membership.user_id == user.id).order_by(Membership.created_at).limit(1)
    )
    if membership is None:
        return None
    session.flush()
    return Authenticated(user=user, membership=membership)


def first_membership_of(session: Session, *, email: str) -> Membership | None:
    """The first membership of the account with ``email``, if there is one (for recording a
    failed sign-in in that workspace's audit chain)."""
    return session.scalar(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(User.email == normalise_email(email))
        .order_by(Membership.created_at)
        .limit(1)
    )


def second_factor_exists(user_id: uuid.UUID | SQLColumnExpression[uuid.UUID]) -> ColumnElement[bool]:
    """SQL: the account has a confirmed TOTP factor or a passkey. ``user_id`` may be a value or
    a column (a correlated test inside a larger query)."""
    totp = exists().where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None))
    return totp | exists().where(PasskeyCredential.user_id == user_id)


def account_has_second_factor(session: Session, *, user_id: uuid.UUID) -> bool:
    """Whether the account has a second factor (so a password alone does not complete its
    sign-in)."""
    return bool(session.scalar(select(second_factor_exists(user_id))))
