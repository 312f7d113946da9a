"""The CLI commands configure the root logger as the real process would; undo it after each
test so that later tests do not write to a closed stream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.logging_support import restored_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    with restored_logging():
        yield
