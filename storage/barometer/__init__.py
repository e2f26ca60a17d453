"""The staff barometer's storage: rounds, who was asked (participation) and what was answered
(responses and comments), kept apart (``records`` holds the records and the interface,
``tables`` the tables, ``sql`` the store, ``pool`` the key of the answers waiting for their
batch, ``batches`` the pool and how its batches reach the answer tables); and "You said, we
did" (``follow_up``: the comms team's responses to comments, themes and actions)."""

from storage.barometer.batches import MissingAnswerKey, batch_size
from storage.barometer.follow_up import (
    ActionChange,
    ActionStatus,
    ActionTarget,
    BarometerAction,
    CommentReply,
    FollowUpStore,
    SqlFollowUp,
)
from storage.barometer.pool import AnswerKey, PendingAnswer, UnreadableAnswer
from storage.barometer.records import (
    AnswerOutcome,
    BarometerAnswer,
    BarometerComment,
    BarometerRound,
    BarometerStore,
    BarometerTally,
    RoundGroup,
    RoundQuestion,
    RoundScalePoint,
)
from storage.barometer.sql import SqlBarometer

__all__ = [
    "ActionChange",
    "ActionStatus",
    "ActionTarget",
    "AnswerKey",
    "AnswerOutcome",
    "BarometerAction",
    "BarometerAnswer",
    "BarometerComment",
    "BarometerRound",
    "BarometerStore",
    "BarometerTally",
    "CommentReply",
    "FollowUpStore",
    "MissingAnswerKey",
    "PendingAnswer",
    "RoundGroup",
    "RoundQuestion",
    "RoundScalePoint",
    "SqlBarometer",
    "SqlFollowUp",
    "UnreadableAnswer",
    "batch_size",
]
