"""The redaction policy page: who may see and change it, saving (audited, with a fresh second
factor), bad input that changes nothing, and a preview that stores and logs nothing."""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, func, select, update

from hushdesk.audit.models import AuditEvent
from hushdesk.crypto.models import DataKeyRecord
from hushdesk.identity.models import WebSession
from hushdesk.identity.permissions import Permission
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.privacy.pii import ALL_LABELS, Label
from hushdesk.privacy.pii.redaction import RedactionMode
from hushdesk.privacy.redaction_policy.models import RedactionPolicy
from hushdesk.privacy.redaction_policy.service import UPDATE_ACTION, PatternSpec, PolicyView, get_policy
from hushdesk.web.authz import PermissionCheck
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.security.route_table import declaration_of, flat_routes
from tests.web.helpers import (
    OWNER_EMAIL,
    add_member,
    app_sessions,
    csrf_from,
    sign_in_directly,
    signed_in_owner,
    workspace_id_of,
)

PAGE = "/settings/redaction"
PREVIEW = "/settings/redaction/preview"
HTML = {"accept": "text/html"}
JSON = {"accept": "application/json"}
SAMPLE = "Hi, mail me at thandi@example.co.za about CUST-123456 please"


def _csrf(client: TestClient) -> str:
    return csrf_from(client.get(PAGE, headers=HTML).text)


def _form(client: TestClient, **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": _csrf(client),
        "mode": "label",
        "labels": sorted(ALL_LABELS),
        "pattern_name": ["CUSTOMER_NUMBER", ""],
        "pattern_expression": [r"CUST-\d{6}", ""],
    }
    form.update(overrides)
    return form


def _post(client: TestClient, path: str, form: dict[str, Any], headers: dict[str, str] = HTML) -> Response:
    response: Response = client.post(path, data=form, headers=headers, follow_redirects=False)
    return response


def _policy(client: TestClient) -> PolicyView:
    with unit_of_work(app_sessions(client)) as session:
        return get_policy(session, workspace_id=workspace_id_of(client, email=OWNER_EMAIL))


def _count(client: TestClient, model: type[Any], *where: Any) -> int:
    with unit_of_work(app_sessions(client)) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _update_events(client: TestClient) -> list[AuditEvent]:
    with unit_of_work(app_sessions(client)) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == UPDATE_ACTION)))


def _redacted(page: Response) -> str:
    match = re.search(r'<pre class="redacted"[^>]*>(.*?)</pre>', page.text, re.DOTALL)
    assert match is not None, "no preview on the page"
    return html.unescape(match.group(1))


def test_the_owner_sees_the_defaults_and_the_page_is_in_the_nav(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    page = client.get(PAGE, headers=HTML)
    assert page.status_code == 200
    assert '<a href="/settings/redaction">Redaction</a>' in page.text
    assert re.search(r'value="label"\s+checked', page.text)
    for label in ALL_LABELS:
        assert re.search(rf'name="labels" value="{label}"\s+checked', page.text)
    assert "names are found in the live engine" in page.text.lower()
    assert "<script" not in page.text


def test_the_owner_saves_a_policy_and_it_is_audited(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    labels = sorted(ALL_LABELS - {Label.IP_ADDRESS})
    saved = _post(client, PAGE, _form(client, mode="pseudonym", labels=labels))
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{PAGE}?saved=1"
    policy = _policy(client)
    assert policy.mode is RedactionMode.PSEUDONYM
    assert policy.disabled_labels == {Label.IP_ADDRESS}
    assert policy.custom_patterns == (PatternSpec("CUSTOMER_NUMBER", r"CUST-\d{6}"),)
    (event,) = _update_events(client)
    assert event.data["disabled_labels"] == "IP_ADDRESS"
    assert event.data["patterns_added"] == "CUSTOMER_NUMBER"
    page = client.get(f"{PAGE}?saved=1", headers=HTML)
    assert "Saved." in page.text
    assert 'value="CUST-\\d{6}"' in page.text
    assert "by Ada Owner" in page.text


def test_a_pattern_ticked_for_removal_is_removed(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    _post(client, PAGE, _form(client))
    form = _form(
        client,
        pattern_name=["CUSTOMER_NUMBER", "TICKET"],
        pattern_expression=[r"CUST-\d{6}", r"TCK\d{4}"],
        pattern_remove=["0"],
    )
    assert _post(client, PAGE, form).status_code == 303
    assert _policy(client).custom_patterns == (PatternSpec("TICKET", r"TCK\d{4}"),)
    assert _update_events(client)[-1].data["patterns_removed"] == "CUSTOMER_NUMBER"


@pytest.mark.parametrize("role", ["support", "auditor", "manager"])
def test_people_without_privacy_manage_are_refused(
    client: TestClient, sqlite_engine: Engine, role: str
) -> None:
    signed_in_owner(client, sqlite_engine)
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    add_member(client, workspace_id=workspace_id, email=f"{role}@example.com", role=role)
    sign_in_directly(client, email=f"{role}@example.com")
    assert client.get(PAGE, headers=JSON).status_code == 403
    page = client.get("/account/sessions", headers=HTML)
    assert "/settings/redaction" not in page.text
    form = {"csrf_token": csrf_from(page.text), "mode": "pseudonym", "labels": [], "sample_text": SAMPLE}
    for path in (PAGE, PREVIEW):
        refused = _post(client, path, form, JSON)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"
    assert _count(client, RedactionPolicy) == 0


@pytest.mark.parametrize(
    ("expression", "message"),
    [("(a", "does not compile"), (r"\d*", "matches empty text")],
)
def test_a_bad_pattern_is_a_422_and_nothing_is_saved(
    client: TestClient, sqlite_engine: Engine, expression: str, message: str
) -> None:
    signed_in_owner(client, sqlite_engine)
    form = _form(client, mode="pseudonym", pattern_name=["CUST_NO"], pattern_expression=[expression])
    refused = _post(client, PAGE, form)
    assert refused.status_code == 422
    assert f"Pattern CUST_NO: the pattern {message}" in html.unescape(refused.text)
    # The form comes back as it was sent, so nothing typed is lost.
    assert f'value="{html.escape(expression)}"' in refused.text
    assert re.search(r'value="pseudonym"\s+checked', refused.text)
    assert _count(client, RedactionPolicy) == 0
    assert _update_events(client) == []


def test_an_unknown_label_or_mode_is_a_422(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    assert _post(client, PAGE, _form(client, labels=["EMAIL", "SHOE_SIZE"])).status_code == 422
    assert _post(client, PAGE, _form(client, mode="blackout")).status_code == 422
    mangled = _form(client, pattern_name=["A_B", "C_D"], pattern_expression=["x+"])
    assert _post(client, PAGE, mangled).status_code == 422
    assert _count(client, RedactionPolicy) == 0


def test_saving_needs_a_fresh_second_factor(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    form = _form(client)
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(WebSession).values(second_factor_at=utcnow() - dt.timedelta(minutes=30)))
    refused = _post(client, PAGE, form, JSON)
    assert refused.json()["error"]["code"] == "step_up_required"
    assert _count(client, RedactionPolicy) == 0


def test_changes_without_the_csrf_token_are_refused(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    for path in (PAGE, PREVIEW):
        form = _form(client, csrf_token="0" * 64, sample_text=SAMPLE)
        assert _post(client, path, form, JSON).status_code == 403
        del form["csrf_token"]
        assert _post(client, path, form, JSON).status_code == 422
    assert _count(client, RedactionPolicy) == 0


def test_the_preview_redacts_an_email_and_a_custom_pattern_and_keeps_nothing(
    client: TestClient, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    signed_in_owner(client, sqlite_engine)
    events_before = _count(client, AuditEvent)
    with caplog.at_level(logging.DEBUG):
        page = _post(client, PREVIEW, _form(client, sample_text=SAMPLE))
    assert page.status_code == 200
    assert _redacted(page) == "Hi, mail me at [EMAIL] about [CUSTOMER_NUMBER] please"
    assert _count(client, RedactionPolicy) == 0
    assert _count(client, AuditEvent) == events_before
    assert "thandi" not in caplog.text
    assert "CUST-123456" not in caplog.text


def test_the_preview_uses_the_form_unsaved_or_else_the_saved_policy(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    no_patterns = _form(client, pattern_name=[""], pattern_expression=[""], sample_text=SAMPLE)
    assert "CUST-123456" in _redacted(_post(client, PREVIEW, no_patterns))
    _post(client, PAGE, _form(client))
    saved_policy_only = {"csrf_token": _csrf(client), "sample_text": SAMPLE}
    assert _redacted(_post(client, PREVIEW, saved_policy_only)).endswith("[CUSTOMER_NUMBER] please")


def test_the_preview_pseudonymises_with_a_one_off_key(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    form = _form(client, mode="pseudonym", sample_text=SAMPLE)
    first, second = (_redacted(_post(client, PREVIEW, form)) for _ in range(2))
    assert re.fullmatch(
        r"Hi, mail me at \[EMAIL_[0-9a-f]{8}\] about \[CUSTOMER_NUMBER_[0-9a-f]{8}\] please", first
    )
    assert first != second
    assert _count(client, DataKeyRecord, DataKeyRecord.purpose == "pseudonym") == 0
    assert _count(client, RedactionPolicy) == 0


def test_a_bad_pattern_in_the_preview_is_a_422(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    form = _form(client, pattern_name=["CUST_NO"], pattern_expression=["(a"], sample_text=SAMPLE)
    refused = _post(client, PREVIEW, form)
    assert refused.status_code == 422
    assert "does not compile" in refused.text
    assert '<pre class="redacted"' not in refused.text


def test_one_workspaces_save_leaves_anothers_policy_alone(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    with unit_of_work(app_sessions(client)) as session:
        other_id = do_create_workspace(session, name="Other", region=Region.EU).id
    _post(client, PAGE, _form(client, mode="pseudonym"))
    with unit_of_work(app_sessions(client)) as session:
        assert get_policy(session, workspace_id=other_id) == PolicyView()
    assert _count(client, RedactionPolicy, RedactionPolicy.workspace_id == other_id) == 0


def test_the_routes_declare_privacy_manage_and_saving_needs_a_fresh_factor(client: TestClient) -> None:
    declared = {
        (method, route.path): declaration_of(route)
        for route in flat_routes(client.app.routes)  # type: ignore[attr-defined]
        if route.path.startswith(PAGE)
        for method in route.methods or ()
    }
    assert set(declared) == {("GET", PAGE), ("POST", PAGE), ("POST", PREVIEW)}
    for (method, path), check in declared.items():
        assert isinstance(check, PermissionCheck)
        assert check.permission is Permission.PRIVACY_MANAGE
        assert check.fresh is ((method, path) == ("POST", PAGE))
