"""You said, we did: the comms team answer a closed round's comments and record what is done.

The comms team (``VALUESBOT_COMMS``), once a round has closed and its comments are published:

- ``/barometer respond``: each published comment as a card with a response box and an optional
  theme (comments given the same theme share one response); or typed,
  ``/barometer respond ID [ID...] [--theme NAME] TEXT`` (ID: the first characters of a
  comment's id, shown on its card), ``/barometer respond --theme NAME TEXT`` (a theme's
  response changed), ``/barometer withdraw ID`` or ``/barometer withdraw --theme NAME``;
- ``/barometer actions add TITLE [--theme NAME] [--owner TEAM] [--due DATE]`` (or the form of
  ``/barometer actions``), ``/barometer actions N planned|in-progress|done|dropped``.

``--round YYYY-MM`` picks another round than the latest closed one. Everyone:
``/barometer responses`` (the latest round's responses), ``/barometer actions`` (the actions and
where each has got to). The web page ``/you-said-we-did`` has them all (``page``).

A response is attached only to a published comment (approved by the comms team, of a round
where enough people answered: ``Barometer.why_no_comments``), and shown only with it.

The author of a comment reads the response to it from their own "thank you, recorded" card
(``mine``): the card holds their answer's token, and, once the round has closed, the comment is
found by a keyed mark of that token (``BarometerStore.comment_by_token``). The card also holds
a keyed mark of the token with the person it was given to (``holder_mark``), so a click on it by
anyone else, the token copied, shows nothing. Nothing tells the author when a response is
written: that would need to know whose comment it is.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.audit import person_actor, record
from bot.router import Router
from bot.settings import Settings
from bot.text import local_date, plural, shorten
from bot.turn import Turn
from bot.ui import Card, Field
from dialogs.barometer import follow_up_cards as cards
from dialogs.barometer.cards import MINE
from dialogs.barometer.follow_up_cards import ActionView, Finished
from dialogs.barometer.results import RoundResults
from dialogs.barometer.schedule import month_name
from dialogs.barometer.tokens import holder, token_hash
from dialogs.barometer.typed import STATUS_WORDS, UsageProblem, clean, parse_due, typed
from storage.barometer import (
    ActionStatus,
    ActionTarget,
    AnswerKey,
    BarometerAction,
    BarometerComment,
    BarometerRound,
    CommentReply,
)
from storage.barometer.follow_up import OWNER_LIMIT, THEME_LIMIT, TITLE_LIMIT
from storage.people import PersonKey
from storage.stores import Stores

WORDS = frozenset({"respond", "withdraw", "responses", "action", "actions"})
PAGE_PATH = "/you-said-we-did"
COMMENTS_PER_REQUEST = 10
ACTION_DIGITS = 9


class RoundsReader(Protocol):
    """What "You said, we did" needs of the barometer: the rule for comments and a round's
    published results."""

    def why_no_comments(self, round_: BarometerRound) -> str:
        """Why the comments of ``round_`` cannot be shown, or ""."""
        ...

    async def results(self, stores: Stores, round_: BarometerRound) -> RoundResults:
        """What a closed round shows."""
        ...


class FollowUp:
    """Responses to comments, themes and actions: the comms team's commands and clicks, what
    everyone sees, and the author's own view of the response to their comment."""

    def __init__(
        self, *, settings: Settings, barometer: RoundsReader, answer_key: AnswerKey | None
    ) -> None:
        self.settings = settings
        self.barometer = barometer
        self.answer_key = answer_key

    @property
    def page(self) -> str | None:
        """The address of the "You said, we did" page, when the public address is set."""
        if self.settings.public_url is None:
            return None
        return f"{self.settings.public_url}{PAGE_PATH}"

    def router(self) -> Router:
        """The clicks of responses, actions and the author's card."""
        router = Router()
        router.action(cards.RESPOND, self.respond_click)
        router.action(cards.WITHDRAW, self.withdraw_click)
        router.action(cards.ACTION_ADD, self.action_add_click)
        router.action(cards.ACTION_STATUS, self.action_status_click)
        router.action(MINE, self.mine)
        return router

    # Commands

    async def command(self, turn: Turn[Any], word: str, rest: str, *, comms: bool) -> None:
        """``/barometer respond|withdraw|responses|actions ...`` (``word`` is one of
        ``WORDS``)."""
        stores, now, actor = turn.stores, turn.now, person_actor(turn.person)
        found: list[Card]
        try:
            if word == "responses":
                found = await self.responses_cards(stores, rest)
            elif word in {"action", "actions"}:
                found = await self.actions_cards(stores, rest, now, comms=comms, actor=actor)
            elif not comms:
                found = [only_comms(word)]
            elif word == "respond":
                found = await self.respond_cards(stores, rest, now, actor=actor)
            else:
                found = [await self.withdraw_card(stores, rest, now, actor=actor)]
        except UsageProblem as problem:
            found = [Card(title="You said, we did", text=str(problem))]
        for card in found:
            turn.reply(card, private=True)

    async def respond_cards(
        self, stores: Stores, rest: str, now: datetime, *, actor: str
    ) -> list[Card]:
        """Typed words: a response published; no words (or a page number): the published
        comments to respond to, those without a response first."""
        given = typed(rest)
        round_ = await self.closed_round(stores, given.options.get("round"))
        page = given.text if given.text.isdigit() else ""
        if (given.words and not page) or "theme" in given.options:
            ids, text = await self._ids_and_text(
                stores, round_, given.words, ids_first="theme" not in given.options
            )
            reply = await self.respond(
                stores, round_, ids, text, given.options.get("theme"), now, actor=actor
            )
            return [self._published(round_, reply)]
        comments = await self.published_comments(stores, round_)
        replies = await stores.follow_up.replies(round_.id)
        by_comment = {c: r for r in replies for c in r.comments}
        comments.sort(key=lambda c: c.id in by_comment)  # unanswered first, stably
        start = (int(page) - 1) * COMMENTS_PER_REQUEST if page else 0
        shown = comments[start : start + COMMENTS_PER_REQUEST]
        if not shown:
            return [
                Card(
                    title="No comments to respond to",
                    text=f"The {month_name(round_.period)} round has no more published comments.",
                )
            ]
        found = [
            cards.respond_card(round_, c, by_comment.get(c.id), self.settings.zone) for c in shown
        ]
        if len(comments) > start + len(shown):
            number = (int(page) if page else 1) + 1
            left = len(comments) - start - len(shown)
            found.append(Card(text=f"{left} more: /barometer respond {number}"))
        return found

    async def withdraw_card(self, stores: Stores, rest: str, now: datetime, *, actor: str) -> Card:
        """``/barometer withdraw ID`` or ``--theme NAME``."""
        given = typed(rest)
        round_ = await self.closed_round(stores, given.options.get("round"))
        replies = await stores.follow_up.replies(round_.id)
        theme = clean(given.options.get("theme"))
        if theme:
            reply = _theme(replies, theme)
            if reply is None:
                raise UsageProblem(f"The {month_name(round_.period)} round has no theme “{theme}”.")
        else:
            ids, _ = await self._ids_and_text(stores, round_, given.words)
            if len(ids) != 1:
                raise UsageProblem("Name the comment whose response to withdraw (its id).")
            reply = next((r for r in replies if ids[0].id in r.comments), None)
            if reply is None:
                raise UsageProblem("That comment has no response to withdraw.")
        return await self._withdrawn(stores, round_, reply, now, actor=actor)

    async def responses_cards(self, stores: Stores, rest: str) -> list[Card]:
        """The published responses of the latest closed round (or ``--round``)."""
        given = typed(rest)
        round_ = await self.closed_round(stores, given.options.get("round"))
        results = await self.barometer.results(stores, round_)
        return [cards.responses_card(results, self.settings.zone, self.page)]

    async def actions_cards(
        self, stores: Stores, rest: str, now: datetime, *, comms: bool, actor: str
    ) -> list[Card]:
        """``actions`` (the list; for comms, each open action with buttons and the form to
        add one), ``actions add ...``, ``actions N STATUS``."""
        given = typed(rest)
        verb = given.words[0].lower() if given.words else ""
        if verb and not comms:
            return [only_comms("actions")]
        if verb == "add":
            title = clean(" ".join(given.words[1:]))
            round_ = await self.closed_round(stores, given.options.get("round"))
            action = await self.add_action(
                stores,
                round_,
                title=title,
                owner=given.options.get("owner", ""),
                due=given.options.get("due", ""),
                theme=given.options.get("theme", ""),
                now=now,
                actor=actor,
            )
            view = await self.view(stores, action)
            return [cards.action_card(view, self.settings.zone, comms=True, done="✓ Recorded.")]
        if verb.isdigit():
            status = STATUS_WORDS.get(" ".join(w.lower() for w in given.words[1:]))
            if status is None:
                raise UsageProblem(
                    f"Say where action {shorten(verb, 12)} has got to: planned, in-progress, "
                    "done or dropped."
                )
            number = action_number(verb)
            moved = (
                await self.set_status(stores, number, status, now, actor=actor)
                if number is not None
                else None
            )
            if moved is None:
                raise UsageProblem(f"There is no action {shorten(verb, 12)}.")
            view = await self.view(stores, moved)
            return [cards.action_card(view, self.settings.zone, comms=True, done="✓ Updated.")]
        if verb:
            raise UsageProblem(
                f"I don't know “{shorten(verb, 40)}”: /barometer actions add TITLE, or "
                "/barometer actions N done."
            )
        views = [await self.view(stores, a) for a in await stores.follow_up.actions()]
        found = [cards.actions_card(views, self.settings.zone, self.page)]
        if comms:
            open_ones = [
                v
                for v in views
                if v.action.status in (ActionStatus.PLANNED, ActionStatus.IN_PROGRESS)
            ]
            found += [
                cards.action_card(v, self.settings.zone, comms=True)
                for v in open_ones[: cards.CARD_ITEMS]
            ]
            latest = await stores.barometer.closed(1)
            answers = latest[0] if latest else None
            themes = await stores.follow_up.replies(answers.id) if answers else []
            found.append(cards.action_form_card(answers, themes))
        return found

    # What comms do, whatever way they ask

    async def closed_round(self, stores: Stores, period: str | None) -> BarometerRound:
        """The round comms mean: ``period`` ("2026-11"), else the latest closed one."""
        if period:
            found = await stores.barometer.by_period(period.strip())
            if found is None:
                raise UsageProblem(f"There is no round {shorten(period, 20)} (type it as 2026-11).")
            if found.is_open:
                raise UsageProblem(
                    f"The {month_name(found.period)} round is still open: responses and "
                    "actions come once it has closed."
                )
            return found
        closed = await stores.barometer.closed(1)
        if not closed:
            raise UsageProblem("No round has closed yet: responses come once one has.")
        return closed[0]

    async def published_comments(
        self, stores: Stores, round_: BarometerRound
    ) -> list[BarometerComment]:
        """The round's published comments (a problem when it has none that may be shown)."""
        problem = self.barometer.why_no_comments(round_)
        if not problem and round_.answered < round_.min_group:
            problem = "Too few people answered this round for anything of it to be shown."
        if problem:
            raise UsageProblem(problem)
        return await stores.barometer.comments(round_.id, ("approved",))

    async def _ids_and_text(
        self,
        stores: Stores,
        round_: BarometerRound,
        words: Sequence[str],
        *,
        ids_first: bool = True,
    ) -> tuple[list[BarometerComment], str]:
        """The comments named by the leading words that are comment ids, and the rest as the
        text. With ``ids_first`` (no theme named) the first word must be a comment's id."""
        published = await self.published_comments(stores, round_)
        every = await stores.barometer.comments(round_.id)
        named: list[BarometerComment] = []
        rest = list(words)
        while rest:
            token = rest[0].lower()
            if len(token) < 4 or not re.fullmatch(r"[0-9a-f]+", token):
                break
            matches = [c for c in published if c.id.startswith(token)]
            if len(matches) > 1:
                raise UsageProblem(f"{token} fits several comments: type more of its id.")
            if not matches:
                if any(c.id.startswith(token) for c in every):
                    raise UsageProblem(
                        f"Comment {token} is not published: only comments the comms team "
                        "approved get a response."
                    )
                if named or not ids_first:
                    break  # a word of the text that looks like an id ("decade")
                raise UsageProblem(
                    f"There is no comment {token} in the {month_name(round_.period)} round."
                )
            named.append(matches[0])
            rest.pop(0)
        return named, clean(" ".join(rest))

    async def respond(
        self,
        stores: Stores,
        round_: BarometerRound,
        comments: Sequence[BarometerComment],
        text: str,
        theme: str | None,
        now: datetime,
        *,
        actor: str,
    ) -> CommentReply:
        """Publish a response: to one comment, or under ``theme`` (created, or its response
        changed, and the comments added to it). A comment has one response: answered again,
        it leaves the one it had."""
        text, theme = clean(text), clean(theme) or None
        if len(text) > cards.REPLY_LIMIT:
            raise UsageProblem(
                f"Please keep the response under {cards.REPLY_LIMIT:,} characters "
                f"(it has {len(text):,})."
            )
        if theme is not None and len(theme) > THEME_LIMIT:
            raise UsageProblem(f"Please keep the theme's name under {THEME_LIMIT} characters.")
        published = {c.id for c in await self.published_comments(stores, round_)}
        if any(c.id not in published for c in comments):
            raise UsageProblem("Only comments the comms team approved get a response.")
        replies = await stores.follow_up.replies(round_.id)
        if theme is not None:
            existing = _theme(replies, theme)
            if existing is None:
                if not comments:
                    raise UsageProblem(f"Name the comments the theme “{theme}” answers.")
                if not text:
                    raise UsageProblem(f"Write the response to the theme “{theme}” too.")
                created = await stores.follow_up.add_reply(round_.id, text, now, theme)
                if created is None:  # someone named it at the same moment
                    raise UsageProblem(f"The theme “{theme}” was just made: try again.")
                reply_id = created.id
            else:
                if text:
                    await stores.follow_up.edit_reply(existing.id, text, now)
                reply_id = existing.id
        else:
            if len(comments) != 1:
                raise UsageProblem(
                    "Name the comment to respond to (its id); to answer several with one "
                    "response, give them a theme: --theme NAME."
                )
            if not text:
                raise UsageProblem("Write the response.")
            current = next((r for r in replies if comments[0].id in r.comments), None)
            if current is not None and current.theme is None:
                await stores.follow_up.edit_reply(current.id, text, now)
                reply_id = current.id
            else:
                created = await stores.follow_up.add_reply(round_.id, text, now)
                assert created is not None  # no theme: nothing to collide with
                reply_id = created.id
        await stores.follow_up.attach(round_.id, reply_id, [c.id for c in comments])
        reply = await stores.follow_up.reply(reply_id)
        assert reply is not None
        await record(stores, actor, "barometer.respond", f"{round_.period} {reply.id}", now)
        return reply

    def _published(self, round_: BarometerRound, reply: CommentReply) -> Card:
        what = (
            f"the theme “{reply.theme}” ({plural(len(reply.comments), 'comment')})"
            if reply.theme
            else "the comment"
        )
        return Card(
            title="Response published",
            text=f"Your response to {what} is published with the {month_name(round_.period)} "
            "results" + (f": {self.page}" if self.page else "."),
            fields=(Field(label="Response", value=reply.text),),
            footer=cards.reply_dates(reply, self.settings.zone),
        )

    async def _withdrawn(
        self,
        stores: Stores,
        round_: BarometerRound,
        reply: CommentReply,
        now: datetime,
        *,
        actor: str,
    ) -> Card:
        if not await stores.follow_up.withdraw_reply(reply.id, now):
            raise UsageProblem("That response was withdrawn already.")
        await record(stores, actor, "barometer.withdraw", f"{round_.period} {reply.id}", now)
        what = f"The response to the theme “{reply.theme}”" if reply.theme else "The response"
        return Card(
            title="Response withdrawn",
            text=f"{what} is withdrawn: the {month_name(round_.period)} results show it as "
            "withdrawn, without its text. Write a new one with /barometer respond.",
        )

    async def add_action(
        self,
        stores: Stores,
        round_: BarometerRound,
        *,
        title: str,
        owner: str,
        due: str,
        theme: str,
        now: datetime,
        actor: str,
        theme_id: str = "",
    ) -> BarometerAction:
        """Record an action that answers ``round_`` (or its theme named ``theme``, or whose
        response is ``theme_id``), planned from ``now``."""
        title, owner = clean(title), clean(owner)
        if not title:
            raise UsageProblem("Say what will be done: /barometer actions add TITLE.")
        if len(title) > TITLE_LIMIT:
            raise UsageProblem(f"Please keep the action's title under {TITLE_LIMIT} characters.")
        if len(owner) > OWNER_LIMIT:
            raise UsageProblem(f"Please keep the owner's name under {OWNER_LIMIT} characters.")
        target = ActionTarget(round_id=round_.id)
        if theme or theme_id:
            replies = await stores.follow_up.replies(round_.id)
            found = (
                _theme(replies, clean(theme))
                if theme
                else next((r for r in replies if r.id == theme_id and r.theme), None)
            )
            if found is None:
                raise UsageProblem(
                    f"The {month_name(round_.period)} round has no theme "
                    f"“{shorten(theme or theme_id, 40)}”."
                )
            target = ActionTarget(round_id=round_.id, reply_id=found.id)
        action = await stores.follow_up.add_action(
            title=title,
            owner=owner,
            due=parse_due(due) if clean(due) else None,
            status=ActionStatus.PLANNED,
            answers=[target],
            now=now,
        )
        await record(stores, actor, "barometer.action", f"{round_.period} {action.id}", now)
        return action

    async def set_status(
        self, stores: Stores, number: int, status: ActionStatus, now: datetime, *, actor: str
    ) -> BarometerAction | None:
        """Move action ``number`` to ``status`` (None: there is no such action)."""
        moved = await stores.follow_up.set_action_status(number, status, now)
        if moved is not None:
            await record(stores, actor, f"barometer.action.{status.value}", str(number), now)
        return moved

    async def view(self, stores: Stores, action: BarometerAction) -> ActionView:
        """An action with what it answers, in words."""
        answers = []
        for target in action.answers:
            round_ = await stores.barometer.get(target.round_id)
            month = month_name(round_.period) if round_ else "a round"
            reply = await stores.follow_up.reply(target.reply_id) if target.reply_id else None
            if reply is not None and reply.theme:
                answers.append(f"“{reply.theme}” ({month})")
            else:
                answers.append(f"the {month} barometer")
        return ActionView(action=action, answers=tuple(answers))

    async def we_did(self, stores: Stores, after: datetime, until: datetime) -> str | None:
        """ "You said ..., we did ..." for the actions done in (after, until], or None."""
        finished = []
        for action in await stores.follow_up.finished_between(after, until):
            theme, period = None, None
            # What it answered, in a few words: a theme if it answered one, else its round.
            themed = [t for t in action.answers if t.reply_id]
            targets = themed or list(action.answers)
            if targets:
                target = targets[0]
                round_ = await stores.barometer.get(target.round_id)
                reply = await stores.follow_up.reply(target.reply_id) if target.reply_id else None
                theme = reply.theme if reply is not None else None
                period = round_.period if round_ is not None else None
            finished.append(Finished(title=action.title, theme=theme, period=period))
        return cards.we_did_line(finished, self.page)

    # Clicks

    async def respond_click(self, turn: Turn[Any]) -> None:
        """ "Publish response" on a comment's card."""
        if not self._is_comms(turn):
            turn.reply(only_comms("respond"), private=True)
            return
        values: Mapping[str, str] = turn.event.values
        try:
            round_, comment = await self._card_comment(turn.stores, values)
            theme = clean(values.get("theme"))
            reply = await self.respond(
                turn.stores,
                round_,
                [comment],
                values.get("response", ""),
                theme or None,
                turn.now,
                actor=person_actor(turn.person),
            )
        except UsageProblem as problem:
            turn.reply(Card(title="Not published", text=str(problem)), private=True)
            return
        under = f" under the theme “{reply.theme}”" if reply.theme else ""
        turn.update(
            cards.respond_card(
                round_,
                comment,
                reply,
                self.settings.zone,
                done=f"✓ Published{under}: it shows with the results.",
            )
        )

    async def withdraw_click(self, turn: Turn[Any]) -> None:
        """ "Withdraw response" on a comment's card."""
        if not self._is_comms(turn):
            turn.reply(only_comms("withdraw"), private=True)
            return
        try:
            round_, comment = await self._card_comment(turn.stores, turn.event.values)
            replies = await turn.stores.follow_up.replies(round_.id)
            reply = next((r for r in replies if comment.id in r.comments), None)
            if reply is None:
                raise UsageProblem("That comment has no response to withdraw.")
            card = await self._withdrawn(
                turn.stores, round_, reply, turn.now, actor=person_actor(turn.person)
            )
        except UsageProblem as problem:
            turn.reply(Card(title="Not withdrawn", text=str(problem)), private=True)
            return
        updated = await turn.stores.follow_up.reply(reply.id)
        turn.update(
            cards.respond_card(round_, comment, updated, self.settings.zone, done=f"✓ {card.text}")
        )

    async def action_add_click(self, turn: Turn[Any]) -> None:
        """ "Add the action" on the form."""
        if not self._is_comms(turn):
            turn.reply(only_comms("actions"), private=True)
            return
        values: Mapping[str, str] = turn.event.values
        stores = turn.stores
        round_ = await stores.barometer.get(values.get("round", ""))
        try:
            if round_ is None or round_.is_open:
                raise UsageProblem("Actions answer a closed round: none has closed yet.")
            action = await self.add_action(
                stores,
                round_,
                title=values.get("title", ""),
                owner=values.get("owner", ""),
                due=values.get("due", ""),
                theme="",
                theme_id=values.get("theme", ""),
                now=turn.now,
                actor=person_actor(turn.person),
            )
        except UsageProblem as problem:
            themes = await stores.follow_up.replies(round_.id) if round_ else []
            turn.reply(cards.action_form_card(round_, themes, str(problem)), private=True)
            return
        view = await self.view(stores, action)
        turn.update(cards.action_card(view, self.settings.zone, comms=True, done="✓ Recorded."))

    async def action_status_click(self, turn: Turn[Any]) -> None:
        """A status button on an action's card."""
        if not self._is_comms(turn):
            turn.reply(only_comms("actions"), private=True)
            return
        values: Mapping[str, str] = turn.event.values
        given = values.get("action", "")
        try:
            status = ActionStatus(values.get("choice", ""))
        except ValueError:
            status = None
        number = action_number(given)
        action = (
            await self.set_status(
                turn.stores, number, status, turn.now, actor=person_actor(turn.person)
            )
            if number is not None and status is not None
            else None
        )
        if action is None:
            turn.reply(Card(title="That action has gone", text="Nothing changed."), private=True)
            return
        view = await self.view(turn.stores, action)
        words = cards.status_words(action, self.settings.zone)
        turn.update(cards.action_card(view, self.settings.zone, comms=True, done=f"✓ {words}."))

    # The author's own card

    def holder_mark(self, token_hash: str, person: PersonKey) -> str:
        """What the "thank you" card carries besides its token: its holder's mark."""
        if self.answer_key is None:
            return ""
        return self.answer_key.holder_mark(token_hash, holder(person))

    async def mine(self, turn: Turn[Any]) -> None:
        """ "See the response to my comment" on the author's own card: once the round has
        closed, the comms team's response to the comment written with that answer, found
        by the card's token. Anyone else's click shows nothing."""
        values: Mapping[str, str] = turn.event.values
        token = values.get("token", "")
        hashed = token_hash(token)
        expected = self.holder_mark(hashed, turn.person) if token else ""
        given = values.get("holder", "")
        if not expected or not hmac.compare_digest(expected, given):
            turn.reply(
                Card(
                    title="Nothing to show",
                    text="Only the person who answered on this card can see the response to "
                    "their comment, from the card in their own chat with me.",
                ),
                private=True,
            )
            return
        stores, zone = turn.stores, self.settings.zone
        round_ = await stores.barometer.get(values.get("round", ""))
        if round_ is None:
            turn.reply(Card(title="Nothing to show", text="That round has gone."), private=True)
            return
        if round_.is_open:
            turn.reply(
                Card(
                    title="The round is still open",
                    text="Comments are read, and responded to, once the round has closed "
                    f"({local_date(round_.closes_at, zone)}). Press the button again then.",
                ),
                private=True,
            )
            return
        month = month_name(round_.period)
        comment = await stores.barometer.comment_by_token(round_.id, hashed)
        hidden = {k: values[k] for k in ("round", "token", "holder", "commented") if k in values}
        if comment is None:
            note = (
                f"There is no comment of yours in the {month} round to show a response to. "
                f"Comments are kept only when {round_.comment_min} or more people answer."
            )
            turn.update(cards.mine_card(round_, hidden, zone, note=note))
            return
        if comment.status != "approved":
            note = (
                "The comms team have not read your comment yet."
                if comment.status == "pending"
                else "Your comment was not published (the comms team publish only comments "
                "that could not identify anyone), so it has no response."
            )
            turn.update(cards.mine_card(round_, hidden, zone, note=note))
            return
        replies = await stores.follow_up.replies(round_.id)
        reply = next((r for r in replies if comment.id in r.comments), None)
        if reply is None or reply.withdrawn:
            note = f"There is no response to your comment on the {month} barometer yet."
            if reply is not None and reply.withdrawn_at is not None:
                note = (
                    f"The response to your comment was withdrawn on "
                    f"{local_date(reply.withdrawn_at, zone)}."
                )
            turn.update(cards.mine_card(round_, hidden, zone, note=note))
            return
        turn.update(cards.mine_card(round_, hidden, zone, reply=reply))

    # Helpers

    async def _card_comment(
        self, stores: Stores, values: Mapping[str, str]
    ) -> tuple[BarometerRound, BarometerComment]:
        round_ = await stores.barometer.get(values.get("round", ""))
        if round_ is None or round_.is_open:
            raise UsageProblem("Responses come once the round has closed.")
        published = await self.published_comments(stores, round_)
        comment = next((c for c in published if c.id == values.get("comment")), None)
        if comment is None:
            raise UsageProblem(
                "That comment is not published: only approved comments get a response."
            )
        return round_, comment

    def _is_comms(self, turn: Turn[Any]) -> bool:
        actor = turn.event.actor
        return self.settings.is_comms(
            str(turn.event.conversation.platform), actor.id, actor.aliases
        )


def action_number(given: str) -> int | None:
    """An action's number as typed or carried by a card (a database integer: at most nine
    digits), or None."""
    return int(given) if given.isdigit() and len(given) <= ACTION_DIGITS else None


def _theme(replies: Sequence[CommentReply], name: str) -> CommentReply | None:
    """The round's theme of this name (whatever its letters' case)."""
    wanted = clean(name).casefold()
    return next((r for r in replies if r.theme and r.theme.casefold() == wanted), None)


def only_comms(word: str) -> Card:
    """The answer to someone not in the comms team."""
    return Card(
        title="Only the comms team can do this",
        text=f"/barometer {word} is for the comms team. Everyone can see the responses with "
        "/barometer responses and the actions with /barometer actions.",
    )
