"""Permissions (``resource:action``) and the roles that hold them.

Every route declares the permission it needs (``hushdesk.web.authz.requires``) or declares
itself public; a test walks the app's routes and fails on any that does neither. API keys
carry scopes drawn from the same set, including the integration-only ones that no dashboard
route uses (a WhatsApp integration's key holds ``whatsapp_webhook:receive`` and nothing else).
"""

from __future__ import annotations

import enum

from hushdesk.identity.models import Role


class Permission(enum.StrEnum):
    # Everyone signed in: their own account and sessions, the workspace overview.
    ACCOUNT_SELF = "account:self"
    WORKSPACE_READ = "workspace:read"
    WORKSPACE_MANAGE = "workspace:manage"
    MEMBER_READ = "member:read"
    MEMBER_MANAGE = "member:manage"
    AGENT_READ = "agent:read"
    AGENT_WRITE = "agent:write"
    CONVERSATION_READ = "conversation:read"
    CONVERSATION_REPLY = "conversation:reply"
    API_KEY_MANAGE = "api_key:manage"
    KEY_ROTATE = "key:rotate"
    PRIVACY_MANAGE = "privacy:manage"  # erasure, export, retention
    AUDIT_READ = "audit:read"
    # Security policy: MFA enforcement, session timeouts.
    SETTINGS_MANAGE = "settings:manage"
    # Integration-only: reach one channel's endpoints and nothing else. Owners and admins hold
    # them only so that they can grant them to a key.
    WHATSAPP_WEBHOOK_RECEIVE = "whatsapp_webhook:receive"
    SMS_WEBHOOK_RECEIVE = "sms_webhook:receive"
    TELEGRAM_WEBHOOK_RECEIVE = "telegram_webhook:receive"


INTEGRATION_SCOPES = frozenset(
    {
        Permission.WHATSAPP_WEBHOOK_RECEIVE,
        Permission.SMS_WEBHOOK_RECEIVE,
        Permission.TELEGRAM_WEBHOOK_RECEIVE,
    }
)
# What a key may never carry: a person's own account, and the powers that administer the
# workspace (people, keys, encryption keys, policy), which stay with people who sign in with
# a second factor.
NOT_GRANTABLE_TO_KEYS = frozenset(
    {
        Permission.ACCOUNT_SELF,
        Permission.WORKSPACE_MANAGE,
        Permission.MEMBER_MANAGE,
        Permission.API_KEY_MANAGE,
        Permission.KEY_ROTATE,
        Permission.SETTINGS_MANAGE,
    }
)
KEY_SCOPES = frozenset(Permission) - NOT_GRANTABLE_TO_KEYS


_EVERYONE = frozenset({Permission.ACCOUNT_SELF})
_STAFF = _EVERYONE | {Permission.WORKSPACE_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(Permission) - {Permission.WORKSPACE_MANAGE},
    # Managers and support people act only on the agents assigned to them; the access
    # functions apply that scope, the permission only says what kind of act it is.
    Role.MANAGER: _STAFF | {Permission.AGENT_READ, Permission.AGENT_WRITE, Permission.CONVERSATION_READ},
    Role.SUPPORT: _STAFF
    | {Permission.AGENT_READ, Permission.CONVERSATION_READ, Permission.CONVERSATION_REPLY},
    # The auditor reads the audit log, and nothing else.
    Role.AUDITOR: _EVERYONE | {Permission.AUDIT_READ},
}


def role_has(role: str, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``; an unknown role holds nothing."""
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
