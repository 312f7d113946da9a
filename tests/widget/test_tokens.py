"""The visitor's tokens through the real API: a bootstrap token is exchanged once, session
tokens rotate, and a token that was tampered with, forged under another workspace's key,
expired, or of an ended session is refused with 401."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from hushdesk.channels.widget.tokens import (
    TokenKind,
    WidgetClaims,
    decode_base64url,
    encode_base64url,
    sign_widget_token,
)
from hushdesk.conversations.models import Message, WidgetSession
from hushdesk.crypto.models import KeyPurpose
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.web import widget_api
from tests.widget.conftest import KeyedVisitor, Visitor, WidgetWorld, count_rows

EXCHANGE = "/widget/v1/session/exchange"
REFRESH = "/widget/v1/session/refresh"
OTHER_SITE = "https://other.example.org"


def _bootstrap(visitor: Visitor) -> str:
    opened = visitor.open()
    assert opened.status_code == 200, opened.text
    token: str = opened.json()["bootstrap"]
    return token


def _session_row(world: WidgetWorld) -> WidgetSession:
    with unit_of_work(world.sessions) as session:
        row = session.scalars(select(WidgetSession)).one()
        session.expunge(row)
        return row


def _assert_refused(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "widget_token_invalid"


def _clock_moved_by(monkeypatch: pytest.MonkeyPatch, delta: dt.timedelta) -> None:
    """The widget routes' clock, ``delta`` ahead of the real one."""
    real: Callable[[], dt.datetime] = utcnow
    monkeypatch.setattr(widget_api, "utcnow", lambda: real() + delta)


def _payload(token: str) -> dict[str, object]:
    claims: dict[str, object] = json.loads(decode_base64url(token.split(".")[1]))
    return claims


def _with_payload(token: str, claims: dict[str, object]) -> str:
    prefix, _, mac = token.split(".")
    body = encode_base64url(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{prefix}.{body}.{mac}"


def test_bootstrap_is_exchanged_only_once(widget: WidgetWorld) -> None:
    bootstrap = _bootstrap(widget.visitor())
    first = widget.client.post(EXCHANGE, json={"bootstrap": bootstrap})
    assert first.status_code == 200, first.text
    assert first.json()["expires_in"] in (899, 900)
    after_first = _session_row(widget)
    assert after_first.generation == 1
    assert after_first.exchanged_at is not None
    _assert_refused(widget.client.post(EXCHANGE, json={"bootstrap": bootstrap}))
    after_second = _session_row(widget)
    assert (after_second.generation, after_second.exchanged_at) == (1, after_first.exchanged_at)
    # The token of the first exchange still works: the failed replay changed nothing.
    works = widget.client.post(REFRESH, headers={"authorization": f"Bearer {first.json()['token']}"})
    assert works.status_code == 200, works.text


def test_session_token_is_not_a_bootstrap_token(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start(consent=False)
    _assert_refused(shared_widget.client.post(EXCHANGE, json={"bootstrap": visitor.token}))


def test_bootstrap_token_is_not_a_session_token(shared_widget: WidgetWorld) -> None:
    bootstrap = _bootstrap(shared_widget.visitor())
    headers = {"authorization": f"Bearer {bootstrap}"}
    _assert_refused(shared_widget.client.post(REFRESH, headers=headers))
    _assert_refused(
        shared_widget.client.post(
            "/widget/v1/messages", json={"client_id": str(uuid.uuid4()), "text": "hi"}, headers=headers
        )
    )
    # Refused as a session token, it is still good for its one exchange.
    assert shared_widget.client.post(EXCHANGE, json={"bootstrap": bootstrap}).status_code == 200


def test_missing_or_malformed_bearer_is_refused(shared_widget: WidgetWorld) -> None:
    for headers in ({}, {"authorization": "Basic abc"}, {"authorization": "Bearer "}, {"authorization": "x"}):
        _assert_refused(shared_widget.client.post(REFRESH, headers=headers))
    _assert_refused(shared_widget.client.post(REFRESH, headers={"authorization": "Bearer " + "a" * 2000}))


def test_refresh_rotates_the_token(widget: WidgetWorld) -> None:
    visitor = widget.visitor().start()
    old = visitor.token
    refreshed = visitor.refresh()
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["token"] != old
    assert refreshed.json()["consent"]["required"] is False
    assert _session_row(widget).generation == 2
    _assert_refused(widget.client.post(REFRESH, headers={"authorization": f"Bearer {old}"}))
    # The refused old token moved nothing on: the new one still works.
    assert _session_row(widget).generation == 2
    assert visitor.refresh().status_code == 200
    assert _session_row(widget).generation == 3


def test_refresh_never_extends_the_session(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start(consent=False)
    session_id = uuid.UUID(str(_payload(visitor.token)["sid"]))
    with unit_of_work(shared_widget.sessions) as session:
        session.execute(
            update(WidgetSession)
            .where(WidgetSession.id == session_id)
            .values(expires_at=utcnow() + dt.timedelta(minutes=5))
        )
    refreshed = visitor.refresh()
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["expires_in"] <= 300


def test_session_past_its_absolute_end_is_refused(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start(consent=False)
    session_id = uuid.UUID(str(_payload(visitor.token)["sid"]))
    with unit_of_work(shared_widget.sessions) as session:
        session.execute(
            update(WidgetSession)
            .where(WidgetSession.id == session_id)
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    # The token itself has not expired; the session it names has.
    _assert_refused(visitor.refresh())


def test_exchange_answers_what_the_frame_shows_first(shared_widget: WidgetWorld) -> None:
    bootstrap = _bootstrap(shared_widget.visitor())
    body = shared_widget.client.post(EXCHANGE, json={"bootstrap": bootstrap}).json()
    assert set(body) == {"token", "expires_in", "consent", "conversation", "messages", "limits"}
    assert body["token"].startswith("hdw1.")
    assert body["consent"]["required"] is True
    assert body["conversation"] is None
    assert body["messages"] == []
    assert body["limits"] == {"max_message_chars": 2000, "max_attachment_bytes": 5 * 1024 * 1024}
    claims = _payload(body["token"])
    assert (claims["k"], claims["g"], claims["o"]) == ("session", 1, "https://shop.example.com")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BA"), id="mac"),
        pytest.param(lambda t: t.replace("hdw1.", "hdw2.", 1), id="prefix"),
        pytest.param(lambda t: t.rsplit(".", 1)[0], id="no-mac"),
        pytest.param(lambda t: t + ".x", id="extra-part"),
        pytest.param(lambda t: _with_payload(t, {**_payload(t), "g": 99}), id="generation"),
        pytest.param(lambda t: _with_payload(t, {**_payload(t), "exp": 2_000_000_000}), id="expiry"),
        pytest.param(lambda t: _with_payload(t, {**_payload(t), "o": "https://evil.example"}), id="origin"),
    ],
)
def test_tampered_token_is_refused(shared_widget: WidgetWorld, tamper: Callable[[str], str]) -> None:
    visitor = shared_widget.visitor().start(consent=False)
    _assert_refused(
        shared_widget.client.post(REFRESH, headers={"authorization": f"Bearer {tamper(visitor.token)}"})
    )
    assert visitor.refresh().status_code == 200


def test_token_signed_under_another_workspaces_key_is_refused(shared_widget: WidgetWorld) -> None:
    mine = shared_widget.visitor().start()
    assert mine.say("My order number is 4411").status_code == 202
    KeyedVisitor(shared_widget, origin=OTHER_SITE, widget_key=shared_widget.other_widget_key).start()
    claims = _payload(mine.token)
    with unit_of_work(shared_widget.sessions) as session:
        keyring = shared_widget.app.state.keyring
        other_workspace = session.scalars(
            select(WidgetSession.workspace_id).where(WidgetSession.workspace_id != shared_widget.workspace_id)
        ).first()
        other_key = keyring.data_key_for_writing(
            session, workspace_id=other_workspace, purpose=KeyPurpose.WIDGET
        )
        own_key = keyring.data_key_for_writing(
            session, workspace_id=shared_widget.workspace_id, purpose=KeyPurpose.WIDGET
        )
    forged_claims = WidgetClaims(
        kind=TokenKind.SESSION,
        workspace_id=shared_widget.workspace_id,
        agent_id=uuid.UUID(str(claims["ag"])),
        session_id=uuid.UUID(str(claims["sid"])),
        origin=str(claims["o"]),
        generation=int(str(claims["g"])),
        expires_at=dt.datetime.fromtimestamp(int(str(claims["exp"])), tz=dt.UTC),
        key_id=other_key.id,
    )
    forged = sign_widget_token(forged_claims, key=other_key.material)
    _assert_refused(shared_widget.client.post(REFRESH, headers={"authorization": f"Bearer {forged}"}))
    # The control: the same claims under this workspace's own key are a working token.
    genuine_claims = WidgetClaims(**{**_fields(forged_claims), "key_id": own_key.id})
    genuine = sign_widget_token(genuine_claims, key=own_key.material)
    assert (
        shared_widget.client.post(REFRESH, headers={"authorization": f"Bearer {genuine}"}).status_code == 200
    )


def _fields(claims: WidgetClaims) -> dict[str, object]:
    return {name: getattr(claims, name) for name in WidgetClaims.__dataclass_fields__}


def test_one_agents_visitor_never_sees_another_agents_conversation(shared_widget: WidgetWorld) -> None:
    mine = shared_widget.visitor().start()
    assert mine.say("My order number is 4411").status_code == 202
    theirs = KeyedVisitor(shared_widget, origin=OTHER_SITE, widget_key=shared_widget.other_widget_key).start()
    assert theirs.state["conversation"] is None
    assert theirs.state["messages"] == []
    assert theirs.say("Hello from the other shop").status_code == 202
    refreshed = theirs.refresh().json()
    assert [m["text"] for m in refreshed["messages"]] == ["Hello from the other shop"]
    mine_now = mine.refresh().json()
    assert [m["text"] for m in mine_now["messages"]] == ["My order number is 4411"]
    assert refreshed["conversation"]["id"] != mine_now["conversation"]["id"]
    with unit_of_work(shared_widget.sessions) as session:
        workspaces = set(session.scalars(select(Message.workspace_id)))
    assert len(workspaces) == 2


def test_token_of_an_ended_session_is_refused(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    session_id = uuid.UUID(str(_payload(visitor.token)["sid"]))
    with unit_of_work(shared_widget.sessions) as session:
        session.execute(update(WidgetSession).where(WidgetSession.id == session_id).values(ended_at=utcnow()))
    before = count_rows(shared_widget, Message)
    _assert_refused(visitor.say("Anyone?"))
    _assert_refused(visitor.refresh())
    assert count_rows(shared_widget, Message) == before


def test_bootstrap_of_an_ended_session_is_not_exchanged(shared_widget: WidgetWorld) -> None:
    bootstrap = _bootstrap(shared_widget.visitor())
    session_id = uuid.UUID(str(_payload(bootstrap)["sid"]))
    with unit_of_work(shared_widget.sessions) as session:
        session.execute(update(WidgetSession).where(WidgetSession.id == session_id).values(ended_at=utcnow()))
    _assert_refused(shared_widget.client.post(EXCHANGE, json={"bootstrap": bootstrap}))


def test_expired_session_token_is_refused(
    shared_widget: WidgetWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    visitor = shared_widget.visitor().start()
    _clock_moved_by(monkeypatch, dt.timedelta(minutes=15, seconds=1))
    _assert_refused(visitor.say("Too late?"))
    _assert_refused(visitor.refresh())


def test_session_token_works_until_it_expires(
    shared_widget: WidgetWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    visitor = shared_widget.visitor().start()
    _clock_moved_by(monkeypatch, dt.timedelta(minutes=14))
    assert visitor.refresh().status_code == 200


def test_expired_bootstrap_is_not_exchanged(
    shared_widget: WidgetWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = _bootstrap(shared_widget.visitor())
    _clock_moved_by(monkeypatch, dt.timedelta(seconds=61))
    _assert_refused(shared_widget.client.post(EXCHANGE, json={"bootstrap": bootstrap}))
