"""The barometer's channel directories: a platform's SDK loads only when a round asks one.

Run in a fresh interpreter, where nothing else has imported the SDKs yet.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import json, sys
from adapters import OnFirstUse, channel_directories
from bot.settings import Settings

settings = Settings.from_env({
    "DATABASE_URL": "sqlite+aiosqlite:///unused.db",
    "VALUESBOT_PSEUDONYM_SECRET": "test-secret-0123456789",
    "SLACK_BOT_TOKEN": "xoxb-test",
    "SLACK_SIGNING_SECRET": "test-signing-secret",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true",
})
def loaded():
    return {name: name in sys.modules for name in ("slack_bolt", "slack_sdk", "microsoft_agents")}

directories = channel_directories(settings)
before = loaded()
kinds = {}
for platform, directory in directories.items():
    if isinstance(directory, OnFirstUse):
        directory = directory.built()
    kinds[platform.value] = type(directory).__name__
print(json.dumps({"before": before, "after": loaded(), "kinds": kinds}))
"""


def test_no_platform_library_loads_until_a_round_asks_for_a_channels_members() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    assert seen["before"] == {"slack_bolt": False, "slack_sdk": False, "microsoft_agents": False}
    assert seen["kinds"] == {
        "console": "ConsoleChannelMembers",
        "slack": "SlackChannelMembers",
        "teams": "TeamsChannelMembers",
    }
    assert seen["after"] == {"slack_bolt": True, "slack_sdk": True, "microsoft_agents": True}
