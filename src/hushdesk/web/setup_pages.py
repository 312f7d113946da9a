"""First-run setup: the one-time link's page creates the first workspace and its owner."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hushdesk.audit.models import ActorKind
from hushdesk.audit.service import do_record_event
from hushdesk.identity.passwords import MAX_PASSWORD_LENGTH, WeakPasswordError
from hushdesk.identity.sessions import do_start_session
from hushdesk.identity.setup import SetupUnavailableError, access_setup_token, do_complete_setup
from hushdesk.infra.errors import Gone
from hushdesk.web.authz import PUBLIC
from hushdesk.web.deps import DbSession, Templates
from hushdesk.web.origin import check_same_origin
from hushdesk.web.session_cookie import set_session_cookie
from hushdesk.workspaces.models import Region

router = APIRouter()

_SETUP_LINK_GONE = (
    "This setup link is invalid, expired or already used. Run hushdesk setup on the server for a new one."
)


@router.get("/setup/{token}", response_class=HTMLResponse, dependencies=[PUBLIC])
def setup_form(request: Request, token: str, db: DbSession, templates: Templates) -> Response:
    try:
        access_setup_token(db, token)
    except SetupUnavailableError as exc:
        raise Gone(_SETUP_LINK_GONE) from exc
    return templates.TemplateResponse(request, "setup.html", _form_context())


@router.post("/setup/{token}", response_class=HTMLResponse, dependencies=[PUBLIC])
def setup_submit(
    request: Request,
    token: str,
    db: DbSession,
    templates: Templates,
    workspace_name: Annotated[str, Form(min_length=1, max_length=120)],
    region: Annotated[Region, Form()],
    owner_name: Annotated[str, Form(min_length=1, max_length=120)],
    owner_email: Annotated[
        str, Form(min_length=3, max_length=254, pattern=r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$")
    ],
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
    password_confirm: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
) -> Response:
    check_same_origin(request)
    entered = {
        "workspace_name": workspace_name,
        "region": region.value,
        "owner_name": owner_name,
        "owner_email": owner_email,
    }
    if password != password_confirm:
        return _form_again(request, templates, entered, "The two passwords differ.")
    try:
        result = do_complete_setup(
            db,
            token=token,
            workspace_name=workspace_name.strip(),
            region=region,
            owner_name=owner_name.strip(),
            owner_email=owner_email,
            password=password,
        )
    except WeakPasswordError as exc:
        return _form_again(request, templates, entered, str(exc))
    except SetupUnavailableError as exc:
        raise Gone(_SETUP_LINK_GONE) from exc
    do_record_event(
        db,
        workspace_id=result.workspace.id,
        actor_kind=ActorKind.USER,
        actor_id=str(result.owner.id),
        action="workspace.create",
        target_kind="workspace",
        target_id=str(result.workspace.id),
        data={"region": result.workspace.region, "via": "setup_link"},
    )
    secret = do_start_session(db, user_id=result.owner.id, workspace_id=result.workspace.id)
    response = RedirectResponse("/dashboard", status_code=303)
    set_session_cookie(request, response, secret)
    return response


def _form_context(entered: dict[str, str] | None = None, problem: str | None = None) -> dict[str, object]:
    return {
        "regions": [(region.value, _REGION_NAMES[region]) for region in Region],
        "entered": entered or {"region": Region.EU.value},
        "problem": problem,
    }


def _form_again(request: Request, templates: Templates, entered: dict[str, str], problem: str) -> Response:
    return templates.TemplateResponse(request, "setup.html", _form_context(entered, problem), status_code=422)


_REGION_NAMES = {Region.EU: "European Union", Region.US: "United States", Region.AF: "Africa"}
