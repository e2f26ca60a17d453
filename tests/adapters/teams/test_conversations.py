"""Every conversation of ``valuesbot chat``, in Teams: real activity JSON posted to the running
server, replies and card updates read back from the mock Bot Connector."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import ManualClock
from tests.adapters.teams.adaptive_cards import assert_valid
from tests.adapters.teams.conftest import ALICE, BOB, CAROL, CHANNEL, TENANT, TeamsWorld, buttons
from tests.dialogs.test_values_lens import LONG_WORK, TOO_LONG, rows
from tests.mocks.bot_connector import card_texts

IDS = ["patients", "listen", "evidence", "open", "inclusive", "improve"]
RATINGS = ["Strongly", "Partly", "Partly", "Not yet", "Strongly", "Not relevant"]


async def test_installing_greets_and_remembers_the_chat(teams: TeamsWorld) -> None:
    assert await teams.installs(ALICE) == 202
    welcome = teams.last(ALICE.direct)
    assert welcome.startswith("Hello Alice Smith")
    # Commands as Teams' command menu offers them: plain words, no slash.
    assert "Type valueslens to look at a piece of work through our six behaviours, " in welcome
    assert "commitment to say what your contribution is, casestudy to share a story" in welcome
    assert "/" not in welcome
    assert await rows(
        teams.app,
        "SELECT conversation, kind, service_url, extra ->> '$.bot_id' FROM conversations",
    ) == [(ALICE.direct, "direct", teams.connector.url, "28:0d7f3a4e-6c1b-4f8e-9a2d-5b6c7d8e9f01")]
    assert await rows(teams.app, "SELECT user_id, tenant, direct_conversation FROM people") == [
        (ALICE.id, TENANT, ALICE.direct)
    ]


async def test_a_personal_values_lens_through_card_submits(teams: TeamsWorld) -> None:
    await teams.says("valueslens")
    assert teams.last(ALICE.direct).startswith("Values lens")
    await teams.clicks("Next", inputs={"work": "Drafting the allocation guidance"})
    for n, rating in enumerate(RATINGS):
        inputs = {"note": "we asked two patient reps"} if n == 0 else {}
        assert await teams.clicks(rating, inputs=inputs) == 202
    assert teams.last(ALICE.direct).startswith("One action")
    await teams.clicks("Finish", inputs={"action": "Test the draft with two patient reps"})

    summary = teams.last(ALICE.direct)
    assert summary.startswith('Your values lens on "Drafting the allocation guidance"')
    assert "Most worth your attention: We are open and transparent." in summary
    # Every answered question card was replaced by its answer, buttons gone: no second click.
    answered = [t for t in teams.texts(ALICE.direct) if t.startswith(("Values lens", "We "))]
    assert answered[0] == "Values lens\n✓ Drafting the allocation guidance"
    assert "✓ Strongly: we asked two patient reps" in answered[1]
    assert len(teams.connector.updates(ALICE.direct)) == 8

    await teams.clicks("Save the action as a commitment")
    assert "✓ Saved as a commitment" in teams.last(ALICE.direct)
    assert await rows(teams.app, "SELECT owner, work, focus FROM checkins") == [
        (ALICE.id, "Drafting the allocation guidance", "open")
    ]
    assert await rows(teams.app, "SELECT text FROM commitments") == [
        ("Test the draft with two patient reps",)
    ]


async def test_history_and_help(teams: TeamsWorld) -> None:
    await teams.says("valueslens history")
    assert "You have no check-ins yet" in teams.last(ALICE.direct)
    await teams.says("values")
    help_text = teams.last(ALICE.direct)
    assert "\nvalueslens history: Your past check-ins.\n" in help_text
    assert "\nvalues behaviours: Our six behaviours and what they mean.\n" in help_text
    assert "/" not in help_text
    for command in ("valueslens", "commitment", "casestudy", "barometer", "digest"):
        await teams.says(f"{command} help")
        assert f"\n{command}" in teams.last(ALICE.direct), command
        assert f"/{command}" not in teams.last(ALICE.direct), command
    await teams.says("values behaviours")
    assert "We are inclusive" in teams.last(ALICE.direct)
    await teams.says("barometer")
    assert "No round has closed yet." in teams.last(ALICE.direct)
    await teams.says("casestudy")
    assert "Share a case study" in teams.last(ALICE.direct)
    await teams.says("/frobnicate")
    assert "I don't know /frobnicate. Type values to see what I can do." in teams.last(ALICE.direct)
    await teams.says("what is this")
    assert teams.last(ALICE.direct) == (
        "I didn't catch that. Type valueslens to look at a piece of work through our values, "
        "commitment to make a commitment, casestudy to share a story, or values for "
        "everything I can do."
    )


async def test_a_double_click_is_answered_once(teams: TeamsWorld) -> None:
    await teams.says("valueslens Budget paper")
    card = teams.card_call("Strongly", ALICE.direct)
    await teams.clicks("Strongly", call=card)
    await teams.clicks("Strongly", call=card)  # the same, old card again
    assert "That question was already answered" in teams.last(ALICE.direct)
    assert await rows(
        teams.app, "SELECT step, json_extract(data, '$.index') FROM dialog_states"
    ) == [("rate", 1)]


async def test_a_two_person_team_checkin_in_a_channel(teams: TeamsWorld) -> None:
    await teams.installs(BOB)  # Bob has the app personally; Alice met the bot only here
    await teams.says("valueslens Winter planning letter", channel=CHANNEL)
    team_card = teams.card_call("Add my ratings", CHANNEL)
    assert team_card.conversation is not None
    assert ";messageid=" in team_card.conversation  # posted in the thread that started it
    assert teams.last(CHANNEL).startswith("Team values lens: Winter planning letter")

    given = ["strongly", "partly", "not_yet", "strongly", "partly", "not_relevant"]
    bob = {f"b_{b}": r for b, r in zip(IDS, given, strict=True)}
    assert await teams.clicks("Add my ratings", person=BOB, inputs=bob, where=CHANNEL) == 202
    # Bob's confirmation is private: in his own chat with the bot, not in the channel.
    assert "Thanks, your ratings are in" in teams.last(BOB.direct)
    assert all("Thanks" not in t for t in teams.texts(CHANNEL))

    alice = {f"b_{b}": "strongly" for b in IDS}
    await teams.clicks("Add my ratings", person=ALICE, inputs=alice, where=CHANNEL)
    # Alice had no chat with the bot yet: one was opened for her (the app is in her team).
    assert [c.body["members"][0]["id"] for c in teams.connector.created()] == [ALICE.id]
    assert "2 people have answered so far" in teams.last(f"a:mock-direct-{ALICE.id}")

    await teams.clicks("Close and show results", person=ALICE, where=CHANNEL)
    results = teams.last(CHANNEL)
    assert results.startswith("Team values lens results: Winter planning letter")
    assert "2 people answered." in results
    assert "Bob" not in results
    assert await rows(teams.app, "SELECT status, participants FROM team_checkins") == [
        ("closed", 2)
    ]
    # Every card Teams received is a valid Adaptive Card 1.5 (the Adaptive Cards library says).
    assert_valid(teams.every_card())


async def test_a_private_answer_that_cannot_reach_the_person_says_so_without_content(
    teams: TeamsWorld,
) -> None:
    teams.connector.refuse_chats_with(CAROL.id)
    await teams.says("valueslens history", person=CAROL, channel=CHANNEL)
    note = teams.last(CHANNEL)
    assert note.startswith("Carol Ng, I have an answer for you alone. Open a chat with me")
    assert "check-ins" not in note


async def test_a_team_lens_needs_ratings_for_every_behaviour(teams: TeamsWorld) -> None:
    await teams.installs(BOB)
    await teams.says("valueslens Rota review", channel=CHANNEL)
    await teams.clicks(
        "Add my ratings", person=BOB, inputs={"b_patients": "strongly"}, where=CHANNEL
    )
    assert "Please rate every behaviour" in teams.last(BOB.direct)
    assert await rows(teams.app, "SELECT COUNT(*) FROM team_ratings") == [(0,)]


async def test_a_team_lens_in_a_group_chat(teams: TeamsWorld) -> None:
    group = "19:meeting_Y2QwNmE3ZjMtMjc4Zi00ZWRhLWI1NTAtODZhMGQ2ZTE5YjQw@thread.v2"
    activity = teams.activity("group_chat_message", person=BOB)
    activity["conversation"] = {
        "isGroup": True,
        "conversationType": "groupChat",
        "tenantId": TENANT,
        "id": group,
    }
    activity["text"] = "<at>valuesbot</at> valueslens Discharge letters"
    assert await teams.send(activity) == 202
    (card,) = teams.connector.posts(group)
    assert card.path == f"/v3/conversations/{group}/activities"
    assert teams.last(group).startswith("Team values lens: Discharge letters")
    assert await rows(teams.app, "SELECT kind FROM team_checkins") == [("group",)]


async def test_an_installation_update_remembers_the_chat_silently(teams: TeamsWorld) -> None:
    assert await teams.send(teams.activity("installation_update_add", person=BOB)) == 202
    assert teams.connector.posts() == []
    assert await rows(teams.app, "SELECT user_id, direct_conversation FROM people") == [
        (BOB.id, BOB.direct)
    ]


async def test_over_long_work_is_refused_alike_in_teams(teams: TeamsWorld) -> None:
    # valueslens <5,000 characters> in a personal chat: told why, asked again.
    await teams.says(f"valueslens {LONG_WORK}")
    assert TOO_LONG in teams.last(ALICE.direct)
    assert "What piece of work are you looking at?" in teams.last(ALICE.direct)
    # The same in a channel: the form comes to Alice alone; the channel sees nothing.
    await teams.says(f"valueslens {LONG_WORK}", channel=CHANNEL)
    assert teams.last(ALICE.direct).startswith(f"Team values lens\n{TOO_LONG}")
    # The form sent back with it anyway is refused the same way.
    await teams.clicks("Start", inputs={"work": LONG_WORK})
    assert teams.last(ALICE.direct).startswith(f"Team values lens\n{TOO_LONG}")
    assert teams.texts(CHANNEL) == []
    assert await rows(teams.app, "SELECT count(*) FROM team_checkins") == [(0,)]


async def test_a_bare_mention_in_a_channel_gets_the_short_help(teams: TeamsWorld) -> None:
    # "@valuesbot" and nothing else: the most common first try.
    activity = teams.activity("channel_mention_command", person=BOB, channel=CHANNEL)
    activity["text"] = "<at>valuesbot</at>&nbsp;\n"
    activity["conversation"]["id"] = f"{CHANNEL};messageid={activity['id']}"
    assert await teams.send(activity) == 202
    # Like all help, it is Bob's alone: in his chat with the bot (opened for him).
    assert teams.texts(CHANNEL) == []
    assert teams.last(f"a:mock-direct-{BOB.id}") == (
        "Hello. To look at a piece of work as a team, send me valueslens <the work> in the "
        "channel: everyone answers privately and the channel sees the counts. Or type "
        "commitment to make a commitment, casestudy to share a story, or values for "
        "everything I can do."
    )


async def test_an_empty_message_or_an_unreadable_submit_gets_the_short_help(
    teams: TeamsWorld,
) -> None:
    short_help = (
        "Type valueslens to look at a piece of work through our values, commitment to make a "
        "commitment, casestudy to share a story, or values for everything I can do."
    )
    await teams.send(teams.activity("personal_message", text=" \n "))
    assert teams.last(ALICE.direct) == f"Hello. {short_help}"
    # A submit without valuesbot's card facts (not a card of ours): the same.
    submit = teams.activity("card_submit_personal", text="")
    submit["value"] = {"msteams": {"type": "messageBack"}, "note": "x"}
    await teams.send(submit)
    assert teams.texts(ALICE.direct) == [f"Hello. {short_help}"] * 2
    # An image alone still gets nothing: there is nothing to say to it.
    image = teams.activity("personal_message", text="")
    image["attachments"] = [{"contentType": "image/*", "contentUrl": "https://x.example/1.png"}]
    await teams.send(image)
    assert len(teams.texts(ALICE.direct)) == 2


async def test_a_closed_team_checkin_card_says_so_in_place(
    teams: TeamsWorld, clock: ManualClock
) -> None:
    await teams.installs(BOB)
    await teams.says("valueslens Winter planning letter", channel=CHANNEL)
    card = teams.card_call("Add my ratings", CHANNEL)
    bob = {f"b_{b}": "partly" for b in IDS}
    await teams.clicks("Add my ratings", person=BOB, inputs=bob, where=CHANNEL)
    await teams.clicks("Close and show results", person=ALICE, where=CHANNEL)

    # The card in the channel is replaced where it is: no ratings, no buttons, and where
    # the results are.
    (update,) = teams.connector.updates(CHANNEL)
    assert update.path == f"/v3/conversations/{card.conversation}/activities/{card.answered_id}"
    closed = teams.current(card)
    assert closed is not None
    assert card_texts(closed) == [
        "Team values lens: Winter planning letter",
        "This team check-in has closed. Its results are posted in the channel; type "
        "valueslens results there to see them again.",
        "Counts only, never names.",
    ]
    assert buttons(closed) == []
    assert teams.texts(CHANNEL)[-1].startswith("Team values lens results: Winter planning")

    # Closed by the clock instead: the next click on its card turns it, in place, too.
    await teams.says("valueslens Rota review", channel=CHANNEL)
    second = teams.card_call("Add my ratings", CHANNEL)
    clock.advance(timedelta(hours=25))
    await teams.app.housekeeping()
    assert await rows(teams.app, "SELECT work, status FROM team_checkins ORDER BY work") == [
        ("Rota review", "closed"),
        ("Winter planning letter", "closed"),
    ]
    await teams.clicks("Add my ratings", person=BOB, inputs=bob, call=second)
    again = teams.current(second)
    assert again is not None
    assert card_texts(again)[:2] == [
        "Team values lens: Rota review",
        "This team check-in has closed. Its results are posted in the channel; type "
        "valueslens results there to see them again.",
    ]
    assert buttons(again) == []
    assert await rows(teams.app, "SELECT work, participants FROM team_checkins ORDER BY work") == [
        ("Rota review", 0),
        ("Winter planning letter", 1),
    ]


async def test_a_click_on_someone_elses_checkin_says_whose_it_is(teams: TeamsWorld) -> None:
    await teams.says("valueslens Budget paper")
    alices = teams.card_call("Strongly", ALICE.direct)
    # Bob clicks a button of Alice's live check-in where he can see it (a channel).
    await teams.installs(BOB)
    click = teams.activity("card_submit_channel", person=BOB, channel=CHANNEL)
    click["replyToId"] = alices.answered_id
    assert alices.card is not None
    strongly = next(a for a in buttons(alices.card) if a["title"] == "Strongly")
    click["value"] = dict(strongly["data"])
    assert await teams.send(click) == 202
    assert teams.last(BOB.direct) == (
        "That one is someone else's\nThis card is part of someone else's conversation with "
        "me: only they can answer it. To start your own, type valueslens."
    )
    # Alice's check-in is as it was, and hers to carry on.
    assert await rows(
        teams.app, "SELECT actor, step, json_extract(data, '$.index') FROM dialog_states"
    ) == [(ALICE.id, "rate", 0)]
    await teams.clicks("Strongly")
    assert await rows(teams.app, "SELECT json_extract(data, '$.index') FROM dialog_states") == [
        (1,)
    ]


async def test_a_team_checkin_started_from_the_form_in_a_direct_chat_opens_in_the_channel(
    teams: TeamsWorld,
) -> None:
    # "valueslens" alone in a channel: the form asking for the work comes to Alice's chat.
    asked = await teams.says("valueslens", channel=CHANNEL)
    assert teams.texts(CHANNEL) == []
    chat = f"a:mock-direct-{ALICE.id}"
    assert teams.last(chat).startswith("Team values lens\nStart a team values lens")
    # Bob cannot use Alice's form (its data names the channel for her alone).
    forged = teams.card_call("Start", chat)
    await teams.clicks("Start", person=BOB, call=forged, inputs={"work": "Not mine"})
    assert teams.last(chat).startswith("Start it in the channel\nA team check-in belongs to")

    # Alice clicks Start in her chat: the check-in opens in the channel, in the thread where
    # she asked, and the form is done with.
    await teams.clicks("Start", where=chat, inputs={"work": "Discharge letters"})
    (team_card,) = teams.connector.posts(CHANNEL)
    assert team_card.conversation == f"{CHANNEL};messageid={asked['id']}"
    assert teams.last(CHANNEL).startswith("Team values lens: Discharge letters")
    assert teams.texts(chat)[0] == "Team values lens\n✓ Started in the channel: Discharge letters"
    assert await rows(
        teams.app, "SELECT conversation, kind, thread, work, started_by FROM team_checkins"
    ) == [(CHANNEL, "channel", asked["id"], "Discharge letters", ALICE.id)]
    # The team answers there, as with any team check-in.
    await teams.installs(BOB)
    bob = {f"b_{b}": "strongly" for b in IDS}
    await teams.clicks("Add my ratings", person=BOB, inputs=bob, where=CHANNEL)
    assert "Thanks, your ratings are in" in teams.last(BOB.direct)
