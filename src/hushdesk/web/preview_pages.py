"""The preview chat: an admin or an agent's manager talks to the agent as a customer would, and
sees for each reply what it did, which passages it cites and which guardrails changed it.

It is ``agent:write``: a reply may cost money at the model provider and shows the agent's
knowledge. The conversation lives in the page only. Its earlier turns come back with each
message in hidden fields (at most ``MAX_TURNS``, each at most ``MAX_TURN_CHARS`` characters;
the page carries only the last ones, and cuts a longer reply to that length), and nothing of
it is stored, logged or audited: the access log records the route, never a body. Responses
are ``Cache-Control: no-store``.

Answering needs the agent's API key and index from the database and then a call to the
provider. The request's transaction (opened by the permission check, holding SQLite's write
lock for a POST) is committed before that call: the outbound client refuses to call out
inside a transaction, which would hold a lock and a connection for as long as the provider
takes to answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from hushdesk.agents.assistant.reply import HandoffReason, Outcome, Reply, Turn
from hushdesk.agents.models import Agent
from hushdesk.agents.provider_setup import provider_settings_of
from hushdesk.agents.providers.base import ProviderKind, Role
from hushdesk.agents.runtime import AssistantServices, ProviderNotReady, ready_agent, reply
from hushdesk.agents.service import access_agent_by_id
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import SignedIn
from hushdesk.infra.errors import ValidationFailed
from hushdesk.web.authz import requires
from hushdesk.web.deps import CurrentUser, DbSession, Templates, end_request_transaction
from hushdesk.web.origin import check_csrf
from hushdesk.web.provider_pages import KIND_LABELS

router = APIRouter()

MAX_TURNS = 20
MAX_TURN_CHARS = 2000
MAX_MESSAGE_CHARS = 2000
# What a carried reply's citations and guardrails may take: they are shown again, never sent.
MAX_NOTE_CHARS = 4000

OUTCOME_WORDS = {
    Outcome.ANSWERED: "Answered",
    Outcome.NOT_FOUND: "Not found",
    Outcome.HANDED_OFF: "Handed off to a person",
}
HANDOFF_WORDS = {
    HandoffReason.REQUESTED: "the customer asked for a person",
    HandoffReason.LOW_CONFIDENCE: "no passage matched the question well enough",
    HandoffReason.REPEATED_FAILURE: "too many unanswered questions in a row",
    HandoffReason.PROVIDER_FAILED: "the model provider could not answer",
}
GUARDRAIL_WORDS = {
    "image_removed": "an image was removed",
    "link_removed": "a link to an outside site was removed",
    "system_prompt_leak": "it repeated its instructions, so it was refused",
    "invented_citation": "a citation of no given passage was dropped",
    "unresolved_placeholder": "a placeholder for personal data that belongs to nobody here was removed",
    "ungrounded": "no given passage supports it, so the 'not found' reply was sent",
}

CsrfField = Annotated[str, Form(max_length=128)]
# Bounds on what the form accepts at all, above the page's own limits, so that the page
# answers with its message.
_TurnsField = Annotated[list[str], Form(max_length=4 * MAX_TURNS, default_factory=list)]
_MessageField = Annotated[str, Form(max_length=4 * MAX_MESSAGE_CHARS)]


@dataclass(frozen=True, slots=True)
class ShownTurn:
    """One turn of the conversation on the page. ``citations`` ("source: heading") and
    ``guardrails`` (their names) are for the admin's eyes only: they go back to the page,
    never to the model."""

    role: Role
    text: str
    outcome: Outcome | None = None
    handoff: HandoffReason | None = None
    citations: tuple[str, ...] = ()
    guardrails: tuple[str, ...] = ()

    @property
    def turn(self) -> Turn:
        return Turn(role=self.role, text=self.text, outcome=self.outcome)

    @property
    def outcome_words(self) -> str:
        if self.outcome is None:
            return ""
        words = OUTCOME_WORDS[self.outcome]
        return f"{words}: {HANDOFF_WORDS[self.handoff]}" if self.handoff is not None else words

    @property
    def guardrail_words(self) -> tuple[str, ...]:
        return tuple(GUARDRAIL_WORDS.get(name, name) for name in self.guardrails)

    @property
    def carried_text(self) -> str:
        return self.text[:MAX_TURN_CHARS]

    @property
    def carried_citations(self) -> str:
        return "\n".join(self.citations)[:MAX_NOTE_CHARS]

    @property
    def carried_guardrails(self) -> str:
        return " ".join(self.guardrails)[:MAX_NOTE_CHARS]


@dataclass(frozen=True, slots=True)
class PreviewedAgent:
    """What the page shows of the agent, read before the request's transaction ends."""

    id: uuid.UUID
    name: str
    provider: str
    offline: bool

    @classmethod
    def of(cls, agent: Agent) -> PreviewedAgent:
        settings = provider_settings_of(agent)
        offline = settings.kind is ProviderKind.EXTRACTIVE
        label = KIND_LABELS[settings.kind] if offline else f"{KIND_LABELS[settings.kind]}, {settings.model}"
        return cls(id=agent.id, name=agent.name, provider=label, offline=offline)


@router.get(
    "/agents/{agent_id}/preview",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_WRITE)],
)
def preview_page(
    request: Request, agent_id: uuid.UUID, db: DbSession, user: CurrentUser, templates: Templates
) -> Response:
    """An empty conversation (also where "Start over" leads)."""
    agent = PreviewedAgent.of(access_agent_by_id(db, user.principal, agent_id))
    return _render(request, templates, user, agent, [])


@router.post(
    "/agents/{agent_id}/preview",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_WRITE)],
)
def preview_reply(
    request: Request,
    agent_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    turn_role: _TurnsField,
    turn_text: _TurnsField,
    turn_outcome: _TurnsField,
    turn_handoff: _TurnsField,
    turn_cited: _TurnsField,
    turn_guardrails: _TurnsField,
    message: _MessageField = "",
    csrf_token: CsrfField = "",
) -> Response:
    """The agent's reply to ``message`` after the turns carried in the form. Too many or too
    long turns, or an empty or too long message: 422, the model not called. A provider that
    may not be used (facts not acknowledged, region): 409 with a link to its page."""
    check_csrf(request, csrf_token)
    found = access_agent_by_id(db, user.principal, agent_id)
    agent = PreviewedAgent.of(found)
    try:
        history = _history(turn_role, turn_text, turn_outcome, turn_handoff, turn_cited, turn_guardrails)
    except ValidationFailed as exc:
        return _render(
            request, templates, user, agent, [], message=message, problem=exc.public_message, status=422
        )
    try:
        text = _message(message)
    except ValidationFailed as exc:
        return _render(
            request, templates, user, agent, history, message=message, problem=exc.public_message, status=422
        )
    services: AssistantServices = request.app.state.assistant
    try:
        ready = ready_agent(db, found, services=services)
    except ProviderNotReady as exc:
        return _render(
            request,
            templates,
            user,
            agent,
            history,
            message=message,
            not_ready=exc.public_message,
            status=409,
        )
    end_request_transaction(db)
    answer = reply(ready, history=[shown.turn for shown in history], message=text, services=services)
    return _render(request, templates, user, agent, [*history, ShownTurn(Role.USER, text), _shown(answer)])


def _history(
    roles: Sequence[str],
    texts: Sequence[str],
    outcomes: Sequence[str],
    handoffs: Sequence[str],
    cited: Sequence[str],
    guardrails: Sequence[str],
) -> list[ShownTurn]:
    """The turns carried in the form, oldest first. Raises ``ValidationFailed`` when they did
    not arrive whole, are more than ``MAX_TURNS``, or one is longer than ``MAX_TURN_CHARS``."""
    columns = (roles, texts, outcomes, handoffs, cited, guardrails)
    if len({len(column) for column in columns}) != 1:
        raise ValidationFailed("The conversation was not sent whole; start over.")
    if len(roles) > MAX_TURNS:
        raise ValidationFailed(f"The preview keeps at most {MAX_TURNS} messages; start over.")
    return [_turn(*row) for row in zip(*columns, strict=True)]


def _turn(role: str, text: str, outcome: str, handoff: str, cited: str, guardrails: str) -> ShownTurn:
    clean = text.replace("\r\n", "\n")
    if len(clean) > MAX_TURN_CHARS:
        raise ValidationFailed(f"A message of the conversation is longer than {MAX_TURN_CHARS} characters.")
    if len(cited) > MAX_NOTE_CHARS or len(guardrails) > MAX_NOTE_CHARS:
        raise ValidationFailed("The conversation was not sent whole; start over.")
    try:
        parsed_role = Role(role)
        parsed_outcome = Outcome(outcome) if outcome else None
        parsed_handoff = HandoffReason(handoff) if handoff else None
    except ValueError:
        raise ValidationFailed("The conversation was not sent whole; start over.") from None
    if parsed_role is Role.USER and (parsed_outcome or parsed_handoff):
        raise ValidationFailed("The conversation was not sent whole; start over.")
    return ShownTurn(
        role=parsed_role,
        text=clean,
        outcome=parsed_outcome,
        handoff=parsed_handoff,
        citations=tuple(line for line in cited.replace("\r\n", "\n").split("\n") if line),
        guardrails=tuple(guardrails.split()),
    )


def _message(message: str) -> str:
    clean = message.replace("\r\n", "\n").strip()
    if not clean:
        raise ValidationFailed("Type a message for the agent.")
    if len(clean) > MAX_MESSAGE_CHARS:
        raise ValidationFailed(f"A message is at most {MAX_MESSAGE_CHARS} characters.")
    return clean


def _shown(answer: Reply) -> ShownTurn:
    return ShownTurn(
        role=Role.ASSISTANT,
        text=answer.text,
        outcome=answer.outcome,
        handoff=answer.handoff,
        citations=tuple(
            f"{passage.source}: {passage.heading}" if passage.heading else passage.source
            for passage in answer.citations
        ),
        guardrails=answer.guardrails,
    )


def _render(
    request: Request,
    templates: Templates,
    user: SignedIn,
    agent: PreviewedAgent,
    turns: Sequence[ShownTurn],
    *,
    message: str = "",
    problem: str | None = None,
    not_ready: str | None = None,
    status: int = 200,
) -> Response:
    context = {
        "user": user,
        "agent": agent,
        "turns": list(turns)[-MAX_TURNS:],
        "message": message,
        "problem": problem,
        "not_ready": not_ready,
        "max_turns": MAX_TURNS,
        "max_message_chars": MAX_MESSAGE_CHARS,
    }
    response = templates.TemplateResponse(request, "preview.html", context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response
