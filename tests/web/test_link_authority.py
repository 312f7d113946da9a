"""One-time links carry no more authority than their issuer has now: an invitation or reset
link from someone since demoted opens nothing, and a reset link issued for a member does not
open the higher role they have been given since."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from hushdesk.identity.members import do_change_role
from hushdesk.identity.models import Invitation, PasswordReset, Role
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.web.audit_trail import recorder
from tests.api import principal_of
from tests.web.helpers import (
    OWNER_EMAIL,
    add_member,
    app_sessions,
    enrol_totp_directly,
    sign_in_directly,
    signed_in_owner,
    workspace_id_of,
)
from tests.web.test_team_pages import _invite, _issue_reset, _join_form, _membership, _post, _role, _stranger

NEW_PASSWORD = "velvet tugboat meridian quarry"


def _change_role(client: TestClient, *, actor: str, target: str, role: Role) -> None:
    with unit_of_work(app_sessions(client)) as session:
        do_change_role(
            session,
            principal_of(client, email=actor),
            membership_id=_membership(client, target).id,
            role=role,
            record=recorder(session),
        )


def _admin_ann(client: TestClient, engine: Engine) -> None:
    signed_in_owner(client, engine)
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    add_member(client, workspace_id=workspace_id, email="ann@example.com", role="admin", name="Ann Admin")
    enrol_totp_directly(client, email="ann@example.com")
    add_member(client, workspace_id=workspace_id, email="max@example.com", role="manager", name="Max")


def test_an_invitation_from_someone_since_demoted_grants_nothing(
    client: TestClient, sqlite_engine: Engine
) -> None:
    _admin_ann(client, sqlite_engine)
    with _stranger(client) as ann:
        sign_in_directly(ann, email="ann@example.com")
        token = _invite(ann, "sock@example.net", "admin")
    _change_role(client, actor=OWNER_EMAIL, target="ann@example.com", role=Role.SUPPORT)
    with _stranger(client) as sock:
        assert _post(sock, f"/invite/{token}", _join_form(display_name="Sock")).status_code == 410
    with unit_of_work(app_sessions(client)) as session:
        # Revoked at the demotion; and were it not, accepting would still check the inviter.
        session.execute(update(Invitation).values(revoked_at=None))
    with _stranger(client) as sock:
        assert _post(sock, f"/invite/{token}", _join_form(display_name="Sock")).status_code == 410


def test_a_reset_link_does_not_open_a_role_given_after_it_was_issued(
    client: TestClient, sqlite_engine: Engine
) -> None:
    _admin_ann(client, sqlite_engine)
    with _stranger(client) as ann:
        sign_in_directly(ann, email="ann@example.com")
        token = _issue_reset(ann, _membership(client, "max@example.com").id)
    _change_role(client, actor=OWNER_EMAIL, target="max@example.com", role=Role.OWNER)
    assert _role(client, "max@example.com") == "owner"
    form = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    with _stranger(client) as holder:
        assert _post(holder, f"/reset/{token}", form).status_code == 410
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(PasswordReset).values(revoked_at=None))
    with _stranger(client) as holder:
        # Ann is an admin: she may not act on an owner, whenever her link was issued.
        assert _post(holder, f"/reset/{token}", form).status_code == 410


def test_a_reset_link_from_someone_since_demoted_opens_nothing(
    client: TestClient, sqlite_engine: Engine
) -> None:
    _admin_ann(client, sqlite_engine)
    with _stranger(client) as ann:
        sign_in_directly(ann, email="ann@example.com")
        token = _issue_reset(ann, _membership(client, "max@example.com").id)
    _change_role(client, actor=OWNER_EMAIL, target="ann@example.com", role=Role.SUPPORT)
    with _stranger(client) as holder:
        form = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
        assert _post(holder, f"/reset/{token}", form).status_code == 410
