"""A person's own record as files: a Word document to take to their appraisal (the values lens
check-ins with their ratings, notes and actions; commitments with their status and review
dates; case studies and where each one is), and everything the bot holds about them as JSON
(a subject access export).

Pure functions over a ``Record`` gathered in one unit of work (``dialogs.records``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from docx import Document

from bot.content import Content
from bot.text import local_date
from storage.case_studies import CaseStudy
from storage.commitments import Commitment
from storage.dialog_states import DialogState
from storage.identifiers import Identifier
from storage.people import Person, PersonKey
from storage.records import AuditEntry, ExportLink, Leaver
from storage.values_lens import Checkin, TeamCheckin, TeamRatings

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

NOT_HELD = (
    "Your staff barometer answers are not in this record: they were never linked to you, so "
    "nobody can find them, you included."
)
TEAM_RATINGS_NOTE = (
    "Your ratings in team check-ins are kept under a code made from your id with a key, never "
    "your name; they are found here by making that code again. Team check-ins whose results "
    "were posted long enough ago keep only their counts, which are nobody's."
)

CASE_STUDY_STATUS = {
    "pending": "waiting for the comms team",
    "changes_requested": "the comms team asked for changes",
    "approved": "approved (published in the digest)",
    "rejected": "not published",
}
IDENTIFIER_STATUS = {
    "pending": "waiting for the comms team",
    "changes_requested": "the comms team asked for changes",
    "approved": "approved (published)",
    "rejected": "not published",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Everything the bot holds about one person, read in one unit of work."""

    person: PersonKey
    profile: Person | None
    checkins: Sequence[Checkin] = ()
    commitments: Sequence[Commitment] = ()
    case_studies: Sequence[CaseStudy] = ()
    identifiers: Sequence[Identifier] = ()
    team_ratings: Sequence[TeamRatings] = ()
    team_started: Sequence[TeamCheckin] = ()
    dialogs: Sequence[DialogState] = ()
    waiting_messages: int = 0
    links: Sequence[ExportLink] = ()
    leaver: Leaver | None = None
    actions: Sequence[AuditEntry] = field(default_factory=tuple)
    made_at: datetime

    @property
    def name(self) -> str:
        """The person's name as the platform gave it (their id when it gave none)."""
        if self.profile is not None and self.profile.display_name:
            return self.profile.display_name
        return self.person.user


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _behaviour(content: Content, behaviour_id: str) -> str:
    try:
        return content.behaviour(behaviour_id).name
    except KeyError:
        return behaviour_id


def _rating(content: Content, rating_id: str) -> str:
    try:
        return content.rating(rating_id).label
    except KeyError:
        return rating_id


def record_json(record: Record, content: Content) -> dict[str, Any]:
    """Everything in the record as JSON-ready data (the subject access export)."""
    profile = record.profile
    return {
        "about": "Everything valuesbot holds about you, as of the time below.",
        "made_at": _when(record.made_at),
        "you": {
            "platform": record.person.platform,
            "workspace_or_tenant": record.person.tenant,
            "id": record.person.user,
            "name": profile.display_name if profile else None,
            "time_zone": profile.timezone if profile else None,
            "direct_conversation": profile.direct_conversation if profile else None,
            "first_seen": _when(profile.first_seen) if profile else None,
            "last_seen": _when(profile.last_seen) if profile else None,
            "directory": (
                {
                    "object_id": profile.directory.object_id,
                    "principal_name": profile.directory.principal_name,
                    "email": profile.directory.email,
                }
                if profile is not None and profile.directory is not None
                else None
            ),
        },
        "values_lens_checkins": [
            {
                "id": c.id,
                "work": c.work,
                "started_at": _when(c.started_at),
                "completed_at": _when(c.completed_at),
                "ratings": [
                    {
                        "behaviour": _behaviour(content, r.behaviour),
                        "rating": _rating(content, r.rating),
                        "note": r.note,
                    }
                    for r in c.ratings
                ],
                "focus": _behaviour(content, c.focus) if c.focus else None,
                "action": c.action,
            }
            for c in record.checkins
        ],
        "commitments": [
            {
                "id": c.id,
                "text": c.text,
                "behaviours": [_behaviour(content, b) for b in c.behaviours],
                "status": c.status,
                "review_on": c.review_on.isoformat() if c.review_on else None,
                "created_at": _when(c.created_at),
                "shared_at": _when(c.shared_at),
                "done_at": _when(c.done_at),
            }
            for c in record.commitments
        ],
        "case_studies": [
            {
                "id": c.id,
                "title": c.title,
                "story": c.story,
                "difference": c.difference,
                "behaviours": [_behaviour(content, b) for b in c.behaviours],
                "named_when_published": c.named,
                "status": c.status,
                "revision": c.revision,
                "note_from_comms": c.moderator_note,
                "submitted_at": _when(c.submitted_at),
                "decided_at": _when(c.decided_at),
            }
            for c in record.case_studies
        ],
        "values_identifiers": [
            {
                "id": i.id,
                "reference": i.reference,
                "publication": i.title,
                "statements": {
                    _behaviour(content, s.behaviour): s.text or "not relevant" for s in i.statements
                },
                "how_it_helps_achieve_the_vision": i.vision,
                "owner": i.owner,
                "intended_publication": i.intended.isoformat(),
                "started_from": i.source,
                "status": i.status,
                "revision": i.revision,
                "note_from_comms": i.moderator_note,
                "submitted_at": _when(i.submitted_at),
                "decided_at": _when(i.decided_at),
            }
            for i in record.identifiers
        ],
        "team_checkins_joined": [
            {
                "id": t.checkin.id,
                "work": t.checkin.work,
                "opened_at": _when(t.checkin.opened_at),
                "status": t.checkin.status,
                "your_ratings": {
                    _behaviour(content, b): _rating(content, r) for b, r in t.ratings.items()
                },
            }
            for t in record.team_ratings
        ],
        "team_checkins_started": [
            {
                "id": t.id,
                "work": t.work,
                "opened_at": _when(t.opened_at),
                "status": t.status,
                "participants": t.participants,
            }
            for t in record.team_started
        ],
        "conversations_under_way": [
            {"dialog": d.dialog, "step": d.step, "answers_so_far": d.data} for d in record.dialogs
        ],
        "messages_waiting_to_reach_you": record.waiting_messages,
        "download_links": [
            {
                "kind": link.kind,
                "made_at": _when(link.created_at),
                "expires_at": _when(link.expires_at),
                "used_at": _when(link.used_at),
            }
            for link in record.links
        ],
        "leaving": (
            None
            if record.leaver is None
            else {
                "reason": record.leaver.reason,
                "marked_at": _when(record.leaver.left_at),
                "erased_after": _when(record.leaver.erase_after),
            }
        ),
        "actions_you_took_as_comms_or_admin": [
            {"at": _when(a.at), "action": a.action, "object": a.subject} for a in record.actions
        ],
        "not_held": [NOT_HELD, TEAM_RATINGS_NOTE],
    }


def record_json_bytes(record: Record, content: Content) -> bytes:
    """The JSON export as UTF-8 bytes."""
    return json.dumps(record_json(record, content), ensure_ascii=False, indent=2).encode()


def record_docx(record: Record, content: Content, zone: ZoneInfo) -> bytes:
    """The readable record for an appraisal, as a Word document."""
    document = Document()
    document.core_properties.title = f"Values record: {record.name}"
    document.add_heading(f"My values record: {record.name}", level=0)
    document.add_paragraph(
        f"{content.organisation}: our behaviours in my work, as of "
        f"{local_date(record.made_at, zone)}."
    )

    document.add_heading("Values lens check-ins", level=1)
    if not record.checkins:
        document.add_paragraph("No check-ins.")
    for checkin in record.checkins:
        document.add_heading(f"{checkin.work} ({local_date(checkin.completed_at, zone)})", 2)
        for rating in checkin.ratings:
            line = f"{_behaviour(content, rating.behaviour)}: {_rating(content, rating.rating)}"
            if rating.note:
                line += f". Note: {rating.note}"
            document.add_paragraph(line, style="List Bullet")
        if checkin.focus:
            document.add_paragraph(f"Most worth attention: {_behaviour(content, checkin.focus)}")
        if checkin.action:
            document.add_paragraph(f"My action: {checkin.action}")

    document.add_heading("My commitments", level=1)
    if not record.commitments:
        document.add_paragraph("No commitments.")
    for commitment in record.commitments:
        facts = ["done" if commitment.status == "done" else "open"]
        if commitment.review_on:
            facts.append(f"review on {commitment.review_on:%d %b %Y}")
        if commitment.shared_at:
            facts.append("shared with the values channel")
        behaviours = ", ".join(_behaviour(content, b) for b in commitment.behaviours)
        if behaviours:
            facts.append(f"shows: {behaviours}")
        document.add_paragraph(
            f"My contribution is to {commitment.text} ({'; '.join(facts)})", style="List Bullet"
        )

    document.add_heading("My case studies", level=1)
    if not record.case_studies:
        document.add_paragraph("No case studies.")
    for case_study in record.case_studies:
        status = CASE_STUDY_STATUS.get(case_study.status, case_study.status)
        document.add_heading(f"{case_study.title} ({status})", 2)
        document.add_paragraph(case_study.story)
        if case_study.difference:
            document.add_paragraph(f"The difference it made: {case_study.difference}")

    if record.identifiers:
        document.add_heading("Values identifiers I wrote", level=1)
        for identifier in record.identifiers:
            status = IDENTIFIER_STATUS.get(identifier.status, identifier.status)
            document.add_paragraph(
                f"{identifier.title}, for {identifier.owner} ({status}; {identifier.reference})",
                style="List Bullet",
            )

    if record.team_ratings:
        document.add_heading("Team check-ins I joined", level=1)
        for joined in record.team_ratings:
            document.add_paragraph(
                f"{joined.checkin.work} ({local_date(joined.checkin.opened_at, zone)})",
                style="List Bullet",
            )
    document.add_paragraph(NOT_HELD)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
