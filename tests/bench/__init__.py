"""Tests of the scripts in bench/. Those import one another as top-level modules (``from
harness import ...``), as they do when run as ``python bench/<script>.py`` and as mypy sees them
(``mypy_path = "src:bench"``), so bench/ is put on the import path here, before any test module
of this package is imported."""

import sys
from pathlib import Path

BENCH_DIR = str(Path(__file__).resolve().parents[2] / "bench")
if BENCH_DIR not in sys.path:
    sys.path.append(BENCH_DIR)
