"""A poll to everyone, sent the way the Microsoft 365 Agents SDK writes a proactive message: a
loop of ``continue_conversation`` calls.

What it is, exactly:

- one ``CloudAdapter`` (``microsoft_agents.hosting.aiohttp``) on an ``MsalConnectionManager``,
  as the SDK's samples build them; the mock connector has no Entra ID, so the bot is anonymous
  (the SDK's ``ANONYMOUS_ALLOWED``) and each turn is started with
  ``continue_conversation_with_claims(ClaimsIdentity(), ...)``, which is what
  ``continue_conversation(app_id, ...)`` does with the app's claims;
- a ``for`` loop over the people, one proactive turn each, in order, one at a time: the
  continuation activity names the person's stored conversation (service URL, conversation id,
  tenant, the bot's account), and the turn's callback sends the poll: one
  ``POST /v3/conversations/{id}/activities`` with the turn's connector client
  (``context.services.get(ConnectorClientBase).conversations.send_to_conversation``), the call
  ``context.send_activity`` ends in. ``send_activity`` itself is not used because it writes an
  explicit ``"id": null`` into the message, which the mock connector (strict like the Agents
  Playground's) refuses; valuesbot builds its messages whole for the same reason. The SDK
  makes a connector client (an HTTP session) and a user token client for each turn and closes
  them after it;
- the SDK does not retry; Microsoft's guidance on Teams rate limits is to catch the 429 and
  send again after a backoff with random jitter, retrying 429, 412, 502 and 504, with three
  retries in its example. The loop does that: on one of those statuses it waits
  ``Retry-After`` when the connector gives one (else 1, 2, 4 s) plus up to a second of jitter,
  and sends again, at most three times; then (or on any other error) it counts a failure and
  goes on to the next person. The adapter's default turn error handler, which would post the
  exception text to the person, is turned off so the error reaches the loop.

The message is a poll like the barometer's: an Adaptive Card with the question and five answer
buttons, with a text summary. It runs in a process of its own against the mock Bot Connector
(``bench.mock_platform``) and prints one line of JSON: when it started and finished, how many
sends succeeded, failed and were retried.

    python -m bench.peers.teams_loop --service-url http://127.0.0.1:PORT/ --people 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import time
from typing import Any

from aiohttp import ClientResponseError
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationAccount,
)
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import AgentAuthConfiguration, ClaimsIdentity, TurnContext
from microsoft_agents.hosting.core.connector import ConnectorClientBase

# The tenant and the bot of valuesbot's fan-out (bench.fanout): the same tenant budget.
TENANT = "00000000-0000-4000-8000-00000000bench"[:36]
BOT = "28:00000000-0000-4000-8000-000000000b07"
QUESTION = "How far did your team live our values this week?"
# Microsoft's guidance: retry these, with a backoff and random jitter.
TRANSIENT = {429, 412, 502, 504}
RETRIES = 3


def conversation_id(n: int) -> str:
    """The n-th person's personal conversation with the bot."""
    return f"a:bench-direct-{n:06d}"


def poll(where: Activity) -> Activity:
    """The poll, from the bot into the turn's conversation: an Adaptive Card with the question
    and five answer buttons."""
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": "Values barometer", "weight": "Bolder"},
            {"type": "TextBlock", "text": QUESTION, "wrap": True},
        ],
        "actions": [
            {"type": "Action.Submit", "title": str(score), "data": {"answer": score}}
            for score in range(1, 6)
        ],
    }
    return Activity(
        type=ActivityTypes.message,
        channel_id=where.channel_id,
        service_url=where.service_url,
        conversation=where.conversation,
        from_property=where.recipient,
        summary=QUESTION,
        attachments=[
            Attachment(content_type="application/vnd.microsoft.card.adaptive", content=card)
        ],
    )


def continuation(service_url: str, n: int) -> Activity:
    """Where the n-th person's proactive turn goes (their stored conversation reference)."""
    return Activity(
        type=ActivityTypes.event,
        name="ContinueConversation",
        channel_id="msteams",
        service_url=service_url,
        conversation=ConversationAccount(
            id=conversation_id(n), tenant_id=TENANT, conversation_type="personal"
        ),
        recipient=ChannelAccount(id=BOT, name="valuesbot"),
    )


def backoff(error: ClientResponseError, attempt: int) -> float:
    """How long to wait before sending again: ``Retry-After`` or 1, 2, 4 s, plus jitter."""
    given = next(
        (str(v) for k, v in dict(error.headers or {}).items() if str(k).lower() == "retry-after"),
        None,
    )
    try:
        wait = float(given) if given is not None else float(2**attempt)
    except ValueError:
        wait = float(2**attempt)
    return wait + random.random()


async def send_all(service_url: str, people: int) -> dict[str, Any]:
    """A proactive turn for each person in turn; what happened."""
    connections = MsalConnectionManager(
        connections_configurations={
            "SERVICE_CONNECTION": AgentAuthConfiguration(anonymous_allowed=True)
        }
    )
    adapter = CloudAdapter(connection_manager=connections)
    adapter.on_turn_error = None
    anonymous = ClaimsIdentity()

    async def send(context: TurnContext) -> None:
        connector = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
        assert connector is not None  # the SDK puts one in every proactive turn
        where = context.activity
        await connector.conversations.send_to_conversation(where.conversation.id, poll(where))

    sent = failed = retried = 0
    errors: dict[str, int] = {}
    started_at = time.time()
    for n in range(people):
        where = continuation(service_url, n)
        for attempt in range(RETRIES + 1):
            try:
                await adapter.continue_conversation_with_claims(anonymous, where, send)
                sent += 1
                break
            except ClientResponseError as error:
                if error.status in TRANSIENT and attempt < RETRIES:
                    retried += 1
                    await asyncio.sleep(backoff(error, attempt))
                    continue
                failed += 1
                errors[str(error.status)] = errors.get(str(error.status), 0) + 1
                break
    return {
        "started_at": started_at,
        "finished_at": time.time(),
        "succeeded": sent,
        "failed": failed,
        "retried": retried,
        "errors": errors,
    }


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--service-url", required=True, help="the Bot Connector (mock)")
    options.add_argument("--people", type=int, default=6500)
    args = options.parse_args()
    # The SDK logs a warning each turn (an anonymous bot has no app id) and an error for each
    # 429; the loop counts what failed itself.
    logging.basicConfig(level=logging.CRITICAL)
    print(json.dumps(asyncio.run(send_all(args.service_url, args.people))), flush=True)


if __name__ == "__main__":
    main()
