"""Hub data for the page tests: approved case studies (named and anonymous), a draft, shared
and private commitments, a sent digest, a closed barometer round with responses and actions,
and hostile text in titles, stories, names, comments, responses and actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.app import App
from bot.events import Actor, ConversationKind, ConversationRef, Platform
from dialogs.barometer.tokens import token_hash
from dialogs.digest import Digest, DigestCommitment, DigestStory, digest_to_json
from storage.barometer import ActionStatus, BarometerAnswer
from storage.case_studies import CaseStudy, CaseStudyStatus
from storage.commitments import Commitment
from storage.digests import DigestRun, DigestRunStatus, DigestSchedule
from storage.people import PersonKey
from tests.harness import TENANT as HARNESS_TENANT

NOW = datetime(2027, 3, 22, 9, 0, tzinfo=UTC)
TENANT = HARNESS_TENANT  # the harness speaks for these people
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_LINK = "javascript:alert(1)"
HOSTILE = (SCRIPT, IMG, JS_LINK)

ANN = PersonKey("slack", TENANT, "U1")
BEN = PersonKey("slack", TENANT, "U2")
EVE = PersonKey("slack", TENANT, "U3")
NAMES = {ANN: "Ann Archer", BEN: "Ben Baker", EVE: f"Eve {IMG}"}
VALUES = ConversationRef(
    platform=Platform.SLACK, tenant=TENANT, conversation="C1", kind=ConversationKind.CHANNEL
)

# (id, author, named, title, story, behaviours); approved a minute apart, in this order.
STORIES = [
    (
        "a001",
        ANN,
        True,
        "Patients shaped the discharge letter",
        "We ran two workshops with patients.\nThey rewrote the letter with us.",
        ("patients", "listen"),
    ),
    ("a002", BEN, False, "Open board papers", "Every paper published on time.", ("open",)),
    (
        "a003",
        EVE,
        True,
        f"Hostile {SCRIPT} title",
        f"A story {IMG} with {JS_LINK} in it.",
        ("evidence",),
    ),
]
# Twelve more, so the list has two pages: "Story 01".."Story 12", all "improve".
STORIES += [
    (f"b{n:03d}", BEN, True, f"Story {n:02d}", f"Improvement number {n}.", ("improve",))
    for n in range(1, 13)
]
LATEST = NOW + timedelta(minutes=len(STORIES))


async def seed_hub(app: App) -> None:
    """Everything the hub's pages show, straight into the stores."""
    async with app.database.unit() as stores:
        for person, name in NAMES.items():
            place = ConversationRef(
                platform=Platform.SLACK,
                tenant=TENANT,
                conversation=f"D{person.user}",
                kind=ConversationKind.DIRECT,
            )
            await stores.people.seen(place, Actor(id=person.user, name=name), NOW)
        for n, (key, author, named, title, story, behaviours) in enumerate(STORIES, start=1):
            await stores.case_studies.add(
                CaseStudy(
                    id=key,
                    author=author,
                    title=title,
                    story=story,
                    behaviours=behaviours,
                    difference=f"The difference of {key}.",
                    named=named,
                    submitted_at=NOW,
                )
            )
            await stores.case_studies.decide(
                key, 1, CaseStudyStatus.APPROVED, "U9", None, NOW + timedelta(minutes=n)
            )
        await stores.case_studies.add(
            CaseStudy(
                id="d001",
                author=ANN,
                title="A draft nobody approved",
                story="Waiting.",
                behaviours=("patients",),
                difference="None yet.",
                named=True,
                submitted_at=NOW,
            )
        )
        for n, (key, owner, text, behaviours, shared) in enumerate(
            [
                ("c001", ANN, "test every draft with two patients", ("patients",), True),
                ("c002", EVE, f"say {SCRIPT} out loud", ("open",), True),
                ("c003", BEN, "keep this one to myself", ("open",), False),
            ]
        ):
            await stores.commitments.add(
                Commitment(id=key, owner=owner, text=text, behaviours=behaviours, created_at=NOW)
            )
            if shared:
                await stores.commitments.mark_shared(key, owner, NOW + timedelta(minutes=n))
        schedule = DigestSchedule(
            id="s1",
            place=VALUES,
            label="#values",
            weekday=0,
            hour=9,
            minute=0,
            timezone="Europe/London",
            if_empty="message",
            created_by="U9",
            created_at=NOW,
            active_since=NOW,
        )
        await stores.digests.save_schedule(schedule, NOW)
        run = DigestRun(
            id="f" * 32,
            schedule_id="s1",
            period="2027-03-29",
            place=VALUES,
            claimed_at=LATEST,
            as_of=LATEST,
        )
        await stores.digests.claim(run)
        digest = Digest(
            week_of="29 Mar 2027",
            behaviour="We listen and learn",
            behaviour_definition="We believe everybody has good ideas.",
            barometer=None,
            stories=tuple(
                DigestStory(title=t, story=s, difference="d", behaviours="b", credit="c")
                for _, _, _, t, s, _ in STORIES[:3]
            ),
            shared=2,
            commitments=(
                DigestCommitment(
                    id="c001", text="test every draft", behaviours="", by="Ann Archer"
                ),
                DigestCommitment(id="c002", text=f"say {SCRIPT}", behaviours="", by=NAMES[EVE]),
            ),
        )
        await stores.digests.finish(
            run.id,
            status=DigestRunStatus.QUEUED,
            body=digest_to_json(digest),
            case_studies=3,
            commitments=2,
        )
        for key, *_ in STORIES[:3]:
            await stores.digests.include(run.id, VALUES, key)


async def seed_barometer(app: App) -> None:
    """A closed barometer round of twelve, every comment approved; responses (one withdrawn,
    one to a theme) and actions, with hostile text in comments, responses, a theme and an
    action's title and owner."""
    barometer = app.barometer
    async with app.database.unit() as stores:
        round_ = barometer.new_round(NOW - timedelta(days=20), "2027-02")
        await stores.barometer.open(round_)
        for n in range(12):
            comment = f"Comment {n} {SCRIPT}" if n % 2 else f"Comment {n} {IMG}"
            await stores.barometer.answer(
                round_.id,
                PersonKey("slack", TENANT, f"UB{n:02d}"),
                BarometerAnswer(values={q.id: "agree" for q in round_.questions}, comment=comment),
                token_hash(f"token-{n}"),
            )
        await stores.barometer.close(round_.id, NOW - timedelta(days=10))
    async with app.database.unit() as stores:
        closed = await stores.barometer.get(round_.id)
        assert closed is not None
        await stores.barometer.seal(round_.id, set(), keep_comments=True)
        comments = await stores.barometer.comments(round_.id)
        for comment in comments:
            await stores.barometer.moderate(round_.id, comment.id, "approved")
        follow_up = barometer.follow_up
        when = NOW - timedelta(days=9)
        comms = "slack:T1:UCOMMS"
        await follow_up.respond(
            stores, closed, comments[:1], f"We hear you {IMG}", None, when, actor=comms
        )
        await follow_up.respond(
            stores,
            closed,
            comments[1:4],
            f"Theme answer {SCRIPT}",
            f"Work {JS_LINK}",
            when,
            actor=comms,
        )
        withdrawn = await follow_up.respond(
            stores, closed, comments[4:5], "Oops", None, when, actor=comms
        )
        await stores.follow_up.withdraw_reply(withdrawn.id, when)
        await follow_up.respond(
            stores, closed, comments[5:6], "Edited later", None, when, actor=comms
        )
        await follow_up.respond(stores, closed, comments[5:6], "Edited now", None, NOW, actor=comms)
        action = await follow_up.add_action(
            stores,
            closed,
            title=f"Act {SCRIPT}",
            owner=f"Team {IMG}",
            due="2027-04-30",
            theme=f"Work {JS_LINK}",
            now=when,
            actor=comms,
        )
        await stores.follow_up.set_action_status(action.id, ActionStatus.DONE, NOW)
        await follow_up.add_action(
            stores,
            closed,
            title="Share the results",
            owner="",
            due="",
            theme="",
            now=NOW,
            actor=comms,
        )
