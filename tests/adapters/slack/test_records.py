"""Your own record in Slack: ``/values mydata`` (links only in the Messages tab), the downloads,
``/values forget-me`` with its confirmation button, and leavers (``user_change`` with
``deleted``, ``app_uninstalled``), through Slack's payloads and the mock Web API."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from bot.delivery import to_person
from bot.ui import Card
from dialogs.records import RETENTION_JOB
from storage.people import PersonKey
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.dialogs.test_values_lens import rows

ALICE = "U0ALICE"
BOB = "U0BOB"
PUBLIC = "https://values.example.org"
LINK = re.compile(re.escape(PUBLIC) + r"/me/([A-Za-z0-9_-]+\.(?:docx|json))")


@pytest.fixture
def slack_env() -> dict[str, str]:
    return {"VALUESBOT_PUBLIC_URL": PUBLIC}


async def commit(slack: SlackWorkspace, user: str, text: str) -> None:
    await slack.command(
        f"My contribution is to {text} #listen",
        user=user,
        channel=direct(user),
        command="/commitment",
    )


async def test_mydata_in_the_messages_tab_gives_links_to_exactly_my_record(
    slack: SlackWorkspace,
) -> None:
    await commit(slack, ALICE, "ask two patients")
    await commit(slack, BOB, "publish the minutes")
    dm = direct(ALICE)
    await slack.command("mydata", user=ALICE, channel=dm, command="/values")
    card = slack.api.last(dm).text_all()
    assert "Your values record" in card
    tokens = {t.rsplit(".", 1)[1]: t for t in LINK.findall(card)}
    assert sorted(tokens) == ["docx", "json"]
    response = await slack.client.get(f"/me/{tokens['json']}")
    assert response.status == 200
    data = json.loads(await response.text())
    assert data["you"]["id"] == ALICE
    assert [c["text"] for c in data["commitments"]] == ["ask two patients"]
    assert BOB not in json.dumps(data)
    assert (await slack.client.get(f"/me/{tokens['json']}")).status == 410


async def test_mydata_in_a_channel_sends_the_links_to_the_messages_tab(
    slack: SlackWorkspace,
) -> None:
    await slack.command("mydata", user=ALICE, channel="C0GENERAL", command="/values")
    [answer] = slack.api.ephemeral("C0GENERAL", ALICE)
    assert "direct chat" in answer.text_all()
    assert PUBLIC not in json.dumps(answer.blocks)
    assert slack.api.channel("C0GENERAL") == []
    await slack.deliver()
    sent = slack.api.last(direct(ALICE)).text_all()
    assert len(LINK.findall(sent)) == 2
    assert await rows(slack.app, "SELECT status FROM outbox WHERE job = 'records-mydata'") == [
        ("sent",)
    ]


async def test_forget_me_asks_then_erases_with_the_button(slack: SlackWorkspace) -> None:
    await commit(slack, ALICE, "ask two patients")
    await commit(slack, BOB, "publish the minutes")
    dm = direct(ALICE)
    await slack.command("forget-me", user=ALICE, channel=dm, command="/values")
    asked = slack.api.last(dm)
    assert "Erase what I hold about you?" in asked.text_all()
    assert "1 commitment" in asked.text_all()
    assert asked.buttons() == ["Erase everything", "No, keep it all"]
    await slack.click("Erase everything", user=ALICE, message=asked)
    assert "Erased" in slack.api.last(dm).text_all()
    assert await rows(slack.app, "SELECT owner FROM commitments") == [(BOB,)]
    assert await rows(slack.app, "SELECT user_id FROM people") == [(BOB,)]
    assert await rows(slack.app, "SELECT actor, action FROM audit_log") == [("erased", "erase")]


async def queue_for(slack: SlackWorkspace, user: str) -> None:
    async with slack.app.database.unit() as stores:
        await stores.outbox.enqueue(
            to_person(f"nudge:{user}", "nudge", PersonKey("slack", "T1", user), Card(text="Hi")),
            slack.clock.now() + timedelta(days=1),
        )


async def test_a_deactivated_account_is_cancelled_at_once_and_erased_after_the_grace(
    slack: SlackWorkspace,
) -> None:
    await slack.app.ensure_schedules()
    await commit(slack, ALICE, "ask two patients")
    await commit(slack, BOB, "publish the minutes")
    await queue_for(slack, ALICE)
    await queue_for(slack, BOB)

    response = await slack.event("event_user_change_deleted.json")
    assert response.status == 200
    assert await rows(slack.app, "SELECT recipient, status FROM outbox ORDER BY recipient") == [
        (ALICE, "cancelled"),
        (BOB, "queued"),
    ]
    assert await rows(slack.app, "SELECT user_id, reason FROM leavers") == [(ALICE, "deactivated")]
    # A profile edit of someone active is nothing.
    await slack.event("event_user_change_deleted.json", user={"id": BOB, "deleted": False})
    assert await rows(slack.app, "SELECT user_id FROM leavers") == [(ALICE,)]

    slack.clock.advance(timedelta(days=29))
    await slack.app.run_schedules(RETENTION_JOB)
    assert await rows(slack.app, "SELECT owner FROM commitments ORDER BY owner") == [
        (ALICE,),
        (BOB,),
    ]
    slack.clock.advance(timedelta(days=1, hours=1))
    assert await slack.app.run_schedules(RETENTION_JOB)
    assert await rows(slack.app, "SELECT owner FROM commitments") == [(BOB,)]
    assert await rows(slack.app, "SELECT user_id FROM people") == [(BOB,)]
    assert await rows(slack.app, "SELECT user_id FROM leavers") == []


async def test_a_leaver_who_comes_back_is_kept(slack: SlackWorkspace) -> None:
    await slack.app.ensure_schedules()
    await commit(slack, ALICE, "ask two patients")
    await slack.event("event_user_change_deleted.json")
    assert await rows(slack.app, "SELECT user_id FROM leavers") == [(ALICE,)]
    await slack.says("hello", user=ALICE)
    assert await rows(slack.app, "SELECT user_id FROM leavers") == []
    slack.clock.advance(timedelta(days=31))
    await slack.app.run_schedules(RETENTION_JOB)
    assert await rows(slack.app, "SELECT owner FROM commitments") == [(ALICE,)]


async def test_an_uninstall_treats_the_whole_workspace_as_gone(slack: SlackWorkspace) -> None:
    await commit(slack, ALICE, "ask two patients")
    await commit(slack, BOB, "publish the minutes")
    await queue_for(slack, ALICE)
    await queue_for(slack, BOB)
    await slack.event("event_app_uninstalled.json")
    assert await rows(slack.app, "SELECT DISTINCT status FROM outbox") == [("cancelled",)]
    assert await rows(slack.app, "SELECT user_id, reason FROM leavers ORDER BY user_id") == [
        (ALICE, "uninstalled"),
        (BOB, "uninstalled"),
    ]
