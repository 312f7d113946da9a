"""Knowledge extraction and chunking throughput, in pages per second.

- PDF: one ``--pages``-page PDF written by ``document_samples.pdf_bytes`` (a help centre of
  about 2,500 characters of text per page, Flate-compressed content streams, Helvetica), run
  through ``extract`` then ``chunk_document``.
- HTML: ``--pages`` separate help-centre pages by ``document_samples.html_bytes``, each with a
  real site's chrome (navigation, banner, footer, scripts, a hidden cookie banner, an aside),
  each run through ``extract`` then ``chunk_document``.

Each case runs ``--repeats`` times (after one untimed warm-up) in this one process, timed with
``time.perf_counter``; the figure is pages divided by the median time.

Usage: .venv/bin/python bench/extraction.py [--pages 200 --repeats 7]
Results: printed, and written to bench/results/extraction-<time>.json.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from document_samples import help_centre_pages, html_bytes, pdf_bytes
from harness import machine_facts, median, print_table, write_result
from hushdesk.agents.knowledge.chunking import chunk_document
from hushdesk.agents.knowledge.extraction import DocumentKind, extract


def pdf_case(pages: int) -> tuple[Callable[[], int], int]:
    """A run (returning the number of chunks made) and the bytes it reads."""
    content = pdf_bytes(help_centre_pages(pages), title="Help centre")

    def run() -> int:
        return len(chunk_document(extract(DocumentKind.PDF, content)))

    return run, len(content)


def html_case(pages: int) -> tuple[Callable[[], int], int]:
    documents = [
        html_bytes(heading, [(1, heading, paragraphs)]) for heading, paragraphs in help_centre_pages(pages)
    ]

    def run() -> int:
        return sum(len(chunk_document(extract(DocumentKind.HTML, page))) for page in documents)

    return run, sum(len(page) for page in documents)


def measure(name: str, case: tuple[Callable[[], int], int], *, pages: int, repeats: int) -> dict[str, Any]:
    run, size = case
    chunks = run()  # warm-up, and the chunk count
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    seconds = median(timings)
    return {
        "case": name,
        "pages": pages,
        "input_bytes": size,
        "chunks": chunks,
        "median_s": seconds,
        "min_s": min(timings),
        "max_s": max(timings),
        "pages_per_s": pages / seconds,
        "mib_per_s": size / seconds / (1024 * 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()
    facts = machine_facts()
    results = [
        measure("pdf", pdf_case(arguments.pages), pages=arguments.pages, repeats=arguments.repeats),
        measure("html", html_case(arguments.pages), pages=arguments.pages, repeats=arguments.repeats),
    ]
    print(f"{facts['cpu_model']}, {facts['nproc']} cores, Python {facts['python']}")
    print_table(
        ["case", "pages", "input", "chunks", "median s", "pages/s", "MiB/s"],
        [
            [
                result["case"],
                str(result["pages"]),
                f"{result['input_bytes'] / 1024:.0f} KiB",
                str(result["chunks"]),
                f"{result['median_s']:.3f}",
                f"{result['pages_per_s']:.0f}",
                f"{result['mib_per_s']:.2f}",
            ]
            for result in results
        ],
    )
    path = write_result("extraction", {"machine": facts, "repeats": arguments.repeats, "results": results})
    print(f"written to {path.relative_to(path.parents[2])}")


if __name__ == "__main__":
    main()
