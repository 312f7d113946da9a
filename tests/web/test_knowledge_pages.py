"""An agent's knowledge base pages: uploading (each file's outcome, refusals that leave nothing
behind, replacing by name), pasting text, deleting, URL imports and their progress page, and
who may do what."""

from __future__ import annotations

import tests.bench  # noqa: F401 - puts bench/ on the import path, as the bench tests do

# isort: split
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, func, select, update

from document_samples import docx_bytes, html_bytes, pdf_bytes
from hushdesk.agents.knowledge.imports import run_import
from hushdesk.agents.knowledge.ingest import PreparedDocument, prepare_file
from hushdesk.agents.knowledge.models import KnowledgeChunk, KnowledgeDocument, KnowledgeImport
from hushdesk.agents.knowledge.ranking import local_model_available
from hushdesk.agents.models import Agent, AgentAssignment
from hushdesk.app import create_app
from hushdesk.audit.models import AuditEvent
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.identity.models import Membership
from hushdesk.infra.db.uow import transaction_open, unit_of_work
from hushdesk.infra.http import OutboundPolicy, build_http_client
from hushdesk.infra.jobs.models import WorkItem
from hushdesk.settings import Settings
from hushdesk.web import knowledge_pages
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.conftest import make_settings
from tests.web.helpers import (
    OWNER_EMAIL,
    add_member,
    app_sessions,
    csrf_from,
    sign_in_directly,
    signed_in_owner,
    workspace_id_of,
)

HTML = {"accept": "text/html"}
JSON = {"accept": "application/json"}
MIB = 1024 * 1024
FAQ = b"# Shipping\n\nParcels to Canada take 6 to 9 working days.\n\n# Returns\n\nReturn within 30 days.\n"
CSV = b"question,answer\nDo you ship to Canada?,Yes: 6 to 9 working days.\nCan I return?,Within 30 days.\n"
FileSpec = tuple[str, tuple[str, bytes, str]]


def _get(client: TestClient, path: str) -> Response:
    response: Response = client.get(path, headers=HTML, follow_redirects=False)
    return response


def _post(
    client: TestClient, path: str, data: dict[str, str], headers: dict[str, str] | None = None
) -> Response:
    response: Response = client.post(path, data=data, headers=headers or HTML, follow_redirects=False)
    return response


def _agent(client: TestClient, name: str = "Quill") -> uuid.UUID:
    created = _post(client, "/agents", {"name": name, "csrf_token": csrf_from(_get(client, "/agents").text)})
    assert created.status_code == 303
    return uuid.UUID(created.headers["location"].rsplit("/", 1)[1])


def _csrf(client: TestClient, agent_id: uuid.UUID) -> str:
    return csrf_from(_get(client, f"/agents/{agent_id}/knowledge").text)


def _upload(
    client: TestClient, agent_id: uuid.UUID, files: list[FileSpec], headers: dict[str, str] = HTML
) -> Response:
    response: Response = client.post(
        f"/agents/{agent_id}/knowledge/files",
        data={"csrf_token": _csrf(client, agent_id)},
        files=files,
        headers=headers,
    )
    return response


def _documents(client: TestClient) -> list[KnowledgeDocument]:
    with unit_of_work(app_sessions(client)) as session:
        documents = list(session.scalars(select(KnowledgeDocument)))
        session.expunge_all()
        return sorted(documents, key=lambda document: document.source)


def _count(client: TestClient, model: type[object]) -> int:
    with unit_of_work(app_sessions(client)) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _stored_files(settings: Settings) -> list[Path]:
    uploads = settings.uploads_dir
    return [path for path in uploads.rglob("*") if path.is_file()] if uploads.exists() else []


def _outcomes(page: Response) -> list[str]:
    """The result list: "name: outcome" per file, tags and spacing removed."""
    section = page.text.split('id="outcomes-heading"', 1)[1].split("</section>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", section, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", item).split()) for item in items]


def _assign(client: TestClient, email: str, role: str, agents: list[uuid.UUID]) -> None:
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    user_id = add_member(client, workspace_id=workspace_id, email=email, role=role, name=role.title())
    with unit_of_work(app_sessions(client)) as session:
        membership_id = session.scalars(select(Membership.id).where(Membership.user_id == user_id)).one()
        session.add_all(
            AgentAssignment(workspace_id=workspace_id, agent_id=agent_id, membership_id=membership_id)
            for agent_id in agents
        )


def test_markdown_pdf_docx_and_csv_are_added_at_once_with_their_passages(
    client: TestClient, sqlite_engine: Engine, settings: Settings
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    pdf = pdf_bytes([("Warranty", ["Every kettle has a two year warranty."]), "Repairs take a week."])
    docx = docx_bytes([(1, "Opening hours", ["We are open from nine to five on weekdays."])])
    page = _upload(
        client,
        agent_id,
        [
            ("files", ("faq.md", FAQ, "text/markdown")),
            ("files", ("warranty.pdf", pdf, "application/pdf")),
            ("files", ("C:\\fakepath\\hours.docx", docx, "application/octet-stream")),
            ("files", ("pairs.csv", CSV, "text/csv")),
        ],
    )
    assert page.status_code == 200
    outcomes = _outcomes(page)
    assert [outcome.split(":")[0] for outcome in outcomes] == [
        "faq.md",
        "warranty.pdf",
        "hours.docx",
        "pairs.csv",
    ]
    assert all(re.search(r": added, [1-9]\d* passages?\.$", outcome) for outcome in outcomes), outcomes
    documents = _documents(client)
    assert [(d.source, d.kind) for d in documents] == [
        ("faq.md", "markdown"),
        ("hours.docx", "docx"),
        ("pairs.csv", "csv"),
        ("warranty.pdf", "pdf"),
    ]
    assert all(document.chunk_count > 0 for document in documents)
    assert next(d for d in documents if d.kind == "pdf").page_count == 2
    assert _count(client, KnowledgeChunk) == sum(document.chunk_count for document in documents)
    assert len(_stored_files(settings)) == 4
    listing = _get(client, f"/agents/{agent_id}/knowledge").text
    assert all(f"<td>{document.source}</td>" in listing for document in documents)


@pytest.mark.parametrize(
    ("name", "content", "declared", "status", "says"),
    [
        (
            "broken.pdf",
            b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog",
            "application/pdf",
            422,
            "This PDF is incomplete",
        ),
        (
            "page.pdf",
            html_bytes("Returns", [(1, "Returns", ["Return within 30 days."])]),
            "application/pdf",
            422,
            "This file is not a PDF document.",
        ),
        ("notes.exe", b"MZ\x90\x00", "application/octet-stream", 415, "file type is not supported"),
        ("empty.md", b"", "text/markdown", 422, "empty"),
    ],
)
def test_a_refused_file_says_why_and_leaves_nothing_behind(
    client: TestClient,
    sqlite_engine: Engine,
    settings: Settings,
    name: str,
    content: bytes,
    declared: str,
    status: int,
    says: str,
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    page = _upload(client, agent_id, [("files", (name, content, declared))])
    assert page.status_code == status
    (outcome,) = _outcomes(page)
    assert outcome.startswith(f"{name}: not added.")
    assert says in outcome
    assert _count(client, KnowledgeDocument) == 0
    assert _count(client, KnowledgeChunk) == 0
    assert _stored_files(settings) == []


@pytest.fixture
def roomy_client(tmp_path: Path, sqlite_engine: Engine) -> Iterator[TestClient]:
    """The app as configured by default: uploads may be larger than other request bodies."""
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        yield client


def test_a_file_over_the_size_limit_is_refused_with_413_and_leaves_nothing(
    roomy_client: TestClient, sqlite_engine: Engine, tmp_path: Path
) -> None:
    client = roomy_client
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    oversize = b"a" * (20 * MIB + 1)
    page = _upload(client, agent_id, [("files", ("huge.txt", oversize, "text/plain"))])
    assert page.status_code == 413
    (outcome,) = _outcomes(page)
    assert "larger than 20.0 MB" in outcome
    assert _count(client, KnowledgeDocument) == 0
    uploads = tmp_path / "var" / "uploads"
    assert not uploads.exists() or not any(path.is_file() for path in uploads.rglob("*"))


def test_uploaded_files_are_parsed_with_no_transaction_open(
    client: TestClient, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    seen: list[bool] = []

    def watched(**arguments: Any) -> PreparedDocument:
        seen.append(transaction_open())
        return prepare_file(**arguments)

    monkeypatch.setattr(knowledge_pages, "prepare_file", watched)
    page = _upload(
        client, agent_id, [("files", ("faq.md", b"# FAQ\n\nWe ship on Mondays.\n", "text/markdown"))]
    )
    assert page.status_code == 200
    assert seen == [False]
    assert _count(client, KnowledgeDocument) == 1


def test_uploads_may_be_larger_than_other_request_bodies(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    paragraph = "Returns are free within thirty days of delivery for unworn items.\n\n"
    big = ("# Returns\n\n" + paragraph * (3 * MIB // len(paragraph))).encode()
    assert _upload(client, agent_id, [("files", ("returns.md", big, "text/markdown"))]).status_code == 200
    assert _count(client, KnowledgeDocument) == 1
    settings_form = client.post(
        f"/agents/{agent_id}/settings",
        data={"csrf_token": _csrf(client, agent_id), "greeting": "x" * (2 * MIB)},
    )
    assert settings_form.status_code == 413


def test_a_batch_adds_its_good_files_and_names_the_refused_one(
    client: TestClient, sqlite_engine: Engine, settings: Settings
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    page = _upload(
        client,
        agent_id,
        [
            ("files", ("faq.md", FAQ, "text/markdown")),
            ("files", ("broken.pdf", b"%PDF-1.4 not really", "application/pdf")),
            ("files", ("pairs.csv", CSV, "text/csv")),
        ],
    )
    assert page.status_code == 200
    outcomes = _outcomes(page)
    assert "added" in outcomes[0]
    assert outcomes[1].startswith("broken.pdf: not added.")
    assert "added" in outcomes[2]
    assert [document.source for document in _documents(client)] == ["faq.md", "pairs.csv"]
    assert len(_stored_files(settings)) == 2


def test_a_file_with_the_name_of_a_document_replaces_it(
    client: TestClient, sqlite_engine: Engine, settings: Settings
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    _upload(client, agent_id, [("files", ("faq.md", FAQ, "text/markdown"))])
    (first,) = _documents(client)
    again = _upload(
        client, agent_id, [("files", ("faq.md", FAQ.replace(b"30 days", b"60 days"), "text/markdown"))]
    )
    assert again.status_code == 200
    assert _outcomes(again)[0].startswith("faq.md: replaced,")
    (second,) = _documents(client)
    assert second.id != first.id
    assert len(_stored_files(settings)) == 1  # the replaced original is removed after the commit
    with unit_of_work(app_sessions(client)) as session:
        texts = " ".join(chunk.text for chunk in session.scalars(select(KnowledgeChunk)))
    assert "60 days" in texts
    assert "30 days" not in texts


def test_choosing_no_file_is_refused(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    page = _upload(client, agent_id, [("files", ("", b"", "application/octet-stream"))])
    assert page.status_code == 422
    assert "Choose between 1 and 20 files" in page.text


def test_pasted_text_is_added_under_its_title(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    form = {"csrf_token": _csrf(client, agent_id), "title": "Gift cards", "text": "Gift cards never expire."}
    page = _post(client, f"/agents/{agent_id}/knowledge/text", form)
    assert page.status_code == 200
    assert _outcomes(page) == ["Gift cards: added, 1 passage."]
    (document,) = _documents(client)
    assert (document.source, document.kind) == ("Gift cards", "text")
    blank = _post(client, f"/agents/{agent_id}/knowledge/text", {**form, "title": "  ", "text": "More."})
    assert blank.status_code == 422
    assert "source is 1 to 1000 characters" in blank.text
    assert _count(client, KnowledgeDocument) == 1


def test_deleting_a_document_removes_its_rows_and_then_its_file(
    client: TestClient, sqlite_engine: Engine, settings: Settings
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    _upload(
        client,
        agent_id,
        [("files", ("faq.md", FAQ, "text/markdown")), ("files", ("pairs.csv", CSV, "text/csv"))],
    )
    faq = next(document for document in _documents(client) if document.source == "faq.md")
    path = f"/agents/{agent_id}/knowledge/documents/{faq.id}/delete"
    deleted = _post(client, path, {"csrf_token": _csrf(client, agent_id)})
    assert deleted.status_code == 303
    assert "The document was deleted." in _get(client, deleted.headers["location"]).text
    assert [document.source for document in _documents(client)] == ["pairs.csv"]
    with unit_of_work(app_sessions(client)) as session:
        assert session.scalar(select(func.count()).where(KnowledgeChunk.document_id == faq.id)) == 0
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == str(faq.id))))
    assert actions == ["knowledge.document.added", "knowledge.document.deleted"]
    assert len(_stored_files(settings)) == 1
    assert _post(client, path, {"csrf_token": _csrf(client, agent_id)}).status_code == 404


def test_a_support_person_sees_the_documents_and_changes_nothing(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    _upload(client, agent_id, [("files", ("faq.md", FAQ, "text/markdown"))])
    (faq,) = _documents(client)
    _assign(client, "sam@example.com", "support", [agent_id])
    sign_in_directly(client, email="sam@example.com")
    page = _get(client, f"/agents/{agent_id}/knowledge")
    assert page.status_code == 200
    assert "<td>faq.md</td>" in page.text
    assert 'enctype="multipart/form-data"' not in page.text
    assert "/delete" not in page.text
    csrf = csrf_from(page.text)
    refused = client.post(
        f"/agents/{agent_id}/knowledge/files",
        data={"csrf_token": csrf},
        files=[("files", ("more.md", FAQ, "text/markdown"))],
        headers=JSON,
    )
    assert refused.status_code == 403
    delete = f"/agents/{agent_id}/knowledge/documents/{faq.id}/delete"
    assert _post(client, delete, {"csrf_token": csrf}, JSON).status_code == 403
    form = {"csrf_token": csrf, "url": "https://help.example.com/", "import_kind": "page"}
    assert _post(client, f"/agents/{agent_id}/knowledge/imports", form, JSON).status_code == 403
    assert [document.source for document in _documents(client)] == ["faq.md"]


def test_a_manager_reaches_only_the_knowledge_of_their_agents(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    theirs = _agent(client, "Quill")
    other = _agent(client, "Ledger")
    _assign(client, "max@example.com", "manager", [theirs])
    sign_in_directly(client, email="max@example.com")
    assert _upload(client, theirs, [("files", ("faq.md", FAQ, "text/markdown"))]).status_code == 200
    assert _get(client, f"/agents/{other}/knowledge").status_code == 404
    csrf = _csrf(client, theirs)
    refused = client.post(
        f"/agents/{other}/knowledge/files",
        data={"csrf_token": csrf},
        files=[("files", ("faq.md", FAQ, "text/markdown"))],
        headers=JSON,
    )
    assert refused.status_code == 404
    assert _count(client, KnowledgeDocument) == 1


def test_a_document_or_import_is_found_only_through_its_own_agent(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    first = _agent(client, "Quill")
    second = _agent(client, "Ledger")
    _upload(client, first, [("files", ("faq.md", FAQ, "text/markdown"))])
    (faq,) = _documents(client)
    with unit_of_work(app_sessions(client)) as session:
        workspace = do_create_workspace(session, name="Other Shop", region=Region.US)
        theirs = Agent(workspace_id=workspace.id, name="Theirs", slug="theirs")
        session.add(theirs)
        session.flush()
        their_import = KnowledgeImport(
            workspace_id=workspace.id, agent_id=theirs.id, url="https://other.example/", failures=[]
        )
        session.add(their_import)
        session.flush()
        their_import_id = their_import.id
    csrf = _csrf(client, second)
    wrong_agent = _post(
        client, f"/agents/{second}/knowledge/documents/{faq.id}/delete", {"csrf_token": csrf}, JSON
    )
    assert wrong_agent.status_code == 404
    assert _get(client, f"/agents/{first}/knowledge/imports/{their_import_id}").status_code == 404
    assert _count(client, KnowledgeDocument) == 1


def _site(request: httpx.Request) -> httpx.Response:
    if str(request.url) == "https://help.example.com/returns":
        body = b"<html><head><title>Returns</title></head><body><p>Return within 30 days.</p></body></html>"
        return httpx.Response(200, content=body, headers={"content-type": "text/html"})
    return httpx.Response(404)


def test_an_import_is_queued_and_its_page_reloads_until_it_has_finished(
    client: TestClient, sqlite_engine: Engine, settings: Settings
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    form = {
        "csrf_token": _csrf(client, agent_id),
        "url": "https://help.example.com/returns",
        "import_kind": "page",
    }
    started = _post(client, f"/agents/{agent_id}/knowledge/imports", form)
    assert started.status_code == 303
    location = started.headers["location"]
    assert re.fullmatch(rf"/agents/{agent_id}/knowledge/imports/[0-9a-f-]{{36}}", location)
    waiting = _get(client, location)
    assert waiting.status_code == 200
    assert waiting.headers["refresh"] == "3"
    assert "Waiting to start" in waiting.text
    with unit_of_work(app_sessions(client)) as session:
        (item,) = session.scalars(select(WorkItem).where(WorkItem.kind == "knowledge-import")).all()
    import_id = uuid.UUID(location.rsplit("/", 1)[1])
    assert item.payload == {"import_id": str(import_id)}

    def site_client() -> httpx.Client:
        return build_http_client(OutboundPolicy(), version="test", transport=httpx.MockTransport(_site))

    run_import(app_sessions(client), site_client, EncryptedFileStore(settings.uploads_dir), import_id)
    finished = _get(client, location)
    assert "refresh" not in finished.headers
    assert "Finished" in finished.text
    assert "1 of 1 page" in finished.text
    listing = _get(client, f"/agents/{agent_id}/knowledge").text
    assert "<td>https://help.example.com/returns</td>" in listing
    assert f'href="{location}"' in listing


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"url": "ftp://help.example.com/faq"}, "Only http and https addresses can be imported."),
        ({"url": ""}, "Enter the web address to import."),
        ({"import_kind": "sitemap", "max_pages": "501"}, "Import between 1 and 500 pages of a sitemap."),
        ({"import_kind": "sitemap", "max_pages": "lots"}, "Give the number of pages to import"),
    ],
)
def test_a_bad_import_is_shown_again_with_its_problem_and_queues_nothing(
    client: TestClient, sqlite_engine: Engine, changes: dict[str, str], says: str
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    form = {"csrf_token": _csrf(client, agent_id), "url": "https://help.example.com/sitemap.xml", **changes}
    refused = _post(client, f"/agents/{agent_id}/knowledge/imports", form)
    assert refused.status_code == 422
    assert says in refused.text
    assert _count(client, KnowledgeImport) == 0
    assert _count(client, WorkItem) == 0


@pytest.mark.skipif(not local_model_available(), reason="the local embedding model is not installed")
def test_a_hybrid_agents_uploads_are_embedded_with_the_local_model(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(Agent).where(Agent.id == agent_id).values(retrieval_mode="hybrid"))
    assert _upload(client, agent_id, [("files", ("faq.md", FAQ, "text/markdown"))]).status_code == 200
    with unit_of_work(app_sessions(client)) as session:
        chunks = list(session.scalars(select(KnowledgeChunk)))
    assert chunks
    assert {chunk.embedding_model for chunk in chunks} == {"wordllama-l2_supercat-256"}
    assert all(chunk.embedding for chunk in chunks)
