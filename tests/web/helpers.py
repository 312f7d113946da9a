"""Helpers for driving the first-run flow through the app."""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import URL

from hushdesk.audit.models import ActorKind
from hushdesk.audit.service import do_record_event
from hushdesk.identity.mfa import do_begin_totp_enrolment, do_confirm_totp
from hushdesk.identity.models import Membership, User, WebSession
from hushdesk.identity.passwords import hash_password
from hushdesk.identity.sessions import do_start_session
from hushdesk.identity.setup import issue_setup_link_token
from hushdesk.identity.totp import hotp_code, totp_step
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work

OWNER_PASSWORD = "correct horse battery staple"
OWNER_EMAIL = "ada@example.com"
MEMBER_PASSWORD = "plum orchard wintry lantern"


def issue_token(engine: Engine, ttl: dt.timedelta = dt.timedelta(minutes=60)) -> str:
    with unit_of_work(make_sessionmaker(engine)) as session:
        return issue_setup_link_token(session, ttl=ttl)


def setup_form(**overrides: str) -> dict[str, str]:
    form = {
        "workspace_name": "Acme Support",
        "region": "eu",
        "owner_name": "Ada Owner",
        "owner_email": "Ada@Example.com ",
        "password": OWNER_PASSWORD,
        "password_confirm": OWNER_PASSWORD,
    }
    form.update(overrides)
    return form


def complete_setup(client: TestClient, engine: Engine) -> None:
    token = issue_token(engine)
    response = client.post(f"/setup/{token}", data=setup_form(), follow_redirects=False)
    assert response.status_code == 303
    assert URL(response.headers["location"]).path == "/dashboard"


def app_sessions(client: TestClient) -> sessionmaker[Session]:
    """The app's own sessionmaker: it seals and opens encrypted columns with the app's keyring."""
    sessions: sessionmaker[Session] = client.app.state.sessions  # type: ignore[attr-defined]
    return sessions


def enrol_totp_directly(client: TestClient, *, email: str) -> bytes:
    """Give the account a confirmed TOTP factor through the service (not the pages) and mark
    its live sessions as having presented it just now. Returns the TOTP secret."""
    with unit_of_work(app_sessions(client)) as session:
        user = session.scalars(select(User).where(User.email == email.strip().lower())).one()
        workspace_id = session.scalars(
            select(Membership.workspace_id).where(Membership.user_id == user.id)
        ).first()
        assert workspace_id is not None
        enrolment = do_begin_totp_enrolment(session, user=user, workspace_id=workspace_id)
        # One step back, so that the code of the current step is still new to the factor.
        earlier = utcnow() - dt.timedelta(seconds=30)
        do_confirm_totp(
            session,
            user_id=user.id,
            factor_id=enrolment.factor_id,
            code=hotp_code(enrolment.secret, counter=totp_step(int(earlier.timestamp()))),
            record=functools.partial(do_record_event, session, actor_kind=ActorKind.USER),
            now=earlier,
        )
        session.execute(
            update(WebSession)
            .where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
            .values(second_factor_at=utcnow(), awaiting_second_factor=False)
        )
        return enrolment.secret


def current_totp(secret: bytes, *, offset_steps: int = 0) -> str:
    return hotp_code(secret, counter=totp_step(int(utcnow().timestamp())) + offset_steps)


def signed_in_owner(client: TestClient, engine: Engine) -> bytes:
    """First-run setup, then a TOTP factor for the owner, whose session is complete and has
    presented its second factor just now. Returns the owner's TOTP secret."""
    complete_setup(client, engine)
    return enrol_totp_directly(client, email=OWNER_EMAIL)


def add_member(
    client: TestClient,
    *,
    workspace_id: uuid.UUID,
    email: str,
    role: str,
    name: str = "A Member",
    password: str = MEMBER_PASSWORD,
) -> uuid.UUID:
    """Create an account with a membership of ``role`` in ``workspace_id``; returns the user id."""
    with unit_of_work(app_sessions(client)) as session:
        user = User(email=email.strip().lower(), display_name=name, password_hash=hash_password(password))
        session.add(user)
        session.flush()
        session.add(Membership(workspace_id=workspace_id, user_id=user.id, role=role))
        session.flush()
        return user.id


def sign_in_directly(client: TestClient, *, email: str, second_factor: bool = True) -> None:
    """Start a session for the account (its first membership) without the sign-in pages and
    put its cookie in ``client``, replacing any other."""
    with unit_of_work(app_sessions(client)) as session:
        user = session.scalars(select(User).where(User.email == email.strip().lower())).one()
        workspace_id = session.scalars(
            select(Membership.workspace_id)
            .where(Membership.user_id == user.id)
            .order_by(Membership.created_at)
        ).first()
        assert workspace_id is not None
        secret = do_start_session(
            session, user_id=user.id, workspace_id=workspace_id, second_factor_presented=second_factor
        )
    client.cookies.clear()
    client.cookies.set("hushdesk_session", secret)


def workspace_id_of(client: TestClient, *, email: str) -> uuid.UUID:
    with unit_of_work(app_sessions(client)) as session:
        found = session.scalars(
            select(Membership.workspace_id)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email.strip().lower())
        ).first()
        assert found is not None
        return found


def csrf_from(page_html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page_html)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)
