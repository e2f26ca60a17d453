"""You said, we did in the terminal (``valuesbot chat``, in-process): twelve people answer with
comments, comms close the round, approve, respond to two comments and a theme and move an
action from planned to done; the author, whose terminal stayed open on the card where they
answered, reads the response there; someone else holding a copy of that card reads nothing;
the next digest in #values says what was done."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from adapters.console.app import ConsoleChat, ConsoleOutbound
from bot.app import App
from bot.clock import ManualClock
from bot.events import Platform
from tests.adapters.console.test_chat import chat
from tests.dialogs.test_values_lens import rows

Step = str | Callable[[], Awaitable[None]]
PEOPLE = [f"Person {n:02d}" for n in range(12)]
AUTHOR = PEOPLE[0]
AUTHOR_SAID = "More time \x1b[31mfor learning"  # an escape sequence nobody should print


class Script:
    """Lines typed at one terminal, with moments where other terminals act meanwhile."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = list(steps)

    async def read(self, prompt: str) -> str | None:
        while self.steps:
            step = self.steps.pop(0)
            if isinstance(step, str):
                return step
            await step()
        return None


def comment_of(n: int) -> str:
    return AUTHOR_SAID if n == 0 else f"Comment {n}: fewer meetings"


async def test_you_said_we_did_in_the_terminal(app: App, clock: ManualClock) -> None:
    for person in [*PEOPLE, "Carol"]:
        await chat(app, ["/values"], user=person)
    await chat(app, ["/barometer open"], user="Carol")
    await app.delivery.drain()
    output: list[str] = []
    author: ConsoleChat | None = None

    async def meanwhile() -> None:
        """The others answer; comms close, approve, respond and act; then it is the author's
        terminal again."""
        for n, person in enumerate(PEOPLE[1:], start=1):
            await chat(app, ["1", "4", "4", "", comment_of(n)], user=person)
        clock.advance(timedelta(days=1))
        comms = ["/barometer close"]
        for _ in PEOPLE:
            comms += ["/barometer comments", "1"]  # approve the last comment listed
        await chat(app, comms, user="Carol")
        ids = {
            str(t): str(i) for i, t in await rows(app, "SELECT id, text FROM barometer_comments")
        }
        clean = AUTHOR_SAID.replace("\x1b", "")
        mine = next(i for t, i in ids.items() if t.replace("\x1b", "") == clean)
        said = await chat(
            app,
            [
                f"/barometer respond {mine[:6]} Yes: protected <learning> time from January.",
                f"/barometer respond {ids[comment_of(1)][:6]} Noted, thank you.",
                f"/barometer respond {ids[comment_of(2)][:6]} {ids[comment_of(3)][:6]} "
                '--theme "Meetings" Fewer, shorter meetings.',
                '/barometer actions add "Meeting-free Wednesdays" --theme Meetings',
                "/barometer actions 1 in-progress",
                "/barometer actions 1 done",
                "/digest schedule #values weekly monday 09:00",
                "/digest send-now #values",
            ],
            user="Carol",
        )
        assert said.count("┌─ Response published") == 3
        assert "the theme “Meetings” (2 comments)" in said
        assert "Done (" in said
        assert author is not None
        app.dispatcher.connect(Platform.CONSOLE, ConsoleOutbound(author))  # back to this one

    steps: list[Step] = ["1", "4", "4", "", AUTHOR_SAID, meanwhile, "2"]
    author = ConsoleChat(
        app, user=AUTHOR, channel=None, source=Script(steps), write=output.append, echo=True
    )
    await author.run()
    out = "\n".join(output)
    answered, _, later = out.partition(f"{author.prompt}2")
    assert "1) Change my answer   2) See the response to my comment" in answered
    assert "┌─ The response to your comment: November 2026" in later
    assert "Their response: Yes: protected <learning> time from January." in later
    assert "\x1b" not in later
    assert "for learning" not in later  # the comment itself is not printed back

    # Someone holding a copy of the author's card ("1" typed on it) reads nothing.
    seen: list[str] = []

    async def copy_the_card() -> None:
        thief.last, thief.last_id = author.last, author.last_id

    thief = ConsoleChat(
        app,
        user="Mallory",
        channel=None,
        source=Script([copy_the_card, "1"]),
        write=seen.append,
        echo=True,
    )
    await thief.run()
    stolen = "\n".join(seen)
    assert "┌─ Nothing to show" in stolen
    assert "protected" not in stolen

    # The digest in #values says what was done.
    await app.delivery.drain()
    posted = await rows(app, "SELECT card FROM console_posts WHERE conversation = 'values'")
    text = " ".join(str(card) for (card,) in posted)
    assert "You said “Meetings” (November 2026), we did “Meeting-free Wednesdays”." in text
