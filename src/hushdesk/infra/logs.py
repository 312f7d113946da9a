"""Structured JSON logs with a request id on every line and secrets masked.

``configure_logging`` installs one handler on the root logger that writes one JSON object per
line to stderr. ``RedactingFilter`` masks the values of keys that name secrets (password,
token, secret, authorization, cookie, ...) in the ``extra`` fields of a record, at any depth,
and masks ``key=value`` pairs of the same names inside the message text.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import traceback
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, TextIO

request_id_var: ContextVar[str | None] = ContextVar("hushdesk_request_id", default=None)

MASK = "[REDACTED]"
SENSITIVE_KEY = re.compile(
    r"pass(word|wd|phrase)?|token|secret|authori[sz]ation|cookie|api[_-]?key|session|csrf|"
    r"private[_-]?key|credential|signature",
    re.IGNORECASE,
)
_INLINE_SECRET = re.compile(
    r"(?P<key>\b[\w-]*(?:pass(?:word|wd)?|token|secret|authori[sz]ation|cookie|api[_-]?key)[\w-]*)"
    r"(?P<sep>[\"']?\s*[=:]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "color_message"}
)


def redact_value(key: str, value: Any) -> Any:
    if SENSITIVE_KEY.search(key):
        return MASK
    return redact_structure(value)


def redact_structure(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_structure(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_text(text: str) -> str:
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _INLINE_SECRET.sub(lambda m: f"{m.group('key')}{m.group('sep')}{MASK}", text)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message arguments and extra fields, in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        for key in list(vars(record)):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, redact_value(key, getattr(record, key)))
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = redact_text("".join(traceback.format_exception(*record.exc_info)))
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Replace the root logger's handlers with one JSON handler (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Our access log replaces uvicorn's, which would print raw paths (tokens live in some).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("huey").setLevel(max(logging.getLogger().level, logging.INFO))
