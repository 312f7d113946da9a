"""The principal behind a request: a signed-in person or an API key, in one workspace.

Access functions take a ``Principal`` and decide from it alone; they never look at how the
request was authenticated. A person holds their role's permissions; a key holds its scopes,
never more than its creator's role held when it was made (``hushdesk.identity.api_keys``).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from hushdesk.identity.models import Role
from hushdesk.identity.permissions import ROLE_PERMISSIONS, Permission

# Roles whose reach is limited to the agents assigned to them.
AGENT_SCOPED_ROLES = frozenset({Role.MANAGER, Role.SUPPORT})


class PrincipalKind(enum.StrEnum):
    USER = "user"
    API_KEY = "api_key"


@dataclass(frozen=True, slots=True)
class Principal:
    workspace_id: uuid.UUID
    kind: PrincipalKind
    # The user's id, or the API key's id.
    id: uuid.UUID
    permissions: frozenset[Permission]
    # A person's role and membership; None for an API key.
    role: Role | None = None
    membership_id: uuid.UUID | None = None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def sees_only_assigned_agents(self) -> bool:
        """Managers and support people reach only the agents assigned to them. A key is
        workspace-wide within its scopes: only owners and admins can make one."""
        return self.role in AGENT_SCOPED_ROLES


def user_principal(
    *, workspace_id: uuid.UUID, user_id: uuid.UUID, membership_id: uuid.UUID, role: str
) -> Principal:
    """The principal of a member; an unknown role holds nothing."""
    try:
        known = Role(role)
    except ValueError:
        return Principal(workspace_id, PrincipalKind.USER, user_id, frozenset(), None, membership_id)
    return Principal(workspace_id, PrincipalKind.USER, user_id, ROLE_PERMISSIONS[known], known, membership_id)
