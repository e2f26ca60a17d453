"""``valuesbot people export|forget`` (the data protection officer) and ``valuesbot audit``,
run in this process on a real SQLite database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.app import build_app
from bot.audit import cli_actor
from bot.cli import main
from storage.people import PersonKey
from tests.conftest import ANSWER_KEY, make_settings
from tests.dialogs.test_records import hold
from tests.dialogs.test_values_lens import rows
from tests.harness import TENANT, Harness

ALICE = PersonKey("console", TENANT, "alice")


@pytest.fixture
def database_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite database holding Alice's and Bob's records; the CLI's environment names it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'valuesbot.db'}"
    for name, value in {
        "DATABASE_URL": url,
        "VALUESBOT_PSEUDONYM_SECRET": "test-secret-0123456789",
        "VALUESBOT_ANSWER_KEY": ANSWER_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    async def fill() -> None:
        app = await build_app(make_settings(url))
        try:
            harness = Harness(app)
            await harness.user_says("/values", user="alice")
            await hold(app, ALICE, "alice")
            await hold(app, PersonKey("console", TENANT, "bob"), "bob")
        finally:
            await app.close()

    asyncio.run(fill())
    return url


def count(url: str, sql: str) -> object:
    async def read() -> object:
        app = await build_app(make_settings(url), prepare=False)
        try:
            [(value,)] = await rows(app, sql)
            return value
        finally:
            await app.close()

    return asyncio.run(read())


def test_forget_says_what_it_would_erase_then_erases_with_yes(
    database_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["people", "forget", f"console:{TENANT}:alice"]) == 0
    said = capsys.readouterr().out
    assert "Would erase console:test:alice: 1 check-in, 2 commitments" in said
    assert "1 case study, 2 values identifiers, ratings in 1 team check-in" in said
    assert count(database_file, "SELECT count(*) FROM checkins WHERE owner = 'alice'") == 1

    assert main(["people", "forget", f"console:{TENANT}:alice", "--yes"]) == 0
    erased = capsys.readouterr().out
    assert "Erased: 1 values lens check-in; 2 commitments (1 shared" in erased
    assert "1 values identifier erased; 1 approved values identifier kept published" in erased
    assert count(database_file, "SELECT count(*) FROM checkins WHERE owner = 'alice'") == 0
    assert count(database_file, "SELECT count(*) FROM people WHERE user_id = 'alice'") == 0
    assert count(database_file, "SELECT count(*) FROM checkins WHERE owner = 'bob'") == 1

    assert main(["audit"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(f"{cli_actor()}  erase")


def test_export_writes_the_persons_record(
    database_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "alice.json"
    assert main(["people", "export", f"console:{TENANT}:alice", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [c["id"] for c in data["values_lens_checkins"]] == ["ci-alice"]
    assert "bob" not in out.read_text()
    assert main(["audit", "--since", "2026-01-01"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{cli_actor()}  export  json")


def test_bad_input_is_one_line(database_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["people", "forget", "alice", "--yes"]) == 2
    assert "person:" in capsys.readouterr().err
    assert main(["audit", "--since", "yesterday"]) == 2
    assert "--since needs a day like 2027-03-01" in capsys.readouterr().err
