"""Your own record: what the bot holds about you, to download for your appraisal or as a
subject access export (``/values mydata``), to erase (``/values forget-me``); leavers; and the
retention job that keeps nothing longer than its limit.

- **Downloads** are single-use links that expire in ``LINK_LIFETIME``: a random token whose
  hash alone is stored (``storage.records``), served at ``GET /me/<token>.docx`` and
  ``.json`` (``bot/web.py``). The card holding them goes only to the person's direct
  conversation with the bot.
- **Erasure** takes every row that names the person, or that can be found again for them,
  from every feature's store (``Records.forget``). Their team ratings are stored under a keyed
  hash of them that differs per team check-in (``bot.pseudonym``): it is made again from the
  secret and their id for every team check-in of their workspace. Their barometer answers were
  never linked to them and stay.
- **Leavers**: when a platform says someone is gone (``PersonLeft``, ``AppRemoved``), their
  queued messages are cancelled at once and they are erased by the retention job after
  ``VALUESBOT_LEAVER_GRACE_DAYS``, unless they do anything with the bot before then.
- **Retention** (``RETENTION_JOB``, hourly, each slot once across instances): the limits of
  README "What is kept, for how long".
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.audit import SCHEDULE, cli_actor, person_actor, record
from bot.clock import Clock
from bot.content import Content
from bot.delivery import to_person
from bot.delivery.hours import week_of
from bot.events import ActionSubmitted, AppRemoved, CommandReceived, PersonLeft, ScheduleFired
from bot.pseudonym import Pseudonymiser
from bot.router import CommandHandler, Router
from bot.settings import Settings
from bot.text import plural
from bot.turn import Turn
from bot.ui import Card, Choice, ChoiceStyle, Field
from dialogs.digest import forget_in_digests
from dialogs.record_files import (
    DOCX_TYPE,
    NOT_HELD,
    Record,
    record_docx,
    record_json_bytes,
)
from storage.case_studies import CaseStudyStatus
from storage.identifiers import IdentifierStatus
from storage.people import PersonKey
from storage.records import ERASED, LinkKind, LinkState
from storage.stores import Stores

log = logging.getLogger("valuesbot.records")

MYDATA = "mydata"
FORGET_ME = "forget-me"
FORGET_ACTION = "records.forget"
RETENTION_JOB = "records.retention"
MYDATA_JOB = "records-mydata"
LINK_LIFETIME = timedelta(minutes=15)
# What a link's last part looks like: a token (``secrets.token_urlsafe``) and its format.
LINK_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}\.[a-z]{2,5}")
# Expired links are kept a day (so "this link has expired" can be said), then go.
LINK_MEMORY = timedelta(days=1)
# Weekly message counts are needed for the current week only; a few are kept for the log.
WEEKS_KEPT = timedelta(weeks=5)
# Leavers erased by one run of the retention job (the rest wait for the next hour).
LEAVERS_PER_RUN = 200

ERASE_ALL = "all"
KEEP_STORIES = "keep"
CANCEL = "cancel"

USED_TEXT = "This link was used already. Type /values mydata for a new one."
EXPIRED_TEXT = "This link has expired. Type /values mydata for a new one."
UNKNOWN_TEXT = "There is no such link."

NOT_FOUND = (
    "What cannot be found and stays: your staff barometer answers (never linked to you); your "
    "ratings in team check-ins that now keep only their counts (after their results were "
    "posted and the retention period passed) or that were made before the pseudonymisation "
    "secret was changed; messages already delivered into Slack or Teams, which the platform "
    "keeps (ask the channel's owner to delete a post)."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Erasure:
    """What an erasure took away (counts only)."""

    checkins: int = 0
    commitments: int = 0
    shared: int = 0
    case_studies_removed: int = 0
    case_studies_kept: int = 0
    identifiers_removed: int = 0
    identifiers_kept: int = 0
    team_checkins: int = 0
    team_started: int = 0
    dialogs: int = 0
    messages: int = 0
    barometer: int = 0
    digests: int = 0
    known: bool = False
    """Whether the bot had met the person at all."""

    def lines(self) -> list[str]:
        """What went, as short lines for a card or the command line."""
        found = [
            plural(self.checkins, "values lens check-in"),
            plural(self.commitments, "commitment")
            + (f" ({self.shared} shared, taken off the digest pages)" if self.shared else ""),
            f"your ratings in {plural(self.team_checkins, 'team check-in')}",
            plural(self.case_studies_removed, "case study", "case studies") + " erased",
        ]
        if self.case_studies_kept:
            found.append(
                plural(self.case_studies_kept, "case study", "case studies")
                + " kept without your name"
            )
        found.append(plural(self.identifiers_removed, "values identifier") + " erased")
        if self.identifiers_kept:
            found.append(
                plural(self.identifiers_kept, "approved values identifier")
                + " kept published without your name"
            )
        found += [
            plural(self.messages, "message") + " to you",
            plural(self.dialogs, "conversation") + " under way",
            "your name, time zone and direct conversation" if self.known else "no profile",
        ]
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Download:
    """The answer to ``GET /me/<token>``."""

    status: int
    body: bytes
    content_type: str
    filename: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionResult:
    """What one run of the retention job removed."""

    leavers: int = 0
    checkins: int = 0
    team_checkins: int = 0
    dialogs: int = 0
    events: int = 0
    outbox: int = 0
    records: int = 0
    identifiers: int = 0


def token_hash(token: str) -> str:
    """What is stored of a link's token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Records:
    """People's own records: the card and its downloads, erasure, leavers, retention."""

    def __init__(
        self, *, content: Content, settings: Settings, pseudonyms: Pseudonymiser, clock: Clock
    ) -> None:
        self.content = content
        self.settings = settings
        self.pseudonyms = pseudonyms
        self.clock = clock

    def router(self) -> Router:
        """The confirmation of an erasure, leavers and the retention job."""
        router = Router()
        router.action(FORGET_ACTION, self.confirm)
        router.schedule(RETENTION_JOB, self.scheduled)
        router.on_left = self.left
        router.on_removed = self.removed
        return router

    def subcommands(self) -> dict[str, CommandHandler]:
        """``/values mydata`` and ``/values forget-me``."""
        return {MYDATA: self.mydata, FORGET_ME: self.forget_me}

    # Gathering

    def member_keys(self, person: PersonKey, checkin_ids: list[str]) -> dict[str, str]:
        """The person's keyed hash in each team check-in (how their ratings are stored)."""
        return {
            checkin_id: self.pseudonyms.key(
                f"team:{checkin_id}", person.platform, person.tenant, person.user
            )
            for checkin_id in checkin_ids
        }

    async def gather(self, stores: Stores, person: PersonKey, now: datetime) -> Record:
        """Everything the bot holds about the person."""
        team_ids = await stores.team_checkins.ids_in(person.platform, person.tenant)
        return Record(
            person=person,
            profile=await stores.people.get(person),
            checkins=await stores.checkins.for_person(person),
            commitments=await stores.commitments.for_person(person),
            case_studies=await stores.case_studies.for_person(person),
            identifiers=await stores.identifiers.for_person(person),
            team_ratings=await stores.team_checkins.ratings_of(self.member_keys(person, team_ids)),
            team_started=await stores.team_checkins.started_by(
                person.platform, person.tenant, person.user
            ),
            dialogs=await stores.dialogs.for_person(person.platform, person.tenant, person.user),
            waiting_messages=await stores.outbox.waiting_for(person),
            links=await stores.records.links_of(person),
            leaver=await stores.records.leaver(person),
            actions=await stores.records.audit_by(person_actor(person)),
            made_at=now,
        )

    # /values mydata

    async def mydata(self, turn: Turn[CommandReceived]) -> None:
        """``/values mydata``: the card with what is held and the download links, in the
        person's direct conversation only."""
        card = await self.record_card(turn.stores, turn.person, turn.now)
        if turn.event.conversation.is_direct:
            turn.reply(card, private=True)
            return
        await turn.stores.outbox.enqueue(
            to_person(
                f"{MYDATA_JOB}:{secrets.token_hex(8)}",
                MYDATA_JOB,
                turn.person,
                card,
                respect_working_hours=False,
                counts_towards_cap=False,
            ),
            turn.now,
        )
        turn.reply(
            Card(
                title="Your values record",
                text="I have sent it to our direct chat: its download links are yours alone, "
                "so they only go there.",
            ),
            private=True,
        )

    async def record_card(self, stores: Stores, person: PersonKey, now: datetime) -> Card:
        """What is held about the person, in counts, with two new single-use links."""
        held = await self.gather(stores, person, now)
        shared = sum(1 for c in held.commitments if c.shared_at is not None)
        fields = [
            Field(label="Values lens check-ins", value=str(len(held.checkins))),
            Field(
                label="Commitments",
                value=f"{len(held.commitments)}" + (f" ({shared} shared)" if shared else ""),
            ),
            Field(label="Case studies", value=str(len(held.case_studies))),
            Field(label="Values identifiers", value=str(len(held.identifiers))),
            Field(label="Team check-ins you joined", value=str(len(held.team_ratings))),
        ]
        base = self.settings.public_url
        if base is None:
            links = (
                "Downloads are not set up here: the bot needs its web address "
                "(VALUESBOT_PUBLIC_URL). Ask your administrator."
            )
        else:
            urls = {}
            for kind in (LinkKind.DOCX, LinkKind.HTML, LinkKind.JSON):
                token = secrets.token_urlsafe(24)
                await stores.records.issue_link(
                    token_hash(token), person, kind, now, now + LINK_LIFETIME
                )
                suffix = "" if kind == LinkKind.HTML else f".{kind}"
                urls[kind] = f"{base}/me/{token}{suffix}"
            links = (
                f"For your appraisal (Word): {urls[LinkKind.DOCX]}\n"
                f"The same as a web page: {urls[LinkKind.HTML]}\n"
                f"Everything I hold about you (JSON): {urls[LinkKind.JSON]}\n"
                f"Each link works once, for {int(LINK_LIFETIME.total_seconds() // 60)} minutes; "
                "/values mydata makes new ones."
            )
        return Card(
            title="Your values record",
            text=f"What I hold about you:\n\n{links}",
            fields=tuple(fields),
            footer=f"{NOT_HELD} /values forget-me erases the rest.",
        )

    async def follow(self, stores: Stores, token: str, kind: str) -> Record | LinkState:
        """The record behind a link of ``kind`` (spending it: audited as an export), or why
        there is none (``USED``, ``EXPIRED``, ``UNKNOWN``, which a link of another kind is)."""
        now = self.clock.now()
        used = await stores.records.use_link(token_hash(token), kind, now)
        if used.state is not LinkState.OK or used.person is None:
            return LinkState.UNKNOWN if used.state is LinkState.OK else used.state
        await record(stores, person_actor(used.person), "export", kind, now)
        return await self.gather(stores, used.person, now)

    async def download(self, stores: Stores, token: str, now: datetime) -> Download:
        """``GET /me/<token>.<docx|json>``: the file once, then "used"; nothing for a token
        that was never issued, has expired, or asks for another format than it was made for."""
        base, _, extension = token.rpartition(".")
        if not base or extension not in {LinkKind.DOCX, LinkKind.JSON}:
            return _page(404, UNKNOWN_TEXT)
        found = await self.follow(stores, base, extension)
        if found is LinkState.USED:
            return _page(410, USED_TEXT)
        if found is LinkState.EXPIRED:
            return _page(410, EXPIRED_TEXT)
        if not isinstance(found, Record):
            return _page(404, UNKNOWN_TEXT)
        stamp = f"{now.astimezone(self.settings.zone):%Y-%m-%d}"
        if extension == LinkKind.DOCX:
            return Download(
                status=200,
                body=record_docx(found, self.content, self.settings.zone),
                content_type=DOCX_TYPE,
                filename=f"values-record-{stamp}.docx",
            )
        return Download(
            status=200,
            body=record_json_bytes(found, self.content),
            content_type="application/json",
            filename=f"values-record-{stamp}.json",
        )

    # /values forget-me

    async def forget_me(self, turn: Turn[CommandReceived]) -> None:
        """``/values forget-me``: what would go, and the buttons to confirm."""
        held = await self.gather(turn.stores, turn.person, turn.now)
        shared = sum(1 for c in held.commitments if c.shared_at is not None)
        goes = [
            plural(len(held.checkins), "values lens check-in") + " (with your notes and actions)",
            plural(len(held.commitments), "commitment")
            + (f" ({shared} shared: taken off the digest pages)" if shared else ""),
            f"your ratings in {plural(len(held.team_ratings), 'team check-in')}",
            plural(len(held.identifiers), "values identifier")
            + " (those approved stay published under their team, without your name)",
            plural(held.waiting_messages, "message") + " waiting to reach you",
            "your conversations under way, your name, time zone and direct conversation",
        ]
        choices = [
            Choice(
                label="Erase everything",
                action=FORGET_ACTION,
                value=ERASE_ALL,
                style=ChoiceStyle.DANGER,
            )
        ]
        stories = ""
        if held.case_studies:
            stories = (
                f"\n\nYour {plural(len(held.case_studies), 'case study', 'case studies')}: "
                "erase them too, or keep them without your name."
            )
            choices.append(
                Choice(
                    label="Erase, keep my stories without my name",
                    action=FORGET_ACTION,
                    value=KEEP_STORIES,
                    style=ChoiceStyle.DANGER,
                )
            )
        choices.append(Choice(label="No, keep it all", action=FORGET_ACTION, value=CANCEL))
        turn.reply(
            Card(
                title="Erase what I hold about you?",
                text="This erases, for good:\n- " + "\n- ".join(goes) + stories,
                choices=tuple(choices),
                footer=f"{NOT_FOUND} Type /values mydata first to keep a copy.",
                hidden={"who": turn.event.actor.id},
            ),
            private=True,
        )

    async def confirm(self, turn: Turn[ActionSubmitted]) -> None:
        """A button of the erasure card."""
        values = turn.event.values
        if values.get("who") != turn.event.actor.id:
            turn.reply(
                Card(title="Not yours", text="Only the person it was shown to can use it."),
                private=True,
            )
            return
        choice = values.get("choice", "")
        if choice not in {ERASE_ALL, KEEP_STORIES}:
            turn.update(Card(title="Nothing was erased", text="You cancelled."))
            return
        erased = await self.forget(
            turn.stores, turn.person, turn.now, keep_stories=choice == KEEP_STORIES
        )
        await record(turn.stores, ERASED, "erase", "", turn.now)
        turn.update(
            Card(
                title="Erased",
                text="What I held about you is gone:\n- " + "\n- ".join(erased.lines()),
                footer=NOT_FOUND,
            )
        )

    async def forget(
        self,
        stores: Stores,
        person: PersonKey,
        now: datetime,
        *,
        keep_stories: bool = False,
        keep_approved: bool = False,
    ) -> Erasure:
        """Erase the person from every store (``keep_stories``: their case studies stay
        without their name; ``keep_approved``: the approved ones do, the rest go)."""
        profile = await stores.people.get(person)
        platform, tenant, user = person.platform, person.tenant, person.user
        checkins = await stores.checkins.forget(person)
        team_ids = await stores.team_checkins.ids_in(platform, tenant)
        team = await stores.team_checkins.forget_member(self.member_keys(person, team_ids))
        started = await stores.team_checkins.forget_starter(platform, tenant, user)
        commitments = await stores.commitments.forget(person)
        theirs = await stores.case_studies.for_person(person)
        kept = [
            c
            for c in theirs
            if keep_stories or (keep_approved and c.status == CaseStudyStatus.APPROVED)
        ]
        removed = [c for c in theirs if c not in kept]
        await stores.case_studies.forget(person, keep=[c.id for c in kept])
        # An approved identifier is at the front of a published publication, owned by a team:
        # it stays, without its author; the rest go.
        identifiers = await stores.identifiers.forget(
            person,
            keep=[
                i.id
                for i in await stores.identifiers.for_person(person)
                if i.status == IdentifierStatus.APPROVED
            ],
        )
        identifiers_kept = sum(1 for i in identifiers if i.status == IdentifierStatus.APPROVED)
        digests = await forget_in_digests(
            stores,
            person,
            profile.display_name if profile else "",
            self.content,
            commitments=commitments,
            removed=removed,
            kept=kept,
        )
        dialogs = await stores.dialogs.forget(platform, tenant, user)
        about_them = (
            [f"commitment-share:{c.id}:" for c in commitments]
            + [
                prefix
                for c in theirs
                for prefix in (f"casestudy-review:{c.id}:", f"casestudy-outcome:{c.id}:")
            ]
            + [
                prefix
                for i in identifiers
                for prefix in (f"identifier-review:{i.id}:", f"identifier-outcome:{i.id}:")
            ]
        )
        messages = await stores.outbox.forget(person, about_them)
        barometer = await stores.barometer.forget_participant(person)
        await stores.console.forget(profile.direct_conversation if profile else None, user)
        await stores.records.forget(person)
        await stores.people.forget(person)
        log.info(
            "person erased platform=%s checkins=%d commitments=%d team=%d case_studies=%d",
            platform,
            checkins,
            len(commitments),
            team,
            len(theirs),
        )
        return Erasure(
            checkins=checkins,
            commitments=len(commitments),
            shared=sum(1 for c in commitments if c.shared_at is not None),
            case_studies_removed=len(removed),
            case_studies_kept=len(kept),
            identifiers_removed=len(identifiers) - identifiers_kept,
            identifiers_kept=identifiers_kept,
            team_checkins=team,
            team_started=started,
            dialogs=dialogs,
            messages=messages,
            barometer=barometer,
            digests=digests,
            known=profile is not None,
        )

    async def forget_by_admin(
        self, stores: Stores, person: PersonKey, now: datetime, *, keep_stories: bool
    ) -> Erasure:
        """Erasure from the command line (the data protection officer)."""
        erased = await self.forget(stores, person, now, keep_stories=keep_stories)
        await record(stores, cli_actor(), "erase", "", now)
        return erased

    # Leavers

    async def left(self, turn: Turn[PersonLeft]) -> None:
        """A platform said someone is gone: cancel what waits for them, mark them."""
        await self.mark_gone(turn.stores, [turn.person], turn.event.reason, turn.now)

    async def removed(self, turn: Turn[AppRemoved]) -> None:
        """The app was uninstalled from a workspace or tenant: everyone there is gone."""
        place = turn.event.conversation
        people = await turn.stores.people.in_tenant(str(place.platform), place.tenant)
        await self.mark_gone(turn.stores, people, turn.event.reason, turn.now)

    async def mark_gone(
        self, stores: Stores, people: list[PersonKey], reason: str, now: datetime
    ) -> int:
        """Cancel the messages waiting for ``people`` and mark them for erasure after the
        grace period; how many messages were cancelled."""
        grace = timedelta(days=self.settings.leaver_grace_days)
        await stores.records.mark_left(people, reason, now, now + grace)
        cancelled = 0
        for person in people:
            cancelled += await stores.outbox.cancel_to(person, now)
        log.info("people gone reason=%s people=%d cancelled=%d", reason, len(people), cancelled)
        return cancelled

    # Retention

    async def scheduled(self, turn: Turn[ScheduleFired]) -> None:
        """The ``records.retention`` job."""
        await self.retention(turn.stores, turn.now)

    async def retention(self, stores: Stores, now: datetime) -> RetentionResult:
        """Erase leavers whose grace period is over, and every row older than its limit."""
        settings = self.settings
        leavers = await stores.records.leavers_due(now, LEAVERS_PER_RUN)
        for leaver in leavers:
            # Nobody chose for them: published stories stay without their name.
            await self.forget(stores, leaver.person, now, keep_approved=True)
            await record(stores, SCHEDULE, "erase.leaver", "", now)
        days = timedelta(days=1)
        result = RetentionResult(
            leavers=len(leavers),
            checkins=await stores.checkins.forget_before(
                now - settings.retain_checkins_days * days
            ),
            team_checkins=await stores.team_checkins.summarise_before(
                now - settings.retain_team_ratings_days * days
            ),
            dialogs=await stores.dialogs.forget_before(now - settings.retain_dialogs_days * days),
            events=await stores.events.forget_before(now - settings.retain_events_days * days),
            outbox=await stores.outbox.forget_before(
                now - settings.retain_outbox_days * days,
                week_of(now - WEEKS_KEPT, settings.zone),
            ),
            records=await stores.records.forget_before(
                now - LINK_MEMORY, now - settings.retain_audit_days * days
            ),
            identifiers=await stores.identifiers.forget_before(
                now - settings.retain_identifiers_days * days
            ),
        )
        log.info(
            "retention leavers=%d checkins=%d team_checkins=%d dialogs=%d events=%d outbox=%d "
            "records=%d identifiers=%d",
            result.leavers,
            result.checkins,
            result.team_checkins,
            result.dialogs,
            result.events,
            result.outbox,
            result.records,
            result.identifiers,
        )
        return result


def _page(status: int, message: str) -> Download:
    return Download(status=status, body=message.encode(), content_type="text/plain")
