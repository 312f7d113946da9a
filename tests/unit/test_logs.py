"""JSON logs: one object per line, request id attached, secrets masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from hushdesk.infra.logs import MASK, redact_text, request_id_var
from tests.logging_support import json_log_capture


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    with json_log_capture() as stream:
        yield stream


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_json_with_the_request_id(log_stream: io.StringIO) -> None:
    token = request_id_var.set("req-12345678")
    try:
        logging.getLogger("hushdesk.test").info("hello %s", "world", extra={"count": 3})
    finally:
        request_id_var.reset(token)
    (line,) = _lines(log_stream)
    assert line["message"] == "hello world"
    assert line["request_id"] == "req-12345678"
    assert line["count"] == 3
    assert line["level"] == "info"


@pytest.mark.parametrize(
    "key", ["password", "api_key", "Authorization", "cookie", "client_secret", "access_token", "csrf_token"]
)
def test_sensitive_extra_fields_are_masked(log_stream: io.StringIO, key: str) -> None:
    logging.getLogger("hushdesk.test").info("event", extra={key: "hunter2-value"})
    (line,) = _lines(log_stream)
    assert line[key] == MASK
    assert "hunter2" not in log_stream.getvalue()


def test_nested_structures_are_masked(log_stream: io.StringIO) -> None:
    logging.getLogger("hushdesk.test").info(
        "event", extra={"request": {"headers": {"cookie": "s=abc"}, "ok": 1}}
    )
    (line,) = _lines(log_stream)
    assert line["request"] == {"headers": {"cookie": MASK}, "ok": 1}


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("login failed password=hunter2 for user", "hunter2"),
        ('config {"api_key": "sk-live-abc"}', "sk-live-abc"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi"),
        ("url?token=abcdef&x=1", "abcdef"),
    ],
)
def test_secrets_in_message_text_are_masked(text: str, leak: str) -> None:
    assert leak not in redact_text(text)


def test_exception_text_is_masked(log_stream: io.StringIO) -> None:
    try:
        raise ValueError("connect failed password=hunter2")
    except ValueError:
        logging.getLogger("hushdesk.test").exception("boom")
    assert "hunter2" not in log_stream.getvalue()
    assert "ValueError" in log_stream.getvalue()


def test_personal_data_in_messages_fields_and_tracebacks_is_masked_by_label(log_stream: io.StringIO) -> None:
    log = logging.getLogger("hushdesk.test.pii")
    card = {"card": "4111 1111 1111 1111"}
    log.info("lookup for %s on %s", "thandi@example.co.za", "082 555 0123", extra=card)
    try:
        raise ValueError("no account for id 8001015009087")
    except ValueError:
        log.exception("failed")
    written = log_stream.getvalue()
    for value in ("thandi@example.co.za", "082 555 0123", "4111 1111 1111 1111", "8001015009087"):
        assert value not in written
    first, second = (json.loads(line) for line in written.splitlines())
    assert first["message"] == "lookup for [EMAIL] on [PHONE]"
    assert first["card"] == "[CREDIT_CARD]"
    assert "[ZA_ID]" in second["exception"]


def test_the_pdf_readers_messages_which_quote_documents_are_not_logged(log_stream: io.StringIO) -> None:
    logging.getLogger("pypdf").warning("Ignoring wrong pointing object b'CONFIDENTIAL-KNOWLEDGE'")
    logging.getLogger("pypdf._reader").error("startxref points at b'CONFIDENTIAL-KNOWLEDGE'")
    assert "CONFIDENTIAL-KNOWLEDGE" not in log_stream.getvalue()
