"""Password hashing with argon2id.

The parameters are argon2-cffi's defaults, which follow RFC 9106's second recommended option
(t=3, m=64 MiB, p=4) and exceed OWASP's minimums. ``verify_password`` on an unknown account is
made against a fixed dummy hash, so that "no such user" takes as long as "wrong password".
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MIN_STRENGTH_SCORE = 3
_RATED_LENGTH = 100

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    # Made on first use, not at import: nothing runs at import time.
    return _hasher.hash("hushdesk-dummy-password-for-timing")


def prepare_unknown_account_hash() -> None:
    """Make the dummy hash now, so that not even the first sign-in for an unknown account after
    a start pays for making it (which would tell it apart from a known one by its time)."""
    _dummy_hash()


class WeakPasswordError(ValueError):
    """The password does not meet the policy; the message says why, for the user."""


def check_password_policy(password: str, *, personal: Sequence[str] = ()) -> None:
    """Raises ``WeakPasswordError`` when the password is too short, too long, or easy to
    guess: zxcvbn (offline: its own lists of common passwords, names and words, plus the
    ``personal`` words such as the person's name, email and workspace) must rate it 3 of 4 or
    better. No composition rules."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    # zxcvbn's matching grows quickly with length; 100 characters decide any password.
    rating = zxcvbn(password[:_RATED_LENGTH], user_inputs=[word.lower() for word in personal if word])
    if rating["score"] < MIN_STRENGTH_SCORE:
        warning = rating["feedback"].get("warning") or "This password is too easy to guess."
        raise WeakPasswordError(f"{warning} Add a few uncommon words.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-work verification; ``password_hash=None`` (unknown account) is always false."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
