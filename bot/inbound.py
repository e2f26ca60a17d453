"""What the adapters accept from a platform: JSON read safely, ids and text checked.

A request that passed the signature or token check can still carry a payload no platform would
send: JSON nested a thousand levels deep, a user id five thousand characters long, a NUL byte or
a lone surrogate (``"\\ud800"`` in JSON, which no UTF-8 encoder accepts) in a channel id, a
number where an id belongs. Each adapter's ``translate`` reads its fields through these checks
before an event is made, so such a payload is refused with a 400 naming the field (never its
content), and whatever is accepted can be stored, logged and sent back without failing later.

- ids (workspaces, tenants, conversations, people, messages, triggers, actions) must be strings
  of printable characters and of a sane length, or absent;
- text people typed is normalised instead: control characters other than line breaks and tabs
  are dropped and a lone surrogate becomes U+FFFD, so a message is never lost for one stray
  character;
- objects and lists must be objects and lists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

# Far deeper than any payload Slack or Teams sends (a Slack message's rich text is about a
# dozen levels), and far enough below Python's recursion limit (1,000 frames, which stops json
# at about that depth) that whatever reads a payload afterwards (bolt parsing it again,
# json.dumps, the SDK's model) never reaches it.
MAX_DEPTH = 256
# The database keeps 255 characters of a conversation, person, message or event id and 64 of a
# workspace or tenant id (storage/tables.py); platform ids are far shorter.
ID_LIMIT = 255
TENANT_LIMIT = 64
# Slack's limit on a message's text (chat.postMessage, checked 2026-11), more than Teams allows:
# no text a person typed is longer.
TEXT_LIMIT = 40_000
URL_LIMIT = 2_048

# C0 control characters but tab and line feed, DEL, and UTF-16 surrogates (only a lone one can
# be in a str decoded from JSON: a pair becomes one character).
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


class BadPayload(ValueError):
    """A payload that no platform would send; the message names the field and what is wrong
    with it, never its content (it goes into the 400 answer and the log)."""


def read_json(text: str | bytes) -> Any:
    """The JSON value in ``text``; ``BadPayload`` when it is not JSON or is nested deeper than
    ``MAX_DEPTH``."""
    try:
        found = json.loads(text)
    except RecursionError:
        raise BadPayload("the JSON is nested too deeply") from None
    except ValueError:
        raise BadPayload("the body is not JSON") from None
    # A body with no more opening brackets than that cannot be deeper, and counting them costs
    # a few microseconds where walking a clicked Slack card (8 kB) costs tens: only a larger
    # body is walked.
    if _openers(text) > MAX_DEPTH and _depth_over(found, MAX_DEPTH):
        raise BadPayload("the JSON is nested too deeply")
    return found


def _openers(text: str | bytes) -> int:
    if isinstance(text, str):
        return text.count("[") + text.count("{")
    return text.count(b"[") + text.count(b"{")


def _depth_over(value: Any, limit: int) -> bool:
    """True when ``value`` has objects or lists nested more than ``limit`` deep (walked without
    recursion)."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        below: list[Any] = []
        for node in level:
            below.extend(filter(_is_container, node.values() if type(node) is dict else node))
        if not below:
            return False
        level = below
    return True


def _is_container(value: object) -> bool:
    return isinstance(value, dict | list)


def identifier(value: object, field: str, *, limit: int = ID_LIMIT) -> str:
    """``value`` as an id: "" when absent (None), the string itself when it is printable and at
    most ``limit`` characters long; ``BadPayload`` otherwise."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadPayload(f"{field} is not a string")
    if len(value) > limit:
        raise BadPayload(f"{field} is longer than {limit} characters")
    if not value.isprintable():
        raise BadPayload(f"{field} holds control, invisible or unpaired characters")
    return value


def text(value: object, field: str, *, limit: int = TEXT_LIMIT) -> str:
    """``value`` as text a person wrote: "" when absent (None); control characters other than
    line breaks and tabs dropped, a lone surrogate replaced by U+FFFD; ``BadPayload`` when it is
    not a string or longer than ``limit``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadPayload(f"{field} is not a string")
    if len(value) > limit:
        raise BadPayload(f"{field} is longer than {limit} characters")
    return clean(value)


def clean(value: str) -> str:
    """``value`` without control characters (line breaks and tabs stay) and with each lone
    surrogate replaced by U+FFFD."""
    if _UNWANTED.search(value) is None:
        return value
    return _UNWANTED.sub(lambda m: "" if m.group() < "\ud800" else "\ufffd", value)


def url(value: object, field: str) -> str:
    """``value`` as an http(s) URL ("" when absent); ``BadPayload`` otherwise."""
    found = identifier(value, field, limit=URL_LIMIT)
    if not found:
        return ""
    try:
        parts = urlsplit(found)
    except ValueError:  # an unbalanced IPv6 bracket
        raise BadPayload(f"{field} is not an http(s) URL") from None
    if parts.scheme not in {"http", "https"} or not parts.netloc or " " in found:
        raise BadPayload(f"{field} is not an http(s) URL")
    return found


def mapping(value: object, field: str) -> Mapping[str, Any]:
    """``value`` as an object: empty when absent (None); ``BadPayload`` when it is anything
    else."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadPayload(f"{field} is not an object")
    return value


def items(value: object, field: str) -> Sequence[Any]:
    """``value`` as a list: empty when absent (None); ``BadPayload`` when it is anything else."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadPayload(f"{field} is not a list")
    return value
