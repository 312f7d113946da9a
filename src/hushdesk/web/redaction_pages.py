"""The redaction policy page: how redacted text looks, which labels are redacted, the
workspace's own patterns, and a preview.

Saving is a sensitive change (a second factor within the step-up window, as for the security
policy) and writes ``privacy.redaction_policy.update`` in the request's transaction. A bad form
re-renders with the problem and status 422, having changed nothing.

The preview redacts a sample under the policy as it stands in the form (saved or not). The
sample is neither stored nor logged nor audited: it lives in this request only (the access log
records the route, never a body). It finds no person names, since the name lexicon is loaded
by the live engine and not by the web process, and pseudonyms in it are made under a one-off
key: under the workspace's real key the preview would let anyone who may open this page check
a guessed value against a pseudonym in a stored transcript.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from hushdesk.identity.models import User
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import SignedIn
from hushdesk.infra.errors import ValidationFailed
from hushdesk.privacy.pii import ALL_LABELS, Label
from hushdesk.privacy.pii.redaction import MIN_PSEUDONYM_KEY_BYTES
from hushdesk.privacy.redaction_policy.service import (
    MAX_PATTERNS,
    PatternSpec,
    PolicyView,
    check_policy_input,
    do_update_policy,
    get_policy,
    redactor_for,
)
from hushdesk.web.audit_trail import recorder
from hushdesk.web.authz import requires
from hushdesk.web.deps import CurrentUser, DbSession, Templates
from hushdesk.web.origin import check_csrf

router = APIRouter()

PAGE_PATH = "/settings/redaction"
PREVIEW_PATH = "/settings/redaction/preview"
SAMPLE_LIMIT = 5000
# A bound on what the form accepts at all; the service applies the real rules with a message.
_ROWS_INPUT_LIMIT = 64

LABEL_DESCRIPTIONS: dict[str, str] = {
    Label.PERSON: "People's names",
    Label.EMAIL: "Email addresses",
    Label.PHONE: "Phone numbers",
    Label.CREDIT_CARD: "Card numbers (checksum validated)",
    Label.IBAN: "IBANs (checksum validated)",
    Label.US_SSN: "US social security numbers",
    Label.UK_NINO: "UK national insurance numbers",
    Label.ZA_ID: "South African ID numbers (checksum validated)",
    Label.PASSPORT: "Passport numbers",
    Label.BANK_ACCOUNT: "Bank account numbers",
    Label.IP_ADDRESS: "IP addresses",
    Label.STREET_ADDRESS: "Street addresses",
    Label.DATE_OF_BIRTH: "Dates of birth",
}

CsrfField = Annotated[str, Form(max_length=128)]
ModeField = Annotated[str, Form(max_length=16)]
ListField = Annotated[list[str], Form(max_length=_ROWS_INPUT_LIMIT, default_factory=list)]
SampleField = Annotated[str, Form(max_length=SAMPLE_LIMIT)]


@dataclass(frozen=True, slots=True)
class PatternRow:
    name: str
    expression: str
    remove: bool = False


@dataclass(frozen=True, slots=True)
class PolicyForm:
    """What the form shows: the saved policy, or what was submitted when it is re-rendered."""

    mode: str
    labels: frozenset[str]
    rows: tuple[PatternRow, ...]

    @classmethod
    def of(cls, policy: PolicyView) -> PolicyForm:
        rows = tuple(PatternRow(p.name, p.expression) for p in policy.custom_patterns)
        return cls(policy.mode.value, policy.enabled_labels, rows)

    def kept_patterns(self) -> list[PatternSpec]:
        return [PatternSpec(row.name, row.expression) for row in self.rows if not row.remove]


@dataclass(frozen=True, slots=True)
class LabelChoice:
    value: str
    description: str
    checked: bool


@dataclass(frozen=True, slots=True)
class Preview:
    sample: str
    redacted: str | None


@router.get(PAGE_PATH, response_class=HTMLResponse, dependencies=[requires(Permission.PRIVACY_MANAGE)])
def redaction_page(request: Request, db: DbSession, user: CurrentUser, templates: Templates) -> Response:
    return _render(request, db, templates, user, PolicyForm.of(_saved(db, user)))


@router.post(
    PAGE_PATH,
    response_class=HTMLResponse,
    dependencies=[requires(Permission.PRIVACY_MANAGE, fresh=True)],
)
def redaction_submit(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    csrf_token: CsrfField,
    mode: ModeField,
    labels: ListField,
    pattern_name: ListField,
    pattern_expression: ListField,
    pattern_remove: ListField,
) -> Response:
    """Save the policy. Bad input re-renders the form (422), saving nothing."""
    check_csrf(request, csrf_token)
    try:
        form = _entered(mode, labels, pattern_name, pattern_expression, pattern_remove)
        policy = _checked(form)
    except _FormProblem as problem:
        return _render(request, db, templates, user, problem.form, problem=problem.message, status_code=422)
    do_update_policy(
        db, workspace_id=user.workspace.id, actor_id=user.user.id, policy=policy, record=recorder(db)
    )
    return RedirectResponse(f"{PAGE_PATH}?saved=1", status_code=303)


@router.post(PREVIEW_PATH, response_class=HTMLResponse, dependencies=[requires(Permission.PRIVACY_MANAGE)])
def redaction_preview(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    csrf_token: CsrfField,
    sample_text: SampleField,
    labels: ListField,
    pattern_name: ListField,
    pattern_expression: ListField,
    pattern_remove: ListField,
    mode: Annotated[str | None, Form(max_length=16)] = None,
) -> Response:
    """Redact ``sample_text`` under the policy in the form, or the saved one when the form
    sends none. Stores, logs and audits nothing."""
    check_csrf(request, csrf_token)
    try:
        if mode is None:
            form = PolicyForm.of(_saved(db, user))
        else:
            form = _entered(mode, labels, pattern_name, pattern_expression, pattern_remove)
        policy = _checked(form)
    except _FormProblem as problem:
        preview = Preview(sample_text, None)
        return _render(
            request,
            db,
            templates,
            user,
            problem.form,
            problem=problem.message,
            preview=preview,
            status_code=422,
        )
    one_off_key = secrets.token_bytes(MIN_PSEUDONYM_KEY_BYTES)
    redact = redactor_for(policy, detector_names=None, pseudonym_key=one_off_key)
    return _render(request, db, templates, user, form, preview=Preview(sample_text, redact(sample_text)))


class _FormProblem(Exception):
    def __init__(self, form: PolicyForm, message: str) -> None:
        super().__init__(message)
        self.form = form
        self.message = message


def _entered(
    mode: str, labels: Sequence[str], names: Sequence[str], expressions: Sequence[str], removes: Sequence[str]
) -> PolicyForm:
    """The submitted form, its blank rows dropped. Raises ``_FormProblem`` when the pattern
    table did not arrive whole (as many names as expressions)."""
    removed = set(removes)
    rows = tuple(
        PatternRow(name, expression, remove=str(index) in removed)
        for index, (name, expression) in enumerate(zip(names, expressions, strict=False))
        if name.strip() or expression.strip()
    )
    form = PolicyForm(mode, frozenset(labels), rows)
    if len(names) != len(expressions):
        raise _FormProblem(form, "The table of patterns was not sent whole; reload the page and try again.")
    return form


def _checked(form: PolicyForm) -> PolicyView:
    try:
        return check_policy_input(mode=form.mode, labels=form.labels, custom_patterns=form.kept_patterns())
    except ValidationFailed as exc:
        raise _FormProblem(form, exc.public_message) from exc


def _saved(db: Session, user: SignedIn) -> PolicyView:
    return get_policy(db, workspace_id=user.workspace.id)


def _render(
    request: Request,
    db: Session,
    templates: Templates,
    user: SignedIn,
    form: PolicyForm,
    *,
    problem: str | None = None,
    preview: Preview | None = None,
    status_code: int = 200,
) -> Response:
    saved = _saved(db, user)
    changed_by = db.get(User, saved.updated_by_id) if saved.updated_by_id is not None else None
    context = {
        "user": user,
        "form": form,
        "label_choices": [
            LabelChoice(label, LABEL_DESCRIPTIONS.get(label, label), label in form.labels)
            for label in sorted(ALL_LABELS, key=_label_order)
        ],
        "blank_row": len(form.rows) < MAX_PATTERNS,
        "max_patterns": MAX_PATTERNS,
        "sample_limit": SAMPLE_LIMIT,
        "problem": problem,
        "preview": preview,
        "saved": request.query_params.get("saved") == "1" and problem is None and preview is None,
        "updated_at": saved.updated_at,
        "updated_by": changed_by.display_name if changed_by is not None else None,
    }
    return templates.TemplateResponse(request, "redaction.html", context, status_code=status_code)


def _label_order(label: str) -> tuple[int, str]:
    """The engine's own order (as declared), any label this page does not know after it."""
    declared = [known.value for known in Label]
    return (declared.index(label), label) if label in declared else (len(declared), label)
