"""URL imports as background jobs: starting one, the job fetching outside any transaction and
storing page by page, progress and failures, private addresses, and running again.

Sites are played by ``httpx.MockTransport`` behind the product's ``build_http_client`` (its
transaction guard runs on every request); the private-address case uses the real network
client, whose SSRF guard refuses before any socket is opened. Both engines.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from hushdesk.agents.knowledge.imports import (
    KNOWLEDGE_IMPORT,
    MAX_UNFINISHED_IMPORTS,
    access_import_by_id,
    do_start_import,
    run_import,
)
from hushdesk.agents.knowledge.ingest import do_delete_agent, list_documents
from hushdesk.agents.knowledge.models import ImportStatus, KnowledgeDocument, KnowledgeImport
from hushdesk.agents.knowledge.web_import import InvalidImportUrl
from hushdesk.audit.models import AuditEvent
from hushdesk.identity.models import User
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import NotFound, ValidationFailed
from hushdesk.infra.http import IPAddress, OutboundPolicy, build_http_client
from hushdesk.infra.jobs.backend import create_job_queue
from hushdesk.infra.jobs.models import WorkItem
from hushdesk.infra.jobs.queue import JobQueue, Outcome
from hushdesk.tasks import KNOWLEDGE_IMPORT_ATTEMPTS, register_tasks
from tests.agents.conftest import OPERATOR, KnowledgeWorld
from tests.conftest import make_settings
from tests.jobs.conftest import FakeClock

SITE = "https://help.example.com"
NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def _html(title: str, text: str) -> bytes:
    return (
        f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>".encode()
    )


def _urlset(*locations: str) -> bytes:
    entries = "".join(f"<url><loc>{location}</loc></url>" for location in locations)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="{NS}">{entries}</urlset>'.encode()


@dataclass
class Site:
    """Answers by URL; anything unknown is a 404. Records the URLs it was asked for, and runs
    ``on_request`` (if set) before answering."""

    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)
    on_request: Callable[[str], None] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requested.append(url)
        if self.on_request is not None:
            self.on_request(url)
        if url not in self.pages:
            return httpx.Response(404, content=b"no such page")
        content_type, body = self.pages[url]
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    def client(self) -> httpx.Client:
        return build_http_client(OutboundPolicy(), version="test", transport=httpx.MockTransport(self))


class PrivateResolver:
    """Every name resolves to a private address; no real DNS."""

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("10.0.0.5")]


def _help_centre() -> Site:
    site = Site()
    site.pages[f"{SITE}/sitemap.xml"] = (
        "application/xml",
        _urlset(f"{SITE}/returns", f"{SITE}/missing", f"{SITE}/shipping"),
    )
    site.pages[f"{SITE}/returns"] = ("text/html", _html("Returns", "Return unworn items within 30 days."))
    site.pages[f"{SITE}/shipping"] = ("text/html", _html("Shipping", "Parcels to Canada take 6 to 9 days."))
    return site


@pytest.fixture
def user_id(world: KnowledgeWorld) -> uuid.UUID:
    with unit_of_work(world.sessions) as session:
        person = User(email="ada@example.com", display_name="Ada", password_hash="x")
        session.add(person)
        session.flush()
        return person.id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def site() -> Site:
    return _help_centre()


@pytest.fixture
def queue(world: KnowledgeWorld, tmp_path: Path, clock: FakeClock, site: Site) -> Iterator[JobQueue]:
    """The application's tasks on a queue of the world's database, the site as the network;
    the uploads folder is the world's."""
    job_queue = create_job_queue(
        engine=world.engine,
        sqlite_queue_file=tmp_path / "var" / "jobs.sqlite3",
        lease=dt.timedelta(seconds=60),
        clock=clock,
        sessions=world.sessions,
    )
    settings = make_settings(tmp_path, data_dir=world.uploads.parent)
    register_tasks(job_queue, sessions=world.sessions, settings=settings, client_factory=site.client)
    yield job_queue
    job_queue.close()


def _start(
    world: KnowledgeWorld,
    queue: JobQueue,
    user_id: uuid.UUID,
    url: str,
    *,
    sitemap: bool,
    max_pages: int = 50,
) -> uuid.UUID:
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")
        row = do_start_import(
            session, agent, url=url, sitemap=sitemap, max_pages=max_pages, user_id=user_id, queue=queue
        )
        return row.id


def _work_item(world: KnowledgeWorld, import_id: uuid.UUID) -> uuid.UUID:
    with unit_of_work(world.sessions) as session:
        return session.scalars(
            select(WorkItem.id).where(
                WorkItem.kind == KNOWLEDGE_IMPORT, WorkItem.idempotency_key == str(import_id)
            )
        ).one()


def _import(world: KnowledgeWorld, import_id: uuid.UUID) -> KnowledgeImport:
    with unit_of_work(world.sessions) as session:
        row = session.get(KnowledgeImport, import_id)
        assert row is not None
        session.expunge(row)
        return row


def _sources(world: KnowledgeWorld) -> list[str]:
    with unit_of_work(world.sessions) as session:
        return [document.source for document in list_documents(session, world.agent(session, "support"))]


def test_a_sitemap_import_stores_its_pages_and_records_the_failures(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID, site: Site
) -> None:
    import_id = _start(world, queue, user_id, f"{SITE}/sitemap.xml", sitemap=True)
    assert _import(world, import_id).status == ImportStatus.QUEUED
    item_id = _work_item(world, import_id)
    assert queue.run_work_item(item_id).outcome is Outcome.DONE
    row = _import(world, import_id)
    assert (row.status, row.pages_total, row.pages_done, row.pages_failed) == (ImportStatus.DONE, 3, 2, 1)
    assert len(row.failures) == 1
    assert row.failures[0].startswith(f"{SITE}/missing: ")
    assert "no such page" not in row.failures[0]  # the site's own words are never repeated
    assert row.finished_at is not None
    assert _sources(world) == [f"{SITE}/returns", f"{SITE}/shipping"]
    with unit_of_work(world.sessions) as session:
        added = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "knowledge.document.added")
        ).all()
        item_state = session.scalar(select(WorkItem.state).where(WorkItem.id == item_id))
    assert {(event.actor_kind, event.actor_id) for event in added} == {("user", str(user_id))}
    assert item_state == "done"


def test_each_page_is_committed_before_the_next_is_fetched(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID, site: Site
) -> None:
    import_id = _start(world, queue, user_id, f"{SITE}/sitemap.xml", sitemap=True)
    seen: dict[str, tuple[int, int, int]] = {}

    def look(url: str) -> None:
        row = _import(world, import_id)
        seen[url] = (row.pages_total, row.pages_done, row.pages_failed)

    site.on_request = look
    queue.run_work_item(_work_item(world, import_id))
    # The total is known before the first page; each page's outcome is visible to others at once.
    assert seen[f"{SITE}/returns"] == (3, 0, 0)
    assert seen[f"{SITE}/missing"] == (3, 1, 0)
    assert seen[f"{SITE}/shipping"] == (3, 1, 1)


def test_a_single_page_import_stores_the_page_under_its_url(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID, site: Site
) -> None:
    import_id = _start(world, queue, user_id, f"{SITE}/returns#top", sitemap=False, max_pages=400)
    queue.run_work_item(_work_item(world, import_id))
    row = _import(world, import_id)
    assert (row.status, row.pages_total, row.pages_done, row.max_pages) == (ImportStatus.DONE, 1, 1, 1)
    assert row.url == f"{SITE}/returns"
    assert _sources(world) == [f"{SITE}/returns"]
    assert site.requested == [f"{SITE}/returns"]


def test_a_page_that_cannot_be_fetched_fails_the_import_with_its_reason(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID
) -> None:
    import_id = _start(world, queue, user_id, f"{SITE}/gone", sitemap=False)
    queue.run_work_item(_work_item(world, import_id))
    row = _import(world, import_id)
    assert (row.status, row.pages_done, row.pages_failed) == (ImportStatus.FAILED, 0, 1)
    assert len(row.failures) == 1
    assert "404" in row.failures[0]
    assert _sources(world) == []


def test_a_sitemap_that_is_not_one_fails_the_import(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID, site: Site
) -> None:
    import_id = _start(world, queue, user_id, f"{SITE}/returns", sitemap=True)
    queue.run_work_item(_work_item(world, import_id))
    row = _import(world, import_id)
    assert row.status == ImportStatus.FAILED
    assert row.pages_total == 0
    assert len(row.failures) == 1
    assert "sitemap" in row.failures[0].lower()
    assert _sources(world) == []


def test_a_private_address_is_refused_by_the_outbound_client(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID
) -> None:
    import_id = _start(world, queue, user_id, "https://intranet.example.com/wiki", sitemap=False)

    def private_network() -> httpx.Client:
        return build_http_client(OutboundPolicy(), version="test", resolver=PrivateResolver())

    status = run_import(world.sessions, private_network, world.files, import_id)
    row = _import(world, import_id)
    assert status == row.status == ImportStatus.FAILED
    assert "private" in row.failures[0]
    assert _sources(world) == []


def test_a_finished_import_is_not_run_again(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID, site: Site
) -> None:
    import_id = _start(world, queue, user_id, f"{SITE}/sitemap.xml", sitemap=True)
    assert run_import(world.sessions, site.client, world.files, import_id) == ImportStatus.DONE
    requests = len(site.requested)
    before = _import(world, import_id)
    assert run_import(world.sessions, site.client, world.files, import_id) is None
    after = _import(world, import_id)
    assert len(site.requested) == requests
    assert (after.finished_at, after.pages_done) == (before.finished_at, before.pages_done)


def test_an_import_left_running_by_a_dead_worker_runs_again_without_duplicates(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID, site: Site
) -> None:
    import_id = _start(world, queue, user_id, f"{SITE}/sitemap.xml", sitemap=True)
    run_import(world.sessions, site.client, world.files, import_id)
    with unit_of_work(world.sessions) as session:
        session.execute(
            update(KnowledgeImport).where(KnowledgeImport.id == import_id).values(status=ImportStatus.RUNNING)
        )
    assert run_import(world.sessions, site.client, world.files, import_id) == ImportStatus.DONE
    row = _import(world, import_id)
    assert (row.pages_total, row.pages_done, row.pages_failed, len(row.failures)) == (3, 2, 1, 1)
    assert _sources(world) == [f"{SITE}/returns", f"{SITE}/shipping"]
    stored = [path for path in world.uploads.rglob("*") if path.is_file()]
    assert len(stored) == 2  # the first run's originals were replaced, not kept beside


def test_an_agent_deleted_before_the_job_runs_leaves_nothing_to_do(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID, site: Site
) -> None:
    import_id = _start(world, queue, user_id, f"{SITE}/sitemap.xml", sitemap=True)
    with unit_of_work(world.sessions) as session:
        do_delete_agent(session, world.agent(session, "support"), files=world.files, actor=OPERATOR)
    assert queue.run_work_item(_work_item(world, import_id)).outcome is Outcome.DONE
    assert site.requested == []
    with unit_of_work(world.sessions) as session:
        assert session.scalar(select(func.count()).select_from(KnowledgeDocument)) == 0


def test_the_last_failed_attempt_marks_the_import_failed(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID, site: Site, clock: FakeClock
) -> None:
    import_id = _start(world, queue, user_id, f"{SITE}/returns", sitemap=False)
    item_id = _work_item(world, import_id)

    def broken(url: str) -> None:
        raise RuntimeError("the server itself is failing")  # not the site's failure: retried

    site.on_request = broken
    for _attempt in range(KNOWLEDGE_IMPORT_ATTEMPTS - 1):
        assert queue.run_work_item(item_id).outcome is Outcome.RETRY
        assert _import(world, import_id).status == ImportStatus.RUNNING
        clock.advance(dt.timedelta(hours=2))
    assert queue.run_work_item(item_id).outcome is Outcome.FAILED
    row = _import(world, import_id)
    assert row.status == ImportStatus.FAILED
    assert row.failures == ["The import stopped because of an error on the server. Try again later."]
    assert row.finished_at is not None


def test_starting_an_import_records_it_audits_and_queues_one_job(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID
) -> None:
    import_id = _start(world, queue, user_id, f"{SITE}/sitemap.xml", sitemap=True, max_pages=500)
    row = _import(world, import_id)
    assert (row.sitemap, row.max_pages, row.created_by_id) == (True, 500, user_id)
    with unit_of_work(world.sessions) as session:
        items = session.scalars(select(WorkItem).where(WorkItem.kind == KNOWLEDGE_IMPORT)).all()
        (event,) = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "knowledge.import.started")
        ).all()
    assert [item.payload for item in items] == [{"import_id": str(import_id)}]
    assert event.target_id == str(import_id)
    assert SITE not in str(event.data)  # the address is sealed on the row, not copied into the log


@pytest.mark.parametrize(
    ("url", "sitemap", "max_pages", "error"),
    [
        ("ftp://help.example.com/faq", False, 1, InvalidImportUrl),
        ("https://user:pw@help.example.com/", False, 1, InvalidImportUrl),
        ("help.example.com/faq", False, 1, InvalidImportUrl),
        (f"{SITE}/sitemap.xml", True, 0, ValidationFailed),
        (f"{SITE}/sitemap.xml", True, 501, ValidationFailed),
    ],
)
def test_a_bad_address_or_page_count_is_refused_and_records_nothing(
    world: KnowledgeWorld,
    queue: JobQueue,
    user_id: uuid.UUID,
    url: str,
    sitemap: bool,
    max_pages: int,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        _start(world, queue, user_id, url, sitemap=sitemap, max_pages=max_pages)
    with unit_of_work(world.sessions) as session:
        assert session.scalar(select(func.count()).select_from(KnowledgeImport)) == 0
        assert session.scalar(select(func.count()).select_from(WorkItem)) == 0


def test_an_agent_has_at_most_three_unfinished_imports(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID
) -> None:
    for number in range(MAX_UNFINISHED_IMPORTS):
        _start(world, queue, user_id, f"{SITE}/page-{number}", sitemap=False)
    with pytest.raises(ValidationFailed, match="imports waiting or running"):
        _start(world, queue, user_id, f"{SITE}/one-more", sitemap=False)


def test_an_import_is_found_only_through_its_own_agent(
    world: KnowledgeWorld, queue: JobQueue, user_id: uuid.UUID
) -> None:
    import_id = _start(world, queue, user_id, f"{SITE}/returns", sitemap=False)
    with unit_of_work(world.sessions) as session:
        assert access_import_by_id(session, world.agent(session, "support"), import_id).id == import_id
        with pytest.raises(NotFound):
            access_import_by_id(session, world.agent(session, "sales"), import_id)
        other = world.agent(session, "support", workspace_id=world.other_workspace_id)
        with pytest.raises(NotFound):
            access_import_by_id(session, other, import_id)
