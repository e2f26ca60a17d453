"""Hostile variants of real payloads, for the fuzz tests of ``/slack/events`` and
``/api/messages``.

``variants(payload)`` walks a recorded payload and, for every field in it (objects, lists and
plain values alike, at any depth), makes copies of the payload with that one field mutated in
the ways that matter for its kind: text made over-long, given NUL and control characters or a
lone surrogate, emptied, or given the wrong type; an object or a list given the wrong type,
nested a thousand levels deep, made a huge array; any field left out. ``whole(payload)`` adds
bodies hostile as a whole. The table is fixed (no randomness): a failure names its case, and
runs the same way again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# Deeper than any real payload and than Python's default recursion limit lets json parse.
DEEP = 1_000
# Longer than any id or name a platform sends.
LONG = 5_000
HUGE_ARRAY = 20_000

# Stands for a value nested DEEP levels deep until the payload is written out (``to_json``):
# neither ``copy.deepcopy`` nor ``json.dumps`` could handle the real thing.
DEEP_MARK = "<deeply nested>"
DEEP_JSON = "[" * DEEP + "]" * DEEP

Path = tuple[str | int, ...]
Mutation = Callable[[Any], Any]


def to_json(payload: Any) -> str:
    """The payload as JSON text, deep nesting written out in full (a lone surrogate as the
    ``\\ud800`` escape that carries it)."""
    return json.dumps(payload).replace(json.dumps(DEEP_MARK), DEEP_JSON)


def _longer(value: Any) -> str:
    return (value if isinstance(value, str) and value else "x") + "x" * LONG


def _with(extra: str) -> Mutation:
    def mutate(value: Any) -> Any:
        return (value if isinstance(value, str) else "x") + extra

    return mutate


MISSING = "missing"
# What each kind of field is turned into (besides being left out).
FOR_TEXT: dict[str, Mutation] = {
    "over-long": _longer,
    "NUL and control characters": _with("\x00\x1b[2J\x07\r"),
    "lone surrogate": _with("\ud800"),
    "empty string": lambda _: "",
    "number": lambda _: 12345,
    "object": lambda value: {"id": value},
    "null": lambda _: None,
}
FOR_OBJECT: dict[str, Mutation] = {
    "string": lambda _: "x",
    "number": lambda _: 12345,
    "list": lambda value: [value],
    "null": lambda _: None,
    "deep nesting": lambda _: DEEP_MARK,
}
FOR_LIST: dict[str, Mutation] = {
    "string": lambda _: "x",
    "object": lambda value: {"0": value},
    "empty list": lambda _: [],
    "null": lambda _: None,
    "huge array": lambda value: _huge(value[:1] or ["x"]),
    "deep nesting": lambda _: DEEP_MARK,
}


def _huge(first: list[Any]) -> list[Any]:
    # As many copies of the first item as fit in half the 1 MB a request may carry.
    return first * min(HUGE_ARRAY, 500_000 // len(to_json(first)))


FOR_SCALAR: dict[str, Mutation] = {
    "string": lambda _: "x",
    "object": lambda value: {"id": value},
    "null": lambda _: None,
}


def mutations(value: Any) -> dict[str, Mutation]:
    """The mutations that make sense for a field holding ``value``."""
    if isinstance(value, str):
        return FOR_TEXT
    if isinstance(value, dict):
        return FOR_OBJECT
    if isinstance(value, list):
        return FOR_LIST
    return FOR_SCALAR


@dataclass(frozen=True, slots=True)
class Variant:
    """One hostile copy of a payload: which field was changed, and how."""

    path: Path
    mutation: str
    payload: dict[str, Any]

    @property
    def name(self) -> str:
        """``user.id: lone surrogate``."""
        return f"{'.'.join(str(p) for p in self.path)}: {self.mutation}"

    def touches(self, path: Path) -> bool:
        """True when the mutated field is ``path`` or holds it."""
        return path[: len(self.path)] == self.path


def fields(payload: Any, path: Path = ()) -> Iterator[Path]:
    """The path of every field in ``payload``, parents before children."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            yield (*path, key)
            yield from fields(value, (*path, key))
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            yield (*path, index)
            yield from fields(value, (*path, index))


def get(payload: Any, path: Path) -> Any:
    """The field at ``path``."""
    for part in path:
        payload = payload[part]
    return payload


def replaced(payload: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A copy of ``payload`` with the field at ``path`` set to ``value``."""
    changed = copy.deepcopy(payload)
    get(changed, path[:-1])[path[-1]] = value
    return changed


def removed(payload: dict[str, Any], path: Path) -> dict[str, Any]:
    """A copy of ``payload`` without the field at ``path``."""
    changed = copy.deepcopy(payload)
    del get(changed, path[:-1])[path[-1]]
    return changed


def variants(
    payload: dict[str, Any], *, only: Callable[[Path], bool] = lambda _: True
) -> list[Variant]:
    """The mutations of every field of ``payload`` for which ``only`` is true."""
    found: list[Variant] = []
    for path in fields(payload):
        if not only(path):
            continue
        original = get(payload, path)
        for name, mutate in mutations(original).items():
            found.append(Variant(path, name, replaced(payload, path, mutate(original))))
        found.append(Variant(path, MISSING, removed(payload, path)))
    return found


def under(*prefixes: str) -> Callable[[Path], bool]:
    """Fields below (or at) any of the dotted ``prefixes``: ``under("event", "team_id")``."""
    wanted = [tuple(p.split(".")) for p in prefixes]
    return lambda path: any(
        tuple(str(part) for part in path[: len(prefix)]) == prefix for prefix in wanted
    )


def whole(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """Bodies that are hostile as a whole: the payload nested deep inside itself, deep nesting
    added beside its fields, wrapped in a list, cut short, not an object."""
    text = to_json(payload)
    return [
        ("payload nested deep in lists", "[" * DEEP + text + "]" * DEEP),
        ("payload nested deep in objects", '{"a":' * DEEP + text + "}" * DEEP),
        ("deep nesting beside the fields", text[:-1] + ', "extra": ' + DEEP_JSON + "}"),
        ("a list, not an object", f"[{text}]"),
        ("cut short", text[: len(text) // 2]),
        ("a string", json.dumps("hello")),
        ("null", "null"),
    ]
