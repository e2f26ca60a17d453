"""The audit trail: what comms and admins did, recorded where they act.

``record`` is the one call features make: who (``actor_of`` a person, ``cli_actor`` for the
command line, ``SCHEDULE`` for the bot's own timetable), what (a short action name such as
"barometer.open"), on which object (an id: a round's period, a case study's id; never a
person's id or anything anyone wrote) and when. ``valuesbot audit`` shows it.
"""

from __future__ import annotations

import getpass
import logging
from datetime import datetime

from storage.people import PersonKey
from storage.records import actor_of
from storage.stores import Stores

log = logging.getLogger("valuesbot.audit")

SCHEDULE = "schedule"
"""The actor of what the bot's own timetable did (a round opened on its day)."""


def cli_actor() -> str:
    """How the audit trail names whoever ran a ``valuesbot`` command: their login."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return f"cli:{login}"


def person_actor(person: PersonKey) -> str:
    """How the audit trail names a person: ``slack:T0123:U0456``."""
    return actor_of(person)


async def record(stores: Stores, actor: str, action: str, subject: str, now: datetime) -> None:
    """Record an action in the caller's unit of work (it is kept only if the action is)."""
    await stores.records.audit(actor, action, subject, now)
    log.info("audit action=%s subject=%s", action, subject)
