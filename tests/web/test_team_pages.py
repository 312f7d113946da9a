"""The team pages: members, roles, assignments, invitations, reset links and password changes."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from contextlib import AbstractContextManager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from hushdesk.agents.models import Agent, AgentAssignment
from hushdesk.audit.models import AuditEvent
from hushdesk.identity.models import ApiKey, Invitation, Membership, PasswordReset, User, WebSession
from hushdesk.identity.passwords import verify_password
from hushdesk.identity.tokens import token_digest
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace, slugify
from tests.web.helpers import (
    MEMBER_PASSWORD,
    OWNER_EMAIL,
    OWNER_PASSWORD,
    add_member,
    app_sessions,
    csrf_from,
    enrol_totp_directly,
    sign_in_directly,
    signed_in_owner,
    workspace_id_of,
)

HTML = {"accept": "text/html"}
NEW_PASSWORD = "velvet tugboat meridian quarry"
_INVITE_LINK = re.compile(r'<code id="invite-link">(http://testserver/invite/([A-Za-z0-9_-]+))</code>')
_RESET_LINK = re.compile(r'<code id="reset-link">(http://testserver/reset/([A-Za-z0-9_-]+))</code>')


# -- helpers ------------------------------------------------------------------------------------


def _get(client: TestClient, path: str) -> Response:
    response: Response = client.get(path, headers=HTML, follow_redirects=False)
    return response


def _post(client: TestClient, path: str, data: dict[str, Any]) -> Response:
    response: Response = client.post(path, data=data, headers=HTML, follow_redirects=False)
    return response


def _csrf(client: TestClient) -> str:
    page = _get(client, "/account/password")
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


def _db(client: TestClient) -> AbstractContextManager[Session]:
    return unit_of_work(app_sessions(client))


def _membership(client: TestClient, email: str) -> Membership:
    with _db(client) as session:
        return session.scalars(
            select(Membership).join(User, User.id == Membership.user_id).where(User.email == email)
        ).one()


def _role(client: TestClient, email: str) -> str:
    return _membership(client, email).role


def _events(client: TestClient, action: str) -> list[AuditEvent]:
    with _db(client) as session:
        return list(
            session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        )


def _count(client: TestClient, model: type[Any]) -> int:
    with _db(client) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _make_agent(client: TestClient, workspace_id: uuid.UUID, name: str) -> uuid.UUID:
    with _db(client) as session:
        agent = Agent(workspace_id=workspace_id, name=name, slug=slugify(name))
        session.add(agent)
        session.flush()
        return agent.id


def _assign(client: TestClient, membership_id: uuid.UUID, agent_id: uuid.UUID) -> None:
    with _db(client) as session:
        membership = session.get(Membership, membership_id)
        assert membership is not None
        session.add(
            AgentAssignment(
                workspace_id=membership.workspace_id, agent_id=agent_id, membership_id=membership_id
            )
        )


def _make_key(client: TestClient, *, user_id: uuid.UUID, workspace_id: uuid.UUID) -> uuid.UUID:
    with _db(client) as session:
        key = ApiKey(
            workspace_id=workspace_id,
            created_by_id=user_id,
            name="crm",
            prefix=uuid.uuid4().hex[:12],
            secret_hash="0" * 64,
            scopes=["agent:read"],
            expires_at=utcnow() + dt.timedelta(days=30),
        )
        session.add(key)
        session.flush()
        return key.id


def _key_revoked(client: TestClient, key_id: uuid.UUID) -> bool:
    with _db(client) as session:
        key = session.get(ApiKey, key_id)
        assert key is not None
        return key.revoked_at is not None


def _stale_second_factor(client: TestClient) -> None:
    with _db(client) as session:
        session.execute(update(WebSession).values(second_factor_at=utcnow() - dt.timedelta(minutes=30)))


def _owner(client: TestClient, engine: Engine) -> uuid.UUID:
    signed_in_owner(client, engine)
    return workspace_id_of(client, email=OWNER_EMAIL)


def _signed_in_admin(client: TestClient, workspace_id: uuid.UUID, email: str = "ann@example.com") -> None:
    add_member(client, workspace_id=workspace_id, email=email, role="admin", name="Ann Admin")
    enrol_totp_directly(client, email=email)
    sign_in_directly(client, email=email)


def _invite(client: TestClient, email: str, role: str, agents: list[uuid.UUID] | None = None) -> str:
    data: dict[str, Any] = {"email": email, "role": role, "csrf_token": _csrf(client)}
    if agents:
        data["agent_ids"] = [str(agent_id) for agent_id in agents]
    response = _post(client, "/team/invitations", data)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    match = _INVITE_LINK.search(response.text)
    assert match is not None
    return match.group(2)


def _join_form(**overrides: str) -> dict[str, str]:
    form = {"display_name": "Max Manager", "password": MEMBER_PASSWORD, "password_confirm": MEMBER_PASSWORD}
    form.update(overrides)
    return form


def _stranger(client: TestClient) -> TestClient:
    return TestClient(client.app)


def _other_workspace(client: TestClient) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Another workspace with a member and an agent: (workspace, membership, agent)."""
    with _db(client) as session:
        workspace_id = do_create_workspace(session, name="Rival", region=Region.EU).id
    add_member(client, workspace_id=workspace_id, email="rival@example.com", role="manager")
    agent_id = _make_agent(client, workspace_id, "Rival bot")
    return workspace_id, _membership(client, "rival@example.com").id, agent_id


# -- the team page --------------------------------------------------------------------------------


def test_team_page_lists_members_with_role_agents_and_second_factor(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="max@example.com", role="manager", name="Max Manager")
    agent_id = _make_agent(client, workspace_id, "Billing bot")
    _assign(client, _membership(client, "max@example.com").id, agent_id)
    page = _get(client, "/team")
    assert page.status_code == 200
    row = re.search(r"<tr>\s*<td><a[^>]*>Max Manager</a>.*?</tr>", page.text, re.S)
    assert row is not None
    assert "manager" in row.group(0)
    assert "Billing bot" in row.group(0)
    assert "<td>off</td>" in row.group(0)
    owner_row = re.search(r"<tr>\s*<td><a[^>]*>Ada Owner</a>.*?</tr>", page.text, re.S)
    assert owner_row is not None
    assert "<td>on</td>" in owner_row.group(0)


def test_people_without_member_read_cannot_see_the_team(client: TestClient, sqlite_engine: Engine) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="max@example.com", role="manager")
    sign_in_directly(client, email="max@example.com")
    assert client.get("/team").status_code == 403


# -- invitations ---------------------------------------------------------------------------------


def test_an_invitation_lets_the_invited_person_join_with_their_agents(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    billing = _make_agent(client, workspace_id, "Billing bot")
    _make_agent(client, workspace_id, "Sales bot")
    token = _invite(client, " Max@Example.com", "manager", [billing])
    with _db(client) as session:
        invitation = session.scalars(select(Invitation)).one()
        assert invitation.token_hash == token_digest(token)
        assert invitation.email == "max@example.com"
        assert token not in str(invitation.__dict__)

    with _stranger(client) as browser:
        form = _get(browser, f"/invite/{token}")
        assert form.status_code == 200
        assert 'id="invited-email">max@example.com<' in form.text
        assert 'name="email"' not in form.text
        joined = _post(browser, f"/invite/{token}", _join_form())
        assert joined.status_code == 303
        assert joined.headers["location"] == "/dashboard"
        agents = _get(browser, "/agents")
        assert "Billing bot" in agents.text
        assert "Sales bot" not in agents.text
    member = _membership(client, "max@example.com")
    assert member.role == "manager"
    with _db(client) as session:
        assigned = session.scalars(
            select(AgentAssignment.agent_id).where(AgentAssignment.membership_id == member.id)
        ).all()
    assert assigned == [billing]
    (joined_event,) = _events(client, "member.joined")
    assert joined_event.data["role"] == "manager"
    assert joined_event.data["new_account"] is True
    (assignment,) = _events(client, "assignment.changed")
    assert assignment.data["added"] == 1
    assert assignment.data["added_ids"] == str(billing)
    (created,) = _events(client, "invitation.created")
    assert "max@example.com" not in str(created.data)


def test_an_invitation_link_works_once(client: TestClient, sqlite_engine: Engine) -> None:
    _owner(client, sqlite_engine)
    token = _invite(client, "max@example.com", "support")
    with _stranger(client) as browser:
        assert _post(browser, f"/invite/{token}", _join_form()).status_code == 303
    with _stranger(client) as other:
        assert _get(other, f"/invite/{token}").status_code == 410
        again = _post(other, f"/invite/{token}", _join_form(display_name="Mallory"))
        assert again.status_code == 410
        assert "invalid, expired or already used" in again.text
    assert _count(client, Membership) == 2


def test_an_expired_invitation_is_gone_and_changes_nothing(client: TestClient, sqlite_engine: Engine) -> None:
    _owner(client, sqlite_engine)
    token = _invite(client, "max@example.com", "support")
    with _db(client) as session:
        session.execute(update(Invitation).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    with _stranger(client) as browser:
        assert _get(browser, f"/invite/{token}").status_code == 410
        assert _post(browser, f"/invite/{token}", _join_form()).status_code == 410
    assert _count(client, User) == 1


def test_an_unknown_invitation_link_is_gone(client: TestClient) -> None:
    response = _get(client, "/invite/not-a-real-token")
    assert response.status_code == 410
    assert "invitation link is invalid" in response.text


def test_a_newer_invitation_for_the_same_address_revokes_the_older(
    client: TestClient, sqlite_engine: Engine
) -> None:
    _owner(client, sqlite_engine)
    older = _invite(client, "max@example.com", "support")
    newer = _invite(client, "MAX@example.com", "manager")
    pending = _get(client, "/team").text.split('id="invitations-heading"')[1]
    assert pending.count("max@example.com") == 1
    (created, replacing) = _events(client, "invitation.created")
    assert (created.data["revoked_older"], replacing.data["revoked_older"]) == (0, 1)
    with _stranger(client) as browser:
        assert _get(browser, f"/invite/{older}").status_code == 410
        assert _post(browser, f"/invite/{newer}", _join_form()).status_code == 303
    assert _role(client, "max@example.com") == "manager"


def test_an_invitation_joins_its_own_address_whatever_the_form_says(
    client: TestClient, sqlite_engine: Engine
) -> None:
    _owner(client, sqlite_engine)
    token = _invite(client, "max@example.com", "support")
    with _stranger(client) as browser:
        response = _post(browser, f"/invite/{token}", {**_join_form(), "email": "mallory@example.com"})
        assert response.status_code == 303
    with _db(client) as session:
        emails = set(session.scalars(select(User.email)))
    assert emails == {OWNER_EMAIL, "max@example.com"}


def test_an_invitation_for_an_existing_account_needs_that_accounts_password(
    client: TestClient, sqlite_engine: Engine
) -> None:
    _owner(client, sqlite_engine)
    _, _, _ = _other_workspace(client)  # rival@example.com has an account elsewhere
    token = _invite(client, "rival@example.com", "support")
    with _stranger(client) as browser:
        form = _get(browser, f"/invite/{token}")
        assert "already have an account" in form.text
        assert 'name="display_name"' not in form.text
        wrong = _post(browser, f"/invite/{token}", {"password": OWNER_PASSWORD})
        assert wrong.status_code == 401
        assert "not the password of this account" in wrong.text
        assert _count(client, Membership) == 2
        right = _post(browser, f"/invite/{token}", {"password": MEMBER_PASSWORD})
        assert right.status_code == 303
    with _db(client) as session:
        memberships = session.scalars(
            select(Membership.role)
            .join(User, User.id == Membership.user_id)
            .where(User.email == "rival@example.com")
        ).all()
    assert sorted(memberships) == ["manager", "support"]
    (event,) = _events(client, "member.joined")
    assert event.data["new_account"] is False


def test_an_existing_accounts_password_is_throttled_on_the_invitation_page(
    client: TestClient, sqlite_engine: Engine
) -> None:
    _owner(client, sqlite_engine)
    _other_workspace(client)
    token = _invite(client, "rival@example.com", "support")
    with _stranger(client) as browser:
        statuses = [
            _post(browser, f"/invite/{token}", {"password": "wrong guess number"}).status_code
            for _ in range(4)
        ]
        assert statuses == [401, 401, 401, 429]
        blocked = _post(browser, f"/invite/{token}", {"password": MEMBER_PASSWORD})
        assert blocked.status_code == 429
        assert "retry-after" in blocked.headers
    assert _count(client, Membership) == 2


def test_inviting_a_member_already_in_the_workspace_is_refused(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="max@example.com", role="support")
    response = _post(
        client,
        "/team/invitations",
        {"email": "max@example.com", "role": "manager", "csrf_token": _csrf(client)},
    )
    assert response.status_code == 409
    assert "already a member" in response.text
    assert _count(client, Invitation) == 0


def test_a_weak_password_shows_the_form_again_and_keeps_the_link(
    client: TestClient, sqlite_engine: Engine
) -> None:
    _owner(client, sqlite_engine)
    token = _invite(client, "max@example.com", "support")
    with _stranger(client) as browser:
        weak = _post(
            browser, f"/invite/{token}", _join_form(password="password1234", password_confirm="password1234")
        )
        assert weak.status_code == 422
        assert 'role="alert"' in weak.text
        assert 'value="Max Manager"' in weak.text
        differ = _post(browser, f"/invite/{token}", _join_form(password_confirm="something else entirely"))
        assert differ.status_code == 422
        assert _count(client, User) == 1
        assert _post(browser, f"/invite/{token}", _join_form()).status_code == 303


def test_inviting_an_admin_needs_a_fresh_second_factor(client: TestClient, sqlite_engine: Engine) -> None:
    _owner(client, sqlite_engine)
    csrf = _csrf(client)
    _stale_second_factor(client)
    for role in ("admin", "owner"):
        response = _post(
            client, "/team/invitations", {"email": "ann@example.com", "role": role, "csrf_token": csrf}
        )
        assert response.status_code == 303
        assert response.headers["location"].startswith("/account/step-up?next=/team")
    assert _count(client, Invitation) == 0
    # A role that is not elevated needs no step-up.
    response = _post(
        client, "/team/invitations", {"email": "sam@example.com", "role": "support", "csrf_token": csrf}
    )
    assert response.status_code == 200


def test_an_admin_cannot_invite_an_owner_but_can_invite_an_admin(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    _signed_in_admin(client, workspace_id)
    csrf = _csrf(client)
    refused = _post(
        client, "/team/invitations", {"email": "eve@example.com", "role": "owner", "csrf_token": csrf}
    )
    assert refused.status_code == 403
    assert "Only an owner" in refused.text
    assert 'value="owner"' not in refused.text
    assert _count(client, Invitation) == 0
    _invite(client, "bob@example.com", "admin")
    assert _count(client, Invitation) == 1


def test_agents_are_for_managers_and_support_people_only(client: TestClient, sqlite_engine: Engine) -> None:
    workspace_id = _owner(client, sqlite_engine)
    agent_id = _make_agent(client, workspace_id, "Billing bot")
    response = _post(
        client,
        "/team/invitations",
        {
            "email": "aud@example.com",
            "role": "auditor",
            "agent_ids": [str(agent_id)],
            "csrf_token": _csrf(client),
        },
    )
    assert response.status_code == 422
    assert _count(client, Invitation) == 0


def test_revoking_an_invitation_makes_its_link_gone(client: TestClient, sqlite_engine: Engine) -> None:
    _owner(client, sqlite_engine)
    token = _invite(client, "max@example.com", "support")
    with _db(client) as session:
        invitation_id = session.scalars(select(Invitation.id)).one()
    done = _post(client, f"/team/invitations/{invitation_id}/revoke", {"csrf_token": _csrf(client)})
    assert done.status_code == 303
    with _stranger(client) as browser:
        assert _get(browser, f"/invite/{token}").status_code == 410
    again = _post(client, f"/team/invitations/{invitation_id}/revoke", {"csrf_token": _csrf(client)})
    assert again.status_code == 409
    assert len(_events(client, "invitation.revoked")) == 1


def test_accepting_as_an_owner_leads_to_mfa_enrolment(client: TestClient, sqlite_engine: Engine) -> None:
    _owner(client, sqlite_engine)
    token = _invite(client, "olga@example.com", "owner")
    with _stranger(client) as browser:
        assert _post(browser, f"/invite/{token}", _join_form(display_name="Olga")).status_code == 303
        dashboard = _get(browser, "/dashboard")
        assert dashboard.status_code == 303
        assert dashboard.headers["location"] == "/account/security"


# -- roles, removal, assignments ------------------------------------------------------------------


def test_lowering_a_role_ends_the_members_sessions_and_revokes_their_keys(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    admin_id = add_member(
        client, workspace_id=workspace_id, email="ann@example.com", role="admin", name="Ann"
    )
    enrol_totp_directly(client, email="ann@example.com")
    key_id = _make_key(client, user_id=admin_id, workspace_id=workspace_id)
    owners_key = _make_key(
        client, user_id=_membership(client, OWNER_EMAIL).user_id, workspace_id=workspace_id
    )
    owner_cookie = client.cookies["hushdesk_session"]
    with _stranger(client) as admin_browser:
        sign_in_directly(admin_browser, email="ann@example.com")
        assert _get(admin_browser, "/team").status_code == 200
        client.cookies.set("hushdesk_session", owner_cookie)
        membership_id = _membership(client, "ann@example.com").id
        done = _post(
            client, f"/team/members/{membership_id}/role", {"role": "support", "csrf_token": _csrf(client)}
        )
        assert done.status_code == 303
        after = _get(admin_browser, "/team")
        assert after.status_code == 303
        assert after.headers["location"] == "/login"
    assert _role(client, "ann@example.com") == "support"
    assert _key_revoked(client, key_id)
    assert not _key_revoked(client, owners_key)
    (event,) = _events(client, "member.role_changed")
    assert event.data == {
        "user_id": str(admin_id),
        "from": "admin",
        "to": "support",
        "sessions_ended": 1,
        "keys_revoked": 1,
    }


def test_raising_a_role_ends_sessions_but_keeps_keys(client: TestClient, sqlite_engine: Engine) -> None:
    workspace_id = _owner(client, sqlite_engine)
    admin_id = add_member(client, workspace_id=workspace_id, email="ann@example.com", role="admin")
    key_id = _make_key(client, user_id=admin_id, workspace_id=workspace_id)
    membership_id = _membership(client, "ann@example.com").id
    done = _post(
        client, f"/team/members/{membership_id}/role", {"role": "owner", "csrf_token": _csrf(client)}
    )
    assert done.status_code == 303
    assert _role(client, "ann@example.com") == "owner"
    assert not _key_revoked(client, key_id)


def test_the_last_owner_cannot_be_demoted(client: TestClient, sqlite_engine: Engine) -> None:
    _owner(client, sqlite_engine)
    own = _membership(client, OWNER_EMAIL).id
    response = _post(client, f"/team/members/{own}/role", {"role": "admin", "csrf_token": _csrf(client)})
    assert response.status_code == 409
    assert "last owner" in response.text
    removal = _post(client, f"/team/members/{own}/remove", {"csrf_token": _csrf(client)})
    assert removal.status_code == 409
    assert _role(client, OWNER_EMAIL) == "owner"
    assert _events(client, "member.role_changed") == []


def test_nobody_changes_their_own_role_or_removes_themselves(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    _signed_in_admin(client, workspace_id)
    own = _membership(client, "ann@example.com").id
    demote = _post(client, f"/team/members/{own}/role", {"role": "support", "csrf_token": _csrf(client)})
    assert demote.status_code == 403
    assert "your own role" in demote.text
    remove = _post(client, f"/team/members/{own}/remove", {"csrf_token": _csrf(client)})
    assert remove.status_code == 403
    assert _role(client, "ann@example.com") == "admin"


def test_an_admin_cannot_touch_an_owner(client: TestClient, sqlite_engine: Engine) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="olga@example.com", role="owner")
    add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    _signed_in_admin(client, workspace_id)
    owner = _membership(client, OWNER_EMAIL).id
    csrf = _csrf(client)
    assert (
        _post(client, f"/team/members/{owner}/role", {"role": "admin", "csrf_token": csrf}).status_code == 403
    )
    assert _post(client, f"/team/members/{owner}/remove", {"csrf_token": csrf}).status_code == 403
    assert _post(client, f"/team/members/{owner}/password-reset", {"csrf_token": csrf}).status_code == 403
    sam = _membership(client, "sam@example.com").id
    promote = _post(client, f"/team/members/{sam}/role", {"role": "owner", "csrf_token": csrf})
    assert promote.status_code == 403
    assert _role(client, OWNER_EMAIL) == "owner"
    assert _role(client, "sam@example.com") == "support"
    assert _count(client, PasswordReset) == 0
    page = _get(client, f"/team/members/{owner}")
    assert page.status_code == 200
    assert "Change role" not in page.text
    # Admins and below are theirs to manage.
    assert (
        _post(client, f"/team/members/{sam}/role", {"role": "manager", "csrf_token": csrf}).status_code == 303
    )
    assert _role(client, "sam@example.com") == "manager"


def test_making_an_admin_needs_a_fresh_second_factor(client: TestClient, sqlite_engine: Engine) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    sam = _membership(client, "sam@example.com").id
    csrf = _csrf(client)
    _stale_second_factor(client)
    response = _post(client, f"/team/members/{sam}/role", {"role": "admin", "csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == f"/account/step-up?next=/team/members/{sam}"
    assert _role(client, "sam@example.com") == "support"
    # Lowering or sideways moves need no step-up.
    assert (
        _post(client, f"/team/members/{sam}/role", {"role": "manager", "csrf_token": csrf}).status_code == 303
    )
    assert _role(client, "sam@example.com") == "manager"


def test_removing_a_member_ends_sessions_revokes_keys_and_assignments(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    admin_id = add_member(client, workspace_id=workspace_id, email="ann@example.com", role="admin")
    key_id = _make_key(client, user_id=admin_id, workspace_id=workspace_id)
    add_member(client, workspace_id=workspace_id, email="max@example.com", role="manager")
    max_membership = _membership(client, "max@example.com").id
    _assign(client, max_membership, _make_agent(client, workspace_id, "Billing bot"))
    owner_cookie = client.cookies["hushdesk_session"]
    with _stranger(client) as max_browser:
        sign_in_directly(max_browser, email="max@example.com")
        assert _get(max_browser, "/agents").status_code == 200
        client.cookies.set("hushdesk_session", owner_cookie)
        csrf = _csrf(client)
        assert (
            _post(client, f"/team/members/{max_membership}/remove", {"csrf_token": csrf}).status_code == 303
        )
        assert _get(max_browser, "/agents").headers["location"] == "/login"
    ann = _membership(client, "ann@example.com").id
    assert _post(client, f"/team/members/{ann}/remove", {"csrf_token": csrf}).status_code == 303
    assert _key_revoked(client, key_id)
    assert _count(client, AgentAssignment) == 0
    assert _count(client, Membership) == 1
    removed = _events(client, "member.removed")
    assert [event.data["role"] for event in removed] == ["manager", "admin"]
    assert removed[1].data["keys_revoked"] == 1
    assert removed[0].data["sessions_ended"] == 1


def test_setting_a_members_agents(client: TestClient, sqlite_engine: Engine) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="max@example.com", role="manager")
    billing = _make_agent(client, workspace_id, "Billing bot")
    sales = _make_agent(client, workspace_id, "Sales bot")
    max_membership = _membership(client, "max@example.com").id
    csrf = _csrf(client)
    path = f"/team/members/{max_membership}/agents"
    assert (
        _post(client, path, {"agent_ids": [str(billing), str(sales)], "csrf_token": csrf}).status_code == 303
    )
    assert _post(client, path, {"agent_ids": [str(sales)], "csrf_token": csrf}).status_code == 303
    with _db(client) as session:
        assert session.scalars(select(AgentAssignment.agent_id)).all() == [sales]
    events = _events(client, "assignment.changed")
    assert [(event.data["added"], event.data["removed"]) for event in events] == [(2, 0), (0, 1)]
    assert events[1].data["removed_ids"] == str(billing)
    page = _get(client, f"/team/members/{max_membership}")
    assert re.search(rf'value="{sales}" checked', page.text)
    # Agents only for agent-scoped roles.
    owner = _membership(client, OWNER_EMAIL).id
    refused = _post(client, f"/team/members/{owner}/agents", {"agent_ids": [str(sales)], "csrf_token": csrf})
    assert refused.status_code == 422


# -- what every form refuses ----------------------------------------------------------------------


def _forms(client: TestClient, target: uuid.UUID, agent_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    with _db(client) as session:
        invitation_id = session.scalars(select(Invitation.id)).one()
    return [
        ("/team/invitations", {"email": "new@example.com", "role": "support"}),
        (f"/team/invitations/{invitation_id}/revoke", {}),
        (f"/team/members/{target}/role", {"role": "manager"}),
        (f"/team/members/{target}/agents", {"agent_ids": [str(agent_id)]}),
        (f"/team/members/{target}/password-reset", {}),
        (f"/team/members/{target}/remove", {}),
        ("/account/password", {"current_password": OWNER_PASSWORD, "new_password": NEW_PASSWORD,
                               "new_password_confirm": NEW_PASSWORD}),
    ]  # fmt: skip


def _state(client: TestClient) -> tuple[object, ...]:
    with _db(client) as session:
        return (
            sorted((m.role, str(m.user_id)) for m in session.scalars(select(Membership))),
            sorted(str(i.revoked_at) for i in session.scalars(select(Invitation))),
            session.scalar(select(func.count()).select_from(AgentAssignment)),
            session.scalar(select(func.count()).select_from(PasswordReset)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
            session.scalars(select(User.password_hash).where(User.email == OWNER_EMAIL)).one(),
        )


@pytest.mark.parametrize("token", ["", "0" * 64])
def test_a_missing_or_wrong_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, sqlite_engine: Engine, token: str
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    _invite(client, "max@example.com", "support")
    agent_id = _make_agent(client, workspace_id, "Billing bot")
    target = _membership(client, "sam@example.com").id
    before = _state(client)
    for path, data in _forms(client, target, agent_id):
        form = {**data, "csrf_token": token} if token else data
        response = _post(client, path, form)
        assert response.status_code == 403, path
    assert _state(client) == before


def test_ids_of_another_workspace_are_not_found_and_change_nothing(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    sam = _membership(client, "sam@example.com").id
    rival_workspace, rival_membership, rival_agent = _other_workspace(client)
    with _db(client) as session:
        session.add(
            Invitation(
                workspace_id=rival_workspace,
                email="x@example.com",
                role="support",
                agent_ids=[],
                token_hash="f" * 64,
                expires_at=utcnow() + dt.timedelta(hours=1),
            )
        )
        rival_invitation = session.scalars(select(Invitation.id)).one()
    before = _state(client)
    csrf = _csrf(client)
    assert _get(client, f"/team/members/{rival_membership}").status_code == 404
    for path, data in [
        (f"/team/members/{rival_membership}/role", {"role": "support"}),
        (f"/team/members/{rival_membership}/agents", {}),
        (f"/team/members/{rival_membership}/password-reset", {}),
        (f"/team/members/{rival_membership}/remove", {}),
        (f"/team/invitations/{rival_invitation}/revoke", {}),
        (f"/team/members/{sam}/agents", {"agent_ids": [str(rival_agent)]}),
        (
            "/team/invitations",
            {"email": "new@example.com", "role": "support", "agent_ids": [str(rival_agent)]},
        ),
    ]:
        assert isinstance(data, dict)
        response = _post(client, path, {**data, "csrf_token": csrf})
        assert response.status_code == 404, path
    assert _state(client) == before
    assert _role(client, "rival@example.com") == "manager"


# -- password reset links ------------------------------------------------------------------------


def _issue_reset(client: TestClient, membership_id: uuid.UUID) -> str:
    response = _post(client, f"/team/members/{membership_id}/password-reset", {"csrf_token": _csrf(client)})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    match = _RESET_LINK.search(response.text)
    assert match is not None
    return match.group(2)


def test_a_reset_link_sets_the_password_once_and_ends_every_session(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    user_id = add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    sam = _membership(client, "sam@example.com").id
    owner_cookie = client.cookies["hushdesk_session"]
    with _stranger(client) as sam_browser:
        sign_in_directly(sam_browser, email="sam@example.com")
        client.cookies.set("hushdesk_session", owner_cookie)
        token = _issue_reset(client, sam)
        with _db(client) as session:
            assert session.scalars(select(PasswordReset.token_hash)).one() == token_digest(token)
        with _stranger(client) as holder:
            form = _get(holder, f"/reset/{token}")
            assert form.status_code == 200
            assert "sam@example.com" in form.text
            differ = _post(holder, f"/reset/{token}", {"password": NEW_PASSWORD, "password_confirm": "other"})
            assert differ.status_code == 422
            done = _post(
                holder, f"/reset/{token}", {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
            )
            assert done.status_code == 303
            assert done.headers["location"] == "/login"
            assert (
                _post(
                    holder, f"/reset/{token}", {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
                ).status_code
                == 410
            )
            assert _get(holder, f"/reset/{token}").status_code == 410
        assert _get(sam_browser, "/agents").headers["location"] == "/login"
    with _db(client) as session:
        user = session.get(User, user_id)
        assert user is not None
        assert verify_password(user.password_hash, NEW_PASSWORD)
    (event,) = _events(client, "auth.password_reset")
    assert event.data["sessions_ended"] == 1
    assert token not in str([e.data for e in _events(client, "auth.password_reset_issued")])


def test_issuing_a_reset_link_needs_a_fresh_second_factor(client: TestClient, sqlite_engine: Engine) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    sam = _membership(client, "sam@example.com").id
    csrf = _csrf(client)
    _stale_second_factor(client)
    response = client.post(
        f"/team/members/{sam}/password-reset",
        data={"csrf_token": csrf},
        headers={**HTML, "referer": f"http://testserver/team/members/{sam}"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/account/step-up?next=/team/members/{sam}"
    assert _count(client, PasswordReset) == 0


def test_a_newer_reset_link_revokes_the_older_and_links_expire(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    sam = _membership(client, "sam@example.com").id
    older = _issue_reset(client, sam)
    newer = _issue_reset(client, sam)
    with _stranger(client) as holder:
        assert _get(holder, f"/reset/{older}").status_code == 410
        assert _get(holder, f"/reset/{newer}").status_code == 200
        with _db(client) as session:
            session.execute(update(PasswordReset).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        assert _get(holder, f"/reset/{newer}").status_code == 410
        gone = _post(holder, f"/reset/{newer}", {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
        assert gone.status_code == 410


def test_no_reset_link_for_someone_who_belongs_to_another_workspace_too(
    client: TestClient, sqlite_engine: Engine
) -> None:
    _owner(client, sqlite_engine)
    _other_workspace(client)
    token = _invite(client, "rival@example.com", "support")
    with _stranger(client) as browser:
        assert _post(browser, f"/invite/{token}", {"password": MEMBER_PASSWORD}).status_code == 303
    with _db(client) as session:
        workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
        rival_here = session.scalars(
            select(Membership.id)
            .join(User, User.id == Membership.user_id)
            .where(User.email == "rival@example.com", Membership.workspace_id == workspace_id)
        ).one()
    response = _post(client, f"/team/members/{rival_here}/password-reset", {"csrf_token": _csrf(client)})
    assert response.status_code == 409
    assert "another workspace" in response.text
    assert _count(client, PasswordReset) == 0


def test_a_reset_link_stops_working_when_the_member_is_removed(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    sam = _membership(client, "sam@example.com").id
    token = _issue_reset(client, sam)
    assert _post(client, f"/team/members/{sam}/remove", {"csrf_token": _csrf(client)}).status_code == 303
    with _stranger(client) as holder:
        assert _get(holder, f"/reset/{token}").status_code == 410


# -- changing one's own password ----------------------------------------------------------------


def test_changing_ones_password_ends_other_sessions_and_rotates_this_one(
    client: TestClient, sqlite_engine: Engine
) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    sign_in_directly(client, email="sam@example.com")
    first = client.cookies["hushdesk_session"]
    with _stranger(client) as other_device:
        sign_in_directly(other_device, email="sam@example.com")
        client.cookies.set("hushdesk_session", first)
        form = {
            "current_password": MEMBER_PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
            "csrf_token": _csrf(client),
        }
        done = _post(client, "/account/password", form)
        assert done.status_code == 303
        assert done.headers["location"] == "/account/password?changed=true"
        rotated = done.cookies["hushdesk_session"]
        assert rotated != first
        client.cookies.clear()
        client.cookies.set("hushdesk_session", rotated)
        assert "Your password is changed" in _get(client, "/account/password?changed=true").text
        assert _get(other_device, "/account/password").headers["location"] == "/login"
    client.cookies.set("hushdesk_session", first)
    assert _get(client, "/account/password").status_code == 303
    (event,) = _events(client, "auth.password_changed")
    assert event.data == {"sessions_ended": 1}
    client.cookies.clear()
    signed_in = client.post(
        "/login", data={"email": "sam@example.com", "password": NEW_PASSWORD}, follow_redirects=False
    )
    assert signed_in.status_code == 303


def test_a_wrong_current_password_is_refused_and_throttled(client: TestClient, sqlite_engine: Engine) -> None:
    _owner(client, sqlite_engine)
    csrf = _csrf(client)
    form = {
        "current_password": "not my password",
        "new_password": NEW_PASSWORD,
        "new_password_confirm": NEW_PASSWORD,
    }
    statuses = [
        _post(client, "/account/password", {**form, "csrf_token": csrf}).status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    right = _post(
        client, "/account/password", {**form, "current_password": OWNER_PASSWORD, "csrf_token": csrf}
    )
    assert right.status_code == 429
    assert "retry-after" in right.headers
    with _db(client) as session:
        owner = session.scalars(select(User).where(User.email == OWNER_EMAIL)).one()
        assert verify_password(owner.password_hash, OWNER_PASSWORD)
    assert _events(client, "auth.password_changed") == []


def test_a_weak_or_mismatched_new_password_is_refused(client: TestClient, sqlite_engine: Engine) -> None:
    _owner(client, sqlite_engine)
    csrf = _csrf(client)
    base = {"current_password": OWNER_PASSWORD, "csrf_token": csrf}
    weak = _post(
        client,
        "/account/password",
        {**base, "new_password": "password1234", "new_password_confirm": "password1234"},
    )
    assert weak.status_code == 422
    differ = _post(
        client, "/account/password", {**base, "new_password": NEW_PASSWORD, "new_password_confirm": "x"}
    )
    assert differ.status_code == 422
    same = _post(
        client,
        "/account/password",
        {**base, "new_password": OWNER_PASSWORD, "new_password_confirm": OWNER_PASSWORD},
    )
    assert same.status_code == 422
    assert _events(client, "auth.password_changed") == []


def test_no_audit_event_holds_a_password_or_a_link(client: TestClient, sqlite_engine: Engine) -> None:
    workspace_id = _owner(client, sqlite_engine)
    add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    token = _invite(client, "max@example.com", "support")
    reset = _issue_reset(client, _membership(client, "sam@example.com").id)
    with _stranger(client) as browser:
        _post(browser, f"/invite/{token}", _join_form())
        _post(browser, f"/reset/{reset}", {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    with _db(client) as session:
        dumped = str([(event.action, event.data) for event in session.scalars(select(AuditEvent))])
    for secret in (token, reset, MEMBER_PASSWORD, NEW_PASSWORD, token_digest(token)):
        assert secret not in dumped


def test_joining_with_an_account_that_has_a_second_factor_asks_for_it_next(
    client: TestClient, sqlite_engine: Engine
) -> None:
    _owner(client, sqlite_engine)
    _other_workspace(client)
    enrol_totp_directly(client, email="rival@example.com")
    token = _invite(client, "rival@example.com", "support")
    with _stranger(client) as browser:
        joined = _post(browser, f"/invite/{token}", {"password": MEMBER_PASSWORD})
        assert joined.status_code == 303
        assert joined.headers["location"] == "/login/verify"
        assert _get(browser, "/agents").headers["location"] == "/login/verify"
