"""What every benchmark needs: a fresh database, a real ``valuesbot serve`` process, its resident
memory, percentiles, and the result file with the machine it ran on.

The bot always runs as its own process (``valuesbot serve``), so its memory is its own and it
shares only the CPU with the load generator, as it would in production.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage import migrate
from storage.engine import make_engine
from tests.e2e.teams_processes import VALUESBOT, free_port, stopping

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# The key of the barometer's waiting answers, for every process a benchmark starts on one
# database (VALUESBOT_ANSWER_KEY: PostgreSQL needs one).
ANSWER_KEY = "bench-answer-key-0123456789-abcdefghijkl"
PG_SERVER = os.environ.get(
    "VALUESBOT_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
DATABASES = ("sqlite", "postgresql")


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark against ``valuesbot serve`` has
    (``--db``, ``--profile``)."""
    result = argparse.ArgumentParser(
        description=(description or "").strip().splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    result.add_argument("--db", choices=DATABASES, default="sqlite", help="database to run on")
    result.add_argument(
        "--profile", action="store_true", help="profile serve with py-spy (bench/profiles/)"
    )
    return result


# -- databases ----------------------------------------------------------------------------------


def _server(database: str) -> str:
    """The asyncpg-style URL of one database on the benchmark's PostgreSQL server."""
    return (
        make_url(PG_SERVER)
        .set(drivername="postgresql", database=database)
        .render_as_string(hide_password=False)
    )


@asynccontextmanager
async def fresh_database(kind: str, name: str) -> AsyncIterator[str]:
    """A migrated, empty database of this run's own; yields its ``DATABASE_URL``.

    SQLite: a file in a temporary directory. PostgreSQL: ``valuesbot_bench_<name>_<pid>`` on
    ``VALUESBOT_BENCH_PG_URL`` (default the local server), dropped when the block ends.
    """
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix=f"valuesbot-bench-{name}-"))
        url = f"sqlite+aiosqlite:///{directory / 'valuesbot.db'}"
        try:
            await migrate.upgrade(url)
            yield url
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r}")
    database = f"valuesbot_bench_{name}_{os.getpid()}_{secrets.token_hex(2)}"
    admin = await asyncpg.connect(_server("postgres"), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    url = make_url(PG_SERVER).set(database=database).render_as_string(hide_password=False)
    try:
        await migrate.upgrade(url)
        yield url
    finally:
        admin = await asyncpg.connect(_server("postgres"), timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()


def plain_url(database_url: str) -> str:
    """A SQLAlchemy ``DATABASE_URL`` as a plain driver URL (asyncpg DSN or SQLite file path)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


# -- the bot process ----------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """The resident memory of a process (``VmRSS``), in KiB; 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class MemorySampler:
    """Samples a process's resident memory every ``interval`` seconds while running."""

    pid: int
    interval: float = 0.1
    samples: list[int] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.samples.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        self.samples.append(rss_kib(self.pid))

    async def _run(self) -> None:
        while True:
            self.samples.append(rss_kib(self.pid))
            await asyncio.sleep(self.interval)

    def figures(self) -> dict[str, float]:
        """Peak and median resident memory, in MiB."""
        found = sorted(s for s in self.samples if s) or [0]
        return {
            "peak_mib": round(found[-1] / 1024, 1),
            "median_mib": round(found[len(found) // 2] / 1024, 1),
            "samples": len(found),
        }


@dataclass
class Serve:
    """A running ``valuesbot serve``."""

    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mib(self) -> float:
        return round(rss_kib(self.pid) / 1024, 1)


async def _wait_until_healthy(serve: Serve, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if serve.process.returncode is not None:
                raise RuntimeError(f"valuesbot serve exited; see {serve.log}")
            with suppress(aiohttp.ClientConnectionError):
                async with http.get(f"{serve.url}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"valuesbot serve did not come up in {limit:.0f} s; see {serve.log}")


@asynccontextmanager
async def serving(
    env: Mapping[str, str], *, name: str, program: Sequence[str] = (VALUESBOT, "serve")
) -> AsyncIterator[Serve]:
    """``valuesbot serve`` (or another ``program`` taking ``--port`` and answering ``GET
    /healthz``) on a free port with ``env`` (and nothing else of valuesbot's from this process's
    environment) until the block ends; its log is ``bench/results/<name>-serve.log``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / f"{name}-serve.log"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="valuesbot-bench-") as workdir:
        async with stopping(
            [*program, "--port", str(port)],
            cwd=Path(workdir),
            env={"VALUESBOT_ANSWER_KEY": ANSWER_KEY, **env},
            log=log,
        ) as process:
            serve = Serve(process, port, log)
            await _wait_until_healthy(serve)
            yield serve


# -- figures ------------------------------------------------------------------------------------


# While a load generator measures, its collector's full pass runs only after this many passes
# of the middle generation (Python's default is 10): see ``steady_generator``.
GENERATOR_FULL_EVERY = 10_000


class GeneratorPauses:
    """What ``steady_generator`` saw: the full passes of the load generator's garbage collector
    while it measured (none expected)."""

    def __init__(self) -> None:
        self.full_collections = 0


@contextmanager
def steady_generator() -> Iterator[GeneratorPauses]:
    """The load generator's own garbage collector kept from pausing the measurement. The
    generator keeps every timing and the mock platforms keep every call they received, in this
    process; its full collections then paused it for 150-350 ms a few times in a 20 s run, and
    every request under way then looked that much slower, the bot's answer having long arrived.
    Everything made before the measurement is frozen out of the collector's sight, and the full
    pass waits for ``GENERATOR_FULL_EVERY`` passes of the middle generation; the young
    generations are collected as usual. The count of full passes meanwhile is reported."""
    gc.collect()
    gc.freeze()
    threshold = gc.get_threshold()
    gc.set_threshold(threshold[0], threshold[1], GENERATOR_FULL_EVERY)
    before = gc.get_stats()[2]["collections"]
    pauses = GeneratorPauses()
    try:
        yield pauses
    finally:
        pauses.full_collections = gc.get_stats()[2]["collections"] - before
        gc.set_threshold(*threshold)
        gc.unfreeze()


def percentile(ordered: Sequence[float], share: float) -> float:
    """The nearest-rank percentile of an ascending sequence (``share`` in 0..100)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(share / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_figures(seconds: Iterable[float]) -> dict[str, float]:
    """Count, p50/p95/p99, max and mean of durations given in seconds, in milliseconds."""
    ordered = sorted(seconds)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "p50_ms": round(percentile(ordered, 50) * 1000, 2),
        "p95_ms": round(percentile(ordered, 95) * 1000, 2),
        "p99_ms": round(percentile(ordered, 99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(sum(ordered) / len(ordered) * 1000, 2),
    }


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    with suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with suppress(OSError), open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def write_result(
    name: str, db: str, options: Mapping[str, Any], figures: Mapping[str, Any]
) -> Path:
    """Write ``bench/results/<name>-<db>.json`` (date, machine, command, options, figures)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{db}.json"
    document = {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", f"bench.{Path(sys.argv[0]).stem}", *sys.argv[1:]]),
        "db": db,
        "machine": machine(),
        "options": dict(options),
        "figures": dict(figures),
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def print_table(title: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
    """A short plain-text table: one row per key, one column per figure (union of keys)."""
    columns: list[str] = []
    for row in rows.values():
        columns.extend(c for c in row if c not in columns)
    width = max([len(k) for k in rows] + [4])
    cells = {
        key: [
            f"{row.get(c, ''):g}" if isinstance(row.get(c), float) else str(row.get(c, ""))
            for c in columns
        ]
        for key, row in rows.items()
    }
    widths = [max([len(c)] + [len(cells[k][i]) for k in rows]) for i, c in enumerate(columns)]
    print(title)
    print(
        "  "
        + " " * width
        + "  "
        + "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))
    )
    for key in rows:
        line = "  ".join(v.rjust(w) for v, w in zip(cells[key], widths, strict=True))
        print(f"  {key.ljust(width)}  {line}")


async def count_rows(database_url: str, query: str) -> int:
    """The single number a ``SELECT count(*) ...`` answers, read straight from the database."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


# -- profiles -----------------------------------------------------------------------------------

PROFILES = ROOT / "bench" / "profiles"


@asynccontextmanager
async def profiling(pid: int, name: str, enabled: bool = True) -> AsyncIterator[Path | None]:
    """Sample ``pid`` with py-spy (the optional ``bench`` extra) while the block runs; afterwards
    ``bench/profiles/<name>.txt`` has the functions it spent its time in (see ``summarise``) and
    ``bench/results/<name>.folded`` the whole profile (folded stacks, for flame graph tools)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not enabled or spy is None:
        if enabled:
            print("py-spy is not installed (pip install -e '.[bench]'): no profile")
        yield None
        return
    PROFILES.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = RESULTS / f"{name}.folded"  # the whole profile (git-ignored), for a closer look
    # Sampling without stopping the process (the default) over-weights long C calls;
    # BENCH_PROFILE_BLOCKING=1 stops it for each sample: slower, but each sample is true.
    blocking = os.environ.get("BENCH_PROFILE_BLOCKING") == "1"
    process = await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
        *(() if blocking else ("--nonblocking",)), "--idle", "--output", str(raw),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    path = PROFILES / f"{name}.txt"
    try:
        yield path
    finally:
        process.send_signal(signal.SIGINT)
        await process.wait()
        await asyncio.to_thread(_write_summary, raw, path, blocking)


WAITING = "(waiting for work: select)"
# A statement sampled inside SQLAlchemy's greenlet, whose stack begins there: which of the
# project's calls ran it is not on the stack (its share of the loop's time is still counted).
IN_A_GREENLET = "(a statement, in SQLAlchemy's greenlet: its caller is not sampled)"


def _write_summary(raw: Path, path: Path, stopped: bool) -> None:
    text = summarise(raw.read_text(encoding="utf-8"), stopped=stopped)
    path.write_text(text, encoding="utf-8")


def summarise(folded: str, top: int = 30, *, stopped: bool = False) -> str:
    """The busiest functions of a py-spy profile (folded stacks): what the event loop's thread did,
    by the project's outermost function (or library code, or waiting for work); the functions
    with the most samples of their own; and under each of the project's functions. The event
    loop's busy samples are also counted by every function on their stacks, libraries included
    (what a library call costs in all, whatever it calls)."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    tails: Counter[str] = Counter()
    loop: Counter[str] = Counter()
    busy: Counter[str] = Counter()
    plumbing: set[str] | None = None
    total = 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1]] += samples
        tails[" <- ".join(reversed(frames[-5:]))] += samples
        for frame in set(frames):
            if _ours(frame):
                under[frame] += samples
        # The event loop's thread: its stacks start at the program's first frame, and those of
        # SQLAlchemy's greenlets (a statement run from a coroutine) at the greenlet's own first
        # frame, where the other threads' start at ``Thread._bootstrap``.
        if stack and not frames[0].startswith("Thread._bootstrap"):
            if "select" in frames[-1]:
                loop[WAITING] += samples
                continue
            for frame in set(frames):
                busy[frame] += samples
            if not any(f.startswith("_serve ") for f in frames):
                loop[IN_A_GREENLET] += samples
                continue
            # Frames on every stack of the loop's own (running it) say nothing: left out.
            plumbing = set(frames) if plumbing is None else plumbing & set(frames)
            inner = [f for f in frames if _ours(f) and not f.startswith(("_serve ", "main "))]
            loop[inner[0] if inner else "(asyncio and libraries, outside the project)"] += samples
    how = "the process stopped for each sample" if stopped else "the process running on"
    lines = [f"{total} samples (py-spy, 200 a second, {how}, every thread, idle included)", ""]
    main = sum(loop.values())
    if main:
        lines.append(f"the event loop's thread ({main} samples), by the project's outermost call:")
        lines += [f"  {n / main:6.1%}  {frame}" for frame, n in loop.most_common(top // 2)]
        lines.append("")
    working = main - loop[WAITING]
    if working:
        inclusive = [(f, n) for f, n in busy.most_common() if f not in (plumbing or ())][:top]
        lines.append(
            f"the event loop's busy samples ({working}), by every function on their stacks:"
        )
        lines += [f"  {n / working:6.1%}  {frame}" for frame, n in inclusive]
        lines.append("")
    lines.append("own samples:")
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "samples in calls under the project's own functions:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in under.most_common(top)]
    lines += ["", "the commonest ends of stacks (innermost first):"]
    lines += [f"  {n / total:6.1%}  {tail}" for tail, n in tails.most_common(top // 2)]
    return "\n".join(lines) + "\n"


def _ours(frame: str) -> bool:
    return frame.split(" ")[-1].startswith(("bot/", "adapters/", "dialogs/", "storage/"))


def _frame(frame: str) -> str:
    """``function (path/to/file.py:line)`` as ``function path/to/file.py`` (lines merged),
    site-packages and the repository root cut off."""
    function, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0].removesuffix(")")
    for marker in ("site-packages/", f"{ROOT}/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{function} {path}"


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) a process has used so far: ``pid``, or this process."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 of /proc/PID/stat (the 12th and 13th after the name).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def print_latency_result(title: str, figures: Mapping[str, Any], path: Path) -> None:
    """A latency benchmark's figures: the table of ``figures["latency"]``, then the rest."""
    print_table(title, figures["latency"])
    for key, value in figures.items():
        if key != "latency":
            print(f"  {key}: {value}")
    print(f"  written to {path}")
