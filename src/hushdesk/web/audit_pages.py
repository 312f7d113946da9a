"""The audit log in the dashboard: the workspace's chain, filtered and paginated, and its
export as JSON lines.

The workspace is always the signed-in principal's: no parameter names one. Filters arrive as
query text and are parsed here; a value that cannot be parsed re-renders the form with a
message and status 422, never a 500.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.audit.models import ActorKind, AuditEvent
from hushdesk.audit.queries import (
    AuditFilter,
    InvalidAuditFilterError,
    check_audit_filter,
    check_cursor,
    iter_export_lines,
    list_workspace_events,
    plan_export,
)
from hushdesk.audit.service import do_record_event
from hushdesk.identity.models import ApiKey, Membership, User
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import SignedIn
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.web.authz import requires
from hushdesk.web.deps import CurrentUser, DbSession, Templates
from hushdesk.web.origin import check_same_origin

router = APIRouter()

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CURSOR = re.compile(r"^\d{1,19}$")
_SHORT_HASH = 12
# Query text longer than this is refused before any parsing.
_MAX_FIELD = 80

QueryText = Annotated[str, Query()]


@dataclass(frozen=True, slots=True)
class FilterForm:
    """The filter form as typed (re-shown as entered when it is refused)."""

    actor: str = ""
    member: str = ""
    action: str = ""
    from_date: str = ""
    to_date: str = ""

    def query(self) -> dict[str, str]:
        """The non-empty fields as query parameters (for page and export links)."""
        fields = {
            "actor": self.actor,
            "member": self.member,
            "action": self.action,
            "from": self.from_date,
            "to": self.to_date,
        }
        return {name: value for name, value in fields.items() if value}


@dataclass(frozen=True, slots=True)
class EventRow:
    occurred_at: dt.datetime
    actor: str
    actor_id: str | None
    action: str
    target: str
    data: str
    seq: int
    hash: str


def _form(actor: str, member: str, action: str, from_date: str, to_date: str) -> FilterForm:
    return FilterForm(
        actor=actor.strip(),
        member=member.strip(),
        action=action.strip(),
        from_date=from_date.strip(),
        to_date=to_date.strip(),
    )


@router.get("/audit", response_class=HTMLResponse, dependencies=[requires(Permission.AUDIT_READ)])
def audit_log(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    actor: QueryText = "",
    member: QueryText = "",
    action: QueryText = "",
    from_date: Annotated[str, Query(alias="from")] = "",
    to_date: Annotated[str, Query(alias="to")] = "",
    before: QueryText = "",
) -> Response:
    """The workspace's events, newest first, 50 a page (``before`` is the seq cursor)."""
    form = _form(actor, member, action, from_date, to_date)
    members = _members(db, user.workspace.id)
    try:
        filters = _parse_filters(form, members)
        cursor = _parse_cursor(before.strip())
    except InvalidAuditFilterError as exc:
        return _render(request, templates, user, form, members, problem=str(exc))
    page = list_workspace_events(db, workspace_id=user.workspace.id, filters=filters, before=cursor)
    filter_query = form.query()
    return _render(
        request,
        templates,
        user,
        form,
        members,
        rows=_rows(db, user.workspace.id, page.events),
        filtered=bool(filter_query),
        first_page=cursor is None,
        newest_link="/audit" + _query_string(filter_query),
        older_link=(
            "/audit" + _query_string({**filter_query, "before": str(page.next_before)})
            if page.next_before is not None
            else None
        ),
        export_link="/audit/export.jsonl" + _query_string(filter_query),
    )


@router.get("/audit/export.jsonl", dependencies=[requires(Permission.AUDIT_READ, fresh=True)])
def audit_export(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    actor: QueryText = "",
    member: QueryText = "",
    action: QueryText = "",
    from_date: Annotated[str, Query(alias="from")] = "",
    to_date: Annotated[str, Query(alias="to")] = "",
) -> Response:
    """The matching events in chain order as JSON lines (``hushdesk.audit.queries.export_record``),
    so that an auditor can re-verify every hash, and every link of an unfiltered export,
    offline. Needs a second factor presented within the step-up window.

    The request's own transaction is read-only and ends when this handler returns, before the
    body is streamed. So the handler fixes the export's extent here (the chain's head and the
    count, in the request's snapshot), records ``audit.exported`` in a write transaction of its
    own, and the body generator then reads the events in bounded batches, each in its own short
    read-only transaction from ``app.state.read_sessions``: no transaction is open while the
    client reads, memory stays at one batch, and because events are never changed and new ones
    get higher seqs, the batches hold exactly the counted events. The event is recorded before
    the first byte: an export cut short by the client is still on the record."""
    # A cross-site page must not be able to start an export (and its audit event) in a
    # signed-in browser, even though it could never read the result.
    check_same_origin(request)
    form = _form(actor, member, action, from_date, to_date)
    members = _members(db, user.workspace.id)
    try:
        filters = _parse_filters(form, members)
    except InvalidAuditFilterError as exc:
        return _render(request, templates, user, form, members, problem=str(exc))
    snapshot = plan_export(db, workspace_id=user.workspace.id, filters=filters)
    with unit_of_work(request.app.state.sessions) as writer:
        do_record_event(
            writer,
            workspace_id=user.workspace.id,
            actor_kind=ActorKind.USER,
            actor_id=str(user.user.id),
            action="audit.exported",
            target_kind="audit_chain",
            target_id=str(user.workspace.id),
            data={**filters.as_audit_data(), "count": snapshot.count, "through_seq": snapshot.through_seq},
        )
    filename = f"hushdesk-audit-{user.workspace.slug}-{utcnow().strftime('%Y%m%dT%H%M%SZ')}.jsonl"
    return StreamingResponse(
        iter_export_lines(request.app.state.read_sessions, snapshot),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _members(db: Session, workspace_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """This workspace's members (user id, name), by name: the "pick a member" choices."""
    rows = db.execute(
        select(User.id, User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(User.display_name, User.id)
    )
    return [(row.id, row.display_name) for row in rows]


def _parse_filters(form: FilterForm, members: list[tuple[uuid.UUID, str]]) -> AuditFilter:
    """Raises ``InvalidAuditFilterError`` with a message for the person who typed it."""
    if any(len(value) > _MAX_FIELD for value in form.query().values()):
        raise InvalidAuditFilterError(f"Each filter is at most {_MAX_FIELD} characters.")
    actor_id = _parse_uuid(form.actor, "The actor id is not a valid id (a UUID).")
    member_id = _parse_uuid(form.member, "Pick a member from the list.")
    if member_id is not None and member_id not in {user_id for user_id, _ in members}:
        raise InvalidAuditFilterError("Pick a member from the list.")
    if actor_id is not None and member_id is not None and actor_id != member_id:
        raise InvalidAuditFilterError("Pick a member or type an actor id, not both.")
    return check_audit_filter(
        actor_id=actor_id or member_id,
        action=form.action or None,
        from_date=_parse_date(form.from_date, '"From"'),
        to_date=_parse_date(form.to_date, '"To"'),
    )


def _parse_uuid(text: str, problem: str) -> uuid.UUID | None:
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise InvalidAuditFilterError(problem) from exc


def _parse_date(text: str, label: str) -> dt.date | None:
    if not text:
        return None
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidAuditFilterError(f"{label} is not a date: use YYYY-MM-DD.") from exc


def _parse_cursor(text: str) -> int | None:
    if not text:
        return None
    if not _CURSOR.match(text):
        raise InvalidAuditFilterError("That page link is not valid; start again from the newest events.")
    return check_cursor(int(text))


def _rows(db: Session, workspace_id: uuid.UUID, events: list[AuditEvent]) -> list[EventRow]:
    users, keys = _names(db, workspace_id, events)
    return [
        EventRow(
            occurred_at=event.occurred_at,
            actor=_actor_label(event, users, keys),
            actor_id=event.actor_id,
            action=event.action,
            target=_target_label(event, users),
            data=_data_text(event.data),
            seq=event.seq,
            hash=event.hash.hex(),
        )
        for event in events
    ]


def _names(
    db: Session, workspace_id: uuid.UUID, events: list[AuditEvent]
) -> tuple[dict[str, str], dict[str, str]]:
    """Names of the people and keys the events mention, resolved in this workspace only: a
    person who is no longer a member, or a key of another workspace, gets no name."""
    user_ids = _ids(
        [e.actor_id for e in events if e.actor_kind == ActorKind.USER]
        + [e.target_id for e in events if e.target_kind == "user"]
    )
    key_ids = _ids([e.actor_id for e in events if e.actor_kind == ActorKind.API_KEY])
    users: dict[str, str] = {}
    if user_ids:
        rows = db.execute(
            select(User.id, User.display_name)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == workspace_id, User.id.in_(user_ids))
        )
        users = {str(row.id): row.display_name for row in rows}
    keys: dict[str, str] = {}
    if key_ids:
        rows = db.execute(
            select(ApiKey.id, ApiKey.name, ApiKey.prefix).where(
                ApiKey.workspace_id == workspace_id, ApiKey.id.in_(key_ids)
            )
        )
        keys = {str(row.id): f"{row.name} ({row.prefix})" for row in rows}
    return users, keys


def _ids(texts: Iterable[str | None]) -> set[uuid.UUID]:
    found = set()
    for text in texts:
        if not text:
            continue
        try:
            found.add(uuid.UUID(text))
        except ValueError:
            continue  # not a person's or a key's id (an operator's, say): it has no name to show
    return found


def _actor_label(event: AuditEvent, users: Mapping[str, str], keys: Mapping[str, str]) -> str:
    actor_id = event.actor_id
    match event.actor_kind:
        case ActorKind.USER:
            return users.get(actor_id or "", f"user {(actor_id or 'unknown')[:8]}")
        case ActorKind.API_KEY:
            return "API key " + keys.get(actor_id or "", (actor_id or "unknown")[:8])
        case ActorKind.OPERATOR:
            return f"operator {actor_id}" if actor_id else "operator"
        case _:
            return "system"


def _target_label(event: AuditEvent, users: Mapping[str, str]) -> str:
    if event.target_kind is None:
        return ""
    if event.target_kind == "user" and event.target_id is not None and event.target_id in users:
        return f"user {users[event.target_id]}"
    return f"{event.target_kind} {event.target_id or ''}".strip()


def _data_text(data: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={_value_text(value)}" for key, value in sorted(data.items()))


def _value_text(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _query_string(params: Mapping[str, str]) -> str:
    return f"?{urlencode(params)}" if params else ""


def _render(
    request: Request,
    templates: Templates,
    user: SignedIn,
    form: FilterForm,
    members: list[tuple[uuid.UUID, str]],
    *,
    problem: str | None = None,
    **page: object,
) -> Response:
    context = {
        "user": user,
        "form": form,
        "members": [(str(user_id), name) for user_id, name in members],
        "problem": problem,
        "rows": [],
        "short_hash": _SHORT_HASH,
        **page,
    }
    return templates.TemplateResponse(
        request, "audit.html", context, status_code=422 if problem is not None else 200
    )
