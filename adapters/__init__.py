"""Platform adapters: translate payloads to core events, render core cards.

Each adapter has the same three parts: ``translate.py`` (payload to event, pure), ``render.py``
(card to platform UI, pure) and ``app.py`` (the only module that imports the platform's SDK).
``web_mounts`` lists the adapters ``valuesbot serve`` mounts on its HTTP server.
"""

from __future__ import annotations

from bot.events import Platform
from bot.settings import Settings
from bot.web import Mount
from dialogs.barometer.service import ChannelDirectory


def web_mounts(settings: Settings) -> list[Mount]:
    """The adapters to mount on the HTTP server, given the settings (a platform that is not
    configured is not mounted)."""
    mounts: list[Mount] = []
    if settings.slack_enabled:
        # Imported only when configured: bolt and slack-sdk load nothing for other platforms.
        from adapters.slack.app import mount as slack

        mounts.append(slack)

    if settings.teams_enabled:
        # Imported here so that the Agents SDK loads only when Teams is configured.
        from adapters.teams.app import mount as teams

        mounts.append(teams())
    return mounts


def channel_directories(settings: Settings) -> dict[Platform, ChannelDirectory]:
    """Who is in a channel, per platform (for a barometer sent to the members of channels)."""
    from adapters.console.app import ConsoleChannelMembers

    directories: dict[Platform, ChannelDirectory] = {Platform.CONSOLE: ConsoleChannelMembers()}
    if settings.slack_enabled:
        from adapters.slack.app import SlackChannelMembers

        directories[Platform.SLACK] = SlackChannelMembers(settings)
    if settings.teams_enabled:
        from adapters.teams.app import TeamsChannelMembers, TeamsConnector

        directories[Platform.TEAMS] = TeamsChannelMembers(TeamsConnector(settings))
    return directories
