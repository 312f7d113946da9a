"""What the customer writes is stored under the workspace's redaction policy (docs/redaction.md):
by default every kind of personal data the engine finds is replaced by its label before the
message is kept. The assistant and the team then work from the redacted text; a business that
needs, say, email addresses in its transcripts turns that label off on its Redaction page."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session

from hushdesk.crypto.columns import KEYRING_INFO_KEY
from hushdesk.crypto.keyring import Keyring
from hushdesk.privacy.pii import NameLexicon
from hushdesk.privacy.redaction_policy.service import workspace_redactor


def redact_for_storage(
    session: Session, *, workspace_id: uuid.UUID, text: str, names: Callable[[], NameLexicon | None]
) -> str:
    """``text`` redacted under the workspace's saved policy (its pseudonym key is made on first
    use in pseudonym mode, so call this in a unit of work that may write). Raises
    ``CustomPatternError`` if a stored pattern no longer passes the engine's checks: nothing
    is stored unredacted."""
    keyring: Keyring = session.info[KEYRING_INFO_KEY]
    redact = workspace_redactor(session, keyring=keyring, workspace_id=workspace_id, detector_names=names())
    return redact(text)
