"""The values lens: completed personal check-ins and team check-ins in channels (``records``
holds the records and the interfaces, ``tables`` the tables, ``sql`` the stores).

Notes and actions people write stay in their own rows; team ratings carry a keyed hash of the
member, never the member id."""

from storage.values_lens.records import (
    Checkin,
    CheckinStore,
    RateOutcome,
    RatingEntry,
    TeamCheckin,
    TeamCheckinStore,
    TeamRatings,
    TeamTally,
)
from storage.values_lens.sql import SqlCheckins, SqlTeamCheckins
from storage.values_lens.tables import (
    CheckinRatingRow,
    CheckinRow,
    TeamCheckinRow,
    TeamRatingCountRow,
    TeamRatingRow,
)

__all__ = [
    "Checkin",
    "CheckinRatingRow",
    "CheckinRow",
    "CheckinStore",
    "RateOutcome",
    "RatingEntry",
    "SqlCheckins",
    "SqlTeamCheckins",
    "TeamCheckin",
    "TeamCheckinRow",
    "TeamCheckinStore",
    "TeamRatingCountRow",
    "TeamRatingRow",
    "TeamRatings",
    "TeamTally",
]
