"""Structured JSON logs with a request id on every line and secrets masked.

``configure_logging`` installs one handler on the root logger that writes one JSON object per
line to stderr. ``RedactingFilter`` masks the values of keys that name secrets (password,
token, secret, authorization, cookie, ...) in the ``extra`` fields of a record, at any depth,
and masks ``key=value`` pairs of the same names inside the message text. It also masks the personal
data the PII engine finds in messages, string fields and tracebacks (emails, phone numbers, card,
identity and account numbers, IP addresses, dates of birth; names are found with the name lists,
which the logger does not load), replacing each with its label: ``[EMAIL]``.
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

from hushdesk.privacy.pii import Detector

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


def redact_value(key: str, value: Any, detector: Detector | None = None) -> Any:
    if SENSITIVE_KEY.search(key):
        return MASK
    return redact_structure(value, detector)


def redact_structure(value: Any, detector: Detector | None = None) -> Any:
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v, detector) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_structure(v, detector) for v in value]
    if isinstance(value, str):
        return redact_text(value, detector)
    return value


def redact_text(text: str, detector: Detector | None = None) -> str:
    """Secrets masked, and personal data too when a detector is given."""
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _INLINE_SECRET.sub(lambda m: f"{m.group('key')}{m.group('sep')}{MASK}", text)
    return mask_personal_data(text, detector) if detector else text


def mask_personal_data(text: str, detector: Detector) -> str:
    pieces: list[str] = []
    position = 0
    for span in detector.detect(text):
        pieces.extend((text[position : span.start], f"[{span.label}]"))
        position = span.end
    pieces.append(text[position:])
    return "".join(pieces)


class RedactingFilter(logging.Filter):
    """Masks secrets and personal data in a record's message arguments and extra fields, in
    place. The detector is pure, so one filter serves every thread."""

    def __init__(self, detector: Detector | None = None) -> None:
        super().__init__()
        self.detector = detector or Detector()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage(), self.detector)
        record.args = None
        for key in list(vars(record)):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, redact_value(key, getattr(record, key), self.detector))
        return True


class JSONFormatter(logging.Formatter):
    def __init__(self, detector: Detector | None = None) -> None:
        super().__init__()
        self.detector = detector or Detector()

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
            trace = "".join(traceback.format_exception(*record.exc_info))
            entry["exception"] = redact_text(trace, self.detector)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Replace the root logger's handlers with one JSON handler (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    detector = Detector()
    handler.setFormatter(JSONFormatter(detector))
    handler.addFilter(RedactingFilter(detector))
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
    # The PDF reader quotes bytes of the document it is reading in its warnings and errors; the
    # document is a business's confidential knowledge, and every failure already reaches the
    # admin as our own message, so its log stays silent.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)
