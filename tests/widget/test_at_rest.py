"""The canary scan for the widget: what a visitor writes, the assistant's reply, an attachment
and its name, and a verified customer's id appear nowhere in the database, the uploads folder
or the logs; a refused origin (plaintext by design) is found by the same scan, which proves
the scan can see."""

from __future__ import annotations

import io
import shutil
import subprocess
import uuid
from pathlib import Path

from sqlalchemy import select

from hushdesk.channels.widget.identity import generate_identity_secret, sign_identity_token
from hushdesk.conversations.models import Attachment, Author, Message
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from tests.logging_support import json_log_capture
from tests.widget.conftest import WidgetWorld, tiny_png, update_agent

QUESTION_CANARY = "CANARYQUESTION7b1e"
FILE_NAME_CANARY = "CANARYFILENAME40c2"
FILE_BYTES_CANARY = b"CANARY-FILE-BYTES-93d5"
USER_CANARY = "canary-user-e7a0"
CONTROL_ORIGIN = "https://control-canary-0f6b.example"


def _database_bytes(world: WidgetWorld, tmp_path: Path) -> bytes:
    engine = world.app.state.engine
    if engine.dialect.name == "sqlite":
        # The database file with its -wal and -shm: what is not checkpointed yet is there.
        var = tmp_path / "var"
        return b"".join(p.read_bytes() for p in var.glob("hushdesk.sqlite3*") if p.is_file())
    pg_dump = shutil.which("pg_dump")
    assert pg_dump is not None, "pg_dump is needed for this test"
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run([pg_dump, "--data-only", url], capture_output=True, check=True, timeout=120).stdout


def _uploads_bytes(world: WidgetWorld) -> bytes:
    root: Path = world.app.state.settings.uploads_dir
    return b"".join(path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file())


def test_no_widget_canary_is_readable_at_rest(sqlite_widget: WidgetWorld, tmp_path: Path) -> None:
    secret = generate_identity_secret()
    update_agent(sqlite_widget, identity_secret=secret)
    with json_log_capture() as logs:
        user = sign_identity_token(secret=secret, user_id=USER_CANARY, now=utcnow())
        visitor = sqlite_widget.visitor(user=user).start()
        sent = visitor.say(f"{QUESTION_CANARY}: how many business days until refunds are paid back?")
        assert sent.status_code == 202, sent.text
        assert [result.outcome.value for result in sqlite_widget.run_replies()] == ["done"]
        attached = visitor.post(
            "/widget/v1/attachments",
            files={"file": (f"{FILE_NAME_CANARY}.png", io.BytesIO(tiny_png(FILE_BYTES_CANARY)), "image/png")},
            data={"client_id": str(uuid.uuid4())},
        )
        assert attached.status_code == 202, attached.text
        refused = sqlite_widget.visitor(origin=CONTROL_ORIGIN).open()
        assert refused.status_code == 403
    with unit_of_work(sqlite_widget.sessions) as session:
        messages = list(session.scalars(select(Message).order_by(Message.seq)))
        # The canaries were stored (sealed), not dropped or redacted away.
        assert QUESTION_CANARY in messages[0].body
        reply = next(m.body for m in messages if m.author == Author.ASSISTANT.value)
        assert "5 business days" in reply
        [attachment] = session.scalars(select(Attachment)).all()
        assert FILE_NAME_CANARY in attachment.file_name
    database = _database_bytes(sqlite_widget, tmp_path)
    uploads = _uploads_bytes(sqlite_widget)
    log_text = logs.getvalue().encode()
    secrets = {
        "question": QUESTION_CANARY.encode(),
        "reply": reply.encode(),
        "file name": FILE_NAME_CANARY.encode(),
        "file bytes": FILE_BYTES_CANARY,
        "user id": USER_CANARY.encode(),
    }
    for name, canary in secrets.items():
        assert canary not in database, f"the {name} canary is readable in the database"
        assert canary not in uploads, f"the {name} canary is readable in the uploads"
        assert canary not in log_text, f"the {name} canary is in the logs"
    assert CONTROL_ORIGIN.encode() in database, "the scan cannot see the database"
