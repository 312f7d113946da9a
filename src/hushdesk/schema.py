"""Every model of the application, imported in one place so that ``Base.metadata`` is complete
(for migrations and the model/migration drift test)."""

from __future__ import annotations

from hushdesk.agents import models as agent_models
from hushdesk.agents.knowledge import models as knowledge_models
from hushdesk.audit import models as audit_models
from hushdesk.conversations import models as conversation_models
from hushdesk.credentials import models as credential_models
from hushdesk.crypto import models as crypto_models
from hushdesk.crypto import reencryption_models
from hushdesk.identity import mfa as identity_mfa
from hushdesk.identity import models as identity_models
from hushdesk.identity import passkey_challenges as identity_passkey_challenges
from hushdesk.identity import passkeys as identity_passkeys
from hushdesk.infra.db.base import Base
from hushdesk.infra.jobs import models as job_models
from hushdesk.privacy.redaction_policy import models as redaction_policy_models
from hushdesk.workspaces import models as workspace_models

metadata = Base.metadata
# Every mapped class of the application (the re-encryption job walks their encrypted columns).
mappers = Base.registry

__all__ = [
    "agent_models",
    "audit_models",
    "conversation_models",
    "credential_models",
    "crypto_models",
    "identity_mfa",
    "identity_models",
    "identity_passkey_challenges",
    "identity_passkeys",
    "job_models",
    "knowledge_models",
    "mappers",
    "metadata",
    "redaction_policy_models",
    "reencryption_models",
    "workspace_models",
]
