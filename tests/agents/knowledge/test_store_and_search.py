"""Storing, replacing and deleting documents, and searching one agent's knowledge: on both
engines, through the keyring and the encrypted file store."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from hushdesk.agents.knowledge.ingest import (
    access_document_by_id,
    do_delete_agent,
    do_delete_document,
    list_documents,
    prepare_file,
    prepare_text,
)
from hushdesk.agents.knowledge.models import KnowledgeChunk, KnowledgeDocument
from hushdesk.agents.knowledge.search import search_passages, search_sources, searcher_for
from hushdesk.agents.models import Agent
from hushdesk.audit.models import AuditEvent
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import NotFound
from tests.agents.conftest import OPERATOR, KnowledgeWorld

RETURNS = "# Returns\n\nYou can return any unworn item within 30 days for a full refund.\n"
SHIPPING = "# Shipping\n\nParcels to Canada take 6 to 9 working days with tracked post.\n"


def _stored_files(world: KnowledgeWorld) -> list[str]:
    return (
        [path.name for path in world.uploads.rglob("*") if path.is_file()] if world.uploads.exists() else []
    )


def test_a_document_is_stored_sealed_and_found_by_search(world: KnowledgeWorld) -> None:
    world.store_text("support", "returns.md", RETURNS)
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")
        passages = search_passages(session, agent, "how many days to return a jacket", k=3, cache=world.cache)
        documents = list_documents(session, agent)
    assert passages
    assert passages[0].source == "returns.md"
    assert "30 days" in passages[0].text
    assert [document.source for document in documents] == ["returns.md"]
    assert len(_stored_files(world)) == 1


def test_storing_the_same_source_replaces_the_document(world: KnowledgeWorld) -> None:
    world.store_text("support", "returns.md", RETURNS)
    world.store_text("support", "returns.md", RETURNS.replace("30 days", "60 days"))
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")
        documents = list_documents(session, agent)
        passages = search_passages(session, agent, "return within how many days", k=5, cache=world.cache)
        actions = list(
            session.scalars(select(AuditEvent.action).where(AuditEvent.target_kind == "knowledge_document"))
        )
    assert len(documents) == 1
    assert all("30 days" not in passage.text for passage in passages)
    assert any("60 days" in passage.text for passage in passages)
    assert "knowledge.document.added" in actions
    assert "knowledge.document.replaced" in actions
    assert len(_stored_files(world)) == 1  # the replaced original is gone after the commit


def test_deleting_a_document_removes_chunks_index_entries_and_file(world: KnowledgeWorld) -> None:
    document_id = world.store_text("support", "returns.md", RETURNS)
    world.store_text("support", "shipping.md", SHIPPING)
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")
        assert (
            search_passages(session, agent, "refund unworn", k=5, cache=world.cache)[0].source == "returns.md"
        )
        do_delete_document(session, agent, document_id, files=world.files, actor=OPERATOR)
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")
        sources = {
            passage.source
            for passage in search_passages(session, agent, "refund unworn", k=5, cache=world.cache)
        }
        chunks = session.scalar(select(func.count()).where(KnowledgeChunk.document_id == document_id))
    assert "returns.md" not in sources
    assert chunks == 0
    assert len(_stored_files(world)) == 1


def test_a_rolled_back_store_leaves_no_file_behind(world: KnowledgeWorld) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), unit_of_work(world.sessions) as session:
        from hushdesk.agents.knowledge.ingest import do_store_document

        do_store_document(
            session,
            world.agent(session, "support"),
            prepare_text(source="returns.md", text=RETURNS),
            files=world.files,
            actor=OPERATOR,
            max_file_bytes=1 << 20,
        )
        assert len(_stored_files(world)) == 1
        raise Boom
    assert _stored_files(world) == []
    with unit_of_work(world.sessions) as session:
        assert session.scalar(select(func.count()).select_from(KnowledgeDocument)) == 0


def test_a_refused_file_writes_nothing(world: KnowledgeWorld) -> None:
    from hushdesk.agents.knowledge.extraction import DocumentRejected

    with pytest.raises(DocumentRejected):
        prepare_file(source="guide.pdf", filename="guide.pdf", content=b"<html><body>not a pdf</body></html>")
    assert _stored_files(world) == []


def test_search_sees_only_this_agents_knowledge(world: KnowledgeWorld) -> None:
    world.store_text("support", "returns.md", RETURNS)
    world.store_text("sales", "shipping.md", SHIPPING)
    world.store_text(
        "support",
        "secret.md",
        "# Other\n\nThe other workspace's refund code is ZX-99.",
        workspace_id=world.other_workspace_id,
    )
    with unit_of_work(world.sessions) as session:
        support = world.agent(session, "support")
        sales = world.agent(session, "sales")
        support_sources = {
            p.source
            for p in search_passages(session, support, "refund canada parcels code", k=10, cache=world.cache)
        }
        sales_sources = {
            s.source
            for s in search_sources(session, sales, "refund canada parcels code", k=10, cache=world.cache)
        }
    assert support_sources == {"returns.md"}
    assert sales_sources == {"shipping.md"}


def test_an_agent_not_loaded_by_an_access_function_cannot_be_searched(world: KnowledgeWorld) -> None:
    world.store_text("support", "returns.md", RETURNS, workspace_id=world.other_workspace_id)
    with unit_of_work(world.sessions) as session:
        theirs = world.agent(session, "support", workspace_id=world.other_workspace_id)
        forged = Agent(
            id=theirs.id,
            workspace_id=world.workspace_id,
            name="x",
            slug="x",
            knowledge_revision=theirs.knowledge_revision,
        )
        with pytest.raises(ValueError, match="access function"):
            search_passages(session, forged, "refund", k=3, cache=world.cache)


def test_another_agents_document_is_not_found(world: KnowledgeWorld) -> None:
    document_id = world.store_text("sales", "shipping.md", SHIPPING)
    theirs = world.store_text("support", "returns.md", RETURNS, workspace_id=world.other_workspace_id)
    with unit_of_work(world.sessions) as session:
        support = world.agent(session, "support")
        for foreign in (document_id, theirs, uuid.uuid4()):
            with pytest.raises(NotFound):
                access_document_by_id(session, support, foreign)
            with pytest.raises(NotFound):
                do_delete_document(session, support, foreign, files=world.files, actor=OPERATOR)


def test_a_change_in_another_transaction_is_seen_by_the_next_search(world: KnowledgeWorld) -> None:
    world.store_text("support", "returns.md", RETURNS)
    with unit_of_work(world.sessions) as session:
        searcher = searcher_for(session, world.agent(session, "support"), cache=world.cache)
    assert searcher("canada parcels", k=3) == [] or all(
        p.source == "returns.md" for p in searcher("canada parcels", k=3)
    )
    world.store_text("support", "shipping.md", SHIPPING)
    with unit_of_work(world.sessions) as session:
        passages = search_passages(
            session, world.agent(session, "support"), "canada parcels", k=3, cache=world.cache
        )
    assert passages[0].source == "shipping.md"


def test_deleting_an_agent_removes_its_knowledge_and_files(world: KnowledgeWorld) -> None:
    world.store_text("support", "returns.md", RETURNS)
    world.store_text("sales", "shipping.md", SHIPPING)
    with unit_of_work(world.sessions) as session:
        do_delete_agent(session, world.agent(session, "support"), files=world.files, actor=OPERATOR)
    with unit_of_work(world.sessions) as session:
        remaining = list(session.scalars(select(KnowledgeDocument.agent_id).distinct()))
        sales = world.agent(session, "sales")
        with pytest.raises(NotFound):
            world.agent(session, "support")
    assert remaining == [sales.id]
    assert len(_stored_files(world)) == 1


def test_knowledge_hosts_come_from_sources_and_links(world: KnowledgeWorld) -> None:
    world.store_text(
        "support", "links.md", "# Help\n\nSee [our status page](https://status.acme.example/now) for outages."
    )
    with unit_of_work(world.sessions) as session:
        searcher = searcher_for(session, world.agent(session, "support"), cache=world.cache)
    assert "status.acme.example" in searcher.hosts
