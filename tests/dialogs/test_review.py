"""Review by comms: what an author is told when a submission is not filed, in each feature's
words."""

from __future__ import annotations

from bot.content import load_content
from dialogs.case_studies import Submissions
from dialogs.identifier.service import Identifiers
from tests.conftest import make_settings


def test_an_author_is_told_why_a_submission_was_not_filed() -> None:
    content = load_content()
    settings = make_settings("sqlite+aiosqlite://")
    case_studies = Submissions(content=content, settings=settings).review
    identifiers = Identifiers(content=content, settings=settings).review

    edited = case_studies.not_filed(edited=True)
    assert (edited.title, edited.text) == (
        "It cannot be changed now",
        "That case study is not yours, or comms have already decided on it. "
        "See yours with /casestudy mine.",
    )
    again = case_studies.not_filed(edited=False)
    assert (again.title, again.text) == (
        "Already sent",
        "That case study is already with comms. See it with /casestudy mine.",
    )
    edited = identifiers.not_filed(edited=True)
    assert (edited.title, edited.text) == (
        "It cannot be changed now",
        "That identifier is not yours, or comms have already decided on it. "
        "See yours with /identifier mine.",
    )
    again = identifiers.not_filed(edited=False)
    assert (again.title, again.text) == (
        "Already sent",
        "That identifier is already with comms. See it with /identifier mine.",
    )
