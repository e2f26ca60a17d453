"""The composition root: the one place where settings, content, storage, dialogs and routers are
wired together. Adapters receive the finished ``App`` and connect their ``Outbound`` to it.

It is the one module that knows every feature (each feature's dialogs, routers and schedules);
the layers below it know only their own feature, and the adapters none (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from bot.answer_key import check_answer_key, load_answer_key
from bot.clock import Clock, SystemClock
from bot.content import Content, load_content
from bot.delivery import Undelivered
from bot.delivery.hours import WorkingHours
from bot.delivery.limits import PlatformLimits
from bot.delivery.progress import DeliveryCommands
from bot.delivery.scheduler import Scheduler
from bot.delivery.worker import DeliveryConfig, DeliveryMetrics, DeliveryWorker, instance_name
from bot.dialogs import DialogRunner
from bot.dispatch import Dispatcher, Metrics
from bot.events import Actor, ConversationRef, Platform
from bot.pages import Pages
from bot.pseudonym import Pseudonymiser
from bot.router import Router
from bot.settings import Settings, SettingsError
from bot.ui import Card
from dialogs.barometer.page import BarometerPages
from dialogs.barometer.service import (
    SCRUB_PENDING,
    ActionsDone,
    Barometer,
    ChannelDirectory,
    Headlines,
    SaidDidActivity,
)
from dialogs.barometer.service import TICK_JOB as BAROMETER_TICK
from dialogs.case_studies import NAME as CASE_STUDY
from dialogs.case_studies import CaseStudies, CaseStudyDialog, Submissions
from dialogs.commitments import NAME as COMMITMENT
from dialogs.commitments import REVIEW_JOB, CommitmentDialog, Commitments
from dialogs.digest import TICK_JOB as DIGEST_TICK
from dialogs.digest import Digests
from dialogs.help import Help, HelpEntry
from dialogs.home import HomePage
from dialogs.hub.pages import HubPages
from dialogs.identifier.dialog import NAME as IDENTIFIER
from dialogs.identifier.dialog import IdentifierDialog
from dialogs.identifier.pages import IdentifierPages
from dialogs.identifier.service import IdentifierCommands, Identifiers
from dialogs.record_pages import RecordPages
from dialogs.records import RETENTION_JOB, Records
from dialogs.scorecard.pages import ScorecardPages
from dialogs.scorecard.service import TICK_JOB as SCORECARD_TICK
from dialogs.scorecard.service import Scorecards
from dialogs.values_lens import NAME as VALUES_LENS
from dialogs.values_lens import ValuesLens, ValuesLensCommands
from storage import migrate
from storage.engine import Database, DatabaseUnavailable
from storage.schedules import Schedule
from storage.scrub import scrub

log = logging.getLogger("valuesbot.app")

HOUSEKEEPING_SECONDS = 30.0
# Send budgets untouched for this long are forgotten (a conversation's budget is only needed
# for a second or two).
BUCKET_MEMORY_SECONDS = 3600.0
# Records of claimed schedule slots are kept this long (far past any grace period).
SCHEDULE_RUN_MEMORY = timedelta(days=30)
# How long ``App.close`` lets the delivery worker finish the sends under way.
CLOSE_GRACE_SECONDS = 10.0


def default_schedules(settings: Settings) -> list[Schedule]:
    """The recurring jobs every installation runs. Each job decides for itself what is due
    (the barometer's timetable, each digest's day and time, each commitment's review day), so
    the schedules only say how often to look."""
    # Each job: how often it looks, and how late a missed look may still run.
    jobs = (
        (BAROMETER_TICK, "*/5 * * * *", timedelta(minutes=30)),
        (DIGEST_TICK, "* * * * *", timedelta(minutes=10)),
        (REVIEW_JOB, "0 * * * *", timedelta(hours=2)),
        # A stakeholder feedback round closes by itself when its time is up.
        (SCORECARD_TICK, "*/15 * * * *", timedelta(hours=1)),
        # Retention: erase leavers whose grace is over and rows older than their limits
        # (handled event ids included, kept VALUESBOT_RETAIN_EVENTS_DAYS to spot retries).
        (RETENTION_JOB, "17 * * * *", timedelta(hours=6)),
    )
    return [
        Schedule(id=kind, kind=kind, cron=cron, timezone=settings.timezone, grace=grace)
        for kind, cron, grace in jobs
    ]


HELP = (
    HelpEntry(
        command="valueslens",
        summary="Look at a piece of work through our six behaviours (in a channel: as a team).",
    ),
    HelpEntry(command="valueslens history", summary="Your past check-ins."),
    HelpEntry(
        command="barometer",
        summary="This month's staff barometer (anonymous), or its latest results.",
    ),
    HelpEntry(
        command="scorecard",
        summary="How we measure up against our objectives: the vision and purpose scorecard.",
    ),
    HelpEntry(
        command="commitment",
        summary='Make a personal commitment: "My contribution is to..." (private unless you '
        "share it).",
    ),
    HelpEntry(command="commitment list", summary="Your commitments: edit, mark done, share."),
    HelpEntry(
        command="casestudy",
        summary="Share a story of what good looks like; comms review it for the weekly digest.",
    ),
    HelpEntry(command="casestudy mine", summary="Your case studies and where they are."),
    HelpEntry(
        command="identifier",
        summary="Make a values identifier for the front of a key publication; comms review it.",
    ),
    HelpEntry(command="identifier mine", summary="Your values identifiers and their links."),
    HelpEntry(
        command="digest",
        summary="(Comms team) Schedule the weekly values digest to a channel.",
    ),
    HelpEntry(command="values behaviours", summary="Our six behaviours and what they mean."),
    HelpEntry(
        command="values mydata",
        summary="What I hold about you: your values record for your appraisal, and all of it "
        "as data.",
    ),
    HelpEntry(command="values forget-me", summary="Erase what I hold about you."),
    HelpEntry(command="values deliveries", summary="(Comms) How far each delivery has got."),
    HelpEntry(command="values", summary="This help."),
)


@dataclass(kw_only=True)
class App:
    """A running valuesbot: what adapters and the CLI need."""

    settings: Settings
    content: Content
    database: Database
    dispatcher: Dispatcher
    lens: ValuesLensCommands
    barometer: Barometer
    commitments: Commitments
    case_studies: CaseStudies
    identifiers: IdentifierCommands
    digests: Digests
    help: Help
    home: HomePage
    records: Records
    clock: Clock
    delivery: DeliveryWorker
    scheduler: Scheduler
    pages: tuple[Pages, ...] = ()
    """Every feature's web pages, served by ``valuesbot serve`` (``bot/web.py``)."""
    scorecard: Scorecards | None = None
    """The vision and purpose scorecard (None when the content file has no scorecard)."""
    stopping: bool = False
    """True once ``stop_work`` was called (``valuesbot serve`` got SIGTERM): ``/readyz`` then
    says so, so that no new request is sent here."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def home_cards(self, direct: ConversationRef, actor: Actor) -> tuple[Card, ...]:
        """The cards of a person's home page (Slack's Home tab), read in a unit of work of
        their own; ``direct`` is the person's direct conversation with the bot."""
        async with self.database.unit() as stores:
            return await self.home.cards(stores, direct, actor, self.clock.now())

    async def housekeeping(self) -> None:
        """Periodic chores: close team check-ins whose time is up, forget idle send budgets,
        refresh the outbox gauges. (Old rows of every kind go by the retention job.)"""
        now = self.clock.now()
        async with self.database.unit() as stores:
            # Results of team check-ins whose time ran out go to their channels by the outbox,
            # and their cards there are changed to say they have closed.
            await self.lens.close_due(stores, now, command_prefix=self.dispatcher.command_prefix)
            await stores.schedules.forget_runs_before(now - SCHEDULE_RUN_MEMORY)
            await stores.delivery.forget_buckets(time.time() - BUCKET_MEMORY_SECONDS)
            scrub_pending = await stores.meta.get(SCRUB_PENDING)
        await self.delivery.refresh_metrics()
        if scrub_pending:
            # A barometer round closed (by the schedule or by comms): erase the physical traces
            # of the rows its closing deleted. Outside any transaction, after the close
            # committed; the flag is cleared only once the scrub has run.
            await scrub(self.database)
            async with self.database.unit() as stores:
                await stores.meta.put(SCRUB_PENDING, "")

    async def run_schedules(self, *kinds: str) -> list[str]:
        """Run every schedule's slot (of these kinds, when given) that is due now and
        unclaimed, as the timer would: tests and benchmarks use it with a controlled clock;
        ``valuesbot serve`` has the timer. What ran, as "schedule@period"."""
        await self.ensure_schedules()
        await self.scheduler.sync()
        return await self.scheduler.tick(set(kinds) if kinds else None)

    async def ensure_schedules(self) -> None:
        """Create the default schedules that do not exist yet (a schedule someone changed is
        left as it is)."""
        now = self.clock.now()
        async with self.database.unit() as stores:
            for schedule in default_schedules(self.settings):
                await stores.schedules.add(schedule, now)

    def start_background(self, interval: float = HOUSEKEEPING_SECONDS) -> None:
        """Run the housekeeping every ``interval`` seconds, the delivery worker and the
        scheduler, until ``close``."""

        async def loop() -> None:
            while True:
                try:
                    await self.housekeeping()
                except DatabaseUnavailable:
                    log.warning("housekeeping skipped: the database is unavailable")
                except Exception:
                    log.exception("housekeeping failed")
                await asyncio.sleep(interval)

        async def schedules() -> None:
            try:
                await self.ensure_schedules()
                await self.scheduler.start()
            except Exception:
                log.exception("scheduler start failed; retrying at the next poll")
            await self.scheduler.follow()

        self._tasks.append(asyncio.create_task(loop(), name="housekeeping"))
        self._tasks.append(asyncio.create_task(self.delivery.run(), name="delivery"))
        self._tasks.append(asyncio.create_task(schedules(), name="scheduler"))
        if self.database.dialect != "sqlite":
            self._tasks.append(asyncio.create_task(self.database.watch(), name="database"))

    def stop_work(self) -> None:
        """Start no new background work: the timer is disarmed, the delivery worker claims
        nothing more (its sends under way go on: ``close``)."""
        self.stopping = True
        self.scheduler.stop()
        self.delivery.stop()

    async def finish_sends(self) -> None:
        """After ``stop_work``: wait until the delivery worker has finished the sends under way
        and given back the messages it had claimed but not started, and the scheduled slots
        under way have run (the adapters they send through are closed only after this)."""
        delivering = [t for t in self._tasks if t.get_name() == "delivery"]
        if delivering:
            await asyncio.gather(*delivering, return_exceptions=True)
        await self.scheduler.settled()

    async def close(self, grace: float = CLOSE_GRACE_SECONDS) -> None:
        """Stop background work and close the database: the delivery worker's sends under way
        finish and the messages it had claimed but not started go back to the queue (for at
        most ``grace`` seconds; then it is cancelled, and what it was sending is settled by
        the lease and recovery, docs/delivery.md)."""
        self.stop_work()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(grace, 0.0)):
                await self.finish_sends()
        self.scheduler.abandon()
        await self.scheduler.settled()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.database.dispose()


async def prepare_database(settings: Settings) -> None:
    """Bring an embedded SQLite database up to date; check that PostgreSQL is."""
    if settings.is_sqlite:
        await migrate.upgrade(settings.database_url)
    else:
        await migrate.ensure_current(settings.database_url)


async def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    content: Content | None = None,
    prepare: bool = True,
    directories: Mapping[Platform, ChannelDirectory] | None = None,
) -> App:
    """Wire a valuesbot together (migrating an embedded database first, unless told not to).
    ``directories`` list channel members per platform, for a barometer sent to channels."""
    content = content or load_content(settings.content)
    if prepare:
        await prepare_database(settings)
    answer_key, key_source = load_answer_key(settings)
    clock = clock or SystemClock()
    database = Database(
        settings.database_url,
        answer_key=answer_key,
        seconds=lambda: clock.now().timestamp(),
    )
    try:
        await check_answer_key(database, answer_key, key_source)
    except SettingsError:
        await database.dispose()
        raise
    pseudonyms = Pseudonymiser(await _pseudonym_secret(settings, database))

    submissions = Submissions(content=content, settings=settings)
    identifier_submissions = Identifiers(content=content, settings=settings)
    runner = DialogRunner(
        {
            VALUES_LENS: ValuesLens(content),
            COMMITMENT: CommitmentDialog(content, settings),
            CASE_STUDY: CaseStudyDialog(content, submissions),
            IDENTIFIER: IdentifierDialog(content, identifier_submissions, settings.zone),
        }
    )
    lens = ValuesLensCommands(
        content=content, settings=settings, runner=runner, pseudonyms=pseudonyms
    )
    barometer = Barometer(
        content=content, settings=settings, directories=directories, answer_key=answer_key
    )
    commitments = Commitments(content=content, settings=settings, runner=runner)
    case_studies = CaseStudies(
        content=content, settings=settings, runner=runner, submissions=submissions
    )
    identifiers = IdentifierCommands(
        content=content, settings=settings, runner=runner, identifiers=identifier_submissions
    )
    deliveries = DeliveryCommands(settings)
    records = Records(content=content, settings=settings, pseudonyms=pseudonyms, clock=clock)
    scorecard = (
        Scorecards(
            content=content, settings=settings, barometer=barometer, said_did=SaidDidActivity()
        )
        if content.scorecard is not None
        else None
    )
    entries = [e for e in HELP if scorecard is not None or e.command != "scorecard"]
    help_ = Help(content, entries, {"deliveries": deliveries.deliveries, **records.subcommands()})
    home = HomePage(
        content=content, settings=settings, runner=runner, lens=lens, barometer=barometer
    )

    router = Router()
    router.include(lens.router())
    router.include(barometer.router())
    router.include(commitments.router())
    router.include(case_studies.router())
    router.include(identifiers.router())
    digests = Digests(
        content=content,
        settings=settings,
        barometer=Headlines(barometer),
        actions=ActionsDone(barometer),
    )
    router.include(digests.router())
    router.include(help_.router())
    router.include(records.router())
    if scorecard is not None:
        router.include(scorecard.router())
        # The monthly results card says what moved on the scorecard.
        barometer.results_notes.append(scorecard.headline)
    # Messages the outbox gave up on that no feature reacts to: channel posts go to comms.
    router.on_undelivered = Undelivered(settings).fallback

    results = BarometerPages(
        content=content, min_group=settings.min_group, barometer=barometer
    ).pages()
    register = IdentifierPages(content=content).pages()
    published = [results, register]
    if scorecard is not None:
        form_secret = await _form_secret(settings, database)
        published.append(ScorecardPages(scorecard, clock=clock, form_secret=form_secret).pages())
    elsewhere = [item for pages in published for item in pages.nav]
    pages = (
        HubPages(content=content, digests=digests, elsewhere=elsewhere).pages(),
        *published,
        RecordPages(content=content, zone=settings.zone, follow=records.follow).pages(),
    )

    metrics = Metrics()
    dispatcher = Dispatcher(
        database=database, router=router, runner=runner, clock=clock, metrics=metrics
    )
    instance = instance_name()
    return App(
        settings=settings,
        content=content,
        database=database,
        dispatcher=dispatcher,
        lens=lens,
        barometer=barometer,
        commitments=commitments,
        case_studies=case_studies,
        identifiers=identifiers,
        digests=digests,
        help=help_,
        home=home,
        records=records,
        clock=clock,
        pages=pages,
        scorecard=scorecard,
        delivery=DeliveryWorker(
            database=database,
            dispatcher=dispatcher,
            clock=clock,
            config=delivery_config(settings),
            metrics=DeliveryMetrics(metrics.registry),
            instance=instance,
        ),
        scheduler=Scheduler(
            database=database,
            router=router,
            clock=clock,
            instance=instance,
            poll=settings.schedule_poll,
        ),
    )


def delivery_config(settings: Settings) -> DeliveryConfig:
    """The delivery worker's settings."""
    return DeliveryConfig(
        limits={
            str(Platform.SLACK): PlatformLimits(
                settings.slack_rate, settings.slack_conversation_rate
            ),
            str(Platform.TEAMS): PlatformLimits(
                settings.teams_rate, settings.teams_conversation_rate
            ),
            # The terminal has no limits; this only keeps a runaway loop polite.
            str(Platform.CONSOLE): PlatformLimits(100.0),
        },
        working_hours=WorkingHours.parse(settings.working_hours),
        weekly_cap=settings.weekly_cap,
        timezone=settings.timezone,
        concurrency=settings.delivery_concurrency,
        send_timeout=settings.send_timeout,
        max_attempts=settings.delivery_max_attempts,
        poll=settings.delivery_poll,
        lease_margin=settings.delivery_lease,
        backoff_base=settings.delivery_backoff,
    )


async def _form_secret(settings: Settings, database: Database) -> str:
    """The secret the stakeholder form's tokens are made with: derived from the pseudonym
    secret when one is set, else made once for this installation and kept in the database
    (a form token only proves the form was the server's; it opens nothing)."""
    if settings.pseudonym_secret is not None:
        return "form " + settings.pseudonym_secret.get_secret_value()
    async with database.unit() as stores:
        return await stores.meta.put_if_absent("form_secret", secrets.token_urlsafe(32))


async def _pseudonym_secret(settings: Settings, database: Database) -> str:
    if settings.pseudonym_secret is not None:
        return settings.pseudonym_secret.get_secret_value()
    # No secret configured: make one for this installation, once, and keep it in the database.
    async with database.unit() as stores:
        return await stores.meta.put_if_absent("pseudonym_secret", secrets.token_urlsafe(32))
