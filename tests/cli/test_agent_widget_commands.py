"""agent update --allowed-domain, agent embed-snippet, agent identity-secret: the widget set up
from the command line, checked, versioned and audited as the dashboard does it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from hushdesk.agents.models import Agent
from hushdesk.audit.models import AuditEvent
from hushdesk.channels.widget.identity import (
    InvalidIdentityTokenError,
    sign_identity_token,
    verify_identity_token,
)
from hushdesk.channels.widget.snippet import embed_snippet
from hushdesk.cli import app
from hushdesk.cli.installation import open_installation
from hushdesk.infra.db.engine import create_db_engine
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.settings import Settings
from tests.conftest import make_settings

runner = CliRunner()
WORKSPACE = "acme-outdoor"
AGENT = "front-desk"


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    root = tmp_path
    monkeypatch.chdir(root)
    for name in ("HUSHDESK_ENV", "HUSHDESK_DATABASE_URL", "HUSHDESK_MASTER_KEY", "HUSHDESK_KEYSTORE_URL"):
        monkeypatch.delenv(name, raising=False)
    # The snippet's address comes from the settings; a trailing slash there is not doubled.
    monkeypatch.setenv("HUSHDESK_PUBLIC_URL", "https://support.example.com/")
    settings = make_settings(root, public_url="https://support.example.com/")
    assert _run(settings, "workspace", "create", "Acme Outdoor").out.strip() == WORKSPACE
    assert _run(settings, "agent", "create", "--workspace", WORKSPACE, "Front desk").out.strip() == AGENT
    return settings


def _run(settings: Settings, *args: str) -> Ran:
    options = ["--data-dir", str(settings.data_dir), "--keys-dir", str(settings.keys_dir)]
    result = runner.invoke(app, [*args, *options])
    return Ran(result.exit_code, result.stdout, result.stderr)


def _agent_cmd(settings: Settings, command: str, *args: str) -> Ran:
    return _run(settings, "agent", command, "--workspace", WORKSPACE, "--agent", AGENT, *args)


@pytest.fixture
def database(cli: Settings) -> Iterator[Engine]:
    """A plain engine on the CLI's database: no keyring, so sealed columns read as stored."""
    engine = create_db_engine(cli.resolved_database_url)
    yield engine
    engine.dispose()


def _agent_row(engine: Engine) -> tuple[list[str], int, str]:
    with engine.connect() as connection:
        row = connection.execute(select(Agent.allowed_domains, Agent.config_version, Agent.widget_key)).one()
    return list(row[0]), int(row[1]), str(row[2])


def _actions(engine: Engine) -> list[tuple[str, str, dict[str, object]]]:
    with engine.connect() as connection:
        rows = connection.execute(select(AuditEvent.action, AuditEvent.actor_kind, AuditEvent.data)).all()
    return [(row[0], row[1], row[2]) for row in rows]


def test_update_sets_the_allowed_domains_as_a_new_audited_version(cli: Settings, database: Engine) -> None:
    ran = _agent_cmd(
        cli, "update", "--allowed-domain", "Shop.Example.com", "--allowed-domain", "*.acme.example"
    )
    assert ran.code == 0, ran.err
    assert ran.out.splitlines() == ["shop.example.com", "*.acme.example"]
    assert "saved as version 2" in ran.err
    domains, version, _ = _agent_row(database)
    assert (domains, version) == (["shop.example.com", "*.acme.example"], 2)
    updated = [event for event in _actions(database) if event[0] == "agent.config.updated"]
    assert updated == [("agent.config.updated", "operator", {"version": 2, "fields": "allowed_domains"})]


def test_update_replaces_the_list_and_clears_it(cli: Settings, database: Engine) -> None:
    assert _agent_cmd(cli, "update", "--allowed-domain", "shop.example.com").code == 0
    assert _agent_cmd(cli, "update", "--allowed-domain", "help.example.com").code == 0
    assert _agent_row(database)[:2] == (["help.example.com"], 3)
    cleared = _agent_cmd(cli, "update", "--clear-allowed-domains")
    assert cleared.code == 0
    assert "will not load on any site" in cleared.err
    assert _agent_row(database)[:2] == ([], 4)


def test_the_same_list_again_makes_no_version(cli: Settings, database: Engine) -> None:
    assert _agent_cmd(cli, "update", "--allowed-domain", "shop.example.com").code == 0
    again = _agent_cmd(cli, "update", "--allowed-domain", "shop.example.com")
    assert again.code == 0
    assert "nothing changed" in again.err
    assert _agent_row(database)[1] == 2


@pytest.mark.parametrize(
    "bad", ["https://shop.example.com", "shop.example.com/path", "localhost", "*.com", "sh op.example.com"]
)
def test_a_bad_domain_exits_2_and_changes_nothing(cli: Settings, database: Engine, bad: str) -> None:
    assert _agent_cmd(cli, "update", "--allowed-domain", "shop.example.com").code == 0
    before = _actions(database)
    ran = _agent_cmd(cli, "update", "--allowed-domain", "help.example.com", "--allowed-domain", bad)
    assert ran.code == 2
    assert "not a domain name" in ran.err
    assert ran.out == ""
    assert _agent_row(database)[:2] == (["shop.example.com"], 2)
    assert _actions(database) == before


def test_update_needs_exactly_one_of_its_options(cli: Settings, database: Engine) -> None:
    assert _agent_cmd(cli, "update").code == 2
    both = _agent_cmd(cli, "update", "--allowed-domain", "shop.example.com", "--clear-allowed-domains")
    assert both.code == 2
    assert _agent_row(database)[:2] == ([], 1)


def test_an_unknown_agent_is_refused(cli: Settings) -> None:
    ran = _run(cli, "agent", "embed-snippet", "--workspace", WORKSPACE, "--agent", "nobody")
    assert ran.code == 2
    assert "no agent with the slug 'nobody'" in ran.err


def test_embed_snippet_prints_the_agents_key_under_the_public_url(cli: Settings, database: Engine) -> None:
    ran = _agent_cmd(cli, "embed-snippet")
    assert ran.code == 0
    widget_key = _agent_row(database)[2]
    assert ran.out == embed_snippet(base_url="https://support.example.com", widget_key=widget_key) + "\n"
    assert f'data-hushdesk-agent="{widget_key}"' in ran.out
    assert "will not load on any site" in ran.err
    assert _agent_cmd(cli, "update", "--allowed-domain", "shop.example.com").code == 0
    assert "will not load on any site" not in _agent_cmd(cli, "embed-snippet").err


def test_identity_secret_rotate_prints_a_new_secret_once_stored_sealed(
    cli: Settings, database: Engine
) -> None:
    status = _agent_cmd(cli, "identity-secret")
    assert status.out.strip().startswith("identity verification: off")
    first = _agent_cmd(cli, "identity-secret", "--rotate")
    assert first.code == 0
    secret = first.out.strip()
    assert secret.startswith("hd_is_")
    assert "not shown again" in first.err
    with database.connect() as connection:
        (raw,) = connection.execute(text("SELECT identity_secret FROM agent")).one()
    assert secret.encode() not in bytes(raw)
    shown = _agent_cmd(cli, "identity-secret")
    assert shown.out.strip().startswith("identity verification: on")
    assert secret not in shown.out + shown.err
    rotated = [event for event in _actions(database) if event[0] == "agent.identity_secret.rotated"]
    assert rotated == [("agent.identity_secret.rotated", "operator", {"replaced": False})]
    assert secret not in repr(_actions(database))


def test_a_rotated_secret_replaces_the_old_one(cli: Settings) -> None:
    old = _agent_cmd(cli, "identity-secret", "--rotate").out.strip()
    new = _agent_cmd(cli, "identity-secret", "--rotate").out.strip()
    assert new != old
    now = dt.datetime.now(dt.UTC)
    token_of_old = sign_identity_token(secret=old, user_id="customer-7", now=now)
    # The stored secret, read as the widget reads it: through the keyring.
    with (
        open_installation(cli.data_dir, cli.keys_dir) as installation,
        unit_of_work(installation.sessions) as session,
    ):
        stored = session.scalars(select(Agent)).one().identity_secret
    assert stored == new
    assert verify_identity_token(
        sign_identity_token(secret=new, user_id="c", now=now), secret=stored, now=now
    )
    with pytest.raises(InvalidIdentityTokenError):
        verify_identity_token(token_of_old, secret=stored, now=now)


def test_identity_secret_remove_turns_verification_off(cli: Settings, database: Engine) -> None:
    assert _agent_cmd(cli, "identity-secret", "--rotate").code == 0
    removed = _agent_cmd(cli, "identity-secret", "--remove")
    assert removed.code == 0
    assert "removed" in removed.err
    with database.connect() as connection:
        assert connection.execute(text("SELECT identity_secret FROM agent")).scalar_one() is None
    assert _agent_cmd(cli, "identity-secret", "--rotate", "--remove").code == 2
