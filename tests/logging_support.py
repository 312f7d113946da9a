"""Helpers for tests that configure logging: put the root logger back as it was."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from hushdesk.infra.logs import configure_logging


@contextmanager
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)


@contextmanager
def json_log_capture() -> Iterator[io.StringIO]:
    """The product's JSON logging (with its redaction filter), written to a string."""
    stream = io.StringIO()
    with restored_logging():
        configure_logging("DEBUG", stream=stream)
        yield stream
