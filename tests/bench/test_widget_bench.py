"""bench/widget_bench.py: its helpers, and one tiny run (``--quick``: SQLite, 1 and 3 visitors,
2 messages each) against the real ``hushdesk serve`` on loopback. Figures are not judged here
(they belong in docs/benchmarks.md); what is checked is that every level ran, that every reply
reached its visitor on the event stream, and that the timings are consistent."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

import widget_bench
from widget_bench import nearest_rank

QUICK_REPLY_TIMEOUT_S = 4  # a reply takes well under a second here; the warm-up has its own


def test_nearest_rank_percentiles() -> None:
    values = [float(value) for value in range(10, 0, -1)]  # unsorted on purpose
    assert nearest_rank(values, 50) == 5.0
    assert nearest_rank(values, 99) == 10.0
    assert nearest_rank(values, 10) == 1.0
    assert nearest_rank([7.0], 99) == 7.0
    assert nearest_rank([], 50) is None


def test_each_visitor_gets_the_next_questions_in_turn() -> None:
    questions = ["a", "b", "c", "d", "e"]
    assert widget_bench._turns(questions, 0, 3) == ["a", "b", "c"]
    assert widget_bench._turns(questions, 1, 3) == ["d", "e", "a"]


def test_more_messages_than_the_per_visitor_limit_allows_are_refused() -> None:
    assert widget_bench._messages("12") == 12
    with pytest.raises(argparse.ArgumentTypeError, match="15 messages a minute"):
        widget_bench._messages("13")
    with pytest.raises(argparse.ArgumentTypeError):
        widget_bench._engines("sqlite,mysql")
    with pytest.raises(argparse.ArgumentTypeError):
        widget_bench._counts("1,0")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    out: Path = tmp_path_factory.mktemp("widget-bench") / "widget.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = widget_bench.main(
            ["--quick", "--reply-timeout", str(QUICK_REPLY_TIMEOUT_S), "--json", str(out)]
        )
    return code, json.loads(out.read_text(encoding="utf-8")), printed.getvalue()


@pytest.mark.slow
def test_the_quick_run_covers_every_level_and_records_where_it_ran(
    quick_run: tuple[int, dict[str, Any], str],
) -> None:
    code, result, printed = quick_run
    assert code == 0
    assert [(run["engine"], run["visitors"]) for run in result["runs"]] == [("sqlite", 1), ("sqlite", 3)]
    sqlite = result["installations"]["sqlite"]
    assert sqlite["server_logged_errors"] == 0
    assert sqlite["warm_up"]["answered"] == 2
    assert result["machine"]["nproc"] >= 1
    assert result["machine"]["python"]
    assert result["code"]["commit"]
    assert result["measured_at"]
    assert "1st token p50" in printed


@pytest.mark.slow
def test_every_visitor_gets_every_answer_on_its_stream_with_consistent_timings(
    quick_run: tuple[int, dict[str, Any], str],
) -> None:
    _, result, _ = quick_run
    for run in result["runs"]:
        assert run["visitors_started"] == run["visitors"], run["error_kinds"]
        assert run["error_kinds"] == {}
        assert run["planned"] == run["sent"] == run["visitors"] * 2
        assert run["answered"] == run["sent"]
        assert run["messages_per_s"] > 0
        answered, first = run["answered_ms"], run["first_token_ms"]
        assert 0 < first["p50"] <= answered["p50"] <= answered["p99"]
        assert first["p50"] <= first["p99"] <= answered["p99"]
        # A job worker took each reply up (its "typing" status) before the reply arrived.
        assert 0 < run["picked_up_seen"] <= run["answered"]
        assert run["picked_up_ms"]["p50"] <= answered["p50"]
        # The server's own log of the run agrees: 2 messages stored per visitor, a job for each.
        stored = run["server_ms"]["POST /widget/v1/messages"]
        assert stored["count"] == run["sent"]
        assert run["server_ms"]["job"]["count"] >= stored["count"]
        assert "GET /widget/v1/events" not in run["server_ms"]
