"""The audit log page and its export: filters, pages, refusals, tenancy, and an export that
re-verifies offline."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.audit.chain import GENESIS_HASH, EventFields, event_hash
from hushdesk.audit.models import ActorKind, AuditEvent, chain_for
from hushdesk.audit.queries import (
    AuditFilter,
    InvalidAuditFilterError,
    check_audit_filter,
    iter_export_lines,
    list_workspace_events,
    plan_export,
)
from hushdesk.audit.service import DataValue, do_record_event
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import make_sessionmaker, transaction_open, unit_of_work
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.web.helpers import (
    OWNER_EMAIL,
    add_member,
    app_sessions,
    sign_in_directly,
    signed_in_owner,
    workspace_id_of,
)

HTML = {"accept": "text/html"}
JSON = {"accept": "application/json"}
_SEQ = re.compile(r'<td class="audit-seq">(\d+)</td>')
_ACTION = re.compile(r"<td><code>([a-z0-9_.]+)</code></td>")


def _record(
    sessions: sessionmaker[Session],
    workspace_id: uuid.UUID,
    action: str,
    *,
    actor_kind: ActorKind = ActorKind.SYSTEM,
    actor_id: str | None = None,
    target_kind: str | None = None,
    target_id: str | None = None,
    data: dict[str, DataValue] | None = None,
) -> AuditEvent:
    with unit_of_work(sessions) as session:
        return do_record_event(
            session,
            workspace_id=workspace_id,
            actor_kind=actor_kind,
            actor_id=actor_id,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            data=data,
        )


def _seqs(page: str) -> list[int]:
    return [int(seq) for seq in _SEQ.findall(page)]


def _actions(page: str) -> list[str]:
    return _ACTION.findall(page)


def _older_link(page: str) -> str | None:
    match = re.search(r'<a href="([^"]+)" rel="next">Older events</a>', page)
    return match.group(1).replace("&amp;", "&") if match else None


@pytest.fixture
def owner_workspace(client: TestClient, sqlite_engine: Engine) -> uuid.UUID:
    """First-run setup and a signed-in owner with a fresh second factor."""
    signed_in_owner(client, sqlite_engine)
    return workspace_id_of(client, email=OWNER_EMAIL)


@pytest.fixture
def at_time(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """Events recorded while the list holds a time are stamped with it (first one first)."""
    times: list[dt.datetime] = []
    monkeypatch.setattr("hushdesk.audit.service.utcnow", lambda: times.pop(0) if times else utcnow())
    return times


# ---- the page -------------------------------------------------------------------------------


def test_the_owner_sees_the_chain_newest_first_with_names(
    client: TestClient, owner_workspace: uuid.UUID
) -> None:
    page = client.get("/audit", headers=HTML)
    assert page.status_code == 200
    seqs = _seqs(page.text)
    assert seqs == sorted(seqs, reverse=True)
    assert seqs[-1] == 1
    assert "workspace.create" in _actions(page.text)
    assert "Ada Owner" in page.text
    assert 'href="/audit/export.jsonl"' in page.text


def test_each_event_shows_its_data_as_key_value_and_a_short_hash(
    client: TestClient, owner_workspace: uuid.UUID
) -> None:
    event = _record(
        app_sessions(client),
        owner_workspace,
        "keys.rotate_workspace",
        actor_kind=ActorKind.OPERATOR,
        actor_id="os:root",
        target_kind="data_key",
        target_id="k-1",
        data={"retiring_key": None, "count": 3, "forced": True},
    )
    page = client.get("/audit", headers=HTML).text
    assert "count=3 forced=true retiring_key=null" in page
    assert "operator os:root" in page
    assert "data_key k-1" in page
    assert f'<code title="{event.hash.hex()}">{event.hash.hex()[:12]}</code>' in page


def test_api_keys_and_former_members_are_labelled_without_reaching_other_workspaces(
    client: TestClient, owner_workspace: uuid.UUID
) -> None:
    sessions = app_sessions(client)
    with unit_of_work(sessions) as session:
        other = do_create_workspace(session, name="Beta Ltd", region=Region.EU).id
    outsider = add_member(client, workspace_id=other, email="bea@beta.example", role="owner", name="Bea Beta")
    _record(sessions, owner_workspace, "member.remove", actor_kind=ActorKind.USER, actor_id=str(outsider))
    _record(sessions, owner_workspace, "api_key.denied", actor_kind=ActorKind.API_KEY, actor_id=str(outsider))
    page = client.get("/audit", headers=HTML).text
    # Bea is not a member here: her name is never looked up in another workspace.
    assert "Bea Beta" not in page
    assert f"user {str(outsider)[:8]}" in page
    assert f"API key {str(outsider)[:8]}" in page


def test_pages_of_fifty_follow_the_seq_cursor(client: TestClient, owner_workspace: uuid.UUID) -> None:
    sessions = app_sessions(client)
    for _ in range(120):
        _record(sessions, owner_workspace, "test.filler")
    first = client.get("/audit", headers=HTML).text
    head = _seqs(first)[0]
    assert _seqs(first) == list(range(head, head - 50, -1))
    older = _older_link(first)
    assert older == f"/audit?before={head - 49}"
    second = client.get(older, headers=HTML).text
    assert _seqs(second) == list(range(head - 50, head - 100, -1))
    assert 'href="/audit">Newest events</a>' in second
    third_link = _older_link(second)
    assert third_link is not None
    third = client.get(third_link, headers=HTML).text
    assert _seqs(third) == list(range(head - 100, 0, -1))
    assert _older_link(third) is None


def test_the_cursor_keeps_the_filters(client: TestClient, owner_workspace: uuid.UUID) -> None:
    sessions = app_sessions(client)
    for _ in range(60):
        _record(sessions, owner_workspace, "test.filler")
        _record(sessions, owner_workspace, "test.other")
    first = client.get("/audit?action=test.filler", headers=HTML).text
    older = _older_link(first)
    assert older is not None
    assert "action=test.filler" in older
    second = client.get(older, headers=HTML).text
    assert set(_actions(second)) == {"test.filler"}
    assert len(_seqs(second)) == 10


def test_action_filter_is_exact_or_a_prefix(client: TestClient, owner_workspace: uuid.UUID) -> None:
    sessions = app_sessions(client)
    _record(sessions, owner_workspace, "auth.login")
    _record(sessions, owner_workspace, "auth.login_failed")
    _record(sessions, owner_workspace, "authz.changed")
    exact = client.get("/audit", params={"action": "auth.login"}, headers=HTML).text
    assert _actions(exact) == ["auth.login"]
    prefix = client.get("/audit", params={"action": "auth."}, headers=HTML).text
    assert _actions(prefix) == ["auth.login_failed", "auth.login"]
    starred = client.get("/audit", params={"action": "auth.*"}, headers=HTML).text
    assert _actions(starred) == _actions(prefix)


def test_actor_filter_by_member_or_by_id(client: TestClient, owner_workspace: uuid.UUID) -> None:
    sessions = app_sessions(client)
    auditor = add_member(client, workspace_id=owner_workspace, email="aud@example.com", role="auditor")
    key_id = str(uuid.uuid4())
    _record(sessions, owner_workspace, "test.by_auditor", actor_kind=ActorKind.USER, actor_id=str(auditor))
    _record(sessions, owner_workspace, "test.by_key", actor_kind=ActorKind.API_KEY, actor_id=key_id)
    page = client.get("/audit", headers=HTML).text
    assert f'<option value="{auditor}" >A Member</option>' in page
    by_member = client.get("/audit", params={"member": str(auditor)}, headers=HTML).text
    assert _actions(by_member) == ["test.by_auditor"]
    by_id = client.get("/audit", params={"actor": key_id.upper()}, headers=HTML).text
    assert _actions(by_id) == ["test.by_key"]


def test_date_range_is_utc_and_includes_the_whole_to_day(
    client: TestClient, owner_workspace: uuid.UUID, at_time: list[dt.datetime]
) -> None:
    sessions = app_sessions(client)
    stamps = {
        "test.before": dt.datetime(2020, 3, 1, 23, 59, 59, 999999, tzinfo=dt.UTC),
        "test.first_moment": dt.datetime(2020, 3, 2, 0, 0, tzinfo=dt.UTC),
        "test.last_moment": dt.datetime(2020, 3, 3, 23, 59, 59, 999999, tzinfo=dt.UTC),
        "test.after": dt.datetime(2020, 3, 4, 0, 0, tzinfo=dt.UTC),
    }
    for action, stamp in stamps.items():
        at_time.append(stamp)
        _record(sessions, owner_workspace, action)
    ranged = client.get("/audit", params={"from": "2020-03-02", "to": "2020-03-03"}, headers=HTML).text
    assert _actions(ranged) == ["test.last_moment", "test.first_moment"]
    one_day = client.get("/audit", params={"from": "2020-03-04", "to": "2020-03-04"}, headers=HTML).text
    assert _actions(one_day) == ["test.after"]
    until = client.get("/audit", params={"to": "2020-03-01"}, headers=HTML).text
    assert _actions(until) == ["test.before"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-13-01"}, '"From" is not a date'),
        ({"from": "yesterday"}, '"From" is not a date'),
        ({"to": "2026-W01-1"}, '"To" is not a date'),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "after the"),
        ({"actor": "not-a-uuid"}, "not a valid id"),
        ({"member": "not-a-uuid"}, "Pick a member"),
        ({"member": str(uuid.uuid4())}, "Pick a member"),
        ({"action": "Auth Login"}, "An action looks like"),
        ({"action": "a" * 200}, "at most 80 characters"),
        ({"before": "abc"}, "page link is not valid"),
        ({"before": "0"}, "page link is not valid"),
        ({"before": "-5"}, "page link is not valid"),
        ({"before": "99999999999999999999"}, "page link is not valid"),
        ({"before": "9223372036854775808"}, "page link is not valid"),
    ],
)
def test_bad_filters_re_render_the_form_with_422(
    client: TestClient, owner_workspace: uuid.UUID, params: dict[str, str], message: str
) -> None:
    response = client.get("/audit", params=params, headers=HTML)
    assert response.status_code == 422
    assert '<form method="get" action="/audit"' in response.text
    alert = re.search(r'<p class="problem" role="alert">([^<]*)</p>', response.text)
    assert alert is not None
    assert message in alert.group(1).replace("&#34;", '"')
    assert _seqs(response.text) == []
    # What was typed is shown again (escaped).
    for name in ("from", "to", "actor", "action"):
        if name in params:
            assert f'value="{params[name]}"' in response.text


def test_a_member_and_a_different_actor_id_conflict(client: TestClient, owner_workspace: uuid.UUID) -> None:
    page = client.get("/audit", headers=HTML).text
    member = re.search(r'<option value="([0-9a-f-]{36})"', page)
    assert member is not None
    response = client.get(
        "/audit", params={"member": member.group(1), "actor": str(uuid.uuid4())}, headers=HTML
    )
    assert response.status_code == 422
    assert "not both" in response.text


@pytest.mark.parametrize(("role", "status"), [("manager", 403), ("support", 403), ("auditor", 200)])
def test_only_roles_holding_audit_read_see_the_log(
    client: TestClient, owner_workspace: uuid.UUID, role: str, status: int
) -> None:
    email = f"{role}@example.com"
    add_member(client, workspace_id=owner_workspace, email=email, role=role)
    sign_in_directly(client, email=email)
    assert client.get("/audit", headers=JSON).status_code == status
    assert client.get("/audit", headers=HTML).status_code == status
    if status == 403:
        export = client.get("/audit/export.jsonl", headers=JSON)
        assert export.status_code == 403
        assert export.json()["error"]["code"] == "permission_denied"


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient, owner_workspace: uuid.UUID) -> None:
    client.cookies.clear()
    response = client.get("/audit", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.get("/audit/export.jsonl", headers=JSON).status_code == 401


def test_another_workspaces_events_never_appear(client: TestClient, owner_workspace: uuid.UUID) -> None:
    sessions = app_sessions(client)
    with unit_of_work(sessions) as session:
        other = do_create_workspace(session, name="Beta Ltd", region=Region.EU).id
    for _ in range(3):
        _record(sessions, other, "tenant.beta_only", target_kind="note", target_id="beta-marker")
    _record(sessions, owner_workspace, "tenant.acme_only")
    for params in ({}, {"action": "tenant."}, {"workspace": str(other)}, {"workspace_id": str(other)}):
        page = client.get("/audit", params=params, headers=HTML).text
        assert "tenant.beta_only" not in page
        assert "beta-marker" not in page
    export = client.get("/audit/export.jsonl", params={"workspace": str(other)}, headers=JSON)
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert {line["chain"] for line in lines} == {chain_for(owner_workspace)}
    assert "tenant.beta_only" not in {line["action"] for line in lines}


# ---- the export -----------------------------------------------------------------------------


def _fields(line: dict[str, Any]) -> EventFields:
    return EventFields(
        chain=line["chain"],
        seq=line["seq"],
        id=uuid.UUID(line["id"]),
        occurred_at=dt.datetime.fromisoformat(line["occurred_at"]),
        actor_kind=line["actor_kind"],
        actor_id=line["actor_id"],
        action=line["action"],
        target_kind=line["target_kind"],
        target_id=line["target_id"],
        data=line["data"],
        prev_hash=bytes.fromhex(line["prev_hash"]),
    )


def test_the_export_re_verifies_offline(client: TestClient, owner_workspace: uuid.UUID) -> None:
    sessions = app_sessions(client)
    for number in range(30):
        _record(sessions, owner_workspace, "test.filler", data={"n": number, "note": "é ü"})
    response = client.get("/audit/export.jsonl", headers=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert re.fullmatch(
        r'attachment; filename="hushdesk-audit-acme-support-\d{8}T\d{6}Z\.jsonl"',
        response.headers["content-disposition"],
    )
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert set(lines[0]) == {
        "chain", "seq", "id", "occurred_at", "actor_kind", "actor_id", "action",
        "target_kind", "target_id", "data", "prev_hash", "hash",
    }  # fmt: skip
    prev_hash = GENESIS_HASH
    for line in lines:
        assert bytes.fromhex(line["prev_hash"]) == prev_hash
        assert event_hash(_fields(line)).hex() == line["hash"]
        prev_hash = bytes.fromhex(line["hash"])
    # ...and an edited line no longer does.
    tampered = {**lines[5], "data": {**lines[5]["data"], "n": 99}}
    assert event_hash(_fields(tampered)).hex() != tampered["hash"]


def test_the_export_is_recorded_with_its_filters_and_count(
    client: TestClient, owner_workspace: uuid.UUID
) -> None:
    sessions = app_sessions(client)
    for _ in range(4):
        _record(sessions, owner_workspace, "test.exported_kind")
    response = client.get("/audit/export.jsonl", params={"action": "test.", "from": "2020-01-01"})
    assert len(response.text.splitlines()) == 4
    with unit_of_work(sessions) as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.exported"))
        head = session.scalar(
            select(AuditEvent.seq)
            .where(AuditEvent.chain == chain_for(owner_workspace))
            .order_by(AuditEvent.seq.desc())
        )
    assert event.workspace_id == owner_workspace
    assert event.actor_kind == ActorKind.USER
    assert event.data == {
        "actor_id": None,
        "action": "test.*",
        "from": "2020-01-01",
        "to": None,
        "count": 4,
        "through_seq": event.seq - 1,
    }
    # The export's own event comes after everything it exported.
    assert head == event.seq


def test_a_filtered_export_holds_only_matching_events_each_with_a_valid_hash(
    client: TestClient, owner_workspace: uuid.UUID
) -> None:
    sessions = app_sessions(client)
    for _ in range(3):
        _record(sessions, owner_workspace, "test.wanted")
        _record(sessions, owner_workspace, "test.unwanted")
    lines = [
        json.loads(line)
        for line in client.get("/audit/export.jsonl", params={"action": "test.wanted"}).text.splitlines()
    ]
    assert [line["action"] for line in lines] == ["test.wanted"] * 3
    assert all(event_hash(_fields(line)).hex() == line["hash"] for line in lines)


def test_export_without_a_fresh_second_factor_asks_for_a_step_up(
    client: TestClient, owner_workspace: uuid.UUID
) -> None:
    sign_in_directly(client, email=OWNER_EMAIL, second_factor=False)
    assert client.get("/audit", headers=HTML).status_code == 200
    browser = client.get("/audit/export.jsonl?action=auth.", headers=HTML, follow_redirects=False)
    assert browser.status_code == 303
    assert browser.headers["location"] == "/account/step-up?next=/audit/export.jsonl%3Faction%3Dauth."
    api = client.get("/audit/export.jsonl", headers=JSON)
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "step_up_required"
    with unit_of_work(app_sessions(client)) as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.exported")) is None


def test_a_cross_site_page_cannot_start_an_export(client: TestClient, owner_workspace: uuid.UUID) -> None:
    response = client.get("/audit/export.jsonl", headers={**JSON, "sec-fetch-site": "cross-site"})
    assert response.status_code == 403


def test_export_with_bad_filters_is_refused_with_422(client: TestClient, owner_workspace: uuid.UUID) -> None:
    response = client.get("/audit/export.jsonl", params={"from": "2026-02-30"}, headers=HTML)
    assert response.status_code == 422
    assert '"From" is not a date' in response.text.replace("&#34;", '"')


# ---- the queries, on both engines --------------------------------------------------------------


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def two_workspaces(sessions: sessionmaker[Session]) -> tuple[uuid.UUID, uuid.UUID]:
    with unit_of_work(sessions) as session:
        first = do_create_workspace(session, name="Acme", region=Region.EU).id
        second = do_create_workspace(session, name="Beta", region=Region.US).id
    return first, second


def _page_actions(
    sessions: sessionmaker[Session], workspace_id: uuid.UUID, filters: AuditFilter, **options: Any
) -> list[str]:
    with unit_of_work(sessions) as session:
        page = list_workspace_events(session, workspace_id=workspace_id, filters=filters, **options)
        return [event.action for event in page.events]


def test_prefix_filters_treat_underscores_literally(
    sessions: sessionmaker[Session], two_workspaces: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, _ = two_workspaces
    for action in ("api_key.denied", "apixkey.denied", "api_keys.made"):
        _record(sessions, acme, action)
    assert _page_actions(sessions, acme, check_audit_filter(action="api_key.")) == ["api_key.denied"]


def test_queries_read_only_the_given_workspace(
    sessions: sessionmaker[Session], two_workspaces: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, beta = two_workspaces
    _record(sessions, acme, "test.acme")
    _record(sessions, beta, "test.beta")
    with unit_of_work(sessions) as session:
        do_record_event(
            session, workspace_id=None, actor_kind=ActorKind.SYSTEM, actor_id=None, action="test.instance"
        )
    assert _page_actions(sessions, acme, AuditFilter()) == ["test.acme"]
    with unit_of_work(sessions) as session:
        snapshot = plan_export(session, workspace_id=beta, filters=AuditFilter())
    lines = [
        json.loads(line) for chunk in iter_export_lines(sessions, snapshot) for line in chunk.splitlines()
    ]
    assert [line["action"] for line in lines] == ["test.beta"]


def test_pages_and_date_bounds_on_each_engine(
    sessions: sessionmaker[Session], two_workspaces: tuple[uuid.UUID, uuid.UUID], at_time: list[dt.datetime]
) -> None:
    acme, _ = two_workspaces
    start = dt.datetime(2021, 6, 1, 22, 0, tzinfo=dt.UTC)
    for hour in range(6):  # 22:00 on the 1st to 03:00 on the 2nd
        at_time.append(start + dt.timedelta(hours=hour))
        _record(sessions, acme, f"test.hour_{hour}")
    first_day = check_audit_filter(from_date=dt.date(2021, 6, 1), to_date=dt.date(2021, 6, 1))
    assert _page_actions(sessions, acme, first_day) == ["test.hour_1", "test.hour_0"]
    with unit_of_work(sessions) as session:
        page = list_workspace_events(session, workspace_id=acme, filters=AuditFilter(), limit=4)
        assert [event.seq for event in page.events] == [6, 5, 4, 3]
        assert page.next_before == 3
        last = list_workspace_events(
            session, workspace_id=acme, filters=AuditFilter(), limit=4, before=page.next_before
        )
        assert [event.seq for event in last.events] == [2, 1]
        assert last.next_before is None
        # The last day there is has no "next midnight": the bound is simply left open.
        assert check_audit_filter(to_date=dt.date.max).occurred_before is None
        everything = list_workspace_events(
            session, workspace_id=acme, filters=check_audit_filter(from_date=dt.date.min, to_date=dt.date.max)
        )
        assert len(everything.events) == 6


def test_export_batches_hold_no_transaction_between_them(
    sessions: sessionmaker[Session], two_workspaces: tuple[uuid.UUID, uuid.UUID]
) -> None:
    acme, _ = two_workspaces
    for _ in range(7):
        _record(sessions, acme, "test.filler")
    with unit_of_work(sessions) as session:
        snapshot = plan_export(session, workspace_id=acme, filters=AuditFilter())
    assert (snapshot.through_seq, snapshot.count) == (7, 7)
    _record(sessions, acme, "test.after_the_snapshot")
    chunks = []
    for chunk in iter_export_lines(sessions, snapshot, batch_size=3):
        assert not transaction_open()
        chunks.append(chunk)
    assert [len(chunk.splitlines()) for chunk in chunks] == [3, 3, 1]
    seqs = [json.loads(line)["seq"] for chunk in chunks for line in chunk.splitlines()]
    assert seqs == list(range(1, 8))


def test_check_audit_filter_refuses_a_reversed_range_and_a_malformed_action() -> None:
    with pytest.raises(InvalidAuditFilterError, match="after"):
        check_audit_filter(from_date=dt.date(2026, 1, 2), to_date=dt.date(2026, 1, 1))
    for action in ("auth..login", "Auth.login", ".auth", "auth.%", "a" * 65):
        with pytest.raises(InvalidAuditFilterError):
            check_audit_filter(action=action)
