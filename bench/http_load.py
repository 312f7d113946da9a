"""HTTP throughput and latency of the real ``hushdesk serve`` beside a bare FastAPI app.

Measures requests/second and p50/p99 latency of ``/healthz`` and of the signed-in
``/dashboard`` page, served by ``hushdesk serve`` (embedded default: SQLite, one process) on
loopback, and of a bare FastAPI hello world (bench/bare_app.py) served by uvicorn with the
same settings, in the same run. The figure is the ratio hushdesk / bare.

The load generator is ``wrk`` (Debian: ``apt-get install -y wrk``): fixed duration and
connections, a warm-up per target, several repetitions interleaved across the targets (so a
noisy neighbour hits them all alike), medians reported. Traffic goes to 127.0.0.1 only, with
a Host header the server accepts; every process stops by itself.

Usage: .venv/bin/python bench/http_load.py [--duration 6] [--repetitions 5] [--connections 16]
Results: printed, and written to bench/results/http_load-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness import (
    Served,
    bare_app_command,
    free_loopback_port,
    hushdesk_serve_command,
    machine_facts,
    median,
    owner_with_second_factor,
    print_table,
    running,
    write_result,
)

WORKSPACE = "Bench Workspace"
PASSWORD = "bench password for load tests"
SESSION_COOKIE = "hushdesk_session"
WRK_TIMEOUT_S = 5

# wrk calls done() once at the end; it prints one machine-readable line.
WRK_REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT {\\"requests\\": %.0f, \\"duration_us\\": %.0f, \\"errors_connect\\": %.0f, " ..
    "\\"errors_read\\": %.0f, \\"errors_write\\": %.0f, \\"errors_status\\": %.0f, " ..
    "\\"errors_timeout\\": %.0f, \\"p50_us\\": %.0f, \\"p90_us\\": %.0f, \\"p99_us\\": %.0f, " ..
    "\\"max_us\\": %.0f}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Target:
    name: str
    served: Served
    path: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    timeouts: int


def run_wrk(target: Target, *, duration_s: int, connections: int, lua_script: Path) -> Run:
    """One wrk run against ``target``. Raises ``RuntimeError`` on any socket error or any
    response that is not 2xx/3xx (a benchmark of error pages would be meaningless)."""
    command = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{duration_s}s",
        "--timeout",
        f"{WRK_TIMEOUT_S}s",
        "--latency",
        "--script",
        str(lua_script),
        "--header",
        f"Host: {target.served.host_header}",
    ]
    for name, value in target.headers.items():
        command += ["--header", f"{name}: {value}"]
    command.append(f"{target.served.url}{target.path}")
    completed = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 30, check=True)
    report_lines = [line for line in completed.stdout.splitlines() if line.startswith("WRK_RESULT ")]
    if not report_lines:
        raise RuntimeError(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")
    report: dict[str, float] = json.loads(report_lines[-1].removeprefix("WRK_RESULT "))
    # Requests slower than wrk's --timeout are counted, not failed: they are part of the figure
    # (and missing from wrk's latency percentiles, so they are reported beside them).
    errors = {
        key: value
        for key, value in report.items()
        if key.startswith("errors_") and key != "errors_timeout" and value
    }
    if errors:
        raise RuntimeError(f"{target.name}: wrk saw errors {errors}:\n{completed.stdout}")
    return Run(
        requests_per_s=report["requests"] / (report["duration_us"] / 1e6),
        p50_ms=report["p50_us"] / 1000,
        p90_ms=report["p90_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        max_ms=report["max_us"] / 1000,
        requests=int(report["requests"]),
        timeouts=int(report["errors_timeout"]),
    )


def sign_in_owner(served: Served) -> str:
    """First-run setup and the owner's authenticator app over HTTP, as a browser would (owners
    must have a second factor before anything else); return the session cookie."""
    cookie = owner_with_second_factor(served, password=PASSWORD, workspace_name=WORKSPACE)
    with httpx.Client(base_url=served.url, headers={"Host": served.host_header}, timeout=30.0) as client:
        page = client.get("/dashboard", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
        if page.status_code != 200 or WORKSPACE not in page.text:
            raise RuntimeError(f"the dashboard did not load: {page.status_code}")
    return cookie


def summarise(runs: list[Run]) -> dict[str, Any]:
    return {
        "requests_per_s": median([run.requests_per_s for run in runs]),
        "p50_ms": median([run.p50_ms for run in runs]),
        "p99_ms": median([run.p99_ms for run in runs]),
        "requests_per_s_min": min(run.requests_per_s for run in runs),
        "requests_per_s_max": max(run.requests_per_s for run in runs),
        "timeouts": sum(run.timeouts for run in runs),
        "runs": [asdict(run) for run in runs],
    }


def measure(arguments: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    lua_script = workdir / "report.lua"
    lua_script.write_text(WRK_REPORT_LUA)
    hushdesk_port = bare_port = free_loopback_port()
    while bare_port == hushdesk_port:
        bare_port = free_loopback_port()
    with (
        running(
            "hushdesk", hushdesk_serve_command(hushdesk_port, workdir), port=hushdesk_port, workdir=workdir
        ) as hushdesk,
        running("bare", bare_app_command(bare_port), port=bare_port, workdir=workdir) as bare,
    ):
        cookie = sign_in_owner(hushdesk)
        targets = [
            Target("bare FastAPI /healthz", bare, "/healthz"),
            Target("hushdesk /healthz", hushdesk, "/healthz"),
            Target("hushdesk /dashboard", hushdesk, "/dashboard", {"Cookie": f"{SESSION_COOKIE}={cookie}"}),
        ]
        for target in targets:
            print(f"warm-up {target.name} ({arguments.warmup}s)", file=sys.stderr)
            run_wrk(
                target, duration_s=arguments.warmup, connections=arguments.connections, lua_script=lua_script
            )
        runs: dict[str, list[Run]] = {target.name: [] for target in targets}
        for repetition in range(arguments.repetitions):
            # Rotate the order so that no target always runs first or last.
            shift = repetition % len(targets)
            for target in targets[shift:] + targets[:shift]:
                print(f"run {repetition + 1}/{arguments.repetitions}: {target.name}", file=sys.stderr)
                runs[target.name].append(
                    run_wrk(
                        target,
                        duration_s=arguments.duration,
                        connections=arguments.connections,
                        lua_script=lua_script,
                    )
                )
    return {name: summarise(target_runs) for name, target_runs in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=6, help="seconds per measured run (default 6)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per target (default 3)")
    parser.add_argument("--repetitions", type=int, default=5, help="measured runs per target (default 5)")
    parser.add_argument("--connections", type=int, default=16, help="open connections (default 16)")
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        print(
            "wrk is missing: install it with `sudo apt-get install -y wrk` (Debian/Ubuntu)", file=sys.stderr
        )
        return 2

    facts = machine_facts()
    with tempfile.TemporaryDirectory(prefix="hushdesk-bench-") as tmp:
        results = measure(arguments, Path(tmp))

    bare = results["bare FastAPI /healthz"]
    ratios = {
        name: {
            "requests_per_s": round(summary["requests_per_s"] / bare["requests_per_s"], 3),
            "p50": round(summary["p50_ms"] / bare["p50_ms"], 2),
            "p99": round(summary["p99_ms"] / bare["p99_ms"], 2),
        }
        for name, summary in results.items()
    }
    rows = [
        [
            name,
            f"{summary['requests_per_s']:.0f}",
            f"{summary['requests_per_s_min']:.0f}-{summary['requests_per_s_max']:.0f}",
            f"{summary['p50_ms']:.2f}",
            f"{summary['p99_ms']:.2f}",
            f"{ratios[name]['requests_per_s']:.2f}",
            str(summary["timeouts"]),
        ]
        for name, summary in results.items()
    ]
    print(
        f"\nwrk, 1 thread, {arguments.connections} connections, {arguments.repetitions} x "
        f"{arguments.duration}s per target (medians)"
    )
    print_table(
        [
            "target",
            "req/s",
            "req/s range",
            "p50 ms",
            "p99 ms",
            "req/s vs bare",
            f"timeouts (>{WRK_TIMEOUT_S}s)",
        ],
        rows,
    )
    path = write_result(
        "http_load",
        {
            "machine": facts,
            "settings": {
                "tool": "wrk",
                "threads": 1,
                "timeout_s": WRK_TIMEOUT_S,
                "connections": arguments.connections,
                "duration_s": arguments.duration,
                "warmup_s": arguments.warmup,
                "repetitions": arguments.repetitions,
            },
            "results": results,
            "ratios_vs_bare_healthz": ratios,
        },
    )
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
