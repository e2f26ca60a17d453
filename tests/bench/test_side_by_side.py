"""valuesbot beside the minimal Bolt app, in alternation: each round's ratios against the Bolt
run of the same round, the verdict on their median, and the table's row from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.side_by_side import ratios, summary


def run(turns: float, p99: float, cpu: float = 1.0) -> dict[str, Any]:
    return {
        "turns_per_second": turns,
        "serve_cpu_ms_per_turn": cpu,
        "visible": {"all": {"p99_ms": p99}},
    }


def one_round(bolt: dict[str, Any], sqlite: dict[str, Any], pg: dict[str, Any]) -> dict[str, Any]:
    ours = {"sqlite": sqlite, "postgresql": pg}
    return {
        "bolt": bolt,
        "valuesbot": ours,
        "ratios": {db: ratios(ours[db], bolt) for db in ours},
    }


# The machine slows down in the second round and speeds up in the third: Bolt and valuesbot
# alike, so the ratios hardly move while the turns a second do.
ROUNDS = [
    one_round(run(1000, 100), run(650, 140, 1.5), run(400, 210)),
    one_round(run(700, 140), run(420, 200, 2.2), run(290, 290)),
    one_round(run(1300, 80), run(830, 110, 1.2), run(500, 170)),
]


def test_each_round_is_set_against_its_own_bolt_run() -> None:
    assert ROUNDS[1]["ratios"]["sqlite"] == {"turns": 0.6, "p99": pytest.approx(1.429, abs=1e-3)}
    s = summary(ROUNDS, "sqlite")
    assert s["turns_ratios"] == [0.65, 0.6, pytest.approx(0.638, abs=1e-3)]
    assert s["median"] == {"turns": pytest.approx(0.638, abs=1e-3), "p99": 1.4}
    assert s["median_round"] == 2
    assert s["met"] is True
    pg = summary(ROUNDS, "postgresql")
    assert pg["median"]["turns"] == pytest.approx(0.4, abs=1e-3)
    assert pg["met"] is False


def test_the_table_row_shows_the_median_and_every_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = {"figures": {"rounds": ROUNDS, "summary": {"sqlite": summary(ROUNDS, "sqlite")}}}
    (tmp_path / "side_by_side-help.json").write_text(json.dumps(document), encoding="utf-8")
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    (row,) = list(report.bolt_rows())
    assert row[0].endswith("3 rounds in alternation")
    assert row[1] == "sqlite"
    assert "turns/s **0.64x** (rounds: 0.65, 0.60, 0.64; in the median round 830 vs 1300" in row[2]
    assert "visible p99 **1.40x**" in row[2]
    assert row[4] == "met"
