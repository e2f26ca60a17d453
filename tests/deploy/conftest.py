"""Fixtures of the deployment tests: a PostgreSQL server of their own that they may restart."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from storage import migrate
from tests.conftest import SKIP_PG
from tests.deploy.private_pg import PrivatePostgres, server_binaries


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test session's own, running (a test that stops it starts it
    again before it ends)."""
    if SKIP_PG:
        pytest.skip("VALUESBOT_TEST_SKIP_PG=1")
    binaries = server_binaries()
    if binaries is None:
        pytest.fail(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed: install the "
            "postgresql package, or set VALUESBOT_TEST_SKIP_PG=1 to skip these tests"
        )
    server = PrivatePostgres(binaries)
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
async def private_db(private_pg: PrivatePostgres) -> str:
    """A migrated database of this test's own on the private server; its ``DATABASE_URL``."""
    url = await private_pg.create_database(f"valuesbot_{secrets.token_hex(4)}")
    await migrate.upgrade(url)
    return url
