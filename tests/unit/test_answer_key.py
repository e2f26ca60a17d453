"""The key of the barometer's waiting answers: what a sealed answer gives away (its size, its
lookup), what another key can do with it, and where the key comes from."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.answer_key import check_answer_key, default_key_file, load_answer_key
from bot.app import build_app
from bot.clock import ManualClock
from bot.settings import Settings, SettingsError
from storage.barometer import AnswerKey, BarometerAnswer, PendingAnswer, UnreadableAnswer
from storage.engine import Database
from tests.conftest import ANSWER_KEY, START
from tests.contract.test_barometer import a_round, people, said

KEY = AnswerKey.from_text(ANSWER_KEY)


def pending(comment: str = "", group: str | None = None) -> PendingAnswer:
    return PendingAnswer(
        token_hash="ab" * 32,
        answer=BarometerAnswer(
            values={"nhs": "strongly_disagree", "organisation": "agree"},
            group=group,
            comment=comment,
        ),
    )


def test_a_sealed_answer_opens_only_with_its_key_for_its_row() -> None:
    sealed = KEY.seal("r1", "e1", False, pending("hello", "area"))
    assert KEY.open("r1", "e1", False, sealed) == pending("hello", "area")
    other = AnswerKey.from_text("another-key-0123456789-0123456789-abcdef")
    for opener, where in (
        (other, ("r1", "e1", False)),
        (KEY, ("r2", "e1", False)),  # moved to another round
        (KEY, ("r1", "e2", False)),  # moved to another row
        (KEY, ("r1", "e1", True)),  # its kind flipped
    ):
        with pytest.raises(UnreadableAnswer):
            opener.open(*where, sealed)
    tampered = bytearray(sealed)
    tampered[40] ^= 1
    with pytest.raises(UnreadableAnswer):
        KEY.open("r1", "e1", False, bytes(tampered))


def test_every_sealed_answer_is_the_same_size_whatever_its_comment() -> None:
    comments = ["", "ok", "x" * 500, "\x01" * 500, "😀" * 500, '"\\' * 250]
    sizes = {len(KEY.seal("r1", "e1", False, pending(c, "area"))) for c in comments}
    assert sizes == {4096 + 12 + 16}  # padded block, nonce, tag
    # Two seals of the same answer differ (a fresh nonce each time).
    assert KEY.seal("r1", "e1", False, pending()) != KEY.seal("r1", "e1", False, pending())


def test_lookups_differ_by_kind_and_by_key_and_are_not_the_token_hash() -> None:
    token_hash = "ab" * 32
    first, change = KEY.lookup(token_hash, False), KEY.lookup(token_hash, True)
    other = AnswerKey.from_text("another-key-0123456789-0123456789-abcdef")
    assert len({first, change, other.lookup(token_hash, False), token_hash}) == 4
    assert KEY.lookup(token_hash, False) == first  # stable: the card finds its answer again
    assert KEY.fingerprint == AnswerKey.from_text(ANSWER_KEY).fingerprint != other.fingerprint


def test_where_the_key_comes_from(tmp_path: Path) -> None:
    sqlite = {"DATABASE_URL": f"sqlite:///{tmp_path / 'valuesbot.db'}"}
    given = "given-key-0123456789-0123456789-abcdef"
    env = {**sqlite, "VALUESBOT_ANSWER_KEY": given, "VALUESBOT_PSEUDONYM_SECRET": "p" * 20}
    key, source = load_answer_key(Settings.from_env(env))
    assert (key.fingerprint, source) == (
        AnswerKey.from_text(given).fingerprint,
        "VALUESBOT_ANSWER_KEY",
    )
    pseudonym = {**sqlite, "VALUESBOT_PSEUDONYM_SECRET": "p" * 20}
    key, source = load_answer_key(Settings.from_env(pseudonym))
    assert (key.fingerprint, source) == (
        AnswerKey.from_text("p" * 20).fingerprint,
        "VALUESBOT_PSEUDONYM_SECRET",
    )
    assert not list(tmp_path.iterdir())  # no key file made when a key is given

    # SQLite with nothing set: a key file beside the database, its owner's only, kept.
    settings = Settings.from_env(sqlite)
    path = tmp_path / "valuesbot.db.answer-key"
    assert default_key_file(settings) == path
    key, source = load_answer_key(settings)
    assert source == f"the key file {path}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 32
    assert load_answer_key(settings)[0].fingerprint == key.fingerprint
    assert [p.name for p in tmp_path.iterdir()] == [path.name]

    # In memory: a key of the process's own.
    memory = Settings.from_env({"DATABASE_URL": "sqlite://"})
    assert default_key_file(memory) is None
    assert "in-memory" in load_answer_key(memory)[1]

    # PostgreSQL reads a key file but never makes one: every instance must have the same.
    missing = tmp_path / "nowhere" / "key"
    postgresql = Settings.from_env(
        {"DATABASE_URL": "postgresql://db/x", "VALUESBOT_ANSWER_KEY_FILE": str(missing)}
    )
    with pytest.raises(SettingsError, match=r"^VALUESBOT_ANSWER_KEY_FILE: cannot read"):
        load_answer_key(postgresql)
    assert not missing.exists()
    missing.parent.mkdir()
    missing.write_text("short\n")
    with pytest.raises(SettingsError, match="fewer than 32 characters"):
        load_answer_key(postgresql)
    missing.write_text(given + "\n")
    assert load_answer_key(postgresql)[0].fingerprint == AnswerKey.from_text(given).fingerprint


async def test_a_key_that_cannot_open_the_waiting_answers_stops_start_up(
    sqlite_url: str, tmp_path: Path
) -> None:
    first = Database(sqlite_url, answer_key=KEY)
    other = AnswerKey.from_text("another-key-0123456789-0123456789-abcdef")
    try:
        await check_answer_key(first, KEY, "VALUESBOT_ANSWER_KEY")
        # Another key while nothing waits: it becomes the key (nothing sealed is lost).
        await check_answer_key(first, other, "VALUESBOT_ANSWER_KEY")
        await check_answer_key(first, KEY, "VALUESBOT_ANSWER_KEY")
        async with first.unit() as stores:
            await stores.barometer.open(a_round())
            await stores.barometer.answer("r1", people(1)[0], said(), "h1")
        with pytest.raises(SettingsError) as problem:
            await check_answer_key(first, other, "VALUESBOT_ANSWER_KEY")
        assert str(problem.value) == (
            "VALUESBOT_ANSWER_KEY: not the key that sealed the 1 barometer answers waiting in "
            "the database (start with the key they were sealed with: without it they cannot "
            "be counted)"
        )
        await check_answer_key(first, KEY, "VALUESBOT_ANSWER_KEY")
    finally:
        await first.dispose()

    # The same through build_app, as `valuesbot serve` starts.
    settings = Settings.from_env(
        {
            "DATABASE_URL": sqlite_url,
            "VALUESBOT_ANSWER_KEY": "another-key-0123456789-0123456789-abcdef",
        }
    )
    with pytest.raises(SettingsError, match=r"^VALUESBOT_ANSWER_KEY: not the key"):
        await build_app(settings, clock=ManualClock(START), prepare=False)


async def test_stakeholder_answers_waiting_hold_the_key_too(sqlite_url: str) -> None:
    from tests.contract.test_scorecard import NOW, hashes
    from tests.contract.test_scorecard import a_round as stakeholder_round
    from tests.contract.test_scorecard import said as stakeholder_said

    database = Database(sqlite_url, answer_key=KEY)
    other = AnswerKey.from_text("another-key-0123456789-0123456789-abcdef")
    try:
        await check_answer_key(database, KEY, "VALUESBOT_ANSWER_KEY")
        links = hashes(2)
        async with database.unit() as stores:
            await stores.scorecard.open_round(stakeholder_round(), links)
            await stores.scorecard.answer(links[0], stakeholder_said(), NOW)
        with pytest.raises(SettingsError) as problem:
            await check_answer_key(database, other, "VALUESBOT_ANSWER_KEY")
        assert str(problem.value).startswith(
            "VALUESBOT_ANSWER_KEY: not the key that sealed the 1 stakeholder answers waiting"
        )
    finally:
        await database.dispose()


async def test_a_schema_before_the_stakeholder_tables_holds_no_stakeholder_answers(
    tmp_path: Path,
) -> None:
    """A database a release behind (its migrations not run yet) has no stakeholder tables: the
    key is checked on what it has."""
    from storage import migrate

    url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    await migrate.upgrade(url, "0013")
    database = Database(url, answer_key=KEY)
    try:
        await check_answer_key(database, KEY, "VALUESBOT_ANSWER_KEY")
        other = AnswerKey.from_text("another-key-0123456789-0123456789-abcdef")
        await check_answer_key(database, other, "VALUESBOT_ANSWER_KEY")
    finally:
        await database.dispose()
