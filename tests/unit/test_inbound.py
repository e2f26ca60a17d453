"""The checks both adapters make on what a platform sends: JSON read safely, ids and text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot import inbound
from bot.inbound import BadPayload


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (nested(1_000), "nested too deeply"),  # past Python's recursion limit: RecursionError
        ('{"a":' * 1_000 + "1" + "}" * 1_000, "nested too deeply"),
        (nested(300), "nested too deeply"),  # parses, but far deeper than any platform sends
        ('{"a": [{"b": ' + nested(inbound.MAX_DEPTH - 2) + "}]}", "nested too deeply"),
        ("{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("", "not JSON"),
    ],
)
def test_unreadable_or_too_deep_json_is_refused(text: str | bytes, why: str) -> None:
    with pytest.raises(BadPayload, match=why):
        inbound.read_json(text)


def test_json_as_deep_as_allowed_is_read() -> None:
    assert inbound.read_json(nested(inbound.MAX_DEPTH)) is not None
    assert inbound.read_json(('{"a": [{"b": ' + nested(inbound.MAX_DEPTH - 3) + "}]}").encode())
    payload: dict[str, Any] = {"a": [{"b": {"c": "d"}}], "e": "\ud800"}
    assert inbound.read_json(json.dumps(payload)) == payload


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (12345, "user.id is not a string"),
        (["U1"], "user.id is not a string"),
        ({"id": "U1"}, "user.id is not a string"),
        (True, "user.id is not a string"),
        ("U" * 256, "user.id is longer than 255 characters"),
        ("U1\x00", "user.id holds control, invisible or unpaired characters"),
        ("U1\x1b[2J", "user.id holds control"),
        ("U1\ud800", "user.id holds control, invisible or unpaired"),
        ("U1\u200b", "user.id holds control, invisible"),
        ("U1\n", "user.id holds control"),
    ],
)
def test_ids_that_no_platform_sends_are_refused(value: object, why: str) -> None:
    with pytest.raises(BadPayload, match=why):
        inbound.identifier(value, "user.id")


def test_ids_as_platforms_send_them_are_taken() -> None:
    for given in ("U2147483697", "19:abc@thread.tacv2;messageid=1", "a:1Qx8-_", "U" * 255):
        assert inbound.identifier(given, "id") == given
    assert inbound.identifier(None, "id") == ""
    assert inbound.identifier("", "id") == ""
    with pytest.raises(BadPayload, match="longer than 64"):
        inbound.identifier("T" * 65, "team_id", limit=inbound.TENANT_LIMIT)


def test_text_is_normalised_not_refused() -> None:
    assert inbound.text("two\nlines\tand é 😀", "text") == "two\nlines\tand é 😀"
    assert inbound.text("a\x00b\x1b[2Jc\x07\r", "text") == "ab[2Jc"
    assert inbound.text("lone \ud800 surrogate \udfff", "text") == "lone \ufffd surrogate \ufffd"
    assert inbound.text("\U0001f600", "text") == "\U0001f600"  # a pair is one character
    assert inbound.text(None, "text") == ""


@pytest.mark.parametrize("value", [12345, ["a"], {"a": "b"}, "x" * (inbound.TEXT_LIMIT + 1)])
def test_text_of_the_wrong_type_or_beyond_any_platform_limit_is_refused(value: object) -> None:
    with pytest.raises(BadPayload, match=r"^text is"):
        inbound.text(value, "text")


def test_urls() -> None:
    url = "https://hooks.slack.com/commands/T1/1/abc"
    assert inbound.url(url, "response_url") == url
    assert inbound.url(None, "response_url") == ""
    for bad in ("javascript:alert(1)", "https://", "hooks.slack.com/x", "http://[::1", "h" * 3000):
        with pytest.raises(BadPayload, match="response_url"):
            inbound.url(bad, "response_url")


def test_objects_and_lists() -> None:
    assert inbound.mapping(None, "user") == {}
    assert inbound.mapping({"id": "U1"}, "user") == {"id": "U1"}
    assert list(inbound.items(None, "actions")) == []
    for wrong in ("x", 1, ["a"]):
        with pytest.raises(BadPayload, match="user is not an object"):
            inbound.mapping(wrong, "user")
    for wrong in ("x", 1, {"a": 1}):
        with pytest.raises(BadPayload, match="actions is not a list"):
            inbound.items(wrong, "actions")
