"""The words comms type after ``/barometer respond|withdraw|actions`` (and after ``valuesbot
barometer ...``): plain words, "quoted phrases" and ``--name value`` options; dates and
statuses.

Pure functions. Quotes may be straight or curly double quotes, or single quotes around whole
words, so an apostrophe inside a word ("we're") stays part of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.text import shorten
from storage.barometer import ActionStatus

# The options a command takes; a token is a quoted phrase or a word.
OPTIONS = frozenset({"theme", "round", "owner", "due"})
_TOKEN = re.compile(r"""\s*(?:"([^"]*)"?|“([^”]*)”?|'(.*?)'(?=\s|$)|(\S+))""")
STATUS_WORDS = {
    "planned": ActionStatus.PLANNED,
    "in progress": ActionStatus.IN_PROGRESS,
    "in-progress": ActionStatus.IN_PROGRESS,
    "in_progress": ActionStatus.IN_PROGRESS,
    "progress": ActionStatus.IN_PROGRESS,
    "started": ActionStatus.IN_PROGRESS,
    "done": ActionStatus.DONE,
    "finished": ActionStatus.DONE,
    "dropped": ActionStatus.DROPPED,
}
DATE_FORMATS = ("%Y-%m-%d", "%d %b %Y", "%d %B %Y", "%d/%m/%Y")


class UsageProblem(Exception):
    """Something the comms team typed or chose that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class Typed:
    """A command's words: plain words and quoted phrases in order, and ``--name value``
    options."""

    words: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The words as one text."""
        return " ".join(self.words).strip()


def typed(text: str) -> Typed:
    """Read ``--theme "Work load" 3fa2c1 We hear you`` into options and words; an unknown
    ``--option`` is a problem."""
    found = Typed()
    pending: str | None = None
    for match in _TOKEN.finditer(text):
        quoted = next((g for g in match.groups()[:3] if g is not None), None)
        word = quoted if quoted is not None else match.group(4)
        if word is None:
            continue
        if pending is not None:
            found.options[pending] = " ".join(word.split())
            pending = None
        elif quoted is None and word.startswith("--"):
            name = word[2:].lower()
            if name not in OPTIONS:
                raise UsageProblem(
                    f"I don't know the option --{shorten(name, 20)} (I know "
                    + ", ".join(f"--{o}" for o in sorted(OPTIONS))
                    + ")."
                )
            pending = name
        else:
            found.words.append(word)
    if pending is not None:
        raise UsageProblem(f"--{pending} needs a value.")
    return found


def clean(text: str | None) -> str:
    """Text as it is kept: its spaces and line breaks made single spaces."""
    return " ".join((text or "").split())


def parse_due(given: str) -> date:
    """A due date typed as 2027-01-31, 31 Jan 2027 or 31/01/2027."""
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(given.strip(), form).date()
        except ValueError:
            continue
    raise UsageProblem(f"I cannot read the date “{shorten(given, 30)}”: type it as 2027-01-31.")
