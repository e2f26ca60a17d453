"""A poll to everyone, sent the way Slack's Python SDK documentation writes it: a loop.

What it is, exactly:

- one ``slack_sdk.web.async_client.AsyncWebClient`` (the asyncio client Bolt for Python uses)
  with the SDK's rate-limit retry handler added as its documentation shows
  (``client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))``): on
  HTTP 429 it sleeps ``Retry-After`` plus up to a second of random jitter and sends the same
  request again, once;
- a ``for`` loop over the people, one ``await client.chat_postMessage(channel=<user id>, ...)``
  each, in order, one at a time. Posting to a user id delivers into the person's direct
  conversation with the app (Slack opens it), so no ``conversations.open`` call is needed;
- a ``SlackApiError`` (a 429 again after the retry, or any other error) is caught, counted and
  the loop goes on to the next person, as a sample's ``try``/``except`` around the call does.
  Nothing is sent again later.

The message is a poll like the barometer's (a header, a question and five answer buttons) with
the plain text fallback. It runs in a process of its own against the mock Slack Web API
(``bench.mock_platform``) and prints one line of JSON: when it started and finished, how many
calls succeeded and failed.

    python -m bench.peers.slack_loop --api-url http://127.0.0.1:PORT/api/ --people 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

TOKEN = "xoxb-bench-token"  # the token valuesbot's fan-out uses: the same workspace budget
QUESTION = "How far did your team live our values this week?"


def user_id(n: int) -> str:
    """The n-th person of the benchmark's workspace."""
    return f"U{n:08d}"


def poll_blocks() -> list[dict[str, Any]]:
    """A header, the question and five answer buttons."""
    buttons = [
        {
            "type": "button",
            "action_id": f"poll.answer.{score}",
            "text": {"type": "plain_text", "text": str(score)},
            "value": str(score),
        }
        for score in range(1, 6)
    ]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Values barometer"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": QUESTION}},
        {"type": "actions", "elements": buttons},
    ]


async def send_all(api_url: str, people: int) -> dict[str, Any]:
    """Post the poll to each person in turn; what happened. The client has no session of its
    own (as in the samples): the SDK opens an HTTP session for each call."""
    client = AsyncWebClient(token=TOKEN, base_url=api_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    blocks = poll_blocks()
    sent = failed = 0
    errors: dict[str, int] = {}
    started_at = time.time()
    for n in range(people):
        try:
            await client.chat_postMessage(channel=user_id(n), text=QUESTION, blocks=blocks)
            sent += 1
        except SlackApiError as error:
            failed += 1
            reason = str(error.response.get("error", error.response.status_code))
            errors[reason] = errors.get(reason, 0) + 1
    finished_at = time.time()
    return {
        "started_at": started_at,
        "finished_at": finished_at,
        "succeeded": sent,
        "failed": failed,
        "errors": errors,
    }


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--api-url", required=True, help="the Web API base URL (mock)")
    options.add_argument("--people", type=int, default=6500)
    args = options.parse_args()
    print(json.dumps(asyncio.run(send_all(args.api_url, args.people))), flush=True)


if __name__ == "__main__":
    main()
