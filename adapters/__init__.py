"""Platform adapters: translate payloads to core events, render core cards.

Each adapter has the same three parts: ``translate.py`` (payload to event, pure), ``render.py``
(card to platform UI, pure) and ``app.py`` (the only module that imports the platform's SDK).
``web_mounts`` lists the adapters ``valuesbot serve`` mounts on its HTTP server.
"""

from __future__ import annotations

from bot.settings import Settings
from bot.web import Mount


def web_mounts(settings: Settings) -> list[Mount]:
    """The adapters to mount on the HTTP server, given the settings (a platform that is not
    configured is not mounted)."""
    mounts: list[Mount] = []
    if settings.teams_enabled:
        # Imported here so that the Agents SDK loads only when Teams is configured.
        from adapters.teams.app import mount as teams

        mounts.append(teams())
    return mounts
