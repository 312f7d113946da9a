"""Attachments through the widget: an image or PDF, typed from its bytes, at most 5 MiB,
sealed in the uploads folder; every refusal writes nothing (no row, no file)."""

from __future__ import annotations

import gc
import io
import uuid
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.types import Message as AsgiMessage

from hushdesk.conversations.attachments import MAX_ATTACHMENT_BYTES
from hushdesk.conversations.models import Attachment, Conversation, Message
from hushdesk.infra.db.uow import unit_of_work
from tests.widget.conftest import Visitor, WidgetWorld, count_rows, tiny_png

ATTACHMENTS = "/widget/v1/attachments"
MARKER = b"ATTACHMENT-CANARY-6d0f2a"


def _send(visitor: Visitor, data: bytes, name: str = "receipt.png", client_id: str | None = None) -> Any:
    return visitor.post(
        ATTACHMENTS,
        files={"file": (name, io.BytesIO(data), "application/octet-stream")},
        data={"client_id": client_id or str(uuid.uuid4())},
    )


def _uploads(world: WidgetWorld) -> set[Path]:
    root: Path = world.app.state.settings.uploads_dir
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def _snapshot(world: WidgetWorld) -> tuple[int, int, int, set[Path]]:
    return (
        count_rows(world, Message),
        count_rows(world, Attachment),
        count_rows(world, Conversation),
        _uploads(world),
    )


def test_png_is_stored_sealed_as_a_customer_message(widget: WidgetWorld) -> None:
    visitor = widget.visitor().start()
    before = _uploads(widget)
    png = tiny_png(MARKER)
    response = _send(visitor, png, name="till receipt.png")
    assert response.status_code == 202, response.text
    message = response.json()["message"]
    assert message["author"] == "customer"
    assert message["attachment"] == {"name": "till receipt.png", "media_type": "image/png", "size": len(png)}
    new_files = _uploads(widget) - before
    assert len(new_files) == 1
    stored = b"".join(path.read_bytes() for path in new_files)
    assert MARKER not in stored
    assert png not in stored
    assert b"IHDR" not in stored
    with unit_of_work(widget.sessions) as session:
        [row] = session.scalars(select(Attachment)).all()
        assert row.file_name == "till receipt.png"
        assert session.get_one(Message, row.message_id).reply_state == "skipped"
    # The agent does not read attachments: no reply job.
    assert widget.pending_work() == []


def test_attachment_of_exactly_the_limit_is_accepted(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    png = tiny_png()
    response = _send(visitor, png + b"\x00" * (MAX_ATTACHMENT_BYTES - len(png)))
    assert response.status_code == 202, response.text
    assert response.json()["message"]["attachment"]["size"] == MAX_ATTACHMENT_BYTES


def test_attachment_over_five_mib_is_refused_and_nothing_written(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    before = _snapshot(shared_widget)
    png = tiny_png()
    response = _send(visitor, png + b"\x00" * (MAX_ATTACHMENT_BYTES + 1 - len(png)))
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "attachment_too_large"
    assert _snapshot(shared_widget) == before


def test_svg_is_refused_and_nothing_written(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    before = _snapshot(shared_widget)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    response = _send(visitor, svg, name="logo.svg")
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "attachment_type"
    assert _snapshot(shared_widget) == before


def test_png_named_as_another_type_is_refused(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    before = _snapshot(shared_widget)
    response = _send(visitor, tiny_png(), name="invoice.pdf")
    assert response.status_code == 415, response.text
    assert _snapshot(shared_widget) == before


def test_attachment_name_is_cleaned(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    response = _send(visitor, tiny_png(), name="..\\..\\etc/photo\u202egnp.png")
    assert response.status_code == 202, response.text
    assert response.json()["message"]["attachment"]["name"] == "photognp.png"


def test_attachment_before_consent_is_refused_and_nothing_written(widget: WidgetWorld) -> None:
    visitor = widget.visitor().start(consent=False)
    before = _snapshot(widget)
    response = _send(visitor, tiny_png())
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "consent_required"
    assert _snapshot(widget) == before


async def _post_counting_reads(
    world: WidgetWorld, headers: list[tuple[bytes, bytes]], chunks: int
) -> tuple[int, int]:
    """POST a multipart body of ``chunks`` MiB straight to the ASGI app (TestClient reads the
    whole body before the app starts) and return the status and how many chunks the app read."""
    head = (
        b'--hdtest\r\nContent-Disposition: form-data; name="client_id"\r\n\r\n'
        + str(uuid.uuid4()).encode()
        + b'\r\n--hdtest\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + tiny_png()
    )
    parts = [head] + [b"\x00" * 1_048_576] * chunks + [b"\r\n--hdtest--\r\n"]
    read = 0
    status = 0

    async def receive() -> AsgiMessage:
        nonlocal read
        if read >= len(parts):
            return {"type": "http.disconnect"}
        read += 1
        return {"type": "http.request", "body": parts[read - 1], "more_body": read < len(parts)}

    async def send(message: AsgiMessage) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": ATTACHMENTS,
        "raw_path": ATTACHMENTS.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"multipart/form-data; boundary=hdtest"),
            *headers,
        ],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
    }
    await world.app(scope, receive, send)
    return status, read


def test_attachment_without_token_is_refused(shared_widget: WidgetWorld) -> None:
    before = _snapshot(shared_widget)
    response = shared_widget.client.post(
        ATTACHMENTS,
        files={"file": ("receipt.png", io.BytesIO(tiny_png()), "image/png")},
        data={"client_id": str(uuid.uuid4())},
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "widget_token_invalid"
    assert _snapshot(shared_widget) == before


def test_attachment_without_token_is_refused_before_the_body_is_read(shared_widget: WidgetWorld) -> None:
    portal = shared_widget.client.portal
    assert portal is not None
    status, read = portal.call(_post_counting_reads, shared_widget, [], 8)
    assert (status, read) == (401, 0)
    # The control: with a token the body is read, and only up to the attachment limit (8 MiB
    # are sent; the guard stops after the head and 6 of them, past 5 MiB and its framing).
    visitor = shared_widget.visitor().start(consent=False)
    bearer = [(b"authorization", f"Bearer {visitor.token}".encode())]
    status, read = portal.call(_post_counting_reads, shared_widget, bearer, 8)
    assert (status, read) == (413, 7)
    # A body within the limit is read to its end (here refused for want of consent).
    status, read = portal.call(_post_counting_reads, shared_widget, bearer, 4)
    assert (status, read) == (409, 6)


def test_uploaded_form_is_closed(shared_widget: WidgetWorld) -> None:
    """The upload's spooled temporary file is closed by the route, not left to the collector
    (on success and on refusal alike)."""
    visitor = shared_widget.visitor().start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert _send(visitor, tiny_png()).status_code == 202
        assert _send(visitor, b"<svg/>", name="x.svg").status_code == 415
        gc.collect()
    leaked = [str(w.message) for w in caught if "SpooledTemporaryFile" in str(w.message)]
    assert leaked == []


def test_same_client_id_twice_stores_one_attachment(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    client_id = str(uuid.uuid4())
    first = _send(visitor, tiny_png(), client_id=client_id)
    assert first.status_code == 202, first.text
    files = _uploads(shared_widget)
    attachments = count_rows(shared_widget, Attachment)
    second = _send(visitor, tiny_png(), client_id=client_id)
    assert second.status_code in (200, 202), second.text
    assert second.json()["message"]["id"] == first.json()["message"]["id"]
    assert count_rows(shared_widget, Attachment) == attachments
    assert _uploads(shared_widget) == files
