"""A workspace's security policy: whether everyone must use a second factor, how long sessions
last, and what the website widget's consent record proves. Owners and admins always need a
second factor, whatever the policy."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from hushdesk.identity.sessions import ABSOLUTE_MINUTES_RANGE, IDLE_MINUTES_RANGE
from hushdesk.infra.errors import ValidationFailed
from hushdesk.workspaces.models import Workspace

# "accept": the customer pressed the notice's accept button before their first message;
# "shown": the notice was displayed before their first message (no button to press).
CONSENT_MODES = ("accept", "shown")
_FIELDS = ("mfa_required", "session_idle_minutes", "session_absolute_minutes", "consent_mode")


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    mfa_required: bool
    session_idle_minutes: int
    session_absolute_minutes: int
    consent_mode: str

    @classmethod
    def of(cls, workspace: Workspace) -> SecurityPolicy:
        return cls(
            mfa_required=bool(workspace.mfa_required),
            session_idle_minutes=workspace.session_idle_minutes,
            session_absolute_minutes=workspace.session_absolute_minutes,
            consent_mode=workspace.consent_mode,
        )


def check_policy(
    *, mfa_required: bool, idle_minutes: int, absolute_minutes: int, consent_mode: str
) -> SecurityPolicy:
    """Raises ``ValidationFailed`` for timeouts out of range, an idle timeout longer than the
    absolute one, or a consent mode other than those of ``CONSENT_MODES``."""
    low, high = IDLE_MINUTES_RANGE
    if not low <= idle_minutes <= high:
        raise ValidationFailed(f"The idle timeout must be between {low} and {high} minutes.")
    low, high = ABSOLUTE_MINUTES_RANGE
    if not low <= absolute_minutes <= high:
        raise ValidationFailed(f"The absolute timeout must be between {low} and {high} minutes.")
    if idle_minutes > absolute_minutes:
        raise ValidationFailed("The idle timeout cannot be longer than the absolute timeout.")
    if consent_mode not in CONSENT_MODES:
        raise ValidationFailed(f"The consent mode is one of: {', '.join(CONSENT_MODES)}.")
    return SecurityPolicy(mfa_required, idle_minutes, absolute_minutes, consent_mode)


def do_set_policy(
    session: Session, *, workspace: Workspace, policy: SecurityPolicy
) -> dict[str, tuple[object, object]]:
    """Apply ``policy`` to ``workspace`` and return what changed as {field: (before, after)}.
    Shorter timeouts end live sessions at their next request; a longer absolute timeout applies
    to sessions started afterwards (a session's expiry is fixed when it starts); a new consent
    mode applies to consent given from then on (records keep what they proved). The caller
    records the audit event. Flushes; never commits."""
    before = SecurityPolicy.of(workspace)
    changes: dict[str, tuple[object, object]] = {}
    for field in _FIELDS:
        old, new = getattr(before, field), getattr(policy, field)
        if old != new:
            changes[field] = (old, new)
            setattr(workspace, field, new)
    session.flush()
    return changes
