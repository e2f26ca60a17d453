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

A structured (JSON) formatter would reuse ``PrivateFormatter.text`` and ``exception_summary``.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="-")

OWN = "valuesbot"
LIBRARY_LEVEL = logging.WARNING
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


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
        shown = logging.makeLogRecord(record.__dict__)
        shown.msg, shown.args = self.text(record), None
        shown.exc_info, shown.exc_text = None, None
        line = super().format(shown)
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            line += "\n" + exception_summary(error)
        return line


def configure(level: str = "INFO") -> None:
    """Send log lines to standard error: the bot's own at ``level``, the libraries' at
    WARNING and above without their text."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(_LibraryFloor())
    handler.setFormatter(PrivateFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Loggers left unset (every library's) take the root's level: never below WARNING, so
    # their content-bearing lines are not even formatted.
    wanted = logging.getLevelNamesMapping()[level.upper()]
    root.setLevel(max(wanted, LIBRARY_LEVEL))
    logging.getLogger(OWN).setLevel(wanted)
