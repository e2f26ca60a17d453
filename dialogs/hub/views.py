"""What each hub page shows, gathered from records into plain values for its template.

Pure functions (no database, no request): the page handlers in ``pages.py`` fetch the records
and call these; templates only show what they return.
"""

from __future__ import annotations

from typing import Any

from bot.text import plural
from dialogs.digest import Digest, quiet_line


def paragraphs(text: str) -> list[str]:
    """Text as its non-empty paragraphs (one a line, as people typed them)."""
    return [line.strip() for line in text.split("\n") if line.strip()]


def digest_view(digest: Digest) -> dict[str, Any]:
    """A sent digest's page: its behaviour of the week, stories and commitments."""
    since = "since the last digest" if digest.follows_up else "this week"
    return {
        "digest": {
            "title": digest.title,
            "behaviour": digest.behaviour,
            "behaviour_definition": digest.behaviour_definition,
            "barometer": digest.barometer,
        },
        "quiet": quiet_line(digest) if digest.is_quiet else "",
        "stories": [
            {
                "title": story.title,
                "paragraphs": paragraphs(story.story),
                "difference": story.difference,
                "behaviours": story.behaviours,
                "credit": story.credit,
            }
            for story in digest.stories
        ],
        "shared_heading": f"{plural(digest.shared, 'commitment')} shared {since}"
        if digest.shared
        else "",
        "commitments": [
            {"by": c.by, "text": c.text, "behaviours": c.behaviours} for c in digest.commitments
        ],
    }
