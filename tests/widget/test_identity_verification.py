"""Identity verification: the business's server vouches for its logged-in user with a JWT
signed by the agent's identity secret; that customer is a verified contact (identifier sealed)
and finds their open conversation again from a new session. An anonymous visitor never does."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, text

from hushdesk.channels.widget.identity import generate_identity_secret, sign_identity_token
from hushdesk.conversations.models import Contact, WidgetSession
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from tests.widget.conftest import WidgetWorld, count_rows, update_agent

USER = "cust-42"


def _secret_for(world: WidgetWorld) -> str:
    secret = generate_identity_secret()
    update_agent(world, identity_secret=secret)
    return secret


def _user_token(secret: str, user: str = USER, name: str | None = None) -> str:
    return sign_identity_token(secret=secret, user_id=user, now=utcnow(), name=name)


def _raw_contact_columns(world: WidgetWorld) -> list[bytes]:
    engine = world.app.state.engine
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT identifier, display_name FROM contact")).all()
    values: list[bytes] = []
    for row in rows:
        for value in row:
            if value is not None:
                values.append(value.encode() if isinstance(value, str) else bytes(value))
    return values


def test_verified_user_is_a_verified_contact_with_a_sealed_identifier(widget: WidgetWorld) -> None:
    secret = _secret_for(widget)
    visitor = widget.visitor(user=_user_token(secret, name="Ada Lovelace")).start()
    assert visitor.say("Where is my parcel?").status_code == 202
    with unit_of_work(widget.sessions) as session:
        [contact] = session.scalars(select(Contact)).all()
        assert contact.verified is True
        assert contact.identifier == f"user:{USER}"
        assert contact.display_name == "Ada Lovelace"
        row = session.scalars(select(WidgetSession)).one()
        assert row.verified is True
        assert row.contact_id == contact.id
    raw = _raw_contact_columns(widget)
    assert raw, "the scan reads the contact columns"
    for value in raw:
        assert USER.encode() not in value
        assert b"Lovelace" not in value


def test_verified_user_finds_their_open_conversation_from_a_new_session(sqlite_widget: WidgetWorld) -> None:
    secret = _secret_for(sqlite_widget)
    first = sqlite_widget.visitor(user=_user_token(secret)).start()
    assert first.say("Where is my parcel?").status_code == 202
    second = sqlite_widget.visitor(user=_user_token(secret)).start(consent=False)
    assert [m["text"] for m in second.state["messages"]] == ["Where is my parcel?"]
    assert second.state["conversation"]["id"] == first.refresh().json()["conversation"]["id"]
    # One customer, one contact: the second session found the first one's.
    assert count_rows(sqlite_widget, Contact) == 1
    # An anonymous visitor of the same agent sees nothing of it.
    anonymous = sqlite_widget.visitor().start(consent=False)
    assert anonymous.state["conversation"] is None
    assert anonymous.state["messages"] == []


def test_another_verified_user_does_not_see_the_conversation(shared_widget: WidgetWorld) -> None:
    secret = _secret_for(shared_widget)
    first = shared_widget.visitor(user=_user_token(secret, user="cust-100")).start()
    assert first.say("My address is 1 Main St").status_code == 202
    other = shared_widget.visitor(user=_user_token(secret, user="cust-101")).start(consent=False)
    assert other.state["messages"] == []


def test_user_token_with_the_wrong_secret_is_refused(shared_widget: WidgetWorld) -> None:
    _secret_for(shared_widget)
    before = count_rows(shared_widget, WidgetSession), count_rows(shared_widget, Contact)
    response = shared_widget.visitor(user=_user_token(generate_identity_secret())).open()
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "widget_token_invalid"
    assert (count_rows(shared_widget, WidgetSession), count_rows(shared_widget, Contact)) == before


def test_expired_user_token_is_refused(shared_widget: WidgetWorld) -> None:
    secret = _secret_for(shared_widget)
    old = sign_identity_token(
        secret=secret, user_id=USER, now=utcnow() - dt.timedelta(hours=1), lifetime=dt.timedelta(minutes=10)
    )
    assert shared_widget.visitor(user=old).open().status_code == 401


def test_user_token_is_refused_when_the_agent_verifies_no_identities(shared_widget: WidgetWorld) -> None:
    update_agent(shared_widget, identity_secret=None)
    before = count_rows(shared_widget, WidgetSession)
    response = shared_widget.visitor(user=_user_token(generate_identity_secret())).open()
    assert response.status_code == 422, response.text
    assert count_rows(shared_widget, WidgetSession) == before
