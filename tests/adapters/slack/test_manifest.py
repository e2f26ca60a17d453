"""The Slack app manifest and the bot agree: commands, scopes, events, URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from adapters.slack.app import EVENTS_PATH, REDIRECT_PATH, SCOPES
from bot.app import App
from bot.router import normalise_command

MANIFEST = Path(__file__).parents[3] / "manifest" / "slack" / "manifest.yaml"


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return data


def test_every_command_in_the_manifest_has_a_handler_and_back(app: App) -> None:
    declared = {normalise_command(c["command"]) for c in manifest()["features"]["slash_commands"]}
    handled = set(app.dispatcher.router.commands)
    assert declared == handled


def test_the_help_lists_what_the_manifest_declares(app: App) -> None:
    helped = {normalise_command(e.command.split()[0]) for e in app.help.entries}
    declared = {normalise_command(c["command"]) for c in manifest()["features"]["slash_commands"]}
    assert helped == declared


def test_scopes_are_the_ones_the_install_asks_for() -> None:
    assert manifest()["oauth_config"]["scopes"]["bot"] == list(SCOPES)


def test_events_are_the_ones_the_adapter_listens_to() -> None:
    events = set(manifest()["settings"]["event_subscriptions"]["bot_events"])
    # All go to our listeners; the last two also forget an OAuth installation, as bolt's own
    # token revocation listeners would, before the bot treats the workspace's people as gone.
    assert events == {
        "app_home_opened",
        "app_mention",
        "member_joined_channel",
        "message.im",
        "app_uninstalled",
        "tokens_revoked",
        "user_change",
    }


def test_every_url_is_one_the_server_serves() -> None:
    data = manifest()
    urls = [c["url"] for c in data["features"]["slash_commands"]]
    urls.append(data["settings"]["event_subscriptions"]["request_url"])
    urls.append(data["settings"]["interactivity"]["request_url"])
    assert {urlparse(u).path for u in urls} == {EVENTS_PATH}
    assert {urlparse(u).path for u in data["oauth_config"]["redirect_urls"]} == {REDIRECT_PATH}
    assert data["features"]["app_home"]["home_tab_enabled"] is True
