"""Small helpers for the words people read: times in their zone, counts with plurals, words not
understood."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def local_time(when: datetime, zone: ZoneInfo) -> str:
    """``Sat 28 Nov at 14:05`` in ``zone``."""
    local = when.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b} at {local:%H:%M}"


def local_date(when: datetime, zone: ZoneInfo) -> str:
    """``28 Nov 2026`` in ``zone``."""
    local = when.astimezone(zone)
    return f"{local.day} {local:%b %Y}"


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 person``, ``3 people``."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at most, with an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# A word echoed back is cut to this length: enough to recognise it, never a wall of text.
ECHO_LIMIT = 40


def not_understood(word: str) -> str:
    """``I don't know “frobnicate”.``: the words after a command that nothing handles, echoed
    back shortened (adapters escape them like all card text)."""
    return f"I don't know “{shorten(word, ECHO_LIMIT)}”."
