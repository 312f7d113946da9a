"""Importing the application does nothing: no files, no database, no network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_importing_every_entry_point_creates_nothing(tmp_path: Path) -> None:
    code = "import hushdesk.app, hushdesk.cli, hushdesk.tasks, hushdesk.bootstrap, hushdesk.schema"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
