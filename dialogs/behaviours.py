"""Tagging things with the organisation's behaviours: the card input, reading what people typed,
and naming the behaviours back. Shared by commitments, case studies and the digest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.content import Content
from bot.ui import ChoiceInput, Option

BEHAVIOURS = "behaviours"


def behaviour_input(
    content: Content,
    *,
    label: str = "Which of our behaviours does it show?",
    initial: Iterable[str] = (),
    optional: bool = False,
) -> ChoiceInput:
    """A multiple choice of the behaviours, by their short names."""
    chosen = ",".join(initial)
    return ChoiceInput(
        name=BEHAVIOURS,
        label=label,
        options=tuple(Option(label=b.short, value=b.id) for b in content.behaviours),
        multiple=True,
        optional=optional,
        initial=chosen or None,
    )


def submitted_behaviours(content: Content, value: str) -> tuple[str, ...]:
    """The behaviours picked on a card (ids the content does not have are dropped)."""
    return behaviour_input(content).selected(value)


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def parse_behaviours(content: Content, text: str) -> tuple[str, ...] | None:
    """Behaviours typed in a message: numbers ("1 4", "1, 4"), ids or names ("listen, open",
    "Inclusive"), or "all". In content order; None when any part is not a behaviour."""
    text = text.strip()
    if not text:
        return None
    if _key(text) in {"all", "all of them", "all six"}:
        return tuple(b.id for b in content.behaviours)
    if re.fullmatch(r"[\d\s,;]+", text):
        parts = re.findall(r"\d+", text)
    else:
        parts = [p for p in re.split(r"[,;\n]|\s+&\s+", text) if p.strip()]
    known: dict[str, str] = {}
    for position, behaviour in enumerate(content.behaviours, start=1):
        for name in (str(position), behaviour.id, behaviour.short, behaviour.name):
            known[_key(name)] = behaviour.id
    picked = set()
    for part in parts:
        found = known.get(_key(part).removeprefix("we ").strip()) or known.get(_key(part))
        if found is None:
            return None
        picked.add(found)
    return tuple(b.id for b in content.behaviours if b.id in picked)


def tags(content: Content, text: str) -> tuple[str, tuple[str, ...]]:
    """``#tags`` naming behaviours taken out of a one-line text: ("Publish the minutes",
    ("open",)) from "Publish the minutes #open". Tags that name no behaviour stay in the text."""
    known: dict[str, str] = {}
    for behaviour in content.behaviours:
        known[behaviour.id.lower()] = behaviour.id
        known["-".join(_key(behaviour.short).split())] = behaviour.id
        known["".join(_key(behaviour.short).split())] = behaviour.id
    picked: set[str] = set()

    def take(match: re.Match[str]) -> str:
        found = known.get(match.group(1).lower())
        if found is None:
            return match.group(0)
        picked.add(found)
        return ""

    rest = re.sub(r"(?<![\w#])#([A-Za-z][\w-]*)", take, text)
    ordered = tuple(b.id for b in content.behaviours if b.id in picked)
    return " ".join(rest.split()), ordered


def behaviour_names(content: Content, ids: Iterable[str]) -> str:
    """ "Listen and learn, Open and transparent" (ids the content no longer has are left out)."""
    wanted = set(ids)
    return ", ".join(b.short for b in content.behaviours if b.id in wanted)
