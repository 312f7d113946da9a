"""Passkeys (WebAuthn): registration and authentication ceremonies, with the ``webauthn``
package (Duo Labs' py_webauthn).

A credential's id and public key are sealed at rest under the data key of the workspace the
user registered it from; ``credential_lookup`` (SHA-256 of the credential id) finds the row
when an authenticator presents it. A challenge is single use: it is deleted when it is
checked, whatever the outcome, and it expires after ``CHALLENGE_LIFETIME``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.crypto.columns import EncryptedBytes, EncryptedModel
from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey

CHALLENGE_LIFETIME = dt.timedelta(minutes=5)


class PasskeyCredential(EncryptedModel, UUIDPrimaryKey, CreatedAt, Base):
    """A user's registered passkey."""

    __tablename__ = "passkey_credential"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    credential_lookup: Mapped[str] = mapped_column(String(64), unique=True)
    credential_id: Mapped[bytes] = mapped_column(EncryptedBytes())
    public_key: Mapped[bytes] = mapped_column(EncryptedBytes())
    sign_count: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(80))
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_used_at: Mapped[dt.datetime | None]


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
