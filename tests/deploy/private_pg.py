"""A PostgreSQL server of the test's own, which a test may stop, start and restart.

The machine's PostgreSQL server is shared (other test runs use it at the same time), so a test
that takes the database away never touches it: it runs ``initdb`` into a temporary folder and
``pg_ctl`` on a free port of 127.0.0.1, as the ``postgres`` user when run as root (``initdb``
refuses root). The server binaries are PostgreSQL's own (``/usr/lib/postgresql/<version>/bin``,
the newest found, or ``VALUESBOT_TEST_PG_BIN``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from tests.e2e.teams_processes import free_port


def server_binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    given = os.environ.get("VALUESBOT_TEST_PG_BIN")
    if given:
        return Path(given)
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return found[-1].parent if found else None


class PrivatePostgres:
    """One PostgreSQL server in a folder of its own, listening on 127.0.0.1:``port``."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="valuesbot-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.folder, postgres.pw_uid, postgres.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            [*self._as, *command], capture_output=True, text=True, check=False, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")

    def init(self) -> None:
        """Make the cluster (trust authentication on the loopback, like the CI server)."""
        self._run(
            str(self.binaries / "initdb"),
            "--pgdata",
            str(self.data),
            "--auth",
            "trust",
            "--username",
            "postgres",
            "--no-sync",
        )

    def _pg_ctl(self, *action: str) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.binaries / "pg_ctl"),
            "--pgdata",
            str(self.data),
            "--log",
            str(self.folder / "server.log"),
            "--options",
            options,
            "--wait",
            *action,
        )

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        self._pg_ctl("start")

    def stop(self) -> None:
        """Stop it at once (``fast``: sessions are cut, as in a failover or a restart)."""
        self._pg_ctl("stop", "--mode", "fast")

    def restart(self) -> None:
        """Stop it (``fast``) and start it again."""
        self._pg_ctl("restart", "--mode", "fast")

    def url(self, database: str = "postgres") -> str:
        """The ``DATABASE_URL`` of one of its databases."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self, name: str) -> str:
        """A new empty database; its ``DATABASE_URL``."""
        connection = await asyncpg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", timeout=10
        )
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.url(name)

    def remove(self) -> None:
        """Stop it (if it runs) and delete its folder."""
        with contextlib.suppress(RuntimeError):  # not running
            self._pg_ctl("stop", "--mode", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
