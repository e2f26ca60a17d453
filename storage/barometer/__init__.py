"""The staff barometer's storage: rounds, who was asked (participation) and what was answered
(responses and comments), kept apart (``records`` holds the records and the interface,
``tables`` the tables, ``sql`` the store)."""

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
    "AnswerOutcome",
    "BarometerAnswer",
    "BarometerComment",
    "BarometerRound",
    "BarometerStore",
    "BarometerTally",
    "RoundGroup",
    "RoundQuestion",
    "RoundScalePoint",
    "SqlBarometer",
]
