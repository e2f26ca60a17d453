"""``valuesbot scorecard`` and ``valuesbot stakeholders`` (comms), run in this process on a real
SQLite database: the staff survey imported (or refused whole, with row numbers), a figure set,
a stakeholder round opened with its links written to a file, answered, closed, its comments
moderated; each action in the audit trail."""

from __future__ import annotations

import asyncio
import csv
import os
import sqlite3
from pathlib import Path

import pytest

from bot.app import build_app
from bot.cli import main
from storage.barometer import BarometerAnswer
from tests.conftest import ANSWER_KEY, make_settings
from tests.scorecard_seed import STAFF_SURVEY

PUBLIC = "https://values.example.org"
QUESTIONS = ("patients", "listen", "open", "partnership")


def words(printed: str) -> str:
    """What the terminal shows, without the card's frame and line breaks."""
    return " ".join(w for w in printed.split() if w not in ("│", "┌─", "└─"))


@pytest.fixture
def database_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty SQLite database; the CLI's environment names it."""
    path = tmp_path / "valuesbot.db"
    for name, value in {
        "DATABASE_URL": f"sqlite+aiosqlite:///{path}",
        "VALUESBOT_PSEUDONYM_SECRET": "test-secret-0123456789",
        "VALUESBOT_ANSWER_KEY": ANSWER_KEY,
        "VALUESBOT_PUBLIC_URL": PUBLIC,
        "VALUESBOT_COMMENT_MIN": "5",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return path


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return list(connection.execute(sql))


def test_importing_the_staff_survey_is_all_or_nothing(
    database_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "period,key,value,respondents\n2026,engagement,7.1,790\n2026,engagement,7.2,790\n"
        "2026,recommend_work,n/a,790\n"
    )
    assert main(["scorecard", "import", "staff-survey", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"valuesbot: {bad}: nothing imported:\n"
        "row 3: period 2026 and key engagement are on row 2 already\n"
        "row 4: value 'n/a' is not a percent from 0 to 100\n"
    )
    assert query(database_file, "SELECT count(*) FROM scorecard_figures") == [(0,)]
    good = tmp_path / "survey.csv"
    good.write_text(STAFF_SURVEY)
    assert main(["scorecard", "import", "staff-survey", str(good)]) == 0
    assert capsys.readouterr().out == f"imported 4 figures from {good}\n"
    assert query(database_file, "SELECT count(*) FROM scorecard_figures") == [(4,)]
    assert main(["scorecard", "import", "staff-survey", str(tmp_path / "none.csv")]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert main(["scorecard", "set", "severe_harm", "2026-Q3", "12"]) == 0
    assert main(["scorecard", "set", "severe_harm", "2026-Q3", "1.5"]) == 2
    assert "Value '1.5' is not a whole number of 0 or more." in capsys.readouterr().err
    assert main(["scorecard", "show", "7"]) == 0
    shown = words(capsys.readouterr().out)
    assert "Patient safety incidents reported as causing severe harm or death" in shown
    assert "12 (2026 Q3)" in shown
    assert main(["scorecard"]) == 0
    assert "2. Improving staff satisfaction" in capsys.readouterr().out
    actions = query(database_file, "SELECT actor, action, subject FROM audit_log ORDER BY at")
    assert [(a.split(":")[0], b, c) for a, b, c in actions] == [
        ("cli", "scorecard.import.staff_survey", "4 figures (2025, 2026)"),
        ("cli", "scorecard.set", "severe_harm 2026-Q3"),
    ]


def test_a_stakeholder_round_from_the_command_line(
    database_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stakeholders", "open", "--invites", "6", "--period", "2026-Q4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("opened the 2026-Q4 round: 6 links in stakeholder-links-2026-Q4.csv")
    written = tmp_path / "stakeholder-links-2026-Q4.csv"
    assert oct(os.stat(written).st_mode & 0o777) == "0o600"
    with written.open() as opened:
        links = [row["link"] for row in csv.DictReader(opened)]
    assert len(links) == 6
    assert all(link.startswith(f"{PUBLIC}/feedback/") for link in links)
    # Only the hashes are kept.
    tokens = {link.rsplit("/", 1)[1] for link in links}
    kept = {h for (h,) in query(database_file, "SELECT token_hash FROM stakeholder_links")}
    assert len(kept) == 6
    assert not tokens & kept
    # The file is not written over, and one round is open at a time.
    assert main(["stakeholders", "open", "--invites", "6", "--period", "2026-Q4"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["stakeholders", "open", "--invites", "6", "--period", "2027", "-o", "x.csv"]) == 2
    assert "the 2026-Q4 round is open: close it first" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
    assert (
        main(["stakeholders", "open", "--invites", "3", "--questions", "nope", "-o", "y.csv"]) == 2
    )
    assert "no stakeholder question nope" in capsys.readouterr().err

    async def answer() -> None:
        app = await build_app(
            make_settings(f"sqlite+aiosqlite:///{database_file}", VALUESBOT_PUBLIC_URL=PUBLIC)
        )
        try:
            assert app.scorecard is not None
            for n, token in enumerate(sorted(tokens)[:5]):
                async with app.database.unit() as stores:
                    await app.scorecard.stakeholders.answer(
                        stores,
                        token,
                        BarometerAnswer(
                            values=dict.fromkeys(
                                ("patients", "listen", "open", "partnership"), "agree"
                            ),
                            comment=f"comment {n}",
                        ),
                        app.clock.now(),
                    )
        finally:
            await app.close()

    asyncio.run(answer())
    assert main(["stakeholders", "status"]) == 0
    assert capsys.readouterr().out == "2026-Q4: 5 of 6 links answered\n"
    assert main(["stakeholders", "comments"]) == 0
    assert "are read once it closes" in capsys.readouterr().out
    assert main(["stakeholders", "close"]) == 0
    assert capsys.readouterr().out == "closed the 2026-Q4 round: 5 answered\n"
    assert main(["stakeholders", "close"]) == 2
    assert main(["stakeholders", "comments"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert sorted(line.split("  ", 1)[1] for line in listed) == [f"comment {n}" for n in range(5)]
    first = listed[0].split("  ", 1)[0]
    assert main(["stakeholders", "approve", first]) == 0
    assert main(["stakeholders", "reject", "nope"]) == 2
    assert "There is no comment 'nope'" in capsys.readouterr().err
    actions = [a for (a,) in query(database_file, "SELECT action FROM audit_log ORDER BY at")]
    assert sorted(actions) == [
        "stakeholders.close",
        "stakeholders.comment.approved",
        "stakeholders.open",
    ]
    assert main(["scorecard", "show", "1"]) == 0
    assert "100% (2026 Q4)" in words(capsys.readouterr().out)
