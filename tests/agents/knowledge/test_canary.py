"""The canary scan for knowledge bases and agent configuration: strings written through every
sealed field of a document, its chunks, its stored original, an agent's prompt and its version
history appear nowhere in the database or the uploads folder; the agent's name (plaintext by
design) is found by the same scan, which proves the scan can see."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

from hushdesk.agents.config import do_update_settings, settings_of
from hushdesk.agents.knowledge.ingest import prepare_file
from hushdesk.infra.db.uow import unit_of_work
from tests.agents.conftest import OPERATOR, KnowledgeWorld

CANARIES = {
    "source": "CANARY-SOURCE-4b1d",
    "heading": "CANARY-HEADING-77ae",
    "text": "CANARY-TEXT-0c93",
    "link": "canary-link-e5f2.example",
    "prompt": "CANARY-PROMPT-a18c",
    "greeting": "CANARY-GREETING-39d0",
}
CONTROL = "CANARY-AGENT-NAME-CONTROL"


def _database_bytes(world: KnowledgeWorld, tmp_path: Path) -> bytes:
    if world.engine.dialect.name == "sqlite":
        # The database file with its -wal and -shm: what is not checkpointed yet is there.
        return b"".join(path.read_bytes() for path in (tmp_path / "var").rglob("*") if path.is_file())
    pg_dump = shutil.which("pg_dump")
    assert pg_dump is not None, "pg_dump is needed for this test"
    url = world.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run([pg_dump, "--data-only", url], capture_output=True, check=True, timeout=120).stdout


def test_no_knowledge_or_prompt_canary_is_readable_at_rest(world: KnowledgeWorld, tmp_path: Path) -> None:
    document = (
        f"# {CANARIES['heading']}\n\n{CANARIES['text']} is how refunds work. "
        f"See [the policy](https://{CANARIES['link']}/refunds).\n"
    ).encode()
    prepared = prepare_file(source=f"{CANARIES['source']}.md", filename="policy.md", content=document)
    world.store("support", prepared)
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")
        wanted = dataclasses.replace(
            settings_of(agent), name=CONTROL, system_prompt=CANARIES["prompt"], greeting=CANARIES["greeting"]
        )
        do_update_settings(session, agent, wanted, actor=OPERATOR)
    database = _database_bytes(world, tmp_path)
    uploads = b"".join(path.read_bytes() for path in world.uploads.rglob("*") if path.is_file())
    assert uploads, "the original was stored"
    for name, canary in CANARIES.items():
        assert canary.encode() not in database, f"the {name} canary is readable in the database"
        assert canary.encode() not in uploads, f"the {name} canary is readable in the uploads"
    assert b"refunds work" not in uploads
    assert CONTROL.encode() in database, "the scan cannot see the database"
