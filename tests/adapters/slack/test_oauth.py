"""Installing in many workspaces: slack-sdk's OAuth stores, in our database and our migrations."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import create_async_engine

from adapters import web_mounts
from adapters.slack.app import SCOPES, SLACK_KEY, SlackChannelMembers
from bot.app import build_app
from bot.clock import ManualClock
from bot.events import ConversationKind, ConversationRef, Platform
from bot.web import build_web_app
from dialogs.barometer.service import AudienceError
from storage import slack_installations
from storage.engine import Database
from tests.adapters.slack.conftest import SECRET
from tests.adapters.slack.workspace import SlackWorkspace, direct, fixture
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.slack_api import MockSlackApi


def shape(table: Table) -> dict[str, Any]:
    return {
        "columns": [
            (c.name, type(c.type).__name__, getattr(c.type, "length", None), c.nullable)
            for c in table.columns
        ],
        "primary_key": [c.name for c in table.primary_key.columns],
        "indexes": sorted((i.name, [c.name for c in i.columns]) for i in table.indexes),
    }


def test_our_tables_are_the_ones_the_sdk_stores_use() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    installations = AsyncSQLAlchemyInstallationStore(client_id="x", engine=engine)
    states = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=60, engine=engine)
    for ours, theirs in (
        (slack_installations.slack_installations, installations.installations),
        (slack_installations.slack_bots, installations.bots),
        (slack_installations.slack_oauth_states, states.oauth_states),
    ):
        assert ours.name == theirs.name
        assert shape(ours) == shape(theirs)


@pytest.fixture
async def oauth(
    database: Database, clock: ManualClock, slack_api: MockSlackApi
) -> AsyncIterator[SlackWorkspace]:
    """valuesbot installable in many workspaces (no single bot token), on SQLite and on
    PostgreSQL (slack-sdk's stores run on our engine)."""
    settings = make_settings(
        database.url,
        SLACK_CLIENT_ID="1111.2222",
        SLACK_CLIENT_SECRET="client-secret",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack_api.api_url,
    )
    app = await build_app(settings, clock=clock, prepare=False)
    web_app = build_web_app(app, web_mounts(settings))
    client = TestClient(TestServer(web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield SlackWorkspace(
            client=client,
            api=slack_api,
            adapter=web_app[SLACK_KEY],
            app=app,
            clock=clock,
            secret=SECRET,
            team="T2",
        )
    finally:
        await client.close()
        await app.close()


# slack-sdk 3.48 sends the client id and secret with aiohttp's BasicAuth, which aiohttp 3.14
# deprecates (to go in aiohttp 4); harmless until then.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_install_then_talk(oauth: SlackWorkspace) -> None:
    page = await oauth.client.get("/slack/install")
    assert page.status == 200
    html = await page.text()
    state = re.search(r"state=([\w-]+)", html)
    assert state is not None
    assert "client_id=1111.2222" in html
    assert f"scope={','.join(SCOPES)}&" in html
    cookie = page.headers["Set-Cookie"].split(";")[0]
    assert await rows(oauth.app, "SELECT count(*) FROM slack_oauth_states") == [(1,)]

    back = await oauth.client.get(
        "/slack/oauth_redirect?" + urlencode({"code": "code-1", "state": state.group(1)}),
        headers={"Cookie": cookie},
    )
    assert back.status == 200
    [exchange] = oauth.api.calls_to("oauth.v2.access")
    assert exchange.params["code"] == "code-1"
    assert await rows(oauth.app, "SELECT team_id, bot_token FROM slack_bots") == [
        ("T2", "xoxb-installed-token")
    ]
    assert await rows(oauth.app, "SELECT count(*) FROM slack_oauth_states") == [(0,)]

    await oauth.command(user="U0ALICE", channel=direct("U0ALICE"))
    [question] = oauth.api.calls_to("chat.postMessage")
    assert question.token == "xoxb-installed-token"
    assert "What piece of work are you looking at?" in question.text()


async def test_a_redirect_with_a_forged_state_installs_nothing(oauth: SlackWorkspace) -> None:
    back = await oauth.client.get("/slack/oauth_redirect?code=code-1&state=forged")
    assert back.status >= 400
    assert oauth.api.calls_to("oauth.v2.access") == []
    assert await rows(oauth.app, "SELECT count(*) FROM slack_bots") == [(0,)]


async def test_a_workspace_that_never_installed_gets_nothing(oauth: SlackWorkspace) -> None:
    form = fixture("slash_command.json")
    form.update(
        team_id="T9",
        channel_id="D0ALICE",
        channel_name="directmessage",
        response_url=oauth.api.response_url(channel="D0ALICE", user="U2147483697"),
    )
    response = await oauth.send(urlencode(form))
    assert response.status == 200  # acknowledged; the person is told the app is not installed
    [told] = oauth.api.calls_to("response_url")
    assert "install" in told.text().lower()
    assert await rows(oauth.app, "SELECT count(*) FROM processed_events") == [(0,)]
    assert oauth.api.calls_to("chat.postMessage") == []


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_a_barometer_channel_of_an_installed_workspace_is_listed(
    oauth: SlackWorkspace,
) -> None:
    page = await oauth.client.get("/slack/install")
    state = re.search(r"state=([\w-]+)", await page.text())
    assert state is not None
    await oauth.client.get(
        "/slack/oauth_redirect?" + urlencode({"code": "code-1", "state": state.group(1)}),
        headers={"Cookie": page.headers["Set-Cookie"].split(";")[0]},
    )
    oauth.api.members["C0T2"] = ["UBOT", "U0ALICE", "U0BOB"]
    place = ConversationRef(
        platform=Platform.SLACK, tenant="T2", conversation="C0T2", kind=ConversationKind.CHANNEL
    )
    directory = SlackChannelMembers(oauth.app.settings)
    # As the barometer asks: from inside a unit of work (on SQLite it holds the write lock).
    async with oauth.app.database.unit() as stores:
        assert await directory.members(place, stores) == ["U0ALICE", "U0BOB"]
    assert oauth.api.calls_to("conversations.members")[-1].token == "xoxb-installed-token"
    elsewhere = ConversationRef(
        platform=Platform.SLACK, tenant="T9", conversation="C0T9", kind=ConversationKind.CHANNEL
    )
    with pytest.raises(AudienceError, match="not installed in this workspace"):
        await directory.members(elsewhere, None)  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_an_uninstall_forgets_the_installation_and_marks_everyone_gone(
    oauth: SlackWorkspace,
) -> None:
    page = await oauth.client.get("/slack/install")
    state = re.search(r"state=([\w-]+)", await page.text())
    assert state is not None
    await oauth.client.get(
        "/slack/oauth_redirect?" + urlencode({"code": "code-1", "state": state.group(1)}),
        headers={"Cookie": page.headers["Set-Cookie"].split(";")[0]},
    )
    await oauth.command(user="U0ALICE", channel=direct("U0ALICE"))
    assert await rows(oauth.app, "SELECT count(*) FROM slack_installations") == [(1,)]

    uninstalled = fixture("event_app_uninstalled.json")
    uninstalled["team_id"] = "T2"
    uninstalled["authorizations"][0]["team_id"] = "T2"
    response = await oauth.send(json.dumps(uninstalled), content_type="application/json")
    assert response.status == 200
    assert await rows(oauth.app, "SELECT count(*) FROM slack_installations") == [(0,)]
    assert await rows(oauth.app, "SELECT count(*) FROM slack_bots") == [(0,)]
    assert await rows(oauth.app, "SELECT tenant, user_id, reason FROM leavers") == [
        ("T2", "U0ALICE", "uninstalled")
    ]
