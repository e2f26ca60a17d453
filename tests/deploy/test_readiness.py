"""Readiness and the schema: ``/readyz`` sends no traffic to an instance whose database schema is
behind it (and still does to one whose schema a newer release has moved on, during a rolling
update); ``valuesbot db wait`` returns once the migrations are in (a Kubernetes init container
waits with it for the migrations Job)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bot import cli
from bot.app import build_app
from bot.web import build_web_app
from storage import migrate
from storage.engine import make_engine
from tests.conftest import ANSWER_KEY, make_settings
from tests.deploy.private_pg import PrivatePostgres


@pytest.fixture
async def old_schema(tmp_path: Path) -> str:
    """A SQLite database one migration behind this version."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await migrate.upgrade(url, "0008")
    return url


@contextlib.asynccontextmanager
async def serving(url: str) -> AsyncIterator[TestClient[object, object]]:
    app = await build_app(make_settings(url), prepare=False)
    client = TestClient(TestServer(build_web_app(app), host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await app.close()


@contextlib.contextmanager
def logging_kept() -> Iterator[None]:
    """The command configures logging for its process: put this process's back afterwards."""
    root, own = logging.getLogger(), logging.getLogger("valuesbot")
    handlers, level, own_level = list(root.handlers), root.level, own.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        own.setLevel(own_level)


async def readiness(client: TestClient[object, object]) -> tuple[int, dict[str, str]]:
    response = await client.get("/readyz")
    return response.status, await response.json()


async def test_an_instance_is_not_ready_while_the_schema_is_behind_it(old_schema: str) -> None:
    async with serving(old_schema) as client:
        status, body = await readiness(client)
        assert (status, body["schema"]) == (503, "behind")
        assert "valuesbot db upgrade" in body["status"]
        assert (await client.get("/healthz")).status == 200  # working, only not for traffic
        await migrate.upgrade(old_schema)
        assert await readiness(client) == (
            200,
            {"status": "ready", "database": "sqlite", "schema": "current"},
        )


async def test_a_schema_a_newer_release_moved_on_keeps_the_old_instances_ready(
    old_schema: str,
) -> None:
    await migrate.upgrade(old_schema)
    engine = make_engine(old_schema)
    async with engine.begin() as connection:
        # A revision this version does not know: a newer release's migration.
        await connection.execute(text("UPDATE alembic_version SET version_num = '9001'"))
    await engine.dispose()
    async with serving(old_schema) as client:
        status, body = await readiness(client)
        assert (status, body["schema"]) == (200, "ahead")


@pytest.mark.postgres
async def test_db_wait_returns_once_the_migrations_are_in(
    private_pg: PrivatePostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await private_pg.create_database("valuesbot_wait")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("VALUESBOT_ANSWER_KEY", ANSWER_KEY)
    monkeypatch.setattr(cli, "WAIT_POLL_SECONDS", 0.05)

    def wait(timeout: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), logging_kept():
            status = cli.main(["db", "wait", "--timeout", timeout])
        return status, out.getvalue() + err.getvalue()

    status, said = await asyncio.to_thread(wait, "0")
    assert status == 2
    [head] = migrate.heads()
    assert f"valuesbot expects ['{head}']: run `valuesbot db upgrade`" in said

    waiting = asyncio.create_task(asyncio.to_thread(wait, "60"))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await migrate.upgrade(url)
    status, said = await waiting
    assert (status, said.strip()) == (0, f"database is up to date ({head})")
