"""Where the key of the barometer's waiting answers comes from (``storage.barometer.pool``).

The key must not be in the database (a copy of the database must not open the answers waiting
in it) and must be the same for every instance that shares the database. In order:

1. ``VALUESBOT_ANSWER_KEY``, the secret itself;
2. ``VALUESBOT_ANSWER_KEY_FILE``, a file holding it (on SQLite it is made when missing, on
   PostgreSQL it must exist: every instance needs the same one);
3. ``VALUESBOT_PSEUDONYM_SECRET``, when it is given in the environment (the key is derived from
   it with labels of its own);
4. on SQLite only: a key file beside the database file (``valuesbot.db.answer-key``, made on
   first start, readable by its owner only), so that ``valuesbot chat`` needs no setting; an
   in-memory database gets a key that lives as long as the process.

On PostgreSQL with none of these, the settings already refused to start
(``Settings._answer_key_for_postgresql``).

At start-up ``check_answer_key`` compares the key's fingerprint with the one the database
recorded: a different key is refused while answers sealed with the old one still wait (they
would never open), and recorded in its place when none wait.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from bot.settings import Settings, SettingsError
from storage.barometer import AnswerKey
from storage.barometer.tables import BarometerPendingRow
from storage.engine import Database
from storage.scorecard.tables import StakeholderPendingRow

log = logging.getLogger("valuesbot.app")

KEY_FILE_SUFFIX = ".answer-key"
FINGERPRINT = "barometer_answer_key"


def default_key_file(settings: Settings) -> Path | None:
    """The key file beside a SQLite database file (None for PostgreSQL and in-memory SQLite)."""
    if not settings.is_sqlite:
        return None
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        return None
    path = Path(database).expanduser()
    return path.with_name(path.name + KEY_FILE_SUFFIX)


def load_answer_key(settings: Settings) -> tuple[AnswerKey, str]:
    """The answer key, and the name of where it came from (for messages)."""
    if settings.answer_key is not None:
        return AnswerKey.from_text(settings.answer_key.get_secret_value()), "VALUESBOT_ANSWER_KEY"
    if settings.answer_key_file is not None:
        path = settings.answer_key_file.expanduser()
        secret = _read(path, "VALUESBOT_ANSWER_KEY_FILE", make=settings.is_sqlite)
        return AnswerKey.from_text(secret), "VALUESBOT_ANSWER_KEY_FILE"
    if settings.pseudonym_secret is not None:
        secret = settings.pseudonym_secret.get_secret_value()
        return AnswerKey.from_text(secret), "VALUESBOT_PSEUDONYM_SECRET"
    beside = default_key_file(settings)
    if beside is not None:
        return AnswerKey.from_text(_read(beside, str(beside), make=True)), f"the key file {beside}"
    if settings.is_sqlite:
        return AnswerKey.generate(), "a key of this process (in-memory database)"
    raise SettingsError("VALUESBOT_ANSWER_KEY is needed with PostgreSQL")


def _read(path: Path, name: str, *, make: bool) -> str:
    """The secret in a key file, made (readable by its owner only) if it is missing and
    ``make``."""
    if make and not path.exists():
        _make(path)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SettingsError(
            f"{name}: cannot read the answer key file {path} ({error.strerror})"
        ) from error
    if len(secret) < 32:
        raise SettingsError(f"{name}: the answer key file {path} holds fewer than 32 characters")
    return secret


def _make(path: Path) -> None:
    """Write a new secret to ``path`` at once and only if nothing is there: written to a file of
    its own first, then linked into place, so two processes starting together keep one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
            log.info("barometer answer key made: %s", path)
    finally:
        draft.unlink()


async def check_answer_key(database: Database, key: AnswerKey, source: str) -> None:
    """Refuse a key other than the one that sealed the answers waiting in the database; record
    this key's fingerprint when none wait. A database whose schema has no pool yet (a release
    behind, whose migrations have not run: ``/readyz`` says so) holds no sealed answers: the
    key is checked at the next start (and a schema without the stakeholder pool holds no
    stakeholder answers)."""
    async with database.engine.connect() as connection:
        pooled, stakeholder_pool = await connection.run_sync(
            lambda sync: (
                inspect(sync).has_table(BarometerPendingRow.__tablename__),
                inspect(sync).has_table(StakeholderPendingRow.__tablename__),
            )
        )
    if not pooled:
        return
    async with database.unit() as stores:
        known = await stores.meta.get(FINGERPRINT)
        if known == key.fingerprint:
            return
        waiting = await stores.barometer.pending()
        stakeholders = await stores.scorecard.pending() if stakeholder_pool else 0
        if known is not None and (waiting or stakeholders):
            what = " and ".join(
                w
                for w in (
                    f"{waiting} barometer answers" if waiting else "",
                    f"{stakeholders} stakeholder answers" if stakeholders else "",
                )
                if w
            )
            raise SettingsError(
                f"{source}: not the key that sealed the {what} waiting in "
                "the database (start with the key they were sealed with: without it they "
                "cannot be counted)"
            )
        await stores.meta.put(FINGERPRINT, key.fingerprint)
