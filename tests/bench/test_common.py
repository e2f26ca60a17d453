"""The benchmarks' own arithmetic: percentiles, and what a profile summary says."""

from __future__ import annotations

import gc
import os

from bench.common import (
    GENERATOR_FULL_EVERY,
    cpu_seconds,
    latency_figures,
    percentile,
    rss_kib,
    steady_generator,
    summarise,
)


def test_percentiles_are_nearest_rank() -> None:
    ordered = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms
    assert percentile(ordered, 50) == 0.05
    assert percentile(ordered, 99) == 0.099
    assert percentile([0.2], 99) == 0.2
    figures = latency_figures(reversed(ordered))
    assert figures == {
        "count": 100,
        "p50_ms": 50.0,
        "p95_ms": 95.0,
        "p99_ms": 99.0,
        "max_ms": 100.0,
        "mean_ms": 50.5,
    }
    assert latency_figures([]) == {"count": 0}


def test_the_generator_makes_no_full_collection_while_it_measures() -> None:
    """Inside ``steady_generator`` the objects made before are frozen, a full pass waits for
    many more middle passes than Python's default, and the full passes made are counted; after
    it the collector is as it was."""
    threshold = gc.get_threshold()
    kept = [[n] for n in range(1000)]  # made before: frozen out of the collector's sight
    with steady_generator() as pauses:
        assert gc.get_freeze_count() >= len(kept)
        assert gc.get_threshold() == (threshold[0], threshold[1], GENERATOR_FULL_EVERY)
        gc.collect()  # one full pass asked for: counted
    assert pauses.full_collections == 1
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0


def test_this_process_has_memory_and_cpu_time() -> None:
    assert rss_kib(os.getpid()) > 1000
    assert cpu_seconds(os.getpid()) > 0
    assert cpu_seconds() > 0


def test_a_profile_summary_splits_the_event_loops_time() -> None:
    folded = "\n".join(
        [
            "main (bot/cli.py:1);_serve (bot/cli.py:2);run (asyncio/runners.py:3);"
            "select (selectors.py:4) 6",
            "main (bot/cli.py:1);_serve (bot/cli.py:2);_run (asyncio/events.py:5);"
            "events (adapters/slack/app.py:6);parse_qsl (urllib/parse.py:7) 3",
            "main (bot/cli.py:1);_serve (bot/cli.py:2);_run (asyncio/events.py:5);"
            "events (adapters/slack/app.py:6);unquote (urllib/parse.py:9) 1",
            "Thread._bootstrap (threading.py:1);_connection_worker_thread (aiosqlite/core.py:8) 1",
        ]
    )
    text = summarise(folded)
    assert text.startswith("11 samples (py-spy, 200 a second, the process running on,")
    assert "the process stopped for each sample" in summarise(folded, stopped=True)
    assert "the event loop's thread (10 samples)" in text
    assert " 60.0%  (waiting for work: select)" in text
    assert " 40.0%  events adapters/slack/app.py" in text
    # The busy samples by every function on their stacks: the library call costs 3 of 4.
    assert "the event loop's busy samples (4), by every function on their stacks:" in text
    busy = text.split("by every function on their stacks:\n")[1].split("\n\n")[0]
    assert busy.splitlines() == [
        "   75.0%  parse_qsl urllib/parse.py",
        "   25.0%  unquote urllib/parse.py",
    ]


def test_statements_sampled_in_sqlalchemys_greenlets_count_as_the_event_loops() -> None:
    """py-spy samples a statement run from a coroutine (in SQLAlchemy's greenlet) from the
    greenlet's first frame: those stacks are the event loop's thread too, busy."""
    folded = "\n".join(
        [
            "main (bot/cli.py:1);_serve (bot/cli.py:2);run (asyncio/runners.py:3);"
            "select (selectors.py:4) 5",
            "main (bot/cli.py:1);_serve (bot/cli.py:2);_run (asyncio/events.py:5);"
            "handle (bot/dispatch.py:6);dumps (json/__init__.py:7) 1",
            "main (bot/cli.py:1);_serve (bot/cli.py:2);_run (asyncio/events.py:5);"
            "send (adapters/slack/app.py:8) 1",
            "Connection.execute (sqlalchemy/engine/base.py:9);"
            "do_execute (sqlalchemy/engine/default.py:10) 3",
            "Thread._bootstrap (threading.py:1);worker (concurrent/futures/thread.py:11) 10",
            " 4",
        ]
    )
    text = summarise(folded)
    assert "the event loop's thread (10 samples)" in text
    assert " 50.0%  (waiting for work: select)" in text
    assert " 30.0%  (a statement, in SQLAlchemy's greenlet: its caller is not sampled)" in text
    assert " 10.0%  handle bot/dispatch.py" in text
    assert " 10.0%  send adapters/slack/app.py" in text
    busy = text.split("by every function on their stacks:\n")[1].split("\n\n")[0]
    assert "the event loop's busy samples (5), by every function on their stacks:" in text
    assert sorted(busy.splitlines()) == [  # the frames on every stack running the loop left out
        "   20.0%  dumps json/__init__.py",
        "   20.0%  handle bot/dispatch.py",
        "   20.0%  send adapters/slack/app.py",
        "   60.0%  Connection.execute sqlalchemy/engine/base.py",
        "   60.0%  do_execute sqlalchemy/engine/default.py",
    ]
