"""The vision and purpose scorecard's storage: figures comms import (the staff survey) or enter,
and feedback rounds of external partners and stakeholders, whose single-use links and answers
are kept apart (``records`` holds the records and the interface, ``tables`` the tables, ``sql``
the store)."""

from storage.scorecard.records import (
    Figure,
    FigureSource,
    LinkCheck,
    LinkState,
    ScorecardStore,
    StakeholderComment,
    StakeholderRound,
    StakeholderTally,
)
from storage.scorecard.sql import SqlScorecard

__all__ = [
    "Figure",
    "FigureSource",
    "LinkCheck",
    "LinkState",
    "ScorecardStore",
    "SqlScorecard",
    "StakeholderComment",
    "StakeholderRound",
    "StakeholderTally",
]
