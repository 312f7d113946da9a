"""workspace create, agent create, kb ingest|search|list|delete: a folder of documents served
without the dashboard, on the embedded database, with the operator in the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from hushdesk.agents.knowledge.search import AgentSearcher, RankedSource
from hushdesk.audit.models import AuditEvent
from hushdesk.cli import app
from hushdesk.infra.db.engine import create_db_engine
from hushdesk.infra.db.uow import transaction_open
from hushdesk.settings import Settings
from tests.conftest import make_settings

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    for name in ("HUSHDESK_ENV", "HUSHDESK_DATABASE_URL", "HUSHDESK_MASTER_KEY", "HUSHDESK_KEYSTORE_URL"):
        monkeypatch.delenv(name, raising=False)
    return make_settings(tmp_path)


def _run(settings: Settings, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    options = ["--data-dir", str(settings.data_dir), "--keys-dir", str(settings.keys_dir)]
    result = runner.invoke(app, [*args, *options], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _docs(root: Path) -> Path:
    (root / "docs" / "billing").mkdir(parents=True)
    (root / "docs" / ".drafts").mkdir()
    (root / "docs" / "billing" / "refunds.md").write_text(
        "# Refunds\n\nRefunds reach your card within 5 working days of us receiving the return.\n"
    )
    (root / "docs" / "shipping.html").write_text(
        "<html><head><title>Shipping</title></head><body><main><h1>Shipping</h1>"
        "<p>Orders to Namibia and Botswana ship by road freight in 4 to 6 days.</p></main></body></html>"
    )
    (root / "docs" / "faq.csv").write_text(
        "question,answer\nDo you sell gift cards?,Yes: from R100 to R5000.\n"
    )
    (root / "docs" / ".drafts" / "secret.md").write_text("# Draft\n\nNot for customers.\n")
    (root / "docs" / "notes.bin").write_bytes(b"\x00\x01")
    return root / "docs"


def _setup(settings: Settings) -> tuple[str, str]:
    code, workspace, _ = _run(settings, "workspace", "create", "Acme Outdoor")
    assert code == 0
    code, agent, _ = _run(settings, "agent", "create", "--workspace", workspace.strip(), "Front desk")
    assert code == 0
    return workspace.strip(), agent.strip()


def test_a_folder_is_ingested_with_relative_sources_and_searched(cli: Settings, tmp_path: Path) -> None:
    workspace, agent = _setup(cli)
    assert (workspace, agent) == ("acme-outdoor", "front-desk")
    code, _, progress = _run(cli, "kb", "ingest", "-w", workspace, "-a", agent, str(_docs(tmp_path)))
    assert code == 0, progress
    assert "[1/3] billing/refunds.md: added" in progress
    assert "3 ingested, 0 failed" in progress
    questions = "\n".join(
        json.dumps(record)
        for record in (
            {"id": "q1", "question": "when will my refund show on my card?"},
            {"id": 7, "question": "how long does delivery to Botswana take"},
        )
    )
    code, out, _ = _run(cli, "kb", "search", "-w", workspace, "-a", agent, "--k", "2", stdin=questions)
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["id"] for line in lines] == ["q1", 7]
    assert lines[0]["ranked"][0]["source"] == "billing/refunds.md"
    assert lines[1]["ranked"][0]["source"] == "shipping.html"
    for line in lines:
        sources = [entry["source"] for entry in line["ranked"]]
        assert len(sources) == len(set(sources)) <= 2
        assert all(isinstance(entry["score"], float) for entry in line["ranked"])


def test_a_single_file_has_its_name_as_source_and_ingesting_again_replaces_it(
    cli: Settings, tmp_path: Path
) -> None:
    workspace, agent = _setup(cli)
    path = _docs(tmp_path) / "billing" / "refunds.md"
    assert _run(cli, "kb", "ingest", "-w", workspace, "-a", agent, str(path))[0] == 0
    code, _, progress = _run(cli, "kb", "ingest", "-w", workspace, "-a", agent, str(path))
    assert code == 0
    assert "refunds.md: replaced" in progress
    code, out, _ = _run(cli, "kb", "list", "-w", workspace, "-a", agent)
    assert [line.split("\t")[-1] for line in out.splitlines()] == ["refunds.md"]


def test_a_bad_file_is_reported_and_the_rest_ingested(cli: Settings, tmp_path: Path) -> None:
    workspace, agent = _setup(cli)
    docs = _docs(tmp_path)
    (docs / "broken.pdf").write_bytes(b"<html>this is not a pdf</html>")
    code, _, progress = _run(cli, "kb", "ingest", "-w", workspace, "-a", agent, str(docs))
    assert code == 1
    assert "broken.pdf: failed:" in progress
    assert "3 ingested, 1 failed" in progress


def test_malformed_question_lines_are_reported_without_stopping(cli: Settings, tmp_path: Path) -> None:
    workspace, agent = _setup(cli)
    _run(cli, "kb", "ingest", "-w", workspace, "-a", agent, str(_docs(tmp_path)))
    stdin = '{"id": 1, "question": "gift cards"}\nnot json\n{"id": 2}\n{"id": 3, "question": "refund"}\n'
    code, out, err = _run(cli, "kb", "search", "-w", workspace, "-a", agent, stdin=stdin)
    assert code == 1
    assert [json.loads(line)["id"] for line in out.splitlines()] == [1, 3]
    assert "line 2: not a JSON object" in err
    assert "line 3:" in err


def test_an_unknown_workspace_or_agent_is_refused(cli: Settings) -> None:
    workspace, _ = _setup(cli)
    code, _, err = _run(cli, "kb", "search", "-w", workspace, "-a", "nobody", stdin="")
    assert code == 2
    assert "no agent with the slug 'nobody'" in err
    code, _, err = _run(cli, "agent", "create", "--workspace", "nowhere", "X")
    assert code == 2
    assert "no workspace" in err


def test_the_operator_is_recorded_in_the_audit_log(cli: Settings, tmp_path: Path) -> None:
    workspace, agent = _setup(cli)
    _run(cli, "kb", "ingest", "-w", workspace, "-a", agent, str(_docs(tmp_path)))
    _run(cli, "kb", "delete", "-w", workspace, "-a", agent, "faq.csv")
    engine = create_db_engine(cli.resolved_database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(AuditEvent.action, AuditEvent.actor_kind, AuditEvent.actor_id)
            ).all()
    finally:
        engine.dispose()
    actions = [row.action for row in rows]
    assert actions[:2] == ["workspace.created", "agent.created"]
    assert actions.count("knowledge.document.added") == 3
    assert "knowledge.document.deleted" in actions
    assert {row.actor_kind for row in rows} == {"operator"}
    assert all(row.actor_id.startswith("os") for row in rows)


def test_a_search_sees_only_the_named_workspaces_agent(cli: Settings, tmp_path: Path) -> None:
    workspace, agent = _setup(cli)
    _, other, _ = _run(cli, "workspace", "create", "Other Shop")
    _run(cli, "agent", "create", "--workspace", other.strip(), "Front desk")
    _run(cli, "kb", "ingest", "-w", workspace, "-a", agent, str(_docs(tmp_path)))
    stdin = '{"id": 1, "question": "refund gift cards shipping Botswana"}\n'
    code, out, _ = _run(cli, "kb", "search", "-w", other.strip(), "-a", agent, stdin=stdin)
    assert code == 0
    assert json.loads(out) == {"id": 1, "ranked": []}


def test_a_hybrid_agent_is_searched_with_the_local_model_too(cli: Settings, tmp_path: Path) -> None:
    workspace, lexical = _setup(cli)
    code, agent, _ = _run(
        cli, "agent", "create", "--workspace", workspace, "Hybrid desk", "--retrieval", "hybrid"
    )
    assert code == 0
    docs = _docs(tmp_path)
    for slug in (lexical, agent.strip()):
        _run(cli, "kb", "ingest", "-w", workspace, "-a", slug, str(docs))
    # No word in common with any document: only the embeddings can find it.
    stdin = '{"id": 1, "question": "how soon is my reimbursement paid out?"}\n'
    code, out, _ = _run(cli, "kb", "search", "-w", workspace, "-a", lexical, "--k", "1", stdin=stdin)
    assert json.loads(out)["ranked"] == []
    code, out, _ = _run(cli, "kb", "search", "-w", workspace, "-a", agent.strip(), "--k", "1", stdin=stdin)
    assert code == 0
    assert json.loads(out)["ranked"][0]["source"] == "billing/refunds.md"
    assert _run(cli, "agent", "create", "--workspace", workspace, "X", "--retrieval", "psychic")[0] == 2


def test_questions_are_answered_with_no_transaction_open(
    cli: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, agent = _setup(cli)
    _run(cli, "kb", "ingest", "-w", workspace, "-a", agent, str(_docs(tmp_path)))
    seen: list[bool] = []
    original = AgentSearcher.sources

    def watched(self: AgentSearcher, query: str, *, k: int) -> list[RankedSource]:
        seen.append(transaction_open())
        return original(self, query, k=k)

    monkeypatch.setattr(AgentSearcher, "sources", watched)
    stdin = '{"id": 1, "question": "gift cards"}\n{"id": 2, "question": "refund"}\n'
    assert _run(cli, "kb", "search", "-w", workspace, "-a", agent, stdin=stdin)[0] == 0
    assert seen == [False, False]
