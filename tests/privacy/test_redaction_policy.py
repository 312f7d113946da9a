"""The redaction policy service: defaults, validation, audited saves scoped to one workspace,
and the redactor it builds (with the workspace's own pseudonym key)."""

from __future__ import annotations

import concurrent.futures
import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.audit.chain import verify_chain
from hushdesk.audit.models import ActorKind, AuditEvent, chain_for
from hushdesk.audit.service import do_record_event
from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.keystore import ContactKeyStore
from hushdesk.crypto.models import DataKeyRecord, KeyPurpose
from hushdesk.crypto.providers import LocalKeyProvider
from hushdesk.identity.models import User
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.infra.errors import ValidationFailed
from hushdesk.privacy.pii import ALL_LABELS, CustomPatternError, Label
from hushdesk.privacy.pii.redaction import RedactionMode
from hushdesk.privacy.redaction_policy.models import RedactionPolicy
from hushdesk.privacy.redaction_policy.service import (
    MAX_PATTERNS,
    UPDATE_ACTION,
    PatternSpec,
    PolicyView,
    check_policy_input,
    detector_config_for,
    do_update_policy,
    get_policy,
    redactor_for,
    workspace_redactor,
)
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.conftest import empty_all_tables

CUSTOMER = PatternSpec("CUSTOMER_NUMBER", r"CUST-\d{6}")
KEY = bytes(range(32))
SAMPLE = "mail ada@example.com about CUST-123456"


@dataclass
class World:
    sessions: sessionmaker[Session]
    workspace_id: uuid.UUID
    other_workspace_id: uuid.UUID
    actor_id: uuid.UUID


@pytest.fixture
def world(engine: Engine) -> World:
    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as session:
        workspace_id = do_create_workspace(session, name="Acme", region=Region.EU).id
        other_id = do_create_workspace(session, name="Other", region=Region.EU).id
        actor = User(email="ada@example.com", display_name="Ada", password_hash="x")
        session.add(actor)
        session.flush()
        return World(sessions, workspace_id, other_id, actor.id)


@pytest.fixture
def keyring(tmp_path: Path) -> Iterator[Keyring]:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(mode=0o700)
    contact_keys = ContactKeyStore.open(f"sqlite:///{keys_dir / 'contact-keys.sqlite3'}")
    try:
        yield Keyring(provider=LocalKeyProvider.from_keys_dir(keys_dir), contact_keys=contact_keys)
    finally:
        contact_keys.dispose()


def _save(world: World, policy: PolicyView, *, workspace_id: uuid.UUID | None = None) -> bool:
    target = workspace_id or world.workspace_id
    with unit_of_work(world.sessions) as session:
        return do_update_policy(
            session,
            workspace_id=target,
            actor_id=world.actor_id,
            policy=policy,
            record=functools.partial(do_record_event, session, actor_kind=ActorKind.USER),
        )


def _policy(world: World, workspace_id: uuid.UUID | None = None) -> PolicyView:
    with unit_of_work(world.sessions) as session:
        return get_policy(session, workspace_id=workspace_id or world.workspace_id)


def _events(world: World, workspace_id: uuid.UUID | None = None) -> list[AuditEvent]:
    with unit_of_work(world.sessions) as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.workspace_id == (workspace_id or world.workspace_id))
                .where(AuditEvent.action == UPDATE_ACTION)
                .order_by(AuditEvent.seq)
            )
        )


def _checked(
    mode: str = "label", labels: frozenset[str] = ALL_LABELS, patterns: tuple[PatternSpec, ...] = ()
) -> PolicyView:
    return check_policy_input(mode=mode, labels=labels, custom_patterns=patterns)


def test_a_workspace_that_never_saved_a_policy_gets_the_defaults(world: World) -> None:
    policy = _policy(world)
    assert policy.mode is RedactionMode.LABEL
    assert policy.enabled_labels == ALL_LABELS
    assert policy.custom_patterns == ()
    assert policy.updated_at is None


def test_a_checked_policy_keeps_the_labels_chosen_and_normalises_pattern_names() -> None:
    policy = _checked(
        "pseudonym",
        frozenset({Label.EMAIL, Label.PHONE}),
        (PatternSpec("  customer_number ", r"CUST-\d{6}"),),
    )
    assert policy.mode is RedactionMode.PSEUDONYM
    assert policy.enabled_labels == {Label.EMAIL, Label.PHONE}
    assert policy.disabled_labels == ALL_LABELS - {Label.EMAIL, Label.PHONE}
    assert policy.custom_patterns == (CUSTOMER,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "blackout"}, "label or pseudonym"),
        ({"labels": frozenset({"EMAIL", "SHOE_SIZE"})}, "Unknown label: SHOE_SIZE"),
        ({"patterns": (PatternSpec("CUST_NO", "(a"),)}, "Pattern CUST_NO: the pattern does not compile"),
        ({"patterns": (PatternSpec("CUST_NO", r"\d*"),)}, "Pattern CUST_NO: the pattern matches empty text"),
        ({"patterns": (PatternSpec("EMAIL", "x+"),)}, "Pattern EMAIL: EMAIL is a built-in label"),
        ({"patterns": (PatternSpec("no spaces", "x+"),)}, "Pattern NO SPACES: a pattern name is"),
        ({"patterns": (PatternSpec("", "x+"),)}, "Pattern without a name"),
        ({"patterns": (PatternSpec("CUST_NO", ""),)}, "Pattern CUST_NO: a pattern is 1 to 300"),
        ({"patterns": (PatternSpec("CUST_NO", "x" * 301),)}, "Pattern CUST_NO: a pattern is 1 to 300"),
        (
            {"patterns": (PatternSpec("CUST_NO", "a\x00b"),)},
            "holds a control character",
        ),
        (
            {"patterns": (PatternSpec("CUST_NO", "a+"), PatternSpec("cust_no", "b+"))},
            "Two patterns are named CUST_NO",
        ),
        (
            {"patterns": tuple(PatternSpec(f"P{i:02d}", "x+") for i in range(MAX_PATTERNS + 1))},
            f"at most {MAX_PATTERNS} patterns",
        ),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_problem(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed, match=message) as refused:
        _checked(**kwargs)
    assert refused.value.status == 422


def test_twenty_patterns_are_accepted() -> None:
    patterns = tuple(PatternSpec(f"P{i:02d}", "x+") for i in range(MAX_PATTERNS))
    assert len(_checked(patterns=patterns).custom_patterns) == MAX_PATTERNS


def test_a_save_writes_the_row_and_its_audit_event_together(world: World) -> None:
    policy = _checked("pseudonym", ALL_LABELS - {Label.IP_ADDRESS, Label.DATE_OF_BIRTH}, (CUSTOMER,))
    assert _save(world, policy) is True
    saved = _policy(world)
    assert saved.same_settings(policy)
    assert saved.updated_by_id == world.actor_id
    assert saved.updated_at is not None
    (event,) = _events(world)
    assert event.actor_id == str(world.actor_id)
    assert event.target_kind == "redaction_policy"
    assert event.data == {
        "mode": "pseudonym",
        "previous_mode": "label",
        "disabled_labels": "DATE_OF_BIRTH,IP_ADDRESS",
        "patterns": 1,
        "patterns_added": "CUSTOMER_NUMBER",
        "patterns_removed": "",
        "patterns_changed": "",
    }
    assert CUSTOMER.expression not in str(event.data)
    with unit_of_work(world.sessions) as session:
        assert verify_chain(session, chain_for(world.workspace_id)).ok


def test_the_event_names_patterns_added_removed_and_changed(world: World) -> None:
    _save(world, _checked(patterns=(CUSTOMER, PatternSpec("ORDER_REF", r"ORD\d{5}"))))
    _save(
        world,
        _checked(patterns=(PatternSpec("CUSTOMER_NUMBER", r"C\d{7}"), PatternSpec("TICKET", r"T\d{4}"))),
    )
    last = _events(world)[-1]
    assert last.data["patterns_added"] == "TICKET"
    assert last.data["patterns_removed"] == "ORDER_REF"
    assert last.data["patterns_changed"] == "CUSTOMER_NUMBER"
    assert last.data["patterns"] == 2


def test_saving_the_policy_in_force_writes_and_records_nothing(world: World) -> None:
    assert _save(world, _checked()) is False
    assert _save(world, _checked(patterns=(CUSTOMER,))) is True
    assert _save(world, _checked(patterns=(CUSTOMER,))) is False
    assert len(_events(world)) == 1
    with unit_of_work(world.sessions) as session:
        assert session.scalar(select(func.count()).select_from(RedactionPolicy)) == 1


def test_a_refused_policy_changes_nothing(world: World) -> None:
    _save(world, _checked(patterns=(CUSTOMER,)))
    before = _policy(world)
    with pytest.raises(ValidationFailed):
        _save(world, _checked("pseudonym", patterns=(CUSTOMER, PatternSpec("BROKEN", "(a"))))
    assert _policy(world) == before
    assert len(_events(world)) == 1


def test_one_workspaces_policy_leaves_anothers_alone(world: World) -> None:
    _save(world, _checked("pseudonym", frozenset({Label.EMAIL}), (CUSTOMER,)))
    other = _policy(world, world.other_workspace_id)
    assert other == PolicyView()
    assert _events(world, world.other_workspace_id) == []
    _save(
        world, _checked(patterns=(PatternSpec("TICKET", r"T\d{4}"),)), workspace_id=world.other_workspace_id
    )
    assert _policy(world).custom_patterns == (CUSTOMER,)
    assert _policy(world).mode is RedactionMode.PSEUDONYM
    assert _policy(world, world.other_workspace_id).custom_patterns == (PatternSpec("TICKET", r"T\d{4}"),)


def test_the_detector_config_applies_the_labels_and_patterns() -> None:
    config = detector_config_for(_checked(labels=frozenset({Label.PHONE}), patterns=(CUSTOMER,)))
    assert config.labels == {Label.PHONE}
    assert [pattern.name for pattern in config.custom_patterns] == ["CUSTOMER_NUMBER"]


def test_a_stored_pattern_the_engine_now_refuses_fails_loudly() -> None:
    stale = PolicyView(custom_patterns=(PatternSpec("EMAIL", "x+"),))
    with pytest.raises(CustomPatternError):
        detector_config_for(stale)


def test_the_redactor_redacts_enabled_labels_and_the_workspaces_patterns() -> None:
    redact = redactor_for(_checked(patterns=(CUSTOMER,)), detector_names=None, pseudonym_key=None)
    assert redact(SAMPLE) == "mail [EMAIL] about [CUSTOMER_NUMBER]"
    without_email = _checked(labels=ALL_LABELS - {Label.EMAIL}, patterns=(CUSTOMER,))
    assert redactor_for(without_email, detector_names=None, pseudonym_key=None)(SAMPLE) == (
        "mail ada@example.com about [CUSTOMER_NUMBER]"
    )


def test_a_pseudonymising_redactor_needs_a_key() -> None:
    policy = _checked("pseudonym", patterns=(CUSTOMER,))
    with pytest.raises(ValueError, match="32 bytes"):
        redactor_for(policy, detector_names=None, pseudonym_key=None)
    redacted = redactor_for(policy, detector_names=None, pseudonym_key=KEY)(SAMPLE)
    assert "ada@example.com" not in redacted
    assert redacted.startswith("mail [EMAIL_")


def test_pseudonyms_are_stable_in_a_workspace_and_unrelated_across_workspaces(
    world: World, keyring: Keyring
) -> None:
    for workspace_id in (world.workspace_id, world.other_workspace_id):
        _save(world, _checked("pseudonym"), workspace_id=workspace_id)

    def redacted_in(workspace_id: uuid.UUID) -> str:
        with unit_of_work(world.sessions) as session:
            redact = workspace_redactor(
                session, keyring=keyring, workspace_id=workspace_id, detector_names=None
            )
            return redact("write to Ada@Example.com")

    first, again = redacted_in(world.workspace_id), redacted_in(world.workspace_id)
    elsewhere = redacted_in(world.other_workspace_id)
    assert first == again
    assert first.startswith("write to [EMAIL_")
    assert elsewhere != first
    with unit_of_work(world.sessions) as session:
        purposes = session.scalars(
            select(DataKeyRecord.purpose).where(DataKeyRecord.workspace_id == world.workspace_id)
        ).all()
    assert purposes == [KeyPurpose.PSEUDONYM.value]


def test_a_label_policy_makes_no_pseudonym_key(world: World, keyring: Keyring) -> None:
    with unit_of_work(world.sessions) as session:
        redact = workspace_redactor(
            session, keyring=keyring, workspace_id=world.workspace_id, detector_names=None
        )
        assert redact("write to ada@example.com") == "write to [EMAIL]"
        assert session.scalar(select(func.count()).select_from(DataKeyRecord)) == 0


@pytest.mark.postgres
def test_parallel_first_saves_and_other_events_all_complete(postgres_engine: Engine) -> None:
    """Saves of one workspace's policy run one after another (none fails on the unique
    workspace row) while other events of its chain are written beside them."""
    sessions = make_sessionmaker(postgres_engine)
    try:
        with unit_of_work(sessions) as session:
            workspace_id = do_create_workspace(session, name="Race", region=Region.EU).id
            actor = User(email="race@example.com", display_name="Race", password_hash="x")
            session.add(actor)
            session.flush()
        world = World(sessions, workspace_id, workspace_id, actor.id)

        def save(index: int) -> bool:
            return _save(world, _checked(patterns=(PatternSpec(f"P{index:02d}", "x+"),)))

        def other_event(index: int) -> None:
            with unit_of_work(sessions) as session:
                do_record_event(
                    session,
                    workspace_id=workspace_id,
                    actor_kind=ActorKind.SYSTEM,
                    actor_id=None,
                    action="test.tick",
                )

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            saves = [pool.submit(save, index) for index in range(6)]
            ticks = [pool.submit(other_event, index) for index in range(6)]
            assert [future.result(timeout=60) for future in saves] == [True] * 6
            for future in ticks:
                future.result(timeout=60)
        assert len(_events(world)) == 6
        with unit_of_work(sessions) as session:
            assert session.scalar(select(func.count()).select_from(RedactionPolicy)) == 1
            assert verify_chain(session, chain_for(workspace_id)).ok
    finally:
        empty_all_tables(postgres_engine)
