"""The CLI commands configure the root logger as the real process would; undo it after each
test so that later tests do not write to a closed stream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hushdesk.privacy.pii import NameLexicon
from tests.conftest import NAME_CACHE
from tests.logging_support import restored_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    with restored_logging():
        yield


@pytest.fixture(scope="session")
def name_lists_dir(name_lexicon: NameLexicon) -> Path:
    """The cache folder holding the built name lists (built once per checkout by the
    ``name_lexicon`` fixture)."""
    return NAME_CACHE
