"""People control what is shown: an author unpublishing a story or asking to be anonymous, an
owner taking a share back, each from chat, takes it off every page and feed at once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import feedparser
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.events import Platform
from bot.web import build_web_app
from tests.harness import Harness
from tests.hub.seed import seed_hub

DIGEST = "/digest/" + "f" * 32


@pytest.fixture
async def client(app: App) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    await seed_hub(app)
    async with TestClient(TestServer(build_web_app(app))) as client:
        yield client


async def everywhere(client: TestClient) -> str:  # type: ignore[type-arg]
    """Every page and feed a story or commitment can be on, together."""
    bodies = []
    for path in (
        "/",
        "/case-studies?page=2",
        "/case-studies?q=workshops",
        "/behaviours/1",
        "/behaviours/2",
        "/commitments",
        DIGEST,
        "/case-studies.atom",
    ):
        response = await client.get(path)
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        bodies.append(await response.text())
    return "\n".join(bodies)


async def author_says(harness: Harness, text: str, user: str = "U1") -> str:
    cards = await harness.user_says(text, user=user, platform=Platform.SLACK)
    return "\n".join(f"{c.title}\n{c.text}" for c in cards)


async def test_an_unpublished_story_leaves_every_page_and_feed(
    harness: Harness,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    title = "Patients shaped the discharge letter"
    assert (await everywhere(client)).count(title) >= 6
    assert (await client.get("/case-studies/a001")).status == 200

    mine = await author_says(harness, "/casestudy mine")
    assert "Your case studies" in mine
    said = await author_says(harness, "/casestudy unpublish 1")
    assert "unpublished" in said
    assert title not in await everywhere(client)
    assert (await client.get("/case-studies/a001")).status == 404
    feed = feedparser.parse(await (await client.get("/case-studies.atom")).text())
    assert title not in [e.title for e in feed.entries]
    # Someone else's number 1 is their own story: Ben cannot unpublish Ann's.
    await author_says(harness, "/casestudy unpublish 1", user="U2")
    assert (await client.get("/case-studies/a002")).status == 404  # Ben's own newest one went
    assert "Open board papers" not in await everywhere(client)


async def test_an_author_made_anonymous_is_named_nowhere(
    harness: Harness,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    await author_says(harness, "/casestudy mine")  # the harness names Ann "U1" from now on
    named = "Shared by U1"
    assert (await everywhere(client)).count(named) >= 4
    said = await author_says(harness, "/casestudy anonymous 1")
    assert "no longer shows your name" in said
    shown = await everywhere(client)
    assert named not in shown
    assert "<name>U1</name>" not in shown  # nor in the feed
    assert "Patients shaped the discharge letter" in shown  # still published, anonymously
    assert "Shared by a colleague" in (await (await client.get("/case-studies/a001")).text())
    await author_says(harness, "/casestudy named 1")
    assert named in (await (await client.get("/case-studies/a001")).text())


async def test_a_commitment_taken_back_leaves_every_page(
    harness: Harness,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    words = "test every draft"
    assert (await everywhere(client)).count(words) >= 3
    said = await author_says(harness, "/commitment unshare 1")
    assert "No longer shared" in said
    assert words not in await everywhere(client)
    again = await author_says(harness, "/commitment unshare 1")
    assert "It is not shared" in again
