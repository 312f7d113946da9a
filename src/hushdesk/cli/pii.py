"""pii detect, pii redact: the PII engine over JSON lines on stdin, for batches and for checking
what it finds. The formats, options and exit codes are in docs/pii-cli.md."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from hushdesk.cli.options import DataDir, fail, load_settings
from hushdesk.privacy.pii import (
    ALL_LABELS,
    CustomPattern,
    CustomPatternError,
    Detector,
    DetectorConfig,
    LexiconBuildError,
    NameLexicon,
)
from hushdesk.privacy.pii.names import LEXICON_FILE
from hushdesk.privacy.pii.redaction import MIN_PSEUDONYM_KEY_BYTES, RedactionMode, redact

CHUNK_LINES = 500  # lines per unit of work: large enough that handing it to a worker is cheap
PROGRESS_SECONDS = 2.0
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode

Chunk = list[tuple[int, bytes]]  # (line number, the line as read)

Labels = Annotated[
    list[str] | None,
    typer.Option("--label", "-l", help="Only this label (repeatable).", show_default=False),
]
Excluded = Annotated[
    list[str] | None, typer.Option("--exclude", help="Not this label (repeatable).", show_default=False)
]
Patterns = Annotated[
    list[str] | None,
    typer.Option(
        "--pattern",
        help="A custom pattern NAME=REGEX (RE2 syntax; repeatable); NAME becomes a label.",
        show_default=False,
    ),
]
NoNames = Annotated[bool, typer.Option("--no-names", help="Skip the name lists (no PERSON from them).")]
CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Where the name lists are built once and read from (default: <data dir>/cache).",
        show_default=False,
    ),
]
Workers = Annotated[
    int, typer.Option("--workers", min=1, max=64, help="Processes detecting in parallel; output order kept.")
]


def register(app: typer.Typer) -> None:
    pii = typer.Typer(help="Find or redact personal data in JSON lines.", no_args_is_help=True)
    pii.command("detect")(detect)
    pii.command("redact")(redact_lines)
    app.add_typer(pii, name="pii")


def detect(
    label: Labels = None,
    exclude: Excluded = None,
    pattern: Patterns = None,
    no_names: NoNames = False,
    cache_dir: CacheDir = None,
    data_dir: DataDir = None,
    workers: Workers = 1,
) -> None:
    """Read {"id", "text"} lines on stdin; write {"id", "spans"} lines on stdout, in input order.
    Exit 0 when every line was read, 1 when any was malformed (each reported on stderr), 2 on a
    usage error (before anything is read)."""
    setup = _setup("detect", label, exclude, pattern, no_names, cache_dir, data_dir)
    _run(setup, workers)


def redact_lines(
    mode: Annotated[RedactionMode, typer.Option("--mode", help="[EMAIL], or [EMAIL_3f9a0c1b].")] = (
        RedactionMode.LABEL
    ),
    pseudonym_key_file: Annotated[
        Path | None,
        typer.Option(
            "--pseudonym-key-file",
            help=f"The pseudonym key: every byte of this file (at least {MIN_PSEUDONYM_KEY_BYTES}).",
            show_default=False,
        ),
    ] = None,
    label: Labels = None,
    exclude: Excluded = None,
    pattern: Patterns = None,
    no_names: NoNames = False,
    cache_dir: CacheDir = None,
    data_dir: DataDir = None,
    workers: Workers = 1,
) -> None:
    """Read {"id", "text"} lines on stdin; write {"id", "text"} lines, redacted, on stdout, in
    input order. Exit codes as for detect."""
    key = _pseudonym_key(pseudonym_key_file) if mode is RedactionMode.PSEUDONYM else None
    setup = _setup("redact", label, exclude, pattern, no_names, cache_dir, data_dir, mode=mode, key=key)
    _run(setup, workers)


@dataclass(frozen=True, slots=True)
class Setup:
    """What a process needs to build its own detector and handle lines: plain values, so that it
    can be sent to worker processes (a compiled pattern cannot)."""

    command: str  # "detect" or "redact"
    labels: frozenset[str]
    patterns: tuple[tuple[str, str], ...]
    cache_dir: Path | None  # None: no name lists
    mode: RedactionMode = RedactionMode.LABEL
    key: bytes | None = field(default=None, repr=False)  # never in a repr or a traceback

    def build(self, progress: Callable[[str], None] | None = None) -> LineHandler:
        patterns = tuple(CustomPattern(name, expression) for name, expression in self.patterns)
        config = DetectorConfig(labels=self.labels & ALL_LABELS, custom_patterns=patterns)
        names = NameLexicon.load(self.cache_dir, progress=progress) if self.cache_dir else None
        return LineHandler(self, Detector(config, names=names))


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """A chunk's output lines and error lines, each already encoded and joined."""

    output: bytes
    errors: bytes
    lines: int
    malformed: int


class Malformed(ValueError):
    """A line that cannot be answered; the message is safe to print (it never quotes the line)."""

    def __init__(self, message: str, record_id: Any = None) -> None:
        super().__init__(message)
        self.record_id = record_id


class LineHandler:
    """Turns input lines into output lines with one detector."""

    def __init__(self, setup: Setup, detector: Detector) -> None:
        self.setup = setup
        self.detector = detector

    def handle(self, chunk: Chunk) -> ChunkResult:
        output: list[bytes] = []
        errors: list[bytes] = []
        for number, raw in chunk:
            try:
                record_id, text = _parse(raw)
            except Malformed as problem:
                errors.append(_line({"id": problem.record_id, "line": number, "error": str(problem)}))
                continue
            output.append(_line(self.result(record_id, text)))
        return ChunkResult(b"".join(output), b"".join(errors), len(chunk), len(errors))

    def result(self, record_id: Any, text: str) -> dict[str, Any]:
        spans = self.detector.detect(text)
        if self.setup.command == "redact":
            redacted = redact(text, spans, mode=self.setup.mode, pseudonym_key=self.setup.key)
            return {"id": record_id, "text": redacted}
        found = [
            {"start": span.start, "end": span.end, "label": span.label, "score": round(span.score, 3)}
            for span in spans
        ]
        return {"id": record_id, "spans": found}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(raw: bytes) -> tuple[Any, str]:
    """(id, text) of one line, or Malformed with a reason that never quotes the line (it may
    hold the very data being looked for)."""
    try:
        record = json.loads(raw, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise Malformed("not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise Malformed(f"not valid JSON: {exc.msg} at column {exc.colno}") from exc
    except ValueError as exc:  # NaN or Infinity, which JSON does not have
        raise Malformed(f"not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise Malformed("not valid JSON: nested too deeply") from exc
    if not isinstance(record, dict):
        raise Malformed("not a JSON object")
    if "id" not in record:
        raise Malformed("id is missing")
    record_id = record["id"]
    text = record.get("text")
    if not isinstance(text, str):
        raise Malformed("text is missing" if text is None else "text is not a string", record_id)
    return record_id, text


def _line(record: dict[str, Any]) -> bytes:
    """One JSON line in UTF-8; with \\u escapes instead when a string holds a lone surrogate
    (valid JSON from the input, but not encodable as UTF-8)."""
    try:
        return (_ENCODE(record) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(record) + "\n").encode("ascii")


def _setup(
    command: str,
    include: list[str] | None,
    exclude: list[str] | None,
    pattern_options: list[str] | None,
    no_names: bool,
    cache_dir: Path | None,
    data_dir: Path | None,
    *,
    mode: RedactionMode = RedactionMode.LABEL,
    key: bytes | None = None,
) -> Setup:
    """Everything checked before a line is read: a usage error exits 2 here."""
    patterns = tuple(_pattern(option) for option in pattern_options or [])
    labels = _chosen_labels(include or [], exclude or [], {name for name, _ in patterns})
    chosen_patterns = tuple(p for p in patterns if p[0] in labels)
    if not no_names and cache_dir is None:
        cache_dir = load_settings(data_dir=data_dir).data_dir / "cache"
    return Setup(command, labels, chosen_patterns, None if no_names else cache_dir, mode, key)


def _pattern(option: str) -> tuple[str, str]:
    name, equals, expression = option.partition("=")
    if not equals:
        raise fail(f"--pattern {option!r}: expected NAME=REGEX")
    try:
        CustomPattern(name, expression)
    except CustomPatternError as exc:
        raise fail(f"--pattern {name}: {exc}") from exc
    return name, expression


def _chosen_labels(include: list[str], exclude: list[str], pattern_names: set[str]) -> frozenset[str]:
    """The labels asked for (every label when none is), plus each --pattern's name, minus the
    excluded ones. Exits 2 on a label that is neither built in nor a --pattern's name."""
    known = ALL_LABELS | pattern_names
    include = [label.upper() for label in include]
    exclude = [label.upper() for label in exclude]
    unknown = sorted({label for label in include + exclude if label not in known})
    if unknown:
        raise fail(f"unknown label {', '.join(unknown)}; labels are {', '.join(sorted(known))}")
    chosen = set(include) | pattern_names if include else set(known)
    return frozenset(chosen - set(exclude))


def _pseudonym_key(path: Path | None) -> bytes:
    if path is None:
        raise fail(f"--mode pseudonym needs --pseudonym-key-file (at least {MIN_PSEUDONYM_KEY_BYTES} bytes)")
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read the pseudonym key file {path}: {exc.strerror}") from exc
    if len(key) < MIN_PSEUDONYM_KEY_BYTES:
        raise fail(
            f"the pseudonym key file {path} holds {len(key)} bytes; at least {MIN_PSEUDONYM_KEY_BYTES}"
        )
    return key


def _run(setup: Setup, workers: int) -> None:
    """Stream stdin through the handlers; exit 1 if any line was malformed."""
    stdout = typer.get_binary_stream("stdout")
    try:
        malformed = _stream(setup, workers, stdout)
    except LexiconBuildError as exc:
        raise fail(str(exc)) from exc
    except BrokenPipeError:
        # The reader went away (``| head``): stop without a traceback, as other tools do, and
        # send what is still buffered to /dev/null rather than fail again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        raise typer.Exit(1) from None
    if malformed:
        raise typer.Exit(1)


def _stream(setup: Setup, workers: int, stdout: IO[bytes]) -> int:
    """Writes each chunk's output and error lines as it comes; returns the malformed count."""
    stderr = typer.get_binary_stream("stderr")
    progress = Progress(sys.stderr)
    malformed = 0
    for result in _results(setup, _chunks(typer.get_binary_stream("stdin")), workers):
        if result.errors:
            stderr.write(result.errors)
            stderr.flush()
        stdout.write(result.output)
        malformed += result.malformed
        progress.add(result.lines)
    stdout.flush()
    progress.finish()
    return malformed


def _chunks(stream: IO[bytes]) -> Iterator[Chunk]:
    """Non-blank lines in chunks, read as they come (never all of stdin at once)."""
    chunk: Chunk = []
    for number, raw in enumerate(stream, start=1):
        if raw.isspace():
            continue
        chunk.append((number, raw))
        if len(chunk) >= CHUNK_LINES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _results(setup: Setup, chunks: Iterable[Chunk], workers: int) -> Iterator[ChunkResult]:
    """Each chunk's result, in input order. With several workers, an ordered map over a process
    pool that keeps a few chunks per worker in flight: ``Pool.imap`` would keep order too, but
    its feeder thread reads the whole input ahead, with no bound on memory."""
    if workers == 1:
        handler = setup.build(progress=_say)
        yield from (handler.handle(chunk) for chunk in chunks)
        return
    if setup.cache_dir is not None and not (setup.cache_dir / LEXICON_FILE).exists():
        # Built here once rather than by every worker at the same time (each build takes 2 GB).
        NameLexicon.load(setup.cache_dir, progress=_say)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited state
    with context.Pool(workers, initializer=_start_worker, initargs=(setup,)) as pool:
        pending: deque[AsyncResult[ChunkResult]] = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_work, (chunk,)))
            if len(pending) >= 4 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


# Each worker process's own handler, made once by the pool's initializer: the one place a
# module-level variable holds state, because a pool task can only reach its process that way.
_worker_handler: LineHandler | None = None


def _start_worker(setup: Setup) -> None:
    global _worker_handler
    _worker_handler = setup.build()


def _work(chunk: Chunk) -> ChunkResult:
    assert _worker_handler is not None, "the pool initializer builds the handler"
    return _worker_handler.handle(chunk)


def _say(message: str) -> None:
    typer.echo(f"pii: {message}", err=True)


class Progress:
    """A count of lines on stderr every couple of seconds, only when stderr is a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.lines = 0
        self.started_at = self.shown_at = time.monotonic()

    def add(self, lines: int) -> None:
        self.lines += lines
        now = time.monotonic()
        if self.enabled and now - self.shown_at >= PROGRESS_SECONDS:
            self.shown_at = now
            self._show(now)

    def finish(self) -> None:
        if self.enabled:
            self._show(time.monotonic())

    def _show(self, now: float) -> None:
        rate = self.lines / max(now - self.started_at, 1e-9)
        self.stream.write(f"pii: {self.lines} lines, {rate:.0f}/s\n")
        self.stream.flush()
