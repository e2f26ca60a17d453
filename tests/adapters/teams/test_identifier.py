"""A values identifier in Teams, with real activities: "identifier <title>" typed in the
personal chat (Teams' command menu sends the word), the dialog's Adaptive Cards submitted with
their inputs, comms approve from the review card in their own chat, the author is told with
the three links; the print page those links serve holds every statement; hostile text stays
plain in every card."""

from __future__ import annotations

import json
from pathlib import Path

from bot.app import build_app
from bot.clock import ManualClock
from tests.adapters.teams.adaptive_cards import assert_valid
from tests.adapters.teams.conftest import ALICE, ANONYMOUS, BOB, CAROL, buttons, start_world
from tests.adapters.teams.test_case_studies_digest import deliver
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector, card_texts

PUBLIC = "https://values.example.org"
TITLE = "Winter plan **bold** [link](https://x.example)"
STATEMENT = (
    'Patients wrote it <at>Everyone</at> "><img src=x onerror=alert(1)> <script>x</script> _now_'
)


async def test_an_identifier_made_reviewed_and_delivered_in_teams(
    sqlite_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    async with MockBotConnector() as connector:
        app = await build_app(
            make_settings(
                sqlite_url,
                **ANONYMOUS,
                VALUESBOT_COMMS=f"teams:{CAROL.id}",
                VALUESBOT_PUBLIC_URL=PUBLIC,
            ),
            clock=clock,
            prepare=False,
        )
        teams = await start_world(app, connector)
        try:
            for person in (ALICE, BOB, CAROL):
                await teams.installs(person)
            await teams.says(f"identifier {TITLE}")
            assert "We prioritise patients" in teams.last(ALICE.direct)
            for n in range(6):
                if n == 3:
                    await teams.clicks("Not relevant")
                else:
                    await teams.clicks("Next", inputs={"statement": f"{n}: {STATEMENT}"})
            await teams.clicks("Next", inputs={"vision": "It helps everyone."})
            await teams.clicks("Next", inputs={"owner": "Policy team"})
            await teams.clicks("Next", inputs={"date": "31 March 2027"})
            assert teams.last(ALICE.direct).startswith(f"Values identifier: {TITLE}")
            await teams.clicks("Send to comms")
            assert teams.last(ALICE.direct).startswith("Thank you: it is with comms")
            [(identifier_id, title, statements)] = await rows(
                app, "SELECT id, title, statements FROM identifiers"
            )
            assert title == TITLE
            assert [s["text"] for s in json.loads(str(statements))] == [
                f"0: {STATEMENT}",
                f"1: {STATEMENT}",
                f"2: {STATEMENT}",
                "",
                f"4: {STATEMENT}",
                f"5: {STATEMENT}",
            ]

            await deliver(app)
            (review,) = connector.posts(CAROL.direct)[-1:]
            assert card_texts(review.card)[0] == f"Values identifier to review: {TITLE}"
            # Markdown people typed is shown as typed, never drawn.
            assert r"\\*\\*bold\\*\\*" in json.dumps(review.body)
            # Bob is not comms: the queue is refused, and his click (with the card's data)
            # decides nothing.
            await teams.says("identifier queue", person=BOB)
            assert teams.last(BOB.direct).startswith("Only comms can do this")
            await teams.clicks("Approve", person=BOB, call=review)
            assert await rows(app, "SELECT status FROM identifiers") == [("pending",)]
            await teams.clicks("Approve", person=CAROL, where=CAROL.direct)
            decided = teams.current(review)
            assert decided is not None
            assert buttons(decided) == []
            assert await rows(app, "SELECT status, moderator FROM identifiers") == [
                ("approved", CAROL.id)
            ]
            await deliver(app)
            told = teams.last(ALICE.direct)
            assert told.startswith("Your values identifier is approved")
            for link in (
                f"{PUBLIC}/identifier/{identifier_id}.docx",
                f"{PUBLIC}/identifier/{identifier_id}",
                f"{PUBLIC}/identifier/{identifier_id}.svg",
            ):
                assert link in told
            assert "<at>" not in json.dumps(list(teams.every_card()))
            assert_valid(teams.every_card())

            page = await teams.client.get(f"/identifier/{identifier_id}")
            assert page.status == 200
            html = await page.text()
            assert "&lt;img src=x onerror=alert(1)&gt;" in html
            assert "<img src=x" not in html
            assert html.count("Patients wrote it") == 5
        finally:
            await teams.client.close()
            await app.close()
