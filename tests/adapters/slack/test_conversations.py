"""Whole conversations in Slack: signed payloads to POST /slack/events of the running server,
the bot's answers read from the local mock Slack Web API."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.clock import ManualClock
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.dialogs.test_values_lens import LONG_WORK, TOO_LONG, rows

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
CHANNEL = "C0TEAM"
WORK = "Winter planning letter"
BEHAVIOURS = ["patients", "listen", "evidence", "open", "inclusive", "improve"]


async def test_a_personal_values_lens_through_button_clicks(slack: SlackWorkspace) -> None:
    api, dm = slack.api, direct(ALICE)
    response = await slack.command(WORK, user=ALICE, channel=dm)
    assert response.status == 200
    assert await response.text() == ""  # the command is acknowledged at once, and silently

    answers = [
        ("Strongly", {}),
        ("Partly", {"note": "we asked two <!channel> patient reps"}),
        ("Partly", {}),
        ("Strongly", {}),
        ("Not yet", {"note": "no easy-read version"}),
        ("Not relevant", {}),
    ]
    for n, (label, inputs) in enumerate(answers):
        question = api.last(dm)
        assert f"Question {n + 2} of 8" in question.text_all()
        assert (await slack.click(label, user=ALICE, message=question, inputs=inputs)).status == 200
        # The question card now shows the answer, without buttons.
        assert question.updates == 1
        assert question.buttons() == []
        assert f"✓ {label}" in question.text_all()

    action_card = api.last(dm)
    assert "One action" in action_card.text_all()
    await slack.click(
        "Finish",
        user=ALICE,
        message=action_card,
        inputs={"action": "Write an easy-read version with two patient reps"},
    )

    summary = api.last(dm)
    text = summary.text_all()
    assert f'Your values lens on "{WORK}"' in text

    assert "partly · we asked two &lt;!channel&gt; patient reps" in text  # escaped: no mention
    assert "<!channel>" not in str(summary.blocks)
    assert "Write an easy-read version with two patient reps" in text
    assert summary.buttons() == ["Save the action as a commitment"]

    await slack.click("Save the action as a commitment", user=ALICE, message=summary)
    assert summary.buttons() == []
    assert "Saved as a commitment" in summary.text_all()

    assert await rows(slack.app, "SELECT work, owner, platform, tenant FROM checkins") == [
        (WORK, ALICE, "slack", "T1")
    ]
    notes = await rows(slack.app, "SELECT behaviour, rating, note FROM checkin_ratings")
    assert ("listen", "partly", "we asked two <!channel> patient reps") in notes
    assert await rows(slack.app, "SELECT text FROM commitments") == [
        ("Write an easy-read version with two patient reps",)
    ]
    methods = api.methods()
    # A command and clicks, with one bot token, go to the bot without bolt's dispatch, whose
    # authorisation would have asked Slack who the bot is (auth.test) first; the person's
    # profile is asked for once.
    assert set(methods) == {"users.info", "chat.postMessage", "chat.update"}
    assert methods.count("users.info") == 1
    assert methods.count("chat.postMessage") == 8  # 6 questions, the action, the summary
    assert methods.count("chat.update") == 8  # 6 ratings, the action, the saved summary
    assert {c.token for c in api.calls_to("chat.postMessage")} == {"xoxb-1-test-token"}


async def test_typed_answers_in_the_direct_conversation(slack: SlackWorkspace) -> None:
    dm = direct(ALICE)
    await slack.says("hello", user=ALICE)
    assert "/valueslens" in slack.api.last(dm).text_all()  # the help, in the conversation
    await slack.command(user=ALICE, channel=dm)
    assert "What piece of work are you looking at?" in slack.api.last(dm).text_all()
    await slack.says(WORK, user=ALICE)
    assert "Question 2 of 8" in slack.api.last(dm).text_all()
    await slack.says("2 we asked <patients> & carers", user=ALICE)
    assert "Question 3 of 8" in slack.api.last(dm).text_all()
    await slack.says("cancel", user=ALICE)
    assert "Cancelled" in slack.api.last(dm).text_all()
    assert await rows(slack.app, "SELECT count(*) FROM dialog_states") == [(0,)]


async def test_cancel_on_a_cancelled_check_ins_card_leaves_the_next_one(
    slack: SlackWorkspace,
) -> None:
    api, dm = slack.api, direct(ALICE)
    await slack.command(WORK, user=ALICE, channel=dm)
    first = api.last(dm)
    assert first.buttons()[-1] == "Cancel"
    await slack.says("cancel", user=ALICE)
    assert "Cancelled" in api.last(dm).text_all()

    await slack.command("Second piece of work", user=ALICE, channel=dm)
    await slack.click("Strongly", user=ALICE, message=api.last(dm))
    state = await rows(slack.app, "SELECT step, data, version FROM dialog_states")
    assert len(state) == 1
    assert '"work": "Second piece of work"' in str(state[0][1])
    posted = len(api.channel(dm))

    assert (await slack.click("Cancel", user=ALICE, message=first)).status == 200

    assert await rows(slack.app, "SELECT step, data, version FROM dialog_states") == state
    assert len(api.channel(dm)) == posted + 1
    now = api.last(dm)
    assert "Cancelled" not in now.text_all()
    assert (
        "That card is from a conversation that is over or was cancelled, so it changes "
        "nothing. You are in the middle of a values lens check-in on "
        '"Second piece of work". Here is where you are now:'
    ) in now.text_all()
    assert "Question 3 of 8" in now.text_all()
    assert first.updates == 0  # the old card is left as it was
    # The card shown carries on the second check-in.
    await slack.click("Partly", user=ALICE, message=now)
    assert "Question 4 of 8" in api.last(dm).text_all()


async def test_a_team_check_in_with_two_people(slack: SlackWorkspace, clock: ManualClock) -> None:
    api = slack.api
    # Alice starts it without saying what the work is: a modal asks her, privately.
    await slack.command(user=ALICE, channel=CHANNEL, name="alice")
    assert api.channel(CHANNEL) == []
    start = api.modal(ALICE)
    assert "What piece of work is the team looking at?" in start.text_all()
    await slack.submit(start, user=ALICE, inputs={"work": WORK})

    card = api.last(CHANNEL)
    assert f"Team values lens: {WORK}" in card.text_all()
    assert "Started by Alice" in card.text_all()  # her full name: she set no display name
    assert card.buttons() == ["Add my ratings", "Close and show results"]

    # Bob answers on the card in the channel: his selections travel only with his click.
    await slack.click(
        "Add my ratings",
        user=BOB,
        message=card,
        inputs=dict(
            zip(
                [f"b_{b}" for b in BEHAVIOURS],
                ["strongly", "partly", "not_yet", "strongly", "partly", "not_relevant"],
                strict=True,
            )
        ),
    )
    [thanks] = api.ephemeral(CHANNEL, BOB)
    assert "Thanks, your ratings are in. 1 person has answered so far." in thanks.text_all()

    # Alice clicks without choosing: the questions open in a modal of her own.
    await slack.click("Add my ratings", user=ALICE, message=card)
    form = api.modal(ALICE)
    assert "Please rate every behaviour" in form.text_all()
    await slack.submit(
        form,
        user=ALICE,
        inputs={f"b_{b}": "Strongly" for b in BEHAVIOURS},
    )
    [alice_thanks] = api.ephemeral(CHANNEL, ALICE)
    assert "2 people have answered so far" in alice_thanks.text_all()

    # Carol may not close it; Alice may.
    await slack.click("Close and show results", user=CAROL, message=card)
    assert "Only the starter can close it" in api.ephemeral(CHANNEL, CAROL)[-1].text_all()
    clock.advance(timedelta(minutes=5))
    await slack.click("Close and show results", user=ALICE, message=card)
    results = api.last(CHANNEL).text_all()
    assert f"Team values lens results: {WORK}" in results
    assert "2 people answered." in results
    assert "Alice" not in results.split("Started by")[0]  # counts, never names
    assert BOB not in results
    # The team card itself now says it has closed: no ratings or buttons left on it.
    assert "This team check-in has closed. Its results are posted in the channel" in (
        card.text_all()
    )
    assert card.buttons() == []
    assert [b for b in card.blocks if b["type"] == "input"] == []

    assert await rows(slack.app, "SELECT status, participants FROM team_checkins") == [
        ("closed", 2)
    ]
    assert api.methods().count("views.open") == 2
    assert [c.method for c in api.calls_to("chat.postMessage")] == ["chat.postMessage"] * 2


async def test_home_tab_shows_what_is_under_way_and_done(slack: SlackWorkspace) -> None:
    dm = direct(ALICE)
    await slack.command(WORK, user=ALICE, channel=dm)
    response = await slack.opens_home(ALICE)
    assert response.status == 200
    [publish] = slack.api.calls_to("views.publish")
    assert publish.params["user_id"] == ALICE
    assert publish.params["view"]["type"] == "home"
    text = publish.text()
    assert "Under way" in text
    assert f'a values lens check-in on "{WORK}"' in text
    assert "You have no check-ins yet" in text
    assert "No commitments yet" in text


async def test_a_mention_in_a_channel_gets_a_private_answer(slack: SlackWorkspace) -> None:
    await slack.event("event_app_mention.json", user=BOB, channel=CHANNEL, text="<@UBOT> help")
    [answer] = slack.api.ephemeral(CHANNEL, BOB)
    assert "values bot" in answer.text_all()
    # Slack's commands are slash commands: the help teaches them so.
    assert "/valueslens history" in answer.text_all()
    assert slack.api.channel(CHANNEL) == []


async def test_over_long_work_is_refused_alike_in_slack(slack: SlackWorkspace) -> None:
    api, dm = slack.api, direct(ALICE)
    # /valueslens <5,000 characters> in the direct conversation: told why, asked again.
    await slack.command(LONG_WORK, user=ALICE, channel=dm)
    asked = api.last(dm).text_all()
    assert TOO_LONG in asked
    assert "What piece of work are you looking at?" in asked
    # The same in a channel: a form only Alice sees says why; the channel sees nothing.
    await slack.command(LONG_WORK, user=ALICE, channel=CHANNEL)
    form = api.modal(ALICE)
    assert TOO_LONG in form.text_all()
    # A form sent back with it anyway (Slack would stop it at 200) is refused the same way.
    await slack.submit(form, user=ALICE, inputs={"work": LONG_WORK})
    assert TOO_LONG in api.modal(ALICE).text_all()
    assert api.channel(CHANNEL) == []
    assert await rows(slack.app, "SELECT count(*) FROM team_checkins") == [(0,)]


async def test_an_unknown_word_is_echoed_escaped_and_short(slack: SlackWorkspace) -> None:
    await slack.command("<!channel> " + "x" * 3000, user=BOB, channel=CHANNEL, command="/values")
    [card] = slack.api.ephemeral(CHANNEL, BOB)
    text = card.text_all()
    assert "I don't know “&lt;!channel&gt; " + "x" * 28 + "…”." in text
    assert "<!channel>" not in json.dumps(card.blocks)
    assert "x" * 29 not in text
