"""A workspace's redaction policy: read it, check a new one, save it (audited), and build the
redactor that the transcript store runs over what it keeps.

The policy chooses how redacted text looks (``[EMAIL]`` or a pseudonym ``[EMAIL_3f9a0c1b]``),
which of the engine's labels are redacted (all of them unless turned off), and up to
``MAX_PATTERNS`` patterns of the workspace's own, run with RE2 (``hushdesk.privacy.pii.custom``).
Every function is scoped to the one workspace it is given; none reads another's row.

This package may not import ``hushdesk.audit`` (it sits beside it in the layers), so the audit
event is written through the ``record`` callback that the web layer binds to the request's
transaction, as identity's services do.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.pseudonym_key import pseudonym_key
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.errors import NotFound, ValidationFailed
from hushdesk.infra.text import has_control_characters
from hushdesk.privacy.pii import (
    ALL_LABELS,
    CustomPattern,
    CustomPatternError,
    Detector,
    DetectorConfig,
    NameLexicon,
)
from hushdesk.privacy.pii.redaction import RedactionMode, check_pseudonym_key, redact
from hushdesk.privacy.redaction_policy.models import RedactionPolicy
from hushdesk.workspaces.models import Workspace

MAX_PATTERNS = 20
UPDATE_ACTION = "privacy.redaction_policy.update"
# How much of an unknown name a message repeats back.
_ECHO_LIMIT = 40

AuditValue = str | int | bool | None


class RecordEvent(Protocol):
    """Records an audit event for the acting person in the caller's transaction (the web
    layer's ``recorder(db)``)."""

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


@dataclass(frozen=True, slots=True)
class PatternSpec:
    """A workspace pattern as configured: ``name`` becomes the label of what it matches."""

    name: str
    expression: str


@dataclass(frozen=True, slots=True)
class PolicyView:
    """A workspace's policy as read (``get_policy``) or as checked (``check_policy_input``,
    which leaves ``updated_at`` and ``updated_by_id`` empty)."""

    mode: RedactionMode = RedactionMode.LABEL
    disabled_labels: frozenset[str] = frozenset()
    custom_patterns: tuple[PatternSpec, ...] = ()
    updated_at: dt.datetime | None = None
    updated_by_id: uuid.UUID | None = None

    @property
    def enabled_labels(self) -> frozenset[str]:
        return ALL_LABELS - self.disabled_labels

    def same_settings(self, other: PolicyView) -> bool:
        """Whether both redact the same way (who saved them, and when, aside)."""
        return (self.mode, self.disabled_labels, self.custom_patterns) == (
            other.mode,
            other.disabled_labels,
            other.custom_patterns,
        )


def get_policy(session: Session, *, workspace_id: uuid.UUID) -> PolicyView:
    """The workspace's policy; the defaults (label mode, every label, no patterns) when it has
    never saved one. Reads only."""
    row = _policy_row(session, workspace_id)
    return PolicyView() if row is None else _view_of(row)


def check_policy_input(
    *, mode: str, labels: Iterable[str], custom_patterns: Iterable[PatternSpec]
) -> PolicyView:
    """Validate a policy as submitted: ``labels`` are the labels to redact (the others are
    turned off), ``custom_patterns`` in the order shown. Pattern names are trimmed and
    upper-cased. Raises ``ValidationFailed`` (422) naming the first problem: an unknown mode
    or label, more than ``MAX_PATTERNS`` patterns, two with one name, or a pattern the engine
    refuses (its name, or an expression that does not compile under RE2, is too long, or
    matches empty text). Pure: reads and writes nothing."""
    try:
        checked_mode = RedactionMode(mode)
    except ValueError:
        raise ValidationFailed("Choose how redacted text looks: label or pseudonym.") from None
    chosen = frozenset(labels)
    unknown = sorted(chosen - ALL_LABELS)
    if unknown:
        raise ValidationFailed(f"Unknown label: {unknown[0][:_ECHO_LIMIT]}.")
    patterns = tuple(PatternSpec(p.name.strip().upper(), p.expression) for p in custom_patterns)
    if len(patterns) > MAX_PATTERNS:
        raise ValidationFailed(f"A workspace has at most {MAX_PATTERNS} patterns of its own.")
    seen: set[str] = set()
    for pattern in patterns:
        _check_pattern(pattern)
        if pattern.name in seen:
            raise ValidationFailed(f"Two patterns are named {pattern.name}; each needs its own name.")
        seen.add(pattern.name)
    return PolicyView(mode=checked_mode, disabled_labels=ALL_LABELS - chosen, custom_patterns=patterns)


def do_update_policy(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    actor_id: uuid.UUID,
    policy: PolicyView,
    record: RecordEvent,
) -> bool:
    """Save ``policy`` (as returned by ``check_policy_input``) as the workspace's and record
    ``privacy.redaction_policy.update`` in the same transaction. Returns whether anything
    changed: saving the policy already in force writes nothing and records nothing.

    The event's data is flat: the mode (and the previous one), the labels turned off, the
    number of patterns and the names of those added, removed or changed; never an
    expression's text. Locks the workspace row (FOR NO KEY UPDATE on PostgreSQL; SQLite
    serialises writers) so two saves cannot both insert the row or both diff against the same
    before. Raises ``NotFound`` for a workspace that does not exist. Flushes; never commits."""
    _lock_workspace(session, workspace_id)
    row = _policy_row(session, workspace_id)
    before = PolicyView() if row is None else _view_of(row)
    if before.same_settings(policy):
        return False
    if row is None:
        row = RedactionPolicy(workspace_id=workspace_id)
        session.add(row)
    row.mode = policy.mode.value
    row.disabled_labels = sorted(policy.disabled_labels)
    row.custom_patterns = [{"name": p.name, "expression": p.expression} for p in policy.custom_patterns]
    row.updated_at = utcnow()
    row.updated_by_id = actor_id
    session.flush()
    record(
        workspace_id=workspace_id,
        actor_id=str(actor_id),
        action=UPDATE_ACTION,
        target_kind="redaction_policy",
        target_id=str(row.id),
        data=_event_data(before, policy),
    )
    return True


def detector_config_for(policy: PolicyView) -> DetectorConfig:
    """The detector configuration that applies ``policy``. Raises ``CustomPatternError`` when a
    stored pattern no longer passes the engine's checks (say a later built-in label took its
    name): a redactor must fail loudly rather than skip a pattern and keep what it matches."""
    patterns = tuple(CustomPattern(name=p.name, expression=p.expression) for p in policy.custom_patterns)
    return DetectorConfig(labels=policy.enabled_labels, custom_patterns=patterns)


def redactor_for(
    policy: PolicyView, *, detector_names: NameLexicon | None, pseudonym_key: bytes | None
) -> Callable[[str], str]:
    """A function that redacts a text under ``policy``: detection with ``detector_names`` (the
    person-name lexicon, or None to find no names), then replacement by label or pseudonym.
    ``pseudonym_key`` is the workspace's (``hushdesk.crypto.pseudonym_key``); it is needed, 32
    bytes or more, in pseudonym mode and ignored otherwise. Raises ``ValueError`` for a missing
    or short key, ``CustomPatternError`` as ``detector_config_for``. The function is pure and
    thread-safe."""
    mode = policy.mode
    if mode is RedactionMode.PSEUDONYM:
        check_pseudonym_key(pseudonym_key)
    detector = Detector(detector_config_for(policy), names=detector_names)

    def redact_text(text: str) -> str:
        return redact(text, detector.detect(text), mode=mode, pseudonym_key=pseudonym_key)

    return redact_text


def workspace_redactor(
    session: Session, *, keyring: Keyring, workspace_id: uuid.UUID, detector_names: NameLexicon | None
) -> Callable[[str], str]:
    """The redactor for the workspace's saved policy, with its own pseudonym key (made on first
    use in pseudonym mode, so call this in a unit of work that may write)."""
    policy = get_policy(session, workspace_id=workspace_id)
    key = None
    if policy.mode is RedactionMode.PSEUDONYM:
        key = pseudonym_key(keyring, session, workspace_id=workspace_id)
    return redactor_for(policy, detector_names=detector_names, pseudonym_key=key)


def _check_pattern(pattern: PatternSpec) -> None:
    shown = pattern.name[:_ECHO_LIMIT] or "without a name"
    if has_control_characters(pattern.expression):
        raise ValidationFailed(
            f"Pattern {shown}: the expression holds a control character; write \\t or \\n instead."
        )
    try:
        CustomPattern(name=pattern.name, expression=pattern.expression)
    except CustomPatternError as exc:
        raise ValidationFailed(f"Pattern {shown}: {exc}.") from exc


def _policy_row(session: Session, workspace_id: uuid.UUID) -> RedactionPolicy | None:
    return session.scalars(
        select(RedactionPolicy).where(RedactionPolicy.workspace_id == workspace_id)
    ).first()


def _lock_workspace(session: Session, workspace_id: uuid.UUID) -> None:
    # FOR NO KEY UPDATE, not FOR UPDATE: it serialises saves of this policy (and changes to the
    # workspace row) but not the inserts that merely reference the workspace (a session at
    # sign-in, an agent), whose foreign key checks take FOR KEY SHARE. Under FOR UPDATE such an
    # insert would wait on this save, and one made after its transaction had recorded an event
    # (holding the chain's advisory lock) would deadlock with this save's own event.
    found = session.scalar(
        select(Workspace.id).where(Workspace.id == workspace_id).with_for_update(key_share=True)
    )
    if found is None:
        raise NotFound()


def _view_of(row: RedactionPolicy) -> PolicyView:
    return PolicyView(
        mode=RedactionMode(row.mode),
        disabled_labels=frozenset(row.disabled_labels),
        custom_patterns=tuple(PatternSpec(p["name"], p["expression"]) for p in row.custom_patterns),
        updated_at=row.updated_at,
        updated_by_id=row.updated_by_id,
    )


def _event_data(before: PolicyView, after: PolicyView) -> dict[str, AuditValue]:
    old = {p.name: p.expression for p in before.custom_patterns}
    new = {p.name: p.expression for p in after.custom_patterns}
    return {
        "mode": after.mode.value,
        "previous_mode": before.mode.value,
        "disabled_labels": ",".join(sorted(after.disabled_labels)),
        "patterns": len(new),
        "patterns_added": ",".join(name for name in new if name not in old),
        "patterns_removed": ",".join(name for name in old if name not in new),
        "patterns_changed": ",".join(name for name in new if name in old and old[name] != new[name]),
    }
