"""Logging: one line per handled event, tagged with a request id, and nothing people wrote.

Log lines say what happened (event kind, dialog, step, duration, ids), never what people wrote
or answered: no text, answer, comment or barometer token, at any level, DEBUG included.
``configure`` makes that hold for the libraries as well as for the bot's own lines:

- The bot's own loggers (``valuesbot.*``) follow ``VALUESBOT_LOG_LEVEL``. Their lines are
  written in this code base and none of them carries content, so they are shown as they are.
- Every other logger is held at WARNING, whatever ``VALUESBOT_LOG_LEVEL`` says, and the handler
  drops any library line below WARNING that still reaches it (a library that sets its own
  logger's level). Below WARNING the libraries log content: slack_sdk and slack_bolt print
  whole request and answer bodies (``chat.update`` with a barometer token, ``response_url``
  posts, Socket Mode envelopes); the Agents SDK and msal their activities and requests;
  aiohttp's access log request lines; asyncio's debug mode callbacks with their arguments;
  SQLAlchemy's echo and aiosqlite statements with their parameters (the engines are also made
  with ``hide_parameters``, so a database error never repeats them); APScheduler and asyncpg
  their jobs and queries.
- A library line of WARNING or above is shown with its level, logger and the place in the
  library's source that wrote it, but not its text: library messages interpolate requests and
  errors, and some carry what people wrote (bolt warns with a whole payload when a middleware
  does not answer; the Agents SDK logs an invalid activity's validation error, which repeats the
  input). The source line says what happened to whoever needs to know.
- An exception, on any line, is shown as its stack and its type (chained and grouped exceptions
  too), never its message: a ``ValidationError``, a Slack API error or a database error repeats
  the values it failed on.

``VALUESBOT_LOG_FORMAT=json`` writes one JSON object a line (``JsonFormatter``) for a log
shipper: the same lines under the same rules (``PrivateFormatter.text``, ``exception_summary``),
with the time, level, logger and request id as keys, and the named values a line of the bot's
own passes with ``fields`` (an event's kind, outcome and duration) as keys of their own.
"""

from __future__ import annotations

import json
import logging
import secrets
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime

request_id: ContextVar[str] = ContextVar("request_id", default="-")

OWN = "valuesbot"
LIBRARY_LEVEL = logging.WARNING
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
FORMATS = ("text", "json")
# The attribute of a record holding the values given with ``fields``.
_FIELDS = "valuesbot_fields"
# Keys every JSON line has; a field never replaces one.
_BASE_KEYS = frozenset({"time", "level", "logger", "request_id", "message", "exception"})


def fields(**values: str | int | float | bool | None) -> dict[str, object]:
    """``extra=`` for a line of the bot's own: named values (kinds, ids, counts, durations)
    that a JSON line carries as keys of their own. Never anything people wrote: the values are
    logged as they are, like the line's own text."""
    return {_FIELDS: values}


def new_request_id() -> str:
    """A short random id to follow one event through the logs."""
    return secrets.token_hex(6)


def is_own(record: logging.LogRecord) -> bool:
    """Whether the line comes from the bot's own code (a ``valuesbot`` logger)."""
    return record.name == OWN or record.name.startswith(OWN + ".")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class _LibraryFloor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return is_own(record) or record.levelno >= LIBRARY_LEVEL


def exception_summary(error: BaseException) -> str:
    """An exception as its stack and type, its causes and context first, as Python prints it,
    but without any exception's message."""
    lines: list[str] = []
    _summarise(error, lines, set())
    return "".join(lines).rstrip("\n")


def _summarise(error: BaseException, lines: list[str], seen: set[int]) -> None:
    seen.add(id(error))
    cause, context = error.__cause__, error.__context__
    if cause is not None and id(cause) not in seen:
        _summarise(cause, lines, seen)
        lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif context is not None and not error.__suppress_context__ and id(context) not in seen:
        _summarise(context, lines, seen)
        lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    if error.__traceback__ is not None:
        lines.append("Traceback (most recent call last):\n")
        stack = traceback.StackSummary.extract(traceback.walk_tb(error.__traceback__))
        lines.extend(stack.format())
    kind = type(error)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    lines.append(f"{name} (message withheld)\n")
    if isinstance(error, BaseExceptionGroup):
        for number, inner in enumerate(error.exceptions, 1):
            lines.append(f"\nException {number} of the group above:\n")
            _summarise(inner, lines, seen)


class PrivateFormatter(logging.Formatter):
    """Formats the bot's own lines as written; a library line without its text; an exception
    without its message (see the module docstring for why)."""

    def text(self, record: logging.LogRecord) -> str:
        """What the line may say."""
        if is_own(record):
            return record.getMessage()
        return f"(library text withheld: {record.filename} line {record.lineno})"

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info is None and is_own(record):
            # A line of the bot's own without an exception is shown as it is: no copy to
            # change (every handled event writes one).
            return super().format(record)
        shown = logging.makeLogRecord(record.__dict__)
        shown.msg, shown.args = self.text(record), None
        shown.exc_info, shown.exc_text = None, None
        line = super().format(shown)
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            line += "\n" + exception_summary(error)
        return line


class JsonFormatter(PrivateFormatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``request_id`` (null outside an event), ``message`` (what ``PrivateFormatter.text`` lets
    the line say), ``exception`` (``exception_summary``, when there is one), and the line's
    ``fields`` (bot's own lines only), such as an event's ``kind`` and ``duration_ms``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": _request_id_of(record),
            "message": self.text(record),
        }
        given = getattr(record, _FIELDS, None)
        if is_own(record) and isinstance(given, dict):
            entry.update((k, v) for k, v in given.items() if k not in _BASE_KEYS)
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            entry["exception"] = exception_summary(error)
        return json.dumps(entry, default=str)


def _request_id_of(record: logging.LogRecord) -> str | None:
    found = getattr(record, "request_id", None)
    return found if isinstance(found, str) and found != "-" else None


def configure(level: str = "INFO", style: str = "text") -> None:
    """Send log lines to standard error: the bot's own at ``level``, the libraries' at
    WARNING and above without their text; as text lines or (``style="json"``) one JSON
    object a line."""
    # No line shows the thread or the process: each record need not look them up.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(_LibraryFloor())
    if style == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(PrivateFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Loggers left unset (every library's) take the root's level: never below WARNING, so
    # their content-bearing lines are not even formatted.
    wanted = logging.getLevelNamesMapping()[level.upper()]
    root.setLevel(max(wanted, LIBRARY_LEVEL))
    logging.getLogger(OWN).setLevel(wanted)
