"""Passkey ceremonies on both engines, with real WebAuthn bytes from a software authenticator:
registration, sign-in, second factor, single-use and expiring challenges, origin and RP ID
binding, cloned authenticators, other users' credentials, removal and the audit events."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from hushdesk.audit.models import ActorKind, AuditEvent
from hushdesk.audit.service import do_record_event
from hushdesk.identity.models import Membership, Role, User
from hushdesk.identity.passkey_challenges import (
    CHALLENGE_LIFETIME,
    PasskeyChallenge,
    PasskeyPurpose,
    PasskeyVerificationFailed,
)
from hushdesk.identity.passkeys import (
    DEFAULT_NAME,
    PasskeyCredential,
    PasskeyOptions,
    PasskeySignIn,
    access_passkey_by_id,
    do_begin_passkey_authentication,
    do_begin_passkey_registration,
    do_finish_passkey_registration,
    do_finish_passkey_sign_in,
    do_remove_passkey,
    do_verify_passkey,
    passkeys_of,
)
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import NotFound, ValidationFailed
from tests.identity.conftest import Member
from tests.identity.soft_authenticator import SoftAuthenticator, b64url, from_b64url

RP_ID = "support.example.com"
ORIGIN = "https://support.example.com"


def _recorder(session: Session) -> partial[AuditEvent]:
    return partial(do_record_event, session, actor_kind=ActorKind.USER)


def _authenticator(**overrides: Any) -> SoftAuthenticator:
    return SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, **overrides)


def _register(
    member: Member,
    authenticator: SoftAuthenticator,
    *,
    user_id: uuid.UUID | None = None,
    name: str = "Work laptop",
) -> PasskeyCredential:
    user_id = user_id or member.user_id
    with unit_of_work(member.vault.sessions) as session:
        options = do_begin_passkey_registration(session, user=session.get_one(User, user_id), rp_id=RP_ID)
    with unit_of_work(member.vault.sessions) as session:
        return do_finish_passkey_registration(
            session,
            user_id=user_id,
            workspace_id=member.workspace_id,
            challenge_id=options.challenge_id,
            credential=authenticator.create(options.public_key),
            name=name,
            rp_id=RP_ID,
            origin=ORIGIN,
            record=_recorder(session),
        )


def _sign_in_options(member: Member, *, now: dt.datetime | None = None) -> PasskeyOptions:
    with unit_of_work(member.vault.sessions) as session:
        return do_begin_passkey_authentication(
            session, purpose=PasskeyPurpose.SIGN_IN, user_id=None, rp_id=RP_ID, now=now
        )


def _sign_in(member: Member, options: PasskeyOptions, answer: dict[str, Any]) -> PasskeySignIn:
    with unit_of_work(member.vault.sessions) as session:
        return do_finish_passkey_sign_in(
            session, challenge_id=options.challenge_id, credential=answer, rp_id=RP_ID, origin=ORIGIN
        )


def _refused(member: Member, attempt: Callable[[Session], object]) -> None:
    """``attempt`` fails with ``PasskeyVerificationFailed``, and its transaction still commits
    (as the web layer commits it), so that what the failure consumed stays consumed."""
    with unit_of_work(member.vault.sessions) as session, pytest.raises(PasskeyVerificationFailed):
        attempt(session)


def _refused_sign_in(
    member: Member,
    options: PasskeyOptions,
    answer: dict[str, Any],
    *,
    rp_id: str = RP_ID,
    origin: str = ORIGIN,
) -> None:
    _refused(
        member,
        lambda session: do_finish_passkey_sign_in(
            session, challenge_id=options.challenge_id, credential=answer, rp_id=rp_id, origin=origin
        ),
    )


def _second_factor_options(member: Member, user_id: uuid.UUID) -> PasskeyOptions:
    with unit_of_work(member.vault.sessions) as session:
        return do_begin_passkey_authentication(
            session, purpose=PasskeyPurpose.SECOND_FACTOR, user_id=user_id, rp_id=RP_ID
        )


def _verify(member: Member, user_id: uuid.UUID, options: PasskeyOptions, answer: dict[str, Any]) -> None:
    with unit_of_work(member.vault.sessions) as session:
        do_verify_passkey(
            session,
            purpose=PasskeyPurpose.SECOND_FACTOR,
            user_id=user_id,
            challenge_id=options.challenge_id,
            credential=answer,
            rp_id=RP_ID,
            origin=ORIGIN,
        )


def _stored(member: Member) -> list[PasskeyCredential]:
    with unit_of_work(member.vault.sessions) as session:
        return list(session.scalars(select(PasskeyCredential).order_by(PasskeyCredential.created_at)))


def _challenges_left(member: Member) -> int:
    with unit_of_work(member.vault.sessions) as session:
        return session.scalar(select(func.count()).select_from(PasskeyChallenge)) or 0


def _events(member: Member) -> list[AuditEvent]:
    with unit_of_work(member.vault.sessions) as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("mfa.passkey%")).order_by(AuditEvent.seq)
            )
        )


def _other_user(member: Member, email: str = "grace@example.com") -> uuid.UUID:
    with unit_of_work(member.vault.sessions) as session:
        user = User(email=email, display_name="Grace", password_hash="not-used-here")
        session.add(user)
        session.flush()
        session.add(Membership(workspace_id=member.workspace_id, user_id=user.id, role=Role.SUPPORT.value))
        return user.id


# -- registration ------------------------------------------------------------------------------


def test_registration_options_ask_for_a_discoverable_credential_for_this_user(member: Member) -> None:
    with unit_of_work(member.vault.sessions) as session:
        options = do_begin_passkey_registration(
            session, user=session.get_one(User, member.user_id), rp_id=RP_ID
        )
    public_key = options.public_key
    assert public_key["rp"] == {"id": RP_ID, "name": "Hushdesk"}
    assert from_b64url(public_key["user"]["id"]) == member.user_id.bytes
    assert public_key["user"]["name"] == "ada@example.com"
    assert public_key["authenticatorSelection"]["residentKey"] == "preferred"
    assert public_key["authenticatorSelection"]["userVerification"] == "preferred"
    assert public_key["excludeCredentials"] == []
    assert public_key["attestation"] == "none"
    assert public_key["timeout"] == CHALLENGE_LIFETIME.total_seconds() * 1000
    with unit_of_work(member.vault.sessions) as session:
        challenge = session.get_one(PasskeyChallenge, options.challenge_id)
        assert challenge.purpose == "register"
        assert challenge.user_id == member.user_id
        assert b64url(challenge.challenge) == public_key["challenge"]
        assert challenge.expires_at - challenge.created_at == pytest.approx(
            CHALLENGE_LIFETIME, abs=dt.timedelta(seconds=5)
        )


def test_registration_stores_the_passkey_and_records_the_event(member: Member) -> None:
    authenticator = _authenticator()
    passkey = _register(member, authenticator, name="  Work   laptop ")
    [stored] = _stored(member)
    assert stored.id == passkey.id
    assert stored.user_id == member.user_id
    assert stored.workspace_id == member.workspace_id
    assert stored.credential_id == authenticator.credential_id
    assert stored.credential_lookup == hashlib.sha256(authenticator.credential_id).hexdigest()
    assert stored.name == "Work laptop"
    assert stored.sign_count == 0
    assert stored.transports == ["internal", "hybrid"]
    assert stored.last_used_at is None
    [event] = _events(member)
    assert (event.action, event.target_kind, event.target_id) == (
        "mfa.passkey_registered",
        "passkey_credential",
        str(passkey.id),
    )
    assert (event.actor_id, event.workspace_id) == (str(member.user_id), member.workspace_id)
    dumped = repr((event.data, event.target_id))
    assert b64url(authenticator.credential_id) not in dumped
    assert authenticator.credential_id.hex() not in dumped
    assert _challenges_left(member) == 0


def test_an_empty_name_gets_the_default(member: Member) -> None:
    assert _register(member, _authenticator(), name="   ").name == DEFAULT_NAME


def test_a_too_long_name_is_refused_before_the_challenge_is_used(member: Member) -> None:
    with pytest.raises(ValidationFailed), unit_of_work(member.vault.sessions) as session:
        do_finish_passkey_registration(
            session,
            user_id=member.user_id,
            workspace_id=member.workspace_id,
            challenge_id=uuid.uuid4(),
            credential={},
            name="x" * 81,
            rp_id=RP_ID,
            origin=ORIGIN,
            record=_recorder(session),
        )


def test_credential_id_and_public_key_are_sealed_at_rest(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    with member.vault.engine.connect() as connection:
        row = connection.execute(text("SELECT credential_id, public_key FROM passkey_credential")).one()
    raw_id, raw_key = bytes(row[0]), bytes(row[1])
    public_x = authenticator.key.public_key().public_numbers().x.to_bytes(32, "big")
    assert authenticator.credential_id not in raw_id + raw_key
    assert public_x not in raw_id + raw_key
    with unit_of_work(member.vault.fresh_keyring_sessions()) as session:
        assert session.scalars(select(PasskeyCredential)).one().credential_id == authenticator.credential_id


def test_registration_excludes_the_users_existing_passkeys(member: Member) -> None:
    first = _authenticator()
    _register(member, first)
    with unit_of_work(member.vault.sessions) as session:
        options = do_begin_passkey_registration(
            session, user=session.get_one(User, member.user_id), rp_id=RP_ID
        )
    assert options.public_key["excludeCredentials"] == [
        {"id": b64url(first.credential_id), "type": "public-key", "transports": ["internal", "hybrid"]}
    ]


def test_a_credential_cannot_be_registered_twice(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    other = _other_user(member)
    with pytest.raises(PasskeyVerificationFailed):
        _register(member, authenticator, user_id=other)
    assert [passkey.user_id for passkey in _stored(member)] == [member.user_id]


def test_concurrent_registrations_of_one_credential_store_it_once(member: Member) -> None:
    """The second registration waits for the first (unique index on PostgreSQL, write lock on
    SQLite) and is then refused, without a database error escaping."""
    authenticator = _authenticator()
    with unit_of_work(member.vault.sessions) as session:
        user = session.get_one(User, member.user_id)
        first, second = (do_begin_passkey_registration(session, user=user, rp_id=RP_ID) for _ in range(2))
    answers = [authenticator.create(first.public_key), authenticator.create(second.public_key)]
    outcomes: list[str] = []

    def finish(session: Session, options: PasskeyOptions, answer: dict[str, Any]) -> PasskeyCredential:
        return do_finish_passkey_registration(
            session,
            user_id=member.user_id,
            workspace_id=member.workspace_id,
            challenge_id=options.challenge_id,
            credential=answer,
            name="",
            rp_id=RP_ID,
            origin=ORIGIN,
            record=_recorder(session),
        )

    def race() -> None:
        try:
            with unit_of_work(member.vault.sessions) as session:
                finish(session, second, answers[1])
            outcomes.append("stored")
        except PasskeyVerificationFailed:
            outcomes.append("refused")

    racer = threading.Thread(target=race)
    with unit_of_work(member.vault.sessions) as session:
        finish(session, first, answers[0])
        racer.start()
        racer.join(timeout=1)
        assert racer.is_alive(), "the second registration should be waiting on the first"
    racer.join(timeout=30)
    assert outcomes == ["refused"]
    assert len(_stored(member)) == 1
    assert [event.action for event in _events(member)] == ["mfa.passkey_registered"]


@pytest.mark.parametrize(
    ("origin", "rp_id"),
    [("https://evil.example", RP_ID), (ORIGIN, "evil.example"), ("http://support.example.com", RP_ID)],
)
def test_registration_from_another_origin_or_rp_id_is_refused(
    member: Member, origin: str, rp_id: str
) -> None:
    with unit_of_work(member.vault.sessions) as session:
        options = do_begin_passkey_registration(
            session, user=session.get_one(User, member.user_id), rp_id=RP_ID
        )
    answer = _authenticator().create(options.public_key, origin=origin, rp_id=rp_id)
    _refused(
        member,
        lambda session: do_finish_passkey_registration(
            session,
            user_id=member.user_id,
            workspace_id=member.workspace_id,
            challenge_id=options.challenge_id,
            credential=answer,
            name="",
            rp_id=RP_ID,
            origin=ORIGIN,
            record=_recorder(session),
        ),
    )
    assert _stored(member) == []
    assert _events(member) == []
    assert _challenges_left(member) == 0


def test_another_users_registration_challenge_is_refused(member: Member) -> None:
    other = _other_user(member)
    with unit_of_work(member.vault.sessions) as session:
        options = do_begin_passkey_registration(session, user=session.get_one(User, other), rp_id=RP_ID)
    answer = _authenticator().create(options.public_key)
    _refused(
        member,
        lambda session: do_finish_passkey_registration(
            session,
            user_id=member.user_id,
            workspace_id=member.workspace_id,
            challenge_id=options.challenge_id,
            credential=answer,
            name="",
            rp_id=RP_ID,
            origin=ORIGIN,
            record=_recorder(session),
        ),
    )
    assert _stored(member) == []


def test_registration_needs_membership_of_the_workspace(member: Member) -> None:
    with unit_of_work(member.vault.sessions) as session:
        options = do_begin_passkey_registration(
            session, user=session.get_one(User, member.user_id), rp_id=RP_ID
        )
    answer = _authenticator().create(options.public_key)
    _refused(
        member,
        lambda session: do_finish_passkey_registration(
            session,
            user_id=member.user_id,
            workspace_id=member.vault.other_workspace_id,
            challenge_id=options.challenge_id,
            credential=answer,
            name="",
            rp_id=RP_ID,
            origin=ORIGIN,
            record=_recorder(session),
        ),
    )
    assert _stored(member) == []


# -- sign-in -----------------------------------------------------------------------------------


def test_sign_in_with_a_discoverable_passkey(member: Member) -> None:
    authenticator = _authenticator()
    passkey = _register(member, authenticator)
    options = _sign_in_options(member)
    assert options.public_key["allowCredentials"] == []
    assert options.public_key["userVerification"] == "required"
    assert options.public_key["rpId"] == RP_ID
    before = utcnow()
    signed_in = _sign_in(member, options, authenticator.get(options.public_key))
    assert signed_in == PasskeySignIn(
        user_id=member.user_id, workspace_id=member.workspace_id, passkey_id=passkey.id
    )
    [stored] = _stored(member)
    assert stored.sign_count == 1
    assert stored.last_used_at is not None
    assert stored.last_used_at >= before
    assert _challenges_left(member) == 0


def test_a_sign_in_challenge_works_once(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    options = _sign_in_options(member)
    answer = authenticator.get(options.public_key)
    _sign_in(member, options, answer)
    _refused_sign_in(member, options, answer)
    # A fresh signature over the same challenge is refused too: the challenge itself is gone.
    _refused_sign_in(member, options, authenticator.get(options.public_key))
    assert _stored(member)[0].sign_count == 1


def test_a_failed_answer_still_uses_up_the_challenge(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    options = _sign_in_options(member)
    _refused_sign_in(member, options, authenticator.get(options.public_key, origin="https://evil.example"))
    assert _challenges_left(member) == 0
    _refused_sign_in(member, options, authenticator.get(options.public_key))
    [stored] = _stored(member)
    assert stored.last_used_at is None


def test_an_expired_challenge_is_refused_and_used_up(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    options = _sign_in_options(member, now=utcnow() - CHALLENGE_LIFETIME - dt.timedelta(seconds=1))
    assert _challenges_left(member) == 1
    _refused_sign_in(member, options, authenticator.get(options.public_key))
    assert _challenges_left(member) == 0
    assert _stored(member)[0].last_used_at is None


def test_an_unknown_challenge_is_refused(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    options = _sign_in_options(member)
    forged = PasskeyOptions(uuid.uuid4(), options.public_key)
    _refused_sign_in(member, forged, authenticator.get(options.public_key))
    assert _challenges_left(member) == 1


def test_expired_challenges_are_purged_when_new_ones_are_issued(member: Member) -> None:
    _sign_in_options(member, now=utcnow() - CHALLENGE_LIFETIME - dt.timedelta(seconds=1))
    _sign_in_options(member)
    assert _challenges_left(member) == 1


@pytest.mark.parametrize(
    "wrong",
    [
        {"origin": "https://evil.example"},
        {"origin": "https://support.example.com:8443"},
        {"origin": "http://support.example.com"},
        {"rp_id": "evil.example"},
        {"rp_id": "example.com"},
    ],
    ids=["other-site", "other-port", "other-scheme", "other-rp-id", "parent-domain-rp-id"],
)
def test_an_assertion_for_another_origin_or_rp_id_is_refused(member: Member, wrong: dict[str, str]) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    options = _sign_in_options(member)
    _refused_sign_in(member, options, authenticator.get(options.public_key, **wrong))
    [stored] = _stored(member)
    assert (stored.sign_count, stored.last_used_at) == (0, None)


def test_the_server_checks_against_its_own_origin_and_rp_id(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    options = _sign_in_options(member)
    _refused_sign_in(member, options, authenticator.get(options.public_key), origin="https://other.example")
    options = _sign_in_options(member)
    _refused_sign_in(member, options, authenticator.get(options.public_key), rp_id="other.example")


def test_a_cloned_authenticator_is_refused(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    for _ in range(3):
        options = _sign_in_options(member)
        _sign_in(member, options, authenticator.get(options.public_key))
    assert _stored(member)[0].sign_count == 3
    # A copy of the key made after the first sign-in reports a count the server has seen.
    clone = SoftAuthenticator(
        rp_id=RP_ID,
        origin=ORIGIN,
        credential_id=authenticator.credential_id,
        key=authenticator.key,
        sign_count=1,
        user_handle=authenticator.user_handle,
    )
    options = _sign_in_options(member)
    _refused_sign_in(member, options, clone.get(options.public_key))
    # A count that falls back to zero is refused too, once a non-zero one was seen.
    clone.counts = False
    options = _sign_in_options(member)
    _refused_sign_in(member, options, clone.get(options.public_key))
    assert _stored(member)[0].sign_count == 3
    options = _sign_in_options(member)
    _sign_in(member, options, authenticator.get(options.public_key))
    assert _stored(member)[0].sign_count == 4


def test_an_authenticator_without_a_counter_signs_in_repeatedly(member: Member) -> None:
    authenticator = _authenticator(counts=False)
    _register(member, authenticator)
    for _ in range(2):
        options = _sign_in_options(member)
        _sign_in(member, options, authenticator.get(options.public_key))
    assert _stored(member)[0].sign_count == 0


def test_sign_in_needs_user_verification(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    authenticator.user_verified = False
    options = _sign_in_options(member)
    _refused_sign_in(member, options, authenticator.get(options.public_key))


def test_a_signature_by_another_key_is_refused(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    impostor = SoftAuthenticator(
        rp_id=RP_ID,
        origin=ORIGIN,
        credential_id=authenticator.credential_id,
        user_handle=authenticator.user_handle,
    )
    options = _sign_in_options(member)
    _refused_sign_in(member, options, impostor.get(options.public_key))


def test_an_unknown_credential_is_refused(member: Member) -> None:
    _register(member, _authenticator())
    stranger = _authenticator(user_handle=member.user_id.bytes)
    options = _sign_in_options(member)
    _refused_sign_in(member, options, stranger.get(options.public_key))


def test_a_user_handle_that_is_not_the_credentials_user_is_refused(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    authenticator.user_handle = _other_user(member).bytes
    options = _sign_in_options(member)
    _refused_sign_in(member, options, authenticator.get(options.public_key))


def test_sign_in_of_a_user_who_is_no_longer_a_member_is_refused(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    with unit_of_work(member.vault.sessions) as session:
        session.execute(delete(Membership).where(Membership.user_id == member.user_id))
    options = _sign_in_options(member)
    _refused_sign_in(member, options, authenticator.get(options.public_key))
    assert _stored(member)[0].sign_count == 0


def test_sign_in_starts_in_the_users_first_workspace(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    with unit_of_work(member.vault.sessions) as session:
        session.add(
            Membership(
                workspace_id=member.vault.other_workspace_id, user_id=member.user_id, role=Role.SUPPORT.value
            )
        )
    options = _sign_in_options(member)
    assert (
        _sign_in(member, options, authenticator.get(options.public_key)).workspace_id == member.workspace_id
    )


def test_a_registration_challenge_does_not_answer_a_sign_in(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    with unit_of_work(member.vault.sessions) as session:
        options = do_begin_passkey_registration(
            session, user=session.get_one(User, member.user_id), rp_id=RP_ID
        )
    _refused_sign_in(member, options, authenticator.get(options.public_key))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda answer: {},
        lambda answer: {**answer, "rawId": "not base64url!"},
        lambda answer: {**answer, "id": "AAAA"},
        lambda answer: {**answer, "type": "password"},
        lambda answer: {**answer, "response": "nope"},
        lambda answer: {**answer, "response": {**answer["response"], "clientDataJSON": b64url(b"{not json")}},
        lambda answer: {**answer, "response": {**answer["response"], "authenticatorData": b64url(b"short")}},
        lambda answer: {**answer, "response": {**answer["response"], "signature": b64url(b"\x30\x02\x00")}},
        lambda answer: {**answer, "response": {**answer["response"], "userHandle": 7}},
    ],
    ids=[
        "empty",
        "raw-id",
        "id-mismatch",
        "type",
        "response",
        "client-data",
        "auth-data",
        "signature",
        "handle",
    ],
)
def test_malformed_answers_are_refused(
    member: Member, mangle: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    options = _sign_in_options(member)
    _refused_sign_in(member, options, mangle(authenticator.get(options.public_key)))
    assert _stored(member)[0].last_used_at is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda answer: {
            **answer,
            "response": {**answer["response"], "attestationObject": b64url(b"\xff\x00")},
        },
        lambda answer: {**answer, "response": {**answer["response"], "attestationObject": "%%%"}},
        lambda answer: {**answer, "response": {}},
    ],
    ids=["cbor", "base64", "missing"],
)
def test_malformed_registrations_are_refused(
    member: Member, mangle: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    with unit_of_work(member.vault.sessions) as session:
        options = do_begin_passkey_registration(
            session, user=session.get_one(User, member.user_id), rp_id=RP_ID
        )
    answer = mangle(_authenticator().create(options.public_key))
    _refused(
        member,
        lambda session: do_finish_passkey_registration(
            session,
            user_id=member.user_id,
            workspace_id=member.workspace_id,
            challenge_id=options.challenge_id,
            credential=answer,
            name="",
            rp_id=RP_ID,
            origin=ORIGIN,
            record=_recorder(session),
        ),
    )
    assert _stored(member) == []


def test_concurrent_answers_to_one_challenge_pass_once(member: Member) -> None:
    """Deterministic form of the race: the first transaction has taken the challenge but not yet
    committed. The second waits for it (row lock on PostgreSQL, write lock on SQLite) and then
    finds the challenge gone."""
    authenticator = _authenticator(counts=False)
    _register(member, authenticator)
    options = _sign_in_options(member)
    answer = authenticator.get(options.public_key)
    outcomes: list[str] = []

    def second() -> None:
        try:
            _sign_in(member, options, answer)
            outcomes.append("accepted")
        except PasskeyVerificationFailed:
            outcomes.append("refused")

    racer = threading.Thread(target=second)
    with unit_of_work(member.vault.sessions) as session:
        do_finish_passkey_sign_in(
            session, challenge_id=options.challenge_id, credential=answer, rp_id=RP_ID, origin=ORIGIN
        )
        racer.start()
        racer.join(timeout=1)
        assert racer.is_alive(), "the second answer should be waiting on the first's lock"
    racer.join(timeout=30)
    assert outcomes == ["refused"]


# -- second factor and step-up -----------------------------------------------------------------


def test_second_factor_with_the_users_own_passkey(member: Member) -> None:
    authenticator = _authenticator(user_verified=False)
    _register(member, authenticator)
    options = _second_factor_options(member, member.user_id)
    assert options.public_key["allowCredentials"] == [
        {
            "id": b64url(authenticator.credential_id),
            "type": "public-key",
            "transports": ["internal", "hybrid"],
        }
    ]
    assert options.public_key["userVerification"] == "preferred"
    _verify(member, member.user_id, options, authenticator.get(options.public_key))
    assert _stored(member)[0].sign_count == 1


def test_another_users_passkey_is_refused_as_a_second_factor(member: Member) -> None:
    mine = _authenticator()
    _register(member, mine)
    other = _other_user(member)
    theirs = _authenticator()
    _register(member, theirs, user_id=other)
    options = _second_factor_options(member, other)
    assert [item["id"] for item in options.public_key["allowCredentials"]] == [b64url(theirs.credential_id)]
    answer = mine.get(options.public_key)
    _refused(
        member,
        lambda session: do_verify_passkey(
            session,
            purpose=PasskeyPurpose.SECOND_FACTOR,
            user_id=other,
            challenge_id=options.challenge_id,
            credential=answer,
            rp_id=RP_ID,
            origin=ORIGIN,
        ),
    )
    assert [passkey.last_used_at for passkey in _stored(member)] == [None, None]


def test_a_second_factor_challenge_is_bound_to_its_user_and_purpose(member: Member) -> None:
    authenticator = _authenticator()
    _register(member, authenticator)
    other = _other_user(member)
    _register(member, _authenticator(), user_id=other)
    for purpose, user_id in [(PasskeyPurpose.STEP_UP, member.user_id), (PasskeyPurpose.SECOND_FACTOR, other)]:
        options = _second_factor_options(member, member.user_id)
        answer = authenticator.get(options.public_key)

        def attempt(
            session: Session,
            purpose: PasskeyPurpose = purpose,
            user_id: uuid.UUID = user_id,
            options: PasskeyOptions = options,
            answer: dict[str, Any] = answer,
        ) -> object:
            return do_verify_passkey(
                session,
                purpose=purpose,
                user_id=user_id,
                challenge_id=options.challenge_id,
                credential=answer,
                rp_id=RP_ID,
                origin=ORIGIN,
            )

        _refused(member, attempt)
    assert _stored(member)[0].last_used_at is None


def test_second_factor_options_need_a_passkey(member: Member) -> None:
    with pytest.raises(PasskeyVerificationFailed), unit_of_work(member.vault.sessions) as session:
        do_begin_passkey_authentication(
            session, purpose=PasskeyPurpose.STEP_UP, user_id=member.user_id, rp_id=RP_ID
        )
    assert _challenges_left(member) == 0


def test_purposes_and_users_that_do_not_go_together_are_programming_errors(member: Member) -> None:
    with unit_of_work(member.vault.sessions) as session:
        for purpose, user_id in [
            (PasskeyPurpose.SIGN_IN, member.user_id),
            (PasskeyPurpose.SECOND_FACTOR, None),
            (PasskeyPurpose.REGISTER, member.user_id),
        ]:
            with pytest.raises(ValueError, match="does not take"):
                do_begin_passkey_authentication(session, purpose=purpose, user_id=user_id, rp_id=RP_ID)


# -- listing and removal -----------------------------------------------------------------------


def test_passkeys_of_lists_only_the_users_own(member: Member) -> None:
    first = _register(member, _authenticator(), name="Laptop")
    second = _register(member, _authenticator(), name="Phone")
    _register(member, _authenticator(), user_id=_other_user(member))
    with unit_of_work(member.vault.sessions) as session:
        assert [passkey.id for passkey in passkeys_of(session, user_id=member.user_id)] == [
            first.id,
            second.id,
        ]


def test_removal_deletes_the_passkey_and_records_the_event(member: Member) -> None:
    authenticator = _authenticator()
    passkey = _register(member, authenticator)
    with unit_of_work(member.vault.sessions) as session:
        do_remove_passkey(session, user_id=member.user_id, passkey_id=passkey.id, record=_recorder(session))
    assert _stored(member) == []
    assert [(event.action, event.target_id) for event in _events(member)] == [
        ("mfa.passkey_registered", str(passkey.id)),
        ("mfa.passkey_removed", str(passkey.id)),
    ]
    options = _sign_in_options(member)
    _refused_sign_in(member, options, authenticator.get(options.public_key))


def test_another_users_passkey_cannot_be_removed_or_read(member: Member) -> None:
    passkey = _register(member, _authenticator())
    other = _other_user(member)
    with unit_of_work(member.vault.sessions) as session:
        for attempt in (
            lambda: do_remove_passkey(
                session, user_id=other, passkey_id=passkey.id, record=_recorder(session)
            ),
            lambda: access_passkey_by_id(session, user_id=other, passkey_id=passkey.id),
            lambda: do_remove_passkey(
                session, user_id=member.user_id, passkey_id=uuid.uuid4(), record=_recorder(session)
            ),
        ):
            with pytest.raises(NotFound):
                attempt()
    assert [stored.id for stored in _stored(member)] == [passkey.id]
    assert [event.action for event in _events(member)] == ["mfa.passkey_registered"]
