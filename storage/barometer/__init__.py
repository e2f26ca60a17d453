"""The staff barometer's storage: rounds, who was asked (participation) and what was answered
(responses and comments), kept apart (``records`` holds the records and the interface,
``tables`` the tables, ``sql`` the store, ``pool`` the key of the answers waiting for their
batch)."""

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
from storage.barometer.sql import MissingAnswerKey, SqlBarometer, batch_size

__all__ = [
    "AnswerKey",
    "AnswerOutcome",
    "BarometerAnswer",
    "BarometerComment",
    "BarometerRound",
    "BarometerStore",
    "BarometerTally",
    "MissingAnswerKey",
    "PendingAnswer",
    "RoundGroup",
    "RoundQuestion",
    "RoundScalePoint",
    "SqlBarometer",
    "UnreadableAnswer",
    "batch_size",
]
