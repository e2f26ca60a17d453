"""The ``valuesbot`` command.

    valuesbot chat [--user NAME] [--channel NAME]   talk to the bot in this terminal
    valuesbot serve [--host H] [--port P]           run the HTTP server
    valuesbot db upgrade | current | wait           migrate the database / show its revision /
                                                    wait until it is up to date
    valuesbot content check [PATH]                  validate a content file
    valuesbot barometer ACTION                      run the staff barometer by hand (comms)
    valuesbot teams package [--output FILE]         build the Teams app zip to upload
    valuesbot deliveries [requeue JOB --failed|--uncertain]   delivery progress (comms)
    valuesbot schedules [set ID KIND CRON | remove ID]        recurring jobs
    valuesbot people export|forget PLATFORM:TENANT:USER     a person's data (data protection)
    valuesbot audit [--since YYYY-MM-DD]                      what comms and admins did
    valuesbot identifier attach ID FILE -o OUT    a values identifier at the front of a file
    valuesbot scorecard [show [OBJECTIVE] | import staff-survey FILE.csv | set KEY PERIOD VALUE]
    valuesbot stakeholders open --invites N [--questions a,b] [--period P] [--days D] [-o FILE]
    valuesbot stakeholders status | close | comments | approve ID | reject ID

Settings come from the environment and a ``.env`` file in the current directory. Problems a
person can fix (a bad setting, a bad content file, an old schema) are one clear line on standard
error and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dotenv import load_dotenv

from bot import logs
from bot.content import ContentError, load_content
from bot.settings import Settings, SettingsError, parse_place
from bot.text import plural
from storage import migrate
from storage.migrate import SchemaOutOfDate

if TYPE_CHECKING:
    from bot.ui import Card
    from dialogs.barometer.service import Barometer
    from storage.identifiers import Identifier
    from storage.stores import Stores

log = logging.getLogger("valuesbot.cli")

# How often ``valuesbot db wait`` asks the database again.
WAIT_POLL_SECONDS = 2.0


class UsageError(Exception):
    """Something the person running the command can fix."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="valuesbot",
        description="A chat bot that helps an organisation live its vision and values.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", help="who you are (default: your login name)")
    chat.add_argument(
        "--channel", help="talk in this channel, with others who join it (default: a direct chat)"
    )
    chat.add_argument(
        "--verbose", "-v", action="store_true", help="show the bot's log lines on standard error"
    )

    serve = commands.add_parser("serve", help="run the HTTP server for Slack and Teams")
    serve.add_argument("--host", help="address to listen on (default VALUESBOT_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default VALUESBOT_PORT, 3978)")

    db = commands.add_parser("db", help="database administration")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply every migration")
    db_commands.add_parser("current", help="show the revision the database is at")
    wait = db_commands.add_parser(
        "wait",
        help="wait until the database answers and is up to date (before serve, while another "
        "process runs the migrations)",
    )
    wait.add_argument(
        "--timeout", type=float, default=300.0, help="give up after this many seconds (300)"
    )
    revision = db_commands.add_parser(
        "revision", help="(developers) write a migration for changed tables"
    )
    revision.add_argument("message", help="what the migration does")

    barometer = commands.add_parser("barometer", help="the monthly staff barometer (comms)")
    barometer_commands = barometer.add_subparsers(
        dest="barometer_command", required=True, metavar="ACTION"
    )
    for name, what in (
        ("open", "open this month's round now and queue it for everyone"),
        ("close", "close the open round and publish its results"),
        ("status", "the open round's response rate"),
        ("preview", "the card people get"),
        ("remind", "remind everyone who has not answered (at most two a round)"),
        ("results", "the latest published results"),
        ("trend", "each question's agree share by month"),
        ("tick", "do whatever the timetable says is due (what the scheduler runs)"),
        ("comments", "comments waiting for approval, with their ids"),
    ):
        barometer_commands.add_parser(name, help=what)
    for name in ("approve", "reject"):
        moderate = barometer_commands.add_parser(name, help=f"{name} a comment")
        moderate.add_argument("comment", help="the comment's id (from `barometer comments`)")
    # You said, we did: the same words as /barometer respond|withdraw|responses|actions.
    for name, what in (
        (
            "respond",
            'respond to comments: ID [ID...] [--theme NAME] "response"; no words: the '
            "published comments with their ids",
        ),
        ("withdraw", "withdraw a response: ID, or --theme NAME"),
        ("responses", "the latest round's published responses"),
        (
            "actions",
            'the actions; add "title" [--theme NAME] [--owner TEAM] [--due DATE]; N done '
            "(or planned, in-progress, dropped)",
        ),
    ):
        follow_up = barometer_commands.add_parser(name, help=what)
        follow_up.add_argument("words", nargs=argparse.REMAINDER, help="as in chat")

    deliveries = commands.add_parser(
        "deliveries", help="progress of each delivery job: counts, rate, ETA"
    )
    deliveries.add_argument("--job", help="only this job")
    delivery_commands = deliveries.add_subparsers(dest="delivery_command", metavar="ACTION")
    requeue = delivery_commands.add_parser(
        "requeue", help="send a job's failed or uncertain messages again"
    )
    requeue.add_argument("job")
    which = requeue.add_mutually_exclusive_group(required=True)
    which.add_argument("--failed", action="store_true", help="messages that failed")
    which.add_argument(
        "--uncertain",
        action="store_true",
        help="messages interrupted mid-send that may have arrived (may send a duplicate)",
    )

    schedules = commands.add_parser("schedules", help="recurring jobs (barometer, digest...)")
    schedule_commands = schedules.add_subparsers(dest="schedule_command", metavar="ACTION")
    put = schedule_commands.add_parser("set", help="create or change a schedule")
    put.add_argument("id", help="the schedule's name, e.g. barometer.monthly")
    put.add_argument("kind", help="the kind of job a feature registered, e.g. barometer.open")
    put.add_argument("cron", help='"minute hour day month day-of-week", e.g. "0 9 * * mon"')
    put.add_argument("--timezone", help="default VALUESBOT_TIMEZONE")
    put.add_argument(
        "--grace-hours", type=float, default=1.0, help="how late a missed slot may still run"
    )
    put.add_argument("--param", action="append", default=[], help="KEY=VALUE for the job")
    put.add_argument("--disabled", action="store_true", help="keep it but do not run it")
    remove = schedule_commands.add_parser("remove", help="delete a schedule")
    remove.add_argument("id")

    people = commands.add_parser("people", help="a person's data (the data protection officer)")
    people_commands = people.add_subparsers(dest="people_command", required=True, metavar="ACTION")
    export = people_commands.add_parser("export", help="everything held about a person, as JSON")
    export.add_argument("person", help="platform:tenant:user, e.g. slack:T0123:U0456")
    export.add_argument("--output", "-o", type=Path, help="write it here (default: print it)")
    forget = people_commands.add_parser("forget", help="erase what is held about a person")
    forget.add_argument("person", help="platform:tenant:user, e.g. slack:T0123:U0456")
    forget.add_argument("--yes", action="store_true", help="really erase (without it: say what)")
    forget.add_argument(
        "--keep-stories",
        action="store_true",
        help="keep their case studies without their name instead of erasing them",
    )

    audit = commands.add_parser("audit", help="what comms and admins did, and when")
    audit.add_argument("--since", help="from this day on (YYYY-MM-DD, in VALUESBOT_TIMEZONE)")
    audit.add_argument("--limit", type=int, default=1000, help="at most this many entries")

    identifier = commands.add_parser("identifier", help="values identifiers of publications")
    identifier_commands = identifier.add_subparsers(
        dest="identifier_command", required=True, metavar="ACTION"
    )
    attach = identifier_commands.add_parser(
        "attach", help="put an approved values identifier at the front of a Word or PDF file"
    )
    attach.add_argument("id", help="the identifier's id or reference (VI-...), from its link")
    attach.add_argument("publication", type=Path, help="the publication: a .docx or .pdf file")
    attach.add_argument(
        "--output", "-o", type=Path, required=True, help="where to write it (the same kind)"
    )

    scorecard = commands.add_parser("scorecard", help="the vision and purpose scorecard (comms)")
    scorecard_commands = scorecard.add_subparsers(dest="scorecard_command", metavar="ACTION")
    show = scorecard_commands.add_parser("show", help="every objective, or one in detail")
    show.add_argument("objective", nargs="?", help="its number or id")
    imports = scorecard_commands.add_parser("import", help="import figures from a file")
    imports.add_argument("kind", choices=["staff-survey"], help="what the file holds")
    imports.add_argument(
        "file", type=Path, help="a CSV file with the columns period, key, value, respondents"
    )
    figure = scorecard_commands.add_parser("set", help="enter a figure comms keep")
    figure.add_argument("key", help="a manual: key of the content file")
    figure.add_argument("period", help="2026, 2026-11 or 2026-Q4")
    figure.add_argument("value", help="the figure")

    stakeholders = commands.add_parser(
        "stakeholders", help="feedback rounds of external partners and stakeholders (comms)"
    )
    stakeholder_commands = stakeholders.add_subparsers(
        dest="stakeholders_command", required=True, metavar="ACTION"
    )
    open_round = stakeholder_commands.add_parser(
        "open", help="open a round and write its single-use links to a CSV file"
    )
    open_round.add_argument("--invites", type=int, required=True, help="how many links")
    open_round.add_argument(
        "--questions", default="", help="the questions' ids, comma-separated (default: all)"
    )
    open_round.add_argument(
        "--period",
        help="the period its results are for: 2026, 2026-11 or 2026-Q4 (default: this quarter)",
    )
    open_round.add_argument("--days", type=int, default=28, help="how long the links work (28)")
    open_round.add_argument(
        "--output",
        "-o",
        type=Path,
        help="where to write the links (default stakeholder-links-PERIOD.csv)",
    )
    for name, what in (
        ("status", "the open round's response rate"),
        ("close", "close the open round and publish its results"),
        ("comments", "the latest closed round's comments waiting for approval, with their ids"),
    ):
        stakeholder_commands.add_parser(name, help=what)
    for name in ("approve", "reject"):
        moderate_stakeholder = stakeholder_commands.add_parser(name, help=f"{name} a comment")
        moderate_stakeholder.add_argument("comment", help="the comment's id (from comments)")

    content = commands.add_parser("content", help="the content file (behaviours, wording)")
    content_commands = content.add_subparsers(dest="content_command", required=True)
    check = content_commands.add_parser("check", help="validate a content file")
    check.add_argument("path", nargs="?", type=Path, help="default: VALUESBOT_CONTENT or built-in")

    teams = commands.add_parser("teams", help="Microsoft Teams administration")
    teams_commands = teams.add_subparsers(dest="teams_command", required=True, metavar="ACTION")
    package = teams_commands.add_parser(
        "package", help="build the Teams app package (zip) to upload, for this bot's app id"
    )
    package.add_argument(
        "--output", "-o", type=Path, default=Path("valuesbot-teams.zip"), help="where to write it"
    )
    package.add_argument("--version", help="the app version in the manifest (e.g. 1.0.1)")
    package.add_argument(
        "--manifest-dir", type=Path, help="the folder with manifest.json and the icons"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the process exit status."""
    args = _parser().parse_args(argv)
    load_dotenv(Path.cwd() / ".env", override=False)
    try:
        settings = Settings.from_env(os.environ)
        if args.command == "chat":
            return _chat(args, settings)
        if args.command == "serve":
            return _serve(args, settings)
        if args.command == "db":
            return asyncio.run(_db(args, settings))
        if args.command == "content":
            return _content(args, settings)
        if args.command == "barometer":
            logs.configure("WARNING")
            return asyncio.run(_barometer(args, settings))
        if args.command == "teams":
            return _teams_package(args, settings)
        if args.command == "deliveries":
            return asyncio.run(_deliveries(args, settings))
        if args.command == "schedules":
            return asyncio.run(_schedules(args, settings))
        if args.command == "people":
            logs.configure("WARNING")
            return asyncio.run(_people(args, settings))
        if args.command == "audit":
            return asyncio.run(_audit(args, settings))
        if args.command == "identifier":
            return _identifier(args, settings)
        if args.command in ("scorecard", "stakeholders"):
            logs.configure("WARNING")
            return asyncio.run(_scorecard(args, settings))
    except (SettingsError, ContentError, SchemaOutOfDate, UsageError) as problem:
        print(f"valuesbot: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2  # pragma: no cover - argparse requires a command


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    # The terminal is the conversation: log lines would get in its way unless asked for.
    logs.configure(settings.log_level if args.verbose else "WARNING")
    load_content(settings.content)
    user = args.user or _login_name()
    if not user.strip():
        raise UsageError("--user needs a name")
    return asyncio.run(_run_chat(settings, user, args.channel))


async def _run_chat(settings: Settings, user: str, channel: str | None) -> int:
    from adapters.console.app import ConsoleChat, StdinLines
    from bot.app import build_app

    app = await build_app(settings)
    interactive = sys.stdin.isatty()
    chat = ConsoleChat(
        app,
        user=user,
        channel=channel,
        source=StdinLines(interactive),
        write=lambda text: print(text, flush=True),
        echo=not interactive,
    )
    app.start_background()
    try:
        await chat.run()
    finally:
        await app.close()
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    logs.configure(settings.log_level, settings.log_format)
    load_content(settings.content)
    host = args.host or settings.host
    port = args.port or settings.port
    asyncio.run(_run_server(settings, host, port))
    return 0


async def _run_server(settings: Settings, host: str, port: int) -> None:
    from adapters import channel_directories, web_mounts
    from bot.app import build_app
    from bot.server import Server
    from bot.web import build_web_app

    app = await build_app(settings, directories=channel_directories(settings))
    web_app = build_web_app(app, web_mounts(settings))
    await Server(app, web_app, host=host, port=port, grace=settings.shutdown_grace).run()


async def _db(args: argparse.Namespace, settings: Settings) -> int:
    logs.configure(settings.log_level, settings.log_format)
    url = settings.database_url
    if args.db_command == "wait":
        if settings.is_sqlite:
            print("nothing to wait for: serve brings an embedded SQLite database up to date")
            return 0
        await _wait_for_schema(url, args.timeout)
        print(f"database is up to date ({', '.join(sorted(migrate.heads()))})")
    elif args.db_command == "upgrade":
        await migrate.upgrade(url)
        print(f"database is up to date ({', '.join(sorted(migrate.heads()))})")
    elif args.db_command == "current":
        at = await migrate.current(url)
        expected = migrate.heads()
        state = "up to date" if at == expected else "out of date: run valuesbot db upgrade"
        print(f"database at {', '.join(sorted(at)) or 'nothing'} ({state})")
    elif args.db_command == "revision":
        await migrate.revision(url, args.message)
    return 0


async def _barometer(args: argparse.Namespace, settings: Settings) -> int:
    from adapters import channel_directories
    from adapters.console.render import render
    from bot.app import build_app
    from bot.audit import cli_actor
    from dialogs.barometer import cards
    from storage.scrub import scrub

    app = await build_app(settings, directories=channel_directories(settings))
    barometer = app.barometer
    action = args.barometer_command
    shown: list[Card] = []
    status = 0
    try:
        async with app.database.unit() as stores:
            now = app.clock.now()
            if action == "open":
                shown.append(await barometer.open_card(stores, now, cli_actor()))
            elif action == "close":
                shown.append(await barometer.close_card(stores, now, cli_actor()))
            elif action == "status":
                shown.append(await barometer.status_card(stores, now))
            elif action == "preview":
                shown.append(await barometer.preview_card(stores, now))
            elif action == "remind":
                shown.append(await barometer.remind_card(stores, now, cli_actor()))
            elif action == "results":
                shown.append(await barometer.latest_results_card(stores))
            elif action == "trend":
                shown.append(cards.trend_card(barometer.text, await barometer.published(stores)))
            elif action == "tick":
                done = await barometer.tick(stores, now)
                what = [
                    f"opened {done.opened.round.period} for {done.opened.invited}"
                    if done.opened
                    else "",
                    f"reminder {done.reminded.number} for {done.reminded.reminded}"
                    if done.reminded
                    else "",
                    f"closed {done.closed.round.period}" if done.closed else "",
                    *done.notes,
                ]
                print("; ".join(w for w in what if w) or "nothing was due")
            elif action == "comments":
                for card in await barometer.comment_cards(stores):
                    shown.append(card)
            elif action in {"approve", "reject"}:
                problem = await barometer.moderate_by_id(
                    stores, args.comment, action + "d", cli_actor(), now=now
                )
                if problem:
                    raise UsageError(problem)
                print(f"comment {args.comment} {action}d")
            elif action in {"respond", "withdraw", "responses", "actions"}:
                shown += await _follow_up(barometer, stores, action, args.words, now)
        if action in {"close", "tick"}:
            await scrub(app.database)
    finally:
        await app.close()
    for card in shown:
        print(render(card))
        if "comment" in card.hidden:
            print(f"   id: {card.hidden['comment']}")
    return status


async def _scorecard(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.console.render import render
    from bot.app import build_app
    from bot.audit import cli_actor
    from dialogs.scorecard import cards
    from dialogs.scorecard.figures import FiguresRefused
    from dialogs.scorecard.stakeholders import RoundRefused
    from storage.scrub import scrub

    app = await build_app(settings)
    shown: list[Card] = []
    try:
        scorecard = app.scorecard
        if scorecard is None:
            raise UsageError("the content file has no scorecard section")
        async with app.database.unit() as stores:
            now = app.clock.now()
            if args.command == "scorecard":
                action = args.scorecard_command or "show"
                if action == "show":
                    built = await scorecard.build(stores, now)
                    if getattr(args, "objective", None):
                        wanted = scorecard.text.objective(args.objective)
                        if wanted is None:
                            raise UsageError(f"no objective {args.objective!r}")
                        (found,) = [o for o in built.objectives if o.objective.id == wanted.id]
                        shown.append(
                            cards.objective_card(
                                scorecard.text, found, built.min_group, scorecard.page
                            )
                        )
                    else:
                        shown.append(cards.summary_card(scorecard.text, built, scorecard.page))
                elif action == "import":
                    text = _read_text(args.file)
                    try:
                        count = await scorecard.import_staff_survey(stores, text, cli_actor(), now)
                    except FiguresRefused as refused:
                        raise UsageError(
                            f"{args.file}: nothing imported:\n{refused.summary()}"
                        ) from None
                    print(f"imported {plural(count, 'figure')} from {args.file}")
                elif action == "set":
                    problem = await scorecard.set_figure(
                        stores, args.key, args.period, args.value, cli_actor(), now
                    )
                    if problem:
                        raise UsageError(problem)
                    print(f"{args.key} {args.period}: {args.value} kept")
            else:
                action = args.stakeholders_command
                stakeholders = scorecard.stakeholders
                if action == "open":
                    period = args.period or _quarter(now, settings)
                    output = args.output or Path(f"stakeholder-links-{period}.csv")
                    if output.exists():
                        raise UsageError(f"{output} exists already: choose another --output")
                    questions = [q.strip() for q in args.questions.split(",") if q.strip()]
                    try:
                        opened = await stakeholders.open(
                            stores,
                            now,
                            period=period,
                            invites=args.invites,
                            questions=questions,
                            days=args.days,
                            actor=cli_actor(),
                        )
                    except RoundRefused as refused:
                        raise UsageError(str(refused)) from None
                    _write_links(output, opened.links)
                    closes = opened.round.closes_at.astimezone(settings.zone)
                    print(
                        f"opened the {period} round: {plural(len(opened.links), 'link')} in "
                        f"{output} (each works once, until {closes:%a %d %b %Y %H:%M})"
                    )
                elif action == "status":
                    current = await stores.scorecard.current_round()
                    if current is None:
                        print("no stakeholder round is open")
                    else:
                        invited, answered = await stores.scorecard.participation(current.id)
                        print(f"{current.period}: {answered} of {invited} links answered")
                elif action == "close":
                    closed = await stakeholders.close(stores, now, cli_actor())
                    if closed is None:
                        raise UsageError("no stakeholder round is open")
                    print(f"closed the {closed.period} round: {closed.answered} answered")
                elif action == "comments":
                    _, waiting, problem = await stakeholders.waiting_comments(stores)
                    if problem:
                        print(problem)
                    elif not waiting:
                        print("every comment is read")
                    for comment in waiting:
                        print(f"{comment.id}  {comment.text}")
                else:
                    problem = await stakeholders.moderate(
                        stores, args.comment, action + "d", cli_actor(), now
                    )
                    if problem:
                        raise UsageError(problem)
                    print(f"comment {args.comment} {action}d")
        if args.command == "stakeholders" and args.stakeholders_command == "close":
            await scrub(app.database)
    finally:
        await app.close()
    for card in shown:
        print(render(card))
    return 0


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UsageError(f"{path}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text (save it as CSV UTF-8)") from None


def _quarter(now: datetime, settings: Settings) -> str:
    local = now.astimezone(settings.zone)
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def _write_links(path: Path, links: Sequence[str]) -> None:
    """The links, one a row, readable by the owner only: each is a way in until used."""
    import csv

    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["number", "link"])
        for number, link in enumerate(links, start=1):
            writer.writerow([number, link])


async def _wait_for_schema(url: str, within: float) -> None:
    """Return once the database answers at this version's revisions; ``SchemaOutOfDate`` (or
    ``UsageError`` when it never answered) after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            await migrate.ensure_current(url)
            return
        except SchemaOutOfDate:
            if time.monotonic() >= deadline:
                raise
        except Exception as error:
            if time.monotonic() >= deadline:
                raise UsageError(
                    f"the database did not answer in {within:.0f} s ({type(error).__name__})"
                ) from None
        await asyncio.sleep(WAIT_POLL_SECONDS)


async def _follow_up(
    barometer: Barometer, stores: Stores, action: str, words: Sequence[str], now: datetime
) -> list[Card]:
    """You said, we did from the command line: what comms type after /barometer in chat."""
    from bot.audit import cli_actor
    from dialogs.barometer.typed import UsageProblem

    rest = " ".join(_quoted(word) for word in words)
    follow_up = barometer.follow_up
    try:
        actor = cli_actor()
        if action == "respond":
            return await follow_up.respond_cards(stores, rest, now, actor=actor)
        if action == "withdraw":
            return [await follow_up.withdraw_card(stores, rest, now, actor=actor)]
        if action == "responses":
            return await follow_up.responses_cards(stores, rest)
        return await follow_up.actions_cards(stores, rest, now, comms=True, actor=actor)
    except UsageProblem as problem:
        raise UsageError(str(problem)) from problem


def _quoted(word: str) -> str:
    """A word of the command line as chat would have it: a phrase of several words (one
    argument in the shell) in quotes."""
    if word and not any(character.isspace() for character in word):
        return word
    return f'"{word}"' if '"' not in word else f"“{word}”"


def _content(args: argparse.Namespace, settings: Settings) -> int:
    path = args.path or settings.content
    content = load_content(path)
    where = path or "the built-in content"
    scorecard = content.scorecard
    measures = (
        f", scorecard: {plural(len(scorecard.objectives), 'objective')}, "
        f"{plural(len(scorecard.measures), 'measure')}"
        if scorecard
        else ", no scorecard"
    )
    print(
        f"{where}: ok ({len(content.behaviours)} behaviours, {len(content.ratings)} ratings"
        f"{measures})"
    )
    return 0


def _teams_package(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.teams.package import MANIFEST_DIR, PackageError, build

    app_id = settings.teams_app_id
    if not app_id:
        raise UsageError(
            "set CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID to the bot's Microsoft app id"
        )
    try:
        data = build(app_id, version=args.version, source=args.manifest_dir or MANIFEST_DIR)
    except PackageError as problem:
        raise UsageError(str(problem)) from problem
    args.output.write_bytes(data)
    print(f"wrote {args.output} (upload it in Teams: Apps > Manage your apps > Upload an app)")
    return 0


async def _deliveries(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import prepare_database
    from bot.clock import SystemClock
    from bot.delivery import progress
    from bot.delivery.hours import WorkingHours
    from storage.delivery import OutboxStatus
    from storage.engine import Database

    await prepare_database(settings)
    database = Database(settings.database_url)
    now = SystemClock().now()
    try:
        if args.delivery_command == "requeue":
            status = OutboxStatus.FAILED if args.failed else OutboxStatus.UNCERTAIN
            async with database.unit() as stores:
                count = await stores.outbox.requeue(args.job, status, now)
            print(f"{plural(count, f'{status} message')} of {args.job} queued again")
            return 0
        async with database.unit() as stores:
            jobs = await stores.outbox.progress(now, job=args.job, limit=50)
        hours = WorkingHours.parse(settings.working_hours)
        print(progress.table(jobs, now, settings.zone, hours))
    finally:
        await database.dispose()
    return 0


async def _schedules(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from bot.app import prepare_database
    from bot.clock import SystemClock
    from bot.delivery.scheduler import describe, validate
    from storage.engine import Database
    from storage.schedules import Schedule

    await prepare_database(settings)
    database = Database(settings.database_url)
    now = SystemClock().now()
    try:
        if args.schedule_command == "set":
            params = dict(_pair(p) for p in args.param)
            schedule = Schedule(
                id=args.id,
                kind=args.kind,
                cron=args.cron,
                timezone=args.timezone or settings.timezone,
                params=params,
                grace=timedelta(hours=args.grace_hours),
                enabled=not args.disabled,
            )
            try:
                validate(schedule)
            except ValueError as error:
                raise UsageError(f"schedule {args.id}: {error}") from None
            async with database.unit() as stores:
                await stores.schedules.put(schedule, now)
            print(f"schedule {args.id} saved; every instance follows it within a poll")
            return 0
        if args.schedule_command == "remove":
            async with database.unit() as stores:
                removed = await stores.schedules.remove(args.id)
            if not removed:
                raise UsageError(f"no schedule {args.id}")
            print(f"schedule {args.id} removed")
            return 0
        async with database.unit() as stores:
            found = await stores.schedules.all()
            last = {s.id: await stores.schedules.runs(s.id, 1) for s in found}
        if not found:
            print("No schedules.")
        for schedule in found:
            upcoming = describe(schedule, now)["next"]
            ran = last[schedule.id]
            when = (
                f"{upcoming.astimezone(settings.zone):%a %d %b %Y %H:%M %Z}"
                if upcoming
                else "never"
            )
            state = "" if schedule.enabled else "  (disabled)"
            print(
                f"{schedule.id}  {schedule.kind}  {schedule.cron!r} {schedule.timezone}{state}"
                f"  next {when}  last {ran[0].period if ran else 'never'}"
            )
    finally:
        await database.dispose()
    return 0


async def _people(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import build_app
    from bot.audit import cli_actor, record
    from dialogs.record_files import record_json_bytes
    from storage.people import PersonKey

    try:
        platform, tenant, user = parse_place(args.person)
    except ValueError as problem:
        raise UsageError(f"person: {problem}") from None
    person = PersonKey(platform, tenant, user)
    app = await build_app(settings)
    try:
        async with app.database.unit() as stores:
            now = app.clock.now()
            if args.people_command == "export":
                held = await app.records.gather(stores, person, now)
                await record(stores, cli_actor(), "export", "json", now)
                data = record_json_bytes(held, app.content)
                if args.output:
                    args.output.write_bytes(data)
                    print(f"wrote {args.output}")
                else:
                    print(data.decode())
                return 0
            held = await app.records.gather(stores, person, now)
            if not args.yes:
                print(
                    f"Would erase {person.platform}:{person.tenant}:{person.user}: "
                    f"{plural(len(held.checkins), 'check-in')}, "
                    f"{plural(len(held.commitments), 'commitment')}, "
                    f"{plural(len(held.case_studies), 'case study', 'case studies')}, "
                    f"{plural(len(held.identifiers), 'values identifier')}, "
                    f"ratings in {plural(len(held.team_ratings), 'team check-in')}. "
                    "Run again with --yes to erase."
                )
                return 0
            erased = await app.records.forget_by_admin(
                stores, person, now, keep_stories=args.keep_stories
            )
        print("Erased: " + "; ".join(erased.lines()) + ".")
    finally:
        await app.close()
    return 0


async def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import date, datetime

    from bot.app import prepare_database
    from storage.engine import Database

    since: datetime | None = None
    if args.since:
        try:
            day = date.fromisoformat(args.since)
        except ValueError:
            raise UsageError(f"--since needs a day like 2027-03-01 (got {args.since!r})") from None
        since = datetime.combine(day, datetime.min.time(), tzinfo=settings.zone)
    await prepare_database(settings)
    database = Database(settings.database_url)
    try:
        async with database.unit() as stores:
            entries = await stores.records.audit_since(since, args.limit)
    finally:
        await database.dispose()
    if not entries:
        print("Nothing recorded" + (f" since {args.since}." if args.since else "."))
    for entry in entries:
        when = entry.at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        print(
            f"{when}  {entry.actor}  {entry.action}"
            + (f"  {entry.subject}" if entry.subject else "")
        )
    return 0


def _identifier(args: argparse.Namespace, settings: Settings) -> int:
    from dialogs.identifier.attach import AttachError, attach
    from dialogs.identifier.documents import identifier_view

    publication: Path = args.publication
    output: Path = args.output
    kind = publication.suffix.lower().lstrip(".")
    if kind not in {"docx", "pdf"}:
        raise UsageError(f"{publication.name}: only Word (.docx) and PDF (.pdf) files are taken")
    if output.suffix.lower().lstrip(".") != kind:
        raise UsageError(f"--output must be a .{kind} file, like {publication.name}")
    if output.resolve() == publication.resolve():
        raise UsageError("--output must be a new file: the publication itself is left as it is")
    try:
        data = publication.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {publication}: {error.strerror}") from None
    content = load_content(settings.content)
    found = asyncio.run(_approved_identifier(settings, args.id))
    view = identifier_view(content, found, settings.public_url or "")
    try:
        made = attach(view, data, kind, name=publication.name)
    except AttachError as problem:
        raise UsageError(f"{problem}; nothing was written") from None
    # Written whole or not at all: a half-written file never takes the output's name.
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(made)
        os.replace(partial, output)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise UsageError(f"cannot write {output}: {error.strerror}") from None
    print(f"wrote {output}: the values identifier {found.reference}, then {publication.name}")
    return 0


async def _approved_identifier(settings: Settings, given: str) -> Identifier:
    from bot.app import prepare_database
    from storage.engine import Database
    from storage.identifiers import IdentifierStatus

    wanted = given.strip().lower().removeprefix("vi-").replace("-", "")
    await prepare_database(settings)
    database = Database(settings.database_url)
    try:
        async with database.unit() as stores:
            found = await stores.identifiers.get(wanted)
    finally:
        await database.dispose()
    if found is None or found.status != IdentifierStatus.APPROVED:
        raise UsageError(f"there is no approved values identifier {given}")
    return found


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--param needs KEY=VALUE (got {text!r})")
    return key.strip(), value


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "you"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
