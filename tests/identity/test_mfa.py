"""The TOTP factor and recovery codes, on both engines, with the audit events they record."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hushdesk.audit.models import ActorKind, AuditEvent
from hushdesk.audit.service import do_record_event
from hushdesk.identity.mfa import (
    RECOVERY_CODE_COUNT,
    InvalidTotpCode,
    MfaAlreadyEnabled,
    RecoveryCode,
    TotpFactor,
    do_begin_totp_enrolment,
    do_confirm_totp,
    do_remove_totp,
    has_confirmed_totp,
    use_recovery_code,
    verify_totp,
)
from hushdesk.identity.models import User
from hushdesk.identity.totp import secret_to_base32, totp_code
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import NotFound
from tests.identity.conftest import Member

NOW = dt.datetime(2026, 11, 24, 12, 0, 15, tzinfo=dt.UTC)


def _code(secret: bytes, steps: int = 0, at: dt.datetime = NOW) -> str:
    return totp_code(secret, at=int(at.timestamp()) + 30 * steps)


def _recorder(session: Session) -> partial[AuditEvent]:
    return partial(do_record_event, session, actor_kind=ActorKind.USER)


def _begin(member: Member) -> tuple[uuid.UUID, bytes]:
    with unit_of_work(member.vault.sessions) as session:
        user = session.get_one(User, member.user_id)
        enrolment = do_begin_totp_enrolment(session, user=user, workspace_id=member.workspace_id)
        return enrolment.factor_id, enrolment.secret


def _enrol(member: Member) -> tuple[bytes, list[str]]:
    """A confirmed factor, confirmed with the code two steps before NOW (so NOW's window is free)."""
    factor_id, secret = _begin(member)
    earlier = NOW - dt.timedelta(seconds=60)
    with unit_of_work(member.vault.sessions) as session:
        codes = do_confirm_totp(
            session,
            user_id=member.user_id,
            factor_id=factor_id,
            code=_code(secret, at=earlier),
            record=_recorder(session),
            now=earlier,
        )
    return secret, codes


def _verify(member: Member, code: str, now: dt.datetime = NOW) -> bool:
    with unit_of_work(member.vault.sessions) as session:
        return verify_totp(session, user_id=member.user_id, code=code, now=now)


def _use_recovery(member: Member, code: str) -> bool:
    with unit_of_work(member.vault.sessions) as session:
        return use_recovery_code(session, user_id=member.user_id, code=code, record=_recorder(session))


def _events(member: Member) -> list[AuditEvent]:
    with unit_of_work(member.vault.sessions) as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("mfa.%")).order_by(AuditEvent.seq)
            )
        )


def _has_mfa(member: Member) -> bool:
    with unit_of_work(member.vault.sessions) as session:
        return has_confirmed_totp(session, user_id=member.user_id)


def test_enrolment_confirmed_with_a_right_code_gives_ten_recovery_codes(member: Member) -> None:
    assert not _has_mfa(member)
    _secret, codes = _enrol(member)
    assert len(codes) == RECOVERY_CODE_COUNT == len(set(codes))
    assert _has_mfa(member)
    with unit_of_work(member.vault.sessions) as session:
        hashes = list(session.scalars(select(RecoveryCode.code_hash)))
    assert len(hashes) == RECOVERY_CODE_COUNT
    assert not any(code in stored or code.replace("-", "") in stored for code in codes for stored in hashes)


def test_a_wrong_code_confirms_nothing(member: Member) -> None:
    factor_id, secret = _begin(member)
    wrong = f"{(int(_code(secret)) + 1) % 1_000_000:06d}"
    with pytest.raises(InvalidTotpCode), unit_of_work(member.vault.sessions) as session:
        do_confirm_totp(
            session,
            user_id=member.user_id,
            factor_id=factor_id,
            code=wrong,
            record=_recorder(session),
            now=NOW,
        )
    assert not _has_mfa(member)
    assert _events(member) == []
    with unit_of_work(member.vault.sessions) as session:
        assert session.scalars(select(RecoveryCode)).all() == []


def test_another_users_factor_cannot_be_confirmed(member: Member) -> None:
    factor_id, secret = _begin(member)
    with pytest.raises(NotFound), unit_of_work(member.vault.sessions) as session:
        do_confirm_totp(
            session,
            user_id=uuid.uuid4(),
            factor_id=factor_id,
            code=_code(secret),
            record=_recorder(session),
            now=NOW,
        )


def test_a_new_enrolment_replaces_an_unconfirmed_one(member: Member) -> None:
    first_id, _ = _begin(member)
    second_id, _ = _begin(member)
    with unit_of_work(member.vault.sessions) as session:
        assert list(session.scalars(select(TotpFactor.id))) == [second_id]
    assert first_id != second_id


def test_enrolment_is_refused_while_a_confirmed_factor_exists(member: Member) -> None:
    _enrol(member)
    with pytest.raises(MfaAlreadyEnabled):
        _begin(member)


def test_enrolment_needs_membership_of_the_workspace(member: Member) -> None:
    with pytest.raises(NotFound), unit_of_work(member.vault.sessions) as session:
        user = session.get_one(User, member.user_id)
        do_begin_totp_enrolment(session, user=user, workspace_id=member.vault.other_workspace_id)


def test_the_confirmation_code_cannot_be_replayed(member: Member) -> None:
    factor_id, secret = _begin(member)
    with unit_of_work(member.vault.sessions) as session:
        do_confirm_totp(
            session,
            user_id=member.user_id,
            factor_id=factor_id,
            code=_code(secret),
            record=_recorder(session),
            now=NOW,
        )
    assert not _verify(member, _code(secret))


def test_the_same_code_is_accepted_once(member: Member) -> None:
    secret, _ = _enrol(member)
    assert _verify(member, _code(secret))
    assert not _verify(member, _code(secret))


def test_a_later_step_is_accepted_after_an_earlier_one_but_not_the_reverse(member: Member) -> None:
    secret, _ = _enrol(member)
    assert _verify(member, _code(secret, -1))
    assert _verify(member, _code(secret, 0))
    assert not _verify(member, _code(secret, -1))


def test_one_step_of_drift_either_way_is_accepted(member: Member) -> None:
    secret, _ = _enrol(member)
    assert _verify(member, _code(secret, -1))
    assert _verify(member, _code(secret, +1))


@pytest.mark.parametrize("steps", [-2, +2])
def test_two_steps_of_drift_are_refused(member: Member, steps: int) -> None:
    secret, _ = _enrol(member)
    assert not _verify(member, _code(secret, steps))


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"])
def test_malformed_codes_are_refused(member: Member, code: str) -> None:
    _enrol(member)
    assert not _verify(member, code)


def test_an_unconfirmed_factor_does_not_verify(member: Member) -> None:
    _factor_id, secret = _begin(member)
    assert not _verify(member, _code(secret))


def test_recovery_codes_are_single_use_and_forgiving_of_case_and_dashes(member: Member) -> None:
    _secret, codes = _enrol(member)
    first, second = codes[0], codes[1]
    assert _use_recovery(member, first.lower())
    assert not _use_recovery(member, first)
    assert _use_recovery(member, " " + second.replace("-", " ").lower() + " ")
    assert not _use_recovery(member, second.replace("-", ""))


def test_unknown_recovery_codes_are_refused(member: Member) -> None:
    _enrol(member)
    assert not _use_recovery(member, "AAAA-AAAA-AAAA-AAAA")
    assert not _use_recovery(member, "not a code")
    assert not _use_recovery(member, "ÀAAA-AAAA-AAAA-AAAA")


def test_confirming_again_replaces_the_recovery_codes(member: Member) -> None:
    _secret, old_codes = _enrol(member)
    with unit_of_work(member.vault.sessions) as session:
        do_remove_totp(session, user_id=member.user_id, record=_recorder(session))
    _secret, new_codes = _enrol(member)
    assert not _use_recovery(member, old_codes[0])
    assert _use_recovery(member, new_codes[0])


def test_the_secret_is_sealed_at_rest(member: Member) -> None:
    secret, _ = _enrol(member)
    with member.vault.engine.connect() as connection:
        raw = connection.execute(text("SELECT secret FROM totp_factor")).scalar_one()
    assert isinstance(raw, bytes | memoryview)
    raw = bytes(raw)
    assert secret not in raw
    assert secret_to_base32(secret).encode() not in raw
    with unit_of_work(member.vault.fresh_keyring_sessions()) as session:
        assert session.scalars(select(TotpFactor.secret)).one() != raw
        assert session.scalars(select(TotpFactor)).one().secret == secret


def test_removal_turns_mfa_off_and_deletes_the_codes(member: Member) -> None:
    secret, codes = _enrol(member)
    with unit_of_work(member.vault.sessions) as session:
        assert do_remove_totp(session, user_id=member.user_id, record=_recorder(session))
    assert not _has_mfa(member)
    assert not _verify(member, _code(secret))
    assert not _use_recovery(member, codes[0])
    with unit_of_work(member.vault.sessions) as session:
        assert not do_remove_totp(session, user_id=member.user_id, record=_recorder(session))


def test_audit_events_are_recorded_without_secrets(member: Member) -> None:
    secret, codes = _enrol(member)
    _use_recovery(member, codes[0])
    with unit_of_work(member.vault.sessions) as session:
        do_remove_totp(session, user_id=member.user_id, record=_recorder(session))
    events = _events(member)
    assert [event.action for event in events] == [
        "mfa.totp_enrolled",
        "mfa.recovery_code_used",
        "mfa.totp_removed",
    ]
    assert {(event.actor_kind, event.actor_id, event.workspace_id) for event in events} == {
        (ActorKind.USER.value, str(member.user_id), member.workspace_id)
    }
    assert events[0].data == {"recovery_codes": RECOVERY_CODE_COUNT}
    assert events[1].data == {"remaining": RECOVERY_CODE_COUNT - 1}
    dumped = repr([(event.data, event.target_id) for event in events])
    assert secret_to_base32(secret) not in dumped
    assert not any(code in dumped for code in codes)


def test_concurrent_submissions_of_one_code_pass_once(member: Member) -> None:
    secret, _ = _enrol(member)
    code = _code(secret)
    barrier = threading.Barrier(2)

    def submit() -> bool:
        barrier.wait(timeout=10)
        return _verify(member, code)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(submit) for _ in range(2)]
        # result() re-raises a worker's exception here, failing the test.
        results = sorted(future.result(timeout=30) for future in futures)
    assert results == [False, True]


def test_a_second_submission_waits_for_the_first_and_is_then_refused(member: Member) -> None:
    """Deterministic form of the race: the first transaction has accepted the code but not yet
    committed. Without the row lock the second would read the old last_used_step and pass."""
    secret, _ = _enrol(member)
    code = _code(secret)
    results: list[bool] = []
    second = threading.Thread(target=lambda: results.append(_verify(member, code)))
    with unit_of_work(member.vault.sessions) as session:
        assert verify_totp(session, user_id=member.user_id, code=code, now=NOW)
        second.start()
        second.join(timeout=1)
        assert second.is_alive(), "the second submission should be waiting on the first's lock"
    second.join(timeout=30)
    assert results == [False]
