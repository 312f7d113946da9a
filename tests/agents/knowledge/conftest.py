"""The knowledge tests build their sample documents with bench/document_samples.py, which the
extraction benchmark uses too; bench/ is put on the import path as tests/bench does."""

import sys
from pathlib import Path

BENCH_DIR = str(Path(__file__).resolve().parents[3] / "bench")
if BENCH_DIR not in sys.path:
    sys.path.append(BENCH_DIR)
