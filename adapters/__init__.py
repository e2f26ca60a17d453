"""Platform adapters: translate payloads to core events, render core cards.

Each adapter has the same three parts: ``translate.py`` (payload to event, pure), ``render.py``
(card to platform UI, pure) and ``app.py`` (the only module that imports the platform's SDK).
``web_mounts`` lists the adapters ``valuesbot serve`` mounts on its HTTP server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.events import ConversationRef, Platform
from bot.settings import Settings

if TYPE_CHECKING:  # the CLI's commands need the directories, not the web server
    from bot.web import Mount
    from dialogs.barometer.service import ChannelDirectory
    from storage.stores import Stores


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
    """Who is in a channel, per platform (for a barometer sent to the members of channels).
    A platform's directory is built when a round first asks it, so its SDK loads only then:
    ``valuesbot barometer open`` to people already known starts without Slack's or Teams'
    libraries (a second sooner on Teams)."""
    from adapters.console.app import ConsoleChannelMembers

    directories: dict[Platform, ChannelDirectory] = {Platform.CONSOLE: ConsoleChannelMembers()}
    if settings.slack_enabled:
        directories[Platform.SLACK] = OnFirstUse(lambda: _slack_directory(settings))
    if settings.teams_enabled:
        directories[Platform.TEAMS] = OnFirstUse(lambda: _teams_directory(settings))
    return directories


class OnFirstUse:
    """A channel directory built the first time it is asked (``built`` builds it at once)."""

    def __init__(self, build: Callable[[], ChannelDirectory]) -> None:
        self._build = build
        self._directory: ChannelDirectory | None = None

    def built(self) -> ChannelDirectory:
        """The directory itself."""
        if self._directory is None:
            self._directory = self._build()
        return self._directory

    async def members(self, place: ConversationRef, stores: Stores) -> Sequence[str]:
        """The user ids of the channel's members, as the platform's directory lists them."""
        return await self.built().members(place, stores)


def _slack_directory(settings: Settings) -> ChannelDirectory:
    from adapters.slack.app import SlackChannelMembers

    return SlackChannelMembers(settings)


def _teams_directory(settings: Settings) -> ChannelDirectory:
    from adapters.teams.app import TeamsChannelMembers, TeamsConnector

    return TeamsChannelMembers(TeamsConnector(settings))
