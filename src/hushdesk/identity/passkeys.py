"""Passkeys (WebAuthn): registration and authentication ceremonies, with the ``webauthn``
package (Duo Labs' py_webauthn).

A credential's id and public key are sealed at rest under the data key of the workspace the
user registered it from; ``credential_lookup`` (SHA-256 of the credential id) finds the row
when an authenticator presents it. A challenge is single use: it is deleted when it is
checked, whatever the outcome, and it expires after ``CHALLENGE_LIFETIME``.

The relying party is the caller's to state: ``rp_id`` (the public host name, no port) and
``origin`` (scheme://host[:port]) come from the web layer, which derives them from the
request or the configured public URL. The services never read settings.

Every ceremony failure raises ``PasskeyVerificationFailed``. Before it is raised only the
challenge has been consumed (deleted, flushed): the caller that wants the consumption to stick
must commit the transaction anyway, or the challenge comes back with the rollback.

Audit: as in ``hushdesk.identity.mfa``, services that change a user's passkeys take
``record`` and record their event in the caller's transaction. Events name the passkey by its
row id, never by its credential id or key. Services flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import JSON, BigInteger, ForeignKey, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from hushdesk.crypto.columns import EncryptedBytes, EncryptedModel
from hushdesk.identity.mfa import RecordEvent
from hushdesk.identity.models import Membership, User
from hushdesk.identity.passkey_challenges import (
    CHALLENGE_LIFETIME,
    PasskeyPurpose,
    PasskeyVerificationFailed,
    store_challenge,
    take_challenge,
)
from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey, utcnow
from hushdesk.infra.errors import NotFound, ValidationFailed
from hushdesk.infra.text import has_control_characters

RP_NAME = "Hushdesk"
MAX_NAME_LENGTH = 80
DEFAULT_NAME = "Passkey"
_CHALLENGE_BYTES = 32
# What a malformed answer from a browser can raise inside the library before it maps the
# problem to its own exceptions: base64 (binascii.Error is a ValueError), CBOR (CBORDecodeError
# is a ValueError), COSE keys with missing or mistyped members.
_MALFORMED = (WebAuthnException, InvalidSignature, ValueError, TypeError, KeyError, IndexError)


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


@dataclass(frozen=True, slots=True)
class PasskeyOptions:
    """What the browser needs for one ceremony: the options for ``navigator.credentials``
    (JSON-ready, binary values in base64url) and the challenge row that will check the answer."""

    challenge_id: uuid.UUID
    public_key: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PasskeySignIn:
    """A verified passkey sign-in: who, and the workspace their session starts in (their
    first membership, as with a password)."""

    user_id: uuid.UUID
    workspace_id: uuid.UUID
    passkey_id: uuid.UUID


def credential_lookup_of(credential_id: bytes) -> str:
    """The stored lookup for a credential id: SHA-256, hex."""
    return hashlib.sha256(credential_id).hexdigest()


def passkeys_of(session: Session, *, user_id: uuid.UUID) -> list[PasskeyCredential]:
    """The user's passkeys, oldest first."""
    return list(
        session.scalars(
            select(PasskeyCredential)
            .where(PasskeyCredential.user_id == user_id)
            .order_by(PasskeyCredential.created_at)
        )
    )


def access_passkey_by_id(session: Session, *, user_id: uuid.UUID, passkey_id: uuid.UUID) -> PasskeyCredential:
    """The passkey ``passkey_id`` if it is ``user_id``'s. Raises ``NotFound`` for a missing one
    and, identically, for another user's."""
    passkey = session.scalar(
        select(PasskeyCredential).where(
            PasskeyCredential.id == passkey_id, PasskeyCredential.user_id == user_id
        )
    )
    if passkey is None:
        raise NotFound()
    return passkey


def do_begin_passkey_registration(
    session: Session, *, user: User, rp_id: str, now: dt.datetime | None = None
) -> PasskeyOptions:
    """Registration options for ``user``: a discoverable credential preferred (so it can sign
    in without an email), user verification preferred, the user's existing passkeys excluded
    (an authenticator refuses to register twice). The WebAuthn user handle is the user's UUID
    bytes. Stores a ``register`` challenge bound to the user. Flushes; never commits."""
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_id=user.id.bytes,
        user_name=user.email,
        user_display_name=user.display_name,
        challenge=secrets.token_bytes(_CHALLENGE_BYTES),
        timeout=_timeout_ms(),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(passkeys_of(session, user_id=user.id)),
    )
    challenge_id = store_challenge(
        session, purpose=PasskeyPurpose.REGISTER, user_id=user.id, challenge=options.challenge, now=now
    )
    return PasskeyOptions(challenge_id, options_to_json_dict(options))


def do_finish_passkey_registration(
    session: Session,
    *,
    user_id: uuid.UUID,
    workspace_id: uuid.UUID,
    challenge_id: uuid.UUID,
    credential: Mapping[str, Any],
    name: str,
    rp_id: str,
    origin: str,
    record: RecordEvent,
    now: dt.datetime | None = None,
) -> PasskeyCredential:
    """Verify the browser's answer to the registration challenge and store the passkey,
    sealed under ``workspace_id``'s data key. Records ``mfa.passkey_registered``.

    Raises ``PasskeyVerificationFailed`` for an unknown, expired, used or foreign challenge, an
    answer that fails verification (origin, RP ID, user presence, attestation), a credential
    already registered (to anyone, including by a concurrent transaction: the insert runs in a
    savepoint), or a user who is not a member of ``workspace_id``; then only the challenge has
    changed (consumed). Raises ``ValidationFailed`` for a name that is too long, before the
    challenge is touched. Flushes; never commits."""
    label = check_passkey_name(name)
    expected = take_challenge(
        session, challenge_id=challenge_id, purpose=PasskeyPurpose.REGISTER, user_id=user_id, now=now
    )
    try:
        parsed: RegistrationCredential = parse_registration_credential_json(dict(credential))
        verified = verify_registration_response(
            credential=parsed, expected_challenge=expected, expected_rp_id=rp_id, expected_origin=origin
        )
    except _MALFORMED as exc:
        raise PasskeyVerificationFailed() from exc
    lookup = credential_lookup_of(verified.credential_id)
    member = session.scalar(
        select(Membership.id).where(Membership.user_id == user_id, Membership.workspace_id == workspace_id)
    )
    taken = session.scalar(select(PasskeyCredential.id).where(PasskeyCredential.credential_lookup == lookup))
    if member is None or taken is not None:
        raise PasskeyVerificationFailed()
    passkey = PasskeyCredential(
        workspace_id=workspace_id,
        user_id=user_id,
        credential_lookup=lookup,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=label,
        transports=[transport.value for transport in parsed.response.transports or []],
    )
    # Two registrations of one credential at once (only a forged authenticator does that) both
    # pass the check above on PostgreSQL; the unique lookup refuses the second.
    try:
        with session.begin_nested():
            session.add(passkey)
    except IntegrityError as exc:
        raise PasskeyVerificationFailed() from exc
    record(
        workspace_id=workspace_id,
        actor_id=str(user_id),
        action="mfa.passkey_registered",
        target_kind="passkey_credential",
        target_id=str(passkey.id),
        data=None,
    )
    return passkey


def do_begin_passkey_authentication(
    session: Session,
    *,
    purpose: PasskeyPurpose,
    user_id: uuid.UUID | None,
    rp_id: str,
    now: dt.datetime | None = None,
) -> PasskeyOptions:
    """Authentication options. For ``SIGN_IN`` (``user_id`` None) no credentials are listed: the
    authenticator offers its discoverable ones. For ``SECOND_FACTOR`` and ``STEP_UP`` only the
    user's passkeys are allowed; raises ``PasskeyVerificationFailed`` when they have none.
    Raises ``ValueError`` for a purpose and ``user_id`` that do not go together (a programming
    error). Stores the challenge, and deletes expired challenges (a public sign-in page can be
    asked for challenges by anyone, so the table must not grow with them). Flushes; never
    commits."""
    if purpose is PasskeyPurpose.REGISTER or (purpose is PasskeyPurpose.SIGN_IN) != (user_id is None):
        raise ValueError(f"{purpose} does not take user_id={user_id}")
    allowed: list[PublicKeyCredentialDescriptor] = []
    if user_id is not None:
        allowed = _descriptors(passkeys_of(session, user_id=user_id))
        if not allowed:
            raise PasskeyVerificationFailed("This account has no passkey. Use another way to confirm.")
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=secrets.token_bytes(_CHALLENGE_BYTES),
        timeout=_timeout_ms(),
        allow_credentials=allowed,
        # A passkey sign-in replaces the password and the second factor: the authenticator
        # must verify the person (PIN, biometrics), not only their presence.
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if purpose is PasskeyPurpose.SIGN_IN
            else UserVerificationRequirement.PREFERRED
        ),
    )
    challenge_id = store_challenge(
        session, purpose=purpose, user_id=user_id, challenge=options.challenge, now=now
    )
    return PasskeyOptions(challenge_id, options_to_json_dict(options))


def do_verify_passkey(
    session: Session,
    *,
    purpose: PasskeyPurpose,
    user_id: uuid.UUID,
    challenge_id: uuid.UUID,
    credential: Mapping[str, Any],
    rp_id: str,
    origin: str,
    now: dt.datetime | None = None,
) -> PasskeyCredential:
    """Check a passkey assertion of ``user_id`` for ``SECOND_FACTOR`` or ``STEP_UP``, and return
    the passkey used, its sign count and last use updated. Raises ``PasskeyVerificationFailed``
    as ``do_finish_passkey_sign_in`` does, and for another user's passkey. Locks the passkey
    row. Flushes; never commits."""
    if purpose not in (PasskeyPurpose.SECOND_FACTOR, PasskeyPurpose.STEP_UP):
        raise ValueError(f"{purpose} is not a second-factor purpose")
    expected = take_challenge(session, challenge_id=challenge_id, purpose=purpose, user_id=user_id, now=now)
    passkey, new_count = _verified_assertion(
        session,
        credential=credential,
        expected=expected,
        user_id=user_id,
        rp_id=rp_id,
        origin=origin,
        uv=False,
    )
    _mark_used(session, passkey, new_count)
    return passkey


def do_finish_passkey_sign_in(
    session: Session,
    *,
    challenge_id: uuid.UUID,
    credential: Mapping[str, Any],
    rp_id: str,
    origin: str,
    now: dt.datetime | None = None,
) -> PasskeySignIn:
    """Check a discoverable-passkey sign-in and say who signed in, and into which workspace
    (their first membership). Updates the passkey's sign count and last use.

    Raises ``PasskeyVerificationFailed`` for an unknown, expired, used or foreign challenge, an
    unknown credential, a user handle that is not the credential's user, a wrong origin or RP
    ID, a bad signature, an authenticator that did not verify the user (PIN, biometrics), a
    sign count that did not grow (a cloned authenticator: WebAuthn §6.1.1, refused when either
    count is non-zero and the new one is not greater), or a user who is no longer a member of
    any workspace; then only the challenge has changed. Locks the passkey row so that two
    answers from one authenticator are checked one after the other. Flushes; never commits."""
    expected = take_challenge(
        session, challenge_id=challenge_id, purpose=PasskeyPurpose.SIGN_IN, user_id=None, now=now
    )
    passkey, new_count = _verified_assertion(
        session, credential=credential, expected=expected, user_id=None, rp_id=rp_id, origin=origin, uv=True
    )
    workspace_id = session.scalar(
        select(Membership.workspace_id)
        .where(Membership.user_id == passkey.user_id)
        .order_by(Membership.created_at)
        .limit(1)
    )
    if workspace_id is None:
        raise PasskeyVerificationFailed()
    _mark_used(session, passkey, new_count)
    return PasskeySignIn(user_id=passkey.user_id, workspace_id=workspace_id, passkey_id=passkey.id)


def do_remove_passkey(
    session: Session, *, user_id: uuid.UUID, passkey_id: uuid.UUID, record: RecordEvent
) -> None:
    """Delete the user's passkey ``passkey_id`` and record ``mfa.passkey_removed``. Raises
    ``NotFound`` for a missing passkey or another user's (nothing changes). Not idempotent: a
    second removal is ``NotFound``. Re-authenticating the user first is the caller's job.
    Flushes; never commits."""
    passkey = access_passkey_by_id(session, user_id=user_id, passkey_id=passkey_id)
    session.delete(passkey)
    session.flush()
    record(
        workspace_id=passkey.workspace_id,
        actor_id=str(user_id),
        action="mfa.passkey_removed",
        target_kind="passkey_credential",
        target_id=str(passkey_id),
        data=None,
    )


def check_passkey_name(name: str) -> str:
    """The name to store: trimmed, inner whitespace collapsed, ``DEFAULT_NAME`` when empty.
    Raises ``ValidationFailed`` when longer than ``MAX_NAME_LENGTH``."""
    label = " ".join(name.split())
    if len(label) > MAX_NAME_LENGTH:
        raise ValidationFailed(f"Use at most {MAX_NAME_LENGTH} characters for the passkey's name.")
    if has_control_characters(label):
        raise ValidationFailed("A passkey's name may not contain control characters.")
    return label or DEFAULT_NAME


def _verified_assertion(
    session: Session,
    *,
    credential: Mapping[str, Any],
    expected: bytes,
    user_id: uuid.UUID | None,
    rp_id: str,
    origin: str,
    uv: bool,
) -> tuple[PasskeyCredential, int]:
    """The passkey that signed ``expected`` and its new sign count; changes nothing. ``uv``:
    the authenticator must have verified the user, not only seen them present."""
    try:
        parsed: AuthenticationCredential = parse_authentication_credential_json(dict(credential))
    except _MALFORMED as exc:
        raise PasskeyVerificationFailed() from exc
    # populate_existing: a copy already in this session must not hide a newer sign count.
    passkey = session.scalar(
        select(PasskeyCredential)
        .where(PasskeyCredential.credential_lookup == credential_lookup_of(parsed.raw_id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if passkey is None or (user_id is not None and passkey.user_id != user_id):
        raise PasskeyVerificationFailed()
    handle = parsed.response.user_handle
    if handle is not None and handle != passkey.user_id.bytes:
        raise PasskeyVerificationFailed()
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=expected,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=uv,
        )
    except _MALFORMED as exc:
        raise PasskeyVerificationFailed() from exc
    return passkey, verified.new_sign_count


def _mark_used(session: Session, passkey: PasskeyCredential, new_count: int) -> None:
    passkey.sign_count = new_count
    passkey.last_used_at = utcnow()
    session.flush()


def _descriptors(passkeys: list[PasskeyCredential]) -> list[PublicKeyCredentialDescriptor]:
    known = {transport.value for transport in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=passkey.credential_id,
            transports=[AuthenticatorTransport(value) for value in passkey.transports if value in known]
            or None,
        )
        for passkey in passkeys
    ]


def _timeout_ms() -> int:
    return int(CHALLENGE_LIFETIME.total_seconds() * 1000)
