"""Every store of every feature, bound to one unit of work: the ``Stores`` a turn or a job is
given, and ``SqlStores``, its implementation on one SQLAlchemy session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.barometer import AnswerKey, BarometerStore, FollowUpStore, SqlBarometer, SqlFollowUp
from storage.case_studies import CaseStudyStore, SqlCaseStudies
from storage.changes import UnitSession
from storage.commitments import CommitmentStore, SqlCommitments
from storage.console import ConsoleFeed, SqlConsoleFeed
from storage.delivery import DeliveryQueue, OutboxStore, SqlDeliveryQueue, SqlOutbox
from storage.dialog_states import DialogStore, SqlDialogs
from storage.digests import DigestStore, SqlDigests
from storage.event_log import EventLog, SqlEventLog
from storage.identifiers import IdentifierStore, SqlIdentifiers
from storage.meta import MetaStore, SqlMeta
from storage.people import PeopleStore, SeenLately, SqlPeople
from storage.records import RecordStore, SqlRecords
from storage.schedules import ScheduleStore, SqlSchedules
from storage.scorecard import ScorecardStore, SqlScorecard
from storage.values_lens import CheckinStore, SqlCheckins, SqlTeamCheckins, TeamCheckinStore


class Stores(Protocol):
    """All stores, bound to one unit of work (one transaction)."""

    @property
    def dialogs(self) -> DialogStore: ...
    @property
    def events(self) -> EventLog: ...
    @property
    def people(self) -> PeopleStore: ...
    @property
    def checkins(self) -> CheckinStore: ...
    @property
    def team_checkins(self) -> TeamCheckinStore: ...
    @property
    def commitments(self) -> CommitmentStore: ...
    @property
    def case_studies(self) -> CaseStudyStore: ...
    @property
    def digests(self) -> DigestStore: ...
    @property
    def console(self) -> ConsoleFeed: ...
    @property
    def meta(self) -> MetaStore: ...
    @property
    def outbox(self) -> OutboxStore: ...
    @property
    def barometer(self) -> BarometerStore: ...
    @property
    def follow_up(self) -> FollowUpStore: ...
    @property
    def delivery(self) -> DeliveryQueue: ...
    @property
    def schedules(self) -> ScheduleStore: ...
    @property
    def records(self) -> RecordStore: ...
    @property
    def identifiers(self) -> IdentifierStore: ...
    @property
    def scorecard(self) -> ScorecardStore: ...


class SqlStores:
    """Every store, bound to one session (one unit of work). ``answer_key`` seals and opens the
    barometer's answers waiting for their batch (``storage.barometer.pool``) and stakeholders'
    answers waiting for their round to close (``storage.scorecard``)."""

    def __init__(
        self,
        session: AsyncSession,
        answer_key: AnswerKey | None = None,
        lately: SeenLately | None = None,
    ) -> None:
        self.session = session
        # Run once the unit of work has committed (``Database.unit``), in order.
        self.committed: list[Callable[[], None]] = []
        self.dialogs = SqlDialogs(session)
        self.events = SqlEventLog(session, self.dialogs)
        self.people = SqlPeople(session, lately, self.committed)
        self.checkins = SqlCheckins(session)
        self.team_checkins = SqlTeamCheckins(session)
        self.commitments = SqlCommitments(session)
        self.case_studies = SqlCaseStudies(session)
        self.digests = SqlDigests(session)
        self.console = SqlConsoleFeed(session)
        self.meta = SqlMeta(session)
        self.outbox = SqlOutbox(session)
        self.barometer = SqlBarometer(session, answer_key)
        self.follow_up = SqlFollowUp(session)
        self.delivery = SqlDeliveryQueue(session)
        self.schedules = SqlSchedules(session)
        self.records = SqlRecords(session, lately)
        self.identifiers = SqlIdentifiers(session)
        self.scorecard = SqlScorecard(session, answer_key)

    @property
    def changed(self) -> bool:
        """Whether this unit has run a statement that may change something: known in a unit
        made with ``watch``; in any other, True once it ran a statement."""
        session = self.session.sync_session
        return not isinstance(session, UnitSession) or session.changed
