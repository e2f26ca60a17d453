"""The hub's pages over HTTP with seeded data: what each shows, search, filters, pages, feeds,
names only with consent, and hostile text inert everywhere."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import ANY

import feedparser
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.web import build_web_app
from tests.hub.seed import HOSTILE, IMG, SCRIPT, seed_hub

PAGES = [
    "/",
    "/case-studies",
    "/case-studies?page=2",
    "/case-studies?q=patients",
    "/case-studies/a001",
    "/case-studies/a003",
    "/commitments",
    "/behaviours/1",
    "/behaviours/3",
    "/digests",
    "/digest/" + "f" * 32,
]


@pytest.fixture
async def client(app: App) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    await seed_hub(app)
    async with TestClient(TestServer(build_web_app(app))) as client:
        yield client


async def page(client: TestClient, path: str, status: int = 200) -> str:  # type: ignore[type-arg]
    response = await client.get(path)
    body = await response.text()
    assert response.status == status, (path, body[:500])
    return body


def titles(body: str) -> list[str]:
    """The story titles listed on a page, in order."""
    return [
        re.sub(r"<[^>]+>", "", t).strip()
        for t in re.findall(r'class="nhsuk-card__heading">(.*?)</h\d>', body, re.S)
    ]


async def test_every_page_renders_with_its_headers(client: TestClient) -> None:  # type: ignore[type-arg]
    for path in PAGES:
        response = await client.get(path)
        assert response.status == 200, path
        assert response.headers["Cache-Control"] == "no-store"
        csp = response.headers["Content-Security-Policy"]
        assert csp.startswith("default-src 'none'; style-src 'self';")
        body = await response.text()
        assert "<script" not in body
        assert body.count("<main ") == 1


async def test_the_start_page(client: TestClient) -> None:  # type: ignore[type-arg]
    body = await page(client, "/")
    assert "High quality care for all, now and for future generations." in body
    assert "We create the culture and conditions" in body
    for n in range(1, 7):
        assert f'href="/behaviours/{n}"' in body
    assert "We are evidence-based" in body
    assert titles(body) == ["Story 12", "Story 11", "Story 10"]  # the latest three
    assert 'href="/barometer"' in body
    assert 'type="application/atom+xml"' in body


async def test_case_studies_newest_first_in_pages(client: TestClient) -> None:  # type: ignore[type-arg]
    first = await page(client, "/case-studies")
    assert titles(first) == [f"Story {n:02d}" for n in range(12, 2, -1)]
    assert "15 stories. Page 1 of 2." in first
    assert 'href="/case-studies?page=2"' in first
    second = await page(client, "/case-studies?page=2")
    assert titles(second) == [
        "Story 02",
        "Story 01",
        f"Hostile {SCRIPT} title".replace("<", "&lt;").replace(">", "&gt;"),
        "Open board papers",
        "Patients shaped the discharge letter",
    ]
    assert 'href="/case-studies"' in second  # back to page 1
    await page(client, "/case-studies?page=3", 404)
    await page(client, "/case-studies?page=x", 400)


async def test_search_and_filter(client: TestClient) -> None:  # type: ignore[type-arg]
    found = await page(client, "/case-studies?q=workshops+PATIENTS")
    assert titles(found) == ["Patients shaped the discharge letter"]
    assert "1 story matching “workshops PATIENTS”" in found
    assert 'value="workshops PATIENTS"' in found  # the search box keeps the words
    assert titles(await page(client, "/case-studies?behaviour=open")) == ["Open board papers"]
    both = await page(client, "/case-studies?behaviour=improve&q=number+7")
    assert titles(both) == ["Story 07"]
    assert re.search(r'<option value="improve"\s+selected', both)  # the filter shows
    assert titles(await page(client, "/case-studies?q=nothing+like+this")) == []
    await page(client, "/case-studies?behaviour=nobody", 400)
    await page(client, "/case-studies?q=" + "x" * 600, 400)


async def test_names_only_with_consent(client: TestClient) -> None:  # type: ignore[type-arg]
    named = await page(client, "/case-studies/a001")
    assert "Shared by Ann Archer" in named
    anonymous = await page(client, "/case-studies/a002")
    assert "Shared by a colleague" in anonymous
    assert "Ben Baker" not in anonymous
    # The hub is public by default: commitments do not name their owners.
    commitments = await page(client, "/commitments")
    assert "Ann Archer" not in commitments
    assert "From a colleague" in commitments
    assert "test every draft with two patients" in commitments
    assert "keep this one to myself" not in commitments  # never shared
    await page(client, "/case-studies/d001", 404)  # a draft is not published
    await page(client, "/case-studies/nope!", 404)


async def test_behaviour_pages(client: TestClient) -> None:  # type: ignore[type-arg]
    first = await page(client, "/behaviours/1")
    assert "We prioritise patients in every decision we take" in first
    assert titles(first) == ["Patients shaped the discharge letter"]
    assert "1 story." in first
    assert "test every draft with two patients" in first
    await page(client, "/behaviours/0", 404)
    await page(client, "/behaviours/7", 404)
    await page(client, "/behaviours/x", 404)


async def test_the_digest_archive_and_a_digest(client: TestClient) -> None:  # type: ignore[type-arg]
    archive = await page(client, "/digests")
    assert "Values digest: week of 29 Mar 2027" in archive
    assert 'href="/digest/' + "f" * 32 + '"' in archive
    digest = await page(client, "/digest/" + "f" * 32)
    assert "Patients shaped the discharge letter" in digest
    assert "Shared by Ann Archer" in digest
    assert "2 commitments shared this week" in digest
    await page(client, "/digest/" + "0" * 32, 404)
    await page(client, "/digest/not-an-id", 400)


async def test_hostile_text_is_inert_on_every_page(client: TestClient) -> None:  # type: ignore[type-arg]
    for path in PAGES:
        body = await page(client, path)
        assert SCRIPT not in body, path
        assert "<img" not in body, path
        assert 'href="javascript:' not in body.lower(), path
        assert "onerror=alert" not in body.replace("onerror=alert(1)&gt;", ""), path
    shown = await page(client, "/case-studies/a003")
    assert "Hostile &lt;script&gt;alert(1)&lt;/script&gt; title" in shown
    assert "A story &#34;&gt;&lt;img src=x onerror=alert(1)&gt; with javascript:alert(1)" in shown
    assert "Shared by Eve &#34;&gt;&lt;img src=x" in shown


async def test_feeds_are_atom_with_text_escaped(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/case-studies.atom")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    assert response.headers["Cache-Control"] == "no-store"
    xml = await response.text()
    feed = feedparser.parse(xml)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert len(feed.entries) == 15
    assert feed.entries[0].title == "Story 12"
    assert feed.entries[0].link.endswith("/case-studies/b012")
    hostile = next(e for e in feed.entries if e.link.endswith("/case-studies/a003"))
    assert hostile.title == f"Hostile {SCRIPT} title"  # the text itself, as text
    assert hostile.author == f"Eve {IMG}"
    assert "<script" not in xml  # escaped in the XML
    assert "<img" not in xml
    anonymous = next(e for e in feed.entries if e.link.endswith("/case-studies/a002"))
    assert anonymous.author == "a colleague"

    digests = feedparser.parse(await (await client.get("/digests.atom")).text())
    assert not digests.bozo
    assert [e.title for e in digests.entries] == ["Values digest: week of 29 Mar 2027"]
    assert digests.entries[0].link.endswith("/digest/" + "f" * 32)
    for text in HOSTILE[:2]:
        assert text not in await (await client.get("/digests.atom")).text()


async def data(client: TestClient, path: str, status: int = 200) -> Any:  # type: ignore[type-arg]
    response = await client.get(path)
    assert response.status == status, (path, await response.text())
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    return json.loads(await response.text())


async def test_case_studies_as_json_with_the_pages_filters_and_pages(client: TestClient) -> None:  # type: ignore[type-arg]
    first = await data(client, "/case-studies.json")
    assert [s["title"] for s in first["items"]] == [f"Story {n:02d}" for n in range(12, 2, -1)]
    assert (first["page"], first["pages"], first["total"], first["per_page"]) == (1, 2, 15, 10)
    assert first["previous"] is None
    assert first["next"].endswith("/case-studies.json?page=2")
    second = await data(client, "/" + first["next"].split("/", 3)[3])
    assert [s["id"] for s in second["items"]] == ["b002", "b001", "a003", "a002", "a001"]
    assert second["next"] is None
    assert second["previous"].endswith("/case-studies.json")

    found = await data(client, "/case-studies.json?q=workshops+PATIENTS")
    assert found["search"] == "workshops PATIENTS"
    [story] = found["items"]
    assert story == {
        "id": "a001",
        "url": story["url"],
        "title": "Patients shaped the discharge letter",
        "story": "We ran two workshops with patients.\nThey rewrote the letter with us.",
        "difference": "The difference of a001.",
        "behaviours": [
            {"id": "patients", "name": story["behaviours"][0]["name"], "url": ANY},
            {"id": "listen", "name": story["behaviours"][1]["name"], "url": ANY},
        ],
        "author": "Ann Archer",
        "approved": "2027-03-22T09:01:00+00:00",
    }
    assert story["url"].endswith("/case-studies/a001")
    assert story["behaviours"][0]["url"].endswith("/behaviours/1")
    both = await data(client, "/case-studies.json?behaviour=improve&q=number+7")
    assert [s["title"] for s in both["items"]] == ["Story 07"]
    assert both["behaviour"] == "improve"
    assert (await data(client, "/case-studies.json?q=nothing+like+this"))["items"] == []


async def test_json_names_only_with_consent_and_holds_text_as_text(client: TestClient) -> None:  # type: ignore[type-arg]
    stories = {s["id"]: s for s in (await data(client, "/case-studies.json?page=2"))["items"]}
    assert stories["a001"]["author"] == "Ann Archer"
    assert stories["a002"]["author"] is None  # Ben did not agree to be named
    assert stories["a003"]["title"] == f"Hostile {SCRIPT} title"  # the text itself, as text
    assert stories["a003"]["author"] == f"Eve {IMG}"
    assert stories["b001"]["author"] == "Ben Baker"  # who agreed on another story
    assert "Ben Baker" not in json.dumps(stories["a002"])
    assert "d001" not in await (await client.get("/case-studies.json?page=2")).text()  # a draft

    shared = await data(client, "/commitments.json")
    assert shared["total"] == 2
    assert [c["text"] for c in shared["items"]] == [
        f"My contribution is to say {SCRIPT} out loud",
        "My contribution is to test every draft with two patients",
    ]
    # The hub is public by default: commitments do not name their owners.
    assert [c["owner"] for c in shared["items"]] == [None, None]
    assert shared["items"][1]["behaviours"][0]["id"] == "patients"
    raw = await (await client.get("/commitments.json")).text()
    assert "keep this one to myself" not in raw  # never shared
    assert "Ann Archer" not in raw
    opened = await data(client, "/commitments.json?behaviour=open")
    assert [c["text"] for c in opened["items"]] == [f"My contribution is to say {SCRIPT} out loud"]


async def test_json_refuses_a_bad_query_as_json(client: TestClient) -> None:  # type: ignore[type-arg]
    assert await data(client, "/case-studies.json?page=x", 400) == {
        "error": "page must be a whole number from 1"
    }
    assert (await data(client, "/case-studies.json?page=3", 404))["error"].startswith(
        "There are not that many pages"
    )
    assert "error" in await data(client, "/case-studies.json?behaviour=nobody", 400)
    assert "error" in await data(client, "/commitments.json?behaviour=nobody", 400)
    assert "error" in await data(client, "/case-studies.json?q=" + "x" * 600, 400)


async def test_the_list_pages_link_their_json(client: TestClient) -> None:  # type: ignore[type-arg]
    body = await page(client, "/case-studies?behaviour=improve&page=2")
    assert 'href="/case-studies.json?behaviour=improve&amp;page=2"' in body
    assert 'href="/commitments.json"' in await page(client, "/commitments")
