"""Logging: one line per handled event, tagged with a request id.

Log lines say what happened (event kind, dialog, step, duration), never what people wrote or
answered: that stays out of INFO and above by construction, because no handler logs it.
"""

from __future__ import annotations

import logging
import secrets
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="-")


def new_request_id() -> str:
    """A short random id to follow one event through the logs."""
    return secrets.token_hex(6)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure(level: str = "INFO") -> None:
    """Send log lines to standard error at ``level``."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The database driver logs every statement with its parameters (people's answers) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
