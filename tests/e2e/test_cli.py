"""The ``valuesbot`` command as a person runs it: real processes, piped input, a real database."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import build_app
from bot.clock import ManualClock
from tests.conftest import ANSWER_KEY, START, create_pg_database, drop_pg_database, make_settings
from tests.dialogs.test_barometer import COMMS
from tests.dialogs.test_barometer_follow_up import closed_round, comment_ids, said_by
from tests.harness import Harness

VALUESBOT = str(Path(sys.executable).parent / "valuesbot")
PERSONAL = [
    "/valueslens",
    "Drafting the allocation guidance",
    "1",
    "2 we asked two patient reps",
    "partly - some evidence",
    "3",
    "4",
    "1",
    "Test the draft with two patient representatives",
    "1",
]

pytestmark = pytest.mark.slow


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VALUESBOT_", "DATABASE_URL", "SLACK_"))
    }
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'valuesbot.db'}", **extra})
    return env


def run(
    args: list[str], tmp_path: Path, lines: list[str] | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VALUESBOT, *args],
        input="\n".join(lines or []) + "\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env_for(tmp_path, **extra),
        timeout=60,
        check=False,
    )


def query(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "valuesbot.db") as connection:
        return connection.execute(sql).fetchall()


def test_a_piped_personal_checkin(tmp_path: Path) -> None:
    done = run(["chat", "--user", "Alice"], tmp_path, PERSONAL)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout
    assert "Alice> Drafting the allocation guidance" in out
    assert '┌─ Your values lens on "Drafting the allocation guidance"' in out
    assert "Most worth your attention: We are open and transparent." in out
    assert "✓ Saved as a commitment" in out
    assert query(tmp_path, "SELECT owner, work, focus FROM checkins") == [
        ("alice", "Drafting the allocation guidance", "open")
    ]
    assert query(tmp_path, "SELECT COUNT(*) FROM checkin_ratings") == [(6,)]
    assert query(tmp_path, "SELECT text FROM commitments") == [
        ("Test the draft with two patient representatives",)
    ]


def test_a_two_person_team_checkin(tmp_path: Path) -> None:
    start = run(
        ["chat", "--user", "Alice", "--channel", "team-x"], tmp_path, ["/valueslens Winter letter"]
    )
    assert "┌─ Team values lens: Winter letter" in start.stdout
    bob = run(
        ["chat", "--user", "Bob", "--channel", "team-x"],
        tmp_path,
        ["/valueslens", "1", "1", "2", "3", "1", "2", "4"],
    )
    assert "Thanks, your ratings are in." in bob.stdout
    alice = run(
        ["chat", "--user", "Alice", "--channel", "team-x"],
        tmp_path,
        ["/valueslens", "1", "1", "1", "1", "3", "2", "4", "/valueslens close"],
    )
    assert alice.returncode == 0, alice.stderr
    results = alice.stdout.split("┌─ Team values lens results: Winter letter")[1]
    assert "2 people answered." in results
    assert "Evidence-based          █████░░░░░  1 strongly, 1 not yet" in results
    assert query(tmp_path, "SELECT status, participants FROM team_checkins") == [("closed", 2)]
    assert query(tmp_path, "SELECT COUNT(DISTINCT member_key) FROM team_ratings") == [(2,)]


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 30) -> str:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"{marker!r} not seen in:\n{seen}")
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"process ended before {marker!r}:\n{seen}")
        seen += line
    return seen


def test_killed_mid_checkin_resumes_at_the_same_step(tmp_path: Path) -> None:
    with subprocess.Popen(
        [VALUESBOT, "chat", "--user", "Alice"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env_for(tmp_path),
    ) as process:
        assert process.stdin is not None
        try:
            for line in PERSONAL[:4]:
                process.stdin.write(line + "\n")
            process.stdin.flush()
            read_until(process, "┌─ We are evidence-based")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
    assert query(tmp_path, "SELECT step, json_extract(data, '$.index') FROM dialog_states") == [
        ("rate", 2)
    ]

    again = run(["chat", "--user", "Alice"], tmp_path, PERSONAL[4:])
    assert again.returncode == 0, again.stderr
    before_input = again.stdout.split("Alice> partly - some evidence")[0]
    assert "Welcome back. You were in the middle of a values lens check-in on" in before_input
    assert "┌─ We are evidence-based" in before_input
    assert "Most worth your attention: We are open and transparent." in again.stdout
    assert query(tmp_path, "SELECT COUNT(*) FROM checkins") == [(1,)]


def test_a_bad_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    done = run(["chat"], tmp_path, [], VALUESBOT_TIMEZONE="Atlantis/Capital")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "valuesbot: bad setting: VALUESBOT_TIMEZONE: not a known time zone (e.g. Europe/London) "
        "(got 'Atlantis/Capital')"
    )
    assert not (tmp_path / "valuesbot.db").exists()


def test_a_bad_content_file_stops_start_up_naming_it(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("vision: only this\n")
    done = run(["chat"], tmp_path, [], VALUESBOT_CONTENT=str(tmp_path / "values.yaml"))
    assert done.returncode == 2
    assert "values.yaml: organisation: missing" in done.stderr


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_URL, SKIP_PG

    if SKIP_PG:
        pytest.skip("VALUESBOT_TEST_SKIP_PG=1")
    name = f"valuesbot_cli_{os.getpid()}_{time.monotonic_ns() % 10**6}"
    asyncio.run(create_pg_database(name))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(drop_pg_database(name))


@pytest.mark.postgres
def test_postgresql_needs_db_upgrade_then_works(tmp_path: Path, empty_pg_url: str) -> None:
    pg = {"DATABASE_URL": empty_pg_url, "VALUESBOT_ANSWER_KEY": ANSWER_KEY}
    refused = run(["chat", "--user", "Alice"], tmp_path, ["/values"], **pg)
    assert refused.returncode == 2
    assert "run `valuesbot db upgrade`" in refused.stderr
    upgraded = run(["db", "upgrade"], tmp_path, **pg)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database is up to date" in upgraded.stdout
    done = run(["chat", "--user", "Alice"], tmp_path, PERSONAL, **pg)
    assert done.returncode == 0, done.stderr
    assert "✓ Saved as a commitment" in done.stdout
    current = run(["db", "current"], tmp_path, **pg)
    assert "(up to date)" in current.stdout
    # Without the key that seals the barometer's waiting answers, nothing starts.
    keyless = run(["chat", "--user", "Alice"], tmp_path, ["/values"], DATABASE_URL=empty_pg_url)
    assert keyless.returncode == 2
    assert keyless.stderr == (
        "valuesbot: bad setting: VALUESBOT_ANSWER_KEY is needed with PostgreSQL: the key that "
        "seals barometer answers waiting for their batch, the same on every instance and kept "
        "out of the database (at least 32 random characters; or VALUESBOT_ANSWER_KEY_FILE "
        "naming a file that holds it)\n"
    )


def test_serve_answers_health_and_metrics_and_stops_cleanly(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with subprocess.Popen(
        [VALUESBOT, "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env_for(tmp_path),
    ) as process:
        err = _serve_checks(process, port)
    assert process.returncode == 0, err
    assert "stopping" in err


def _serve_checks(process: subprocess.Popen[str], port: int) -> str:
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=2
                ) as response:
                    health = response.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        assert health == '{"status": "ok", "database": "sqlite"}'
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert "valuesbot_event_seconds" in response.read().decode()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    return err


def test_comms_run_the_barometer_from_the_command_line(tmp_path: Path) -> None:
    # Rounds opening by themselves would depend on today's date: off for this test.
    manual = {"VALUESBOT_BAROMETER_AUTO": "0"}
    run(["chat", "--user", "Alice"], tmp_path, ["/values"], **manual)
    opened = run(["barometer", "open"], tmp_path, **manual)
    assert opened.returncode == 0, opened.stderr
    assert "Opened: Staff barometer" in opened.stdout
    assert "queued for 1 person" in opened.stdout
    status = run(["barometer", "status"], tmp_path, **manual)
    assert "Answered: 0 of 1 (0%)" in status.stdout
    closed = run(["barometer", "close"], tmp_path, **manual)
    assert closed.returncode == 0, closed.stderr
    assert "0 of 1 person answered" in " ".join(closed.stdout.replace("│", "").split())
    assert "Results are shown only when at least 5 people" in closed.stdout
    again = run(["barometer", "tick"], tmp_path, **manual)
    assert again.stdout.strip() == "nothing was due"
    with sqlite3.connect(tmp_path / "valuesbot.db") as connection:
        keys = [k for (k,) in connection.execute("SELECT key FROM outbox")]
    assert len(keys) == 1
    assert keys[0].startswith("barometer:")
    assert keys[0].endswith(":console:local:alice")


async def test_comms_respond_and_record_actions_from_the_command_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A round closed and its comments approved in chat; then the comms team respond and
    record an action with ``valuesbot barometer respond|withdraw|responses|actions``, on the
    same database, as separate processes."""
    clock = ManualClock(START)
    app = await build_app(
        make_settings(sqlite_url, VALUESBOT_COMMS=f"console:{COMMS}"), clock=clock, prepare=False
    )
    try:
        await closed_round(Harness(app), clock)
        ids = await comment_ids(app)
    finally:
        await app.close()
    database = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "VALUESBOT_ANSWER_KEY": ANSWER_KEY,
        "VALUESBOT_PSEUDONYM_SECRET": "test-secret-0123456789",
        "VALUESBOT_BAROMETER_AUTO": "0",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [VALUESBOT, "barometer", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**env_for(tmp_path), **env},
            timeout=60,
            check=False,
        )

    listed = cli("respond")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("   id: ") == 10  # ten at a time, each with its whole id
    first, second, third = (ids[said_by(n)] for n in (2, 3, 4))
    one = cli("respond", first, "We hear you: more learning time.")
    assert one.returncode == 0, one.stderr
    assert "Response published" in one.stdout
    theme = cli(
        "respond", second[:6], third[:6], "--theme", "Workload", "Fewer meetings, we'll try."
    )
    assert "the theme “Workload” (2 comments)" in theme.stdout
    wrong = cli("respond", "ffff0000", "Hello")
    assert wrong.returncode == 2
    assert "There is no comment ffff0000" in wrong.stderr
    added = cli("actions", "add", "No-meeting afternoons", "--theme", "Workload", "--owner", "Ops")
    assert "Action 1: No-meeting afternoons" in added.stdout
    moved = cli("actions", "1", "in-progress")
    assert "In progress since" in moved.stdout
    done = cli("actions", "1", "done")
    assert "Done (" in done.stdout
    withdrawn = cli("withdraw", first[:6])
    assert "Response withdrawn" in withdrawn.stdout
    public = cli("responses")
    assert "Fewer meetings, we'll try." in " ".join(public.stdout.replace("│", "").split())
    with sqlite3.connect(database) as connection:
        assert connection.execute(
            "SELECT theme, withdrawn_at IS NOT NULL FROM barometer_replies ORDER BY theme"
        ).fetchall() == [(None, 1), ("Workload", 0)]
        assert connection.execute(
            "SELECT status FROM barometer_action_changes ORDER BY id"
        ).fetchall() == [("planned",), ("in_progress",), ("done",)]
