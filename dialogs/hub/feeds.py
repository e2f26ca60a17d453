"""Atom feeds (RFC 4287) of the hub, built with ElementTree so every text is escaped: the
intranet and feed readers show the latest case studies and digests from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree

ATOM = "http://www.w3.org/2005/Atom"
ElementTree.register_namespace("", ATOM)


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One entry: ``link`` is absolute, ``content`` plain text."""

    id: str
    title: str
    link: str
    updated: datetime
    author: str
    summary: str
    content: str
    categories: Sequence[str] = ()


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _add(parent: ElementTree.Element, tag: str, text: str | None = None, **attrs: str) -> None:
    child = ElementTree.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        child.text = text


def atom(
    *,
    feed_id: str,
    title: str,
    self_link: str,
    page_link: str,
    author: str,
    entries: Sequence[Entry],
    empty_since: datetime,
) -> str:
    """The feed as XML text; ``updated`` is its newest entry's (``empty_since`` when none)."""
    feed = ElementTree.Element(f"{{{ATOM}}}feed")
    _add(feed, "id", feed_id)
    _add(feed, "title", title)
    updated = max((e.updated for e in entries), default=empty_since)
    _add(feed, "updated", _when(updated))
    _add(feed, "link", rel="self", type="application/atom+xml", href=self_link)
    _add(feed, "link", rel="alternate", type="text/html", href=page_link)
    owner = ElementTree.SubElement(feed, f"{{{ATOM}}}author")
    _add(owner, "name", author)
    for entry in entries:
        item = ElementTree.SubElement(feed, f"{{{ATOM}}}entry")
        _add(item, "id", entry.id)
        _add(item, "title", entry.title, type="text")
        _add(item, "link", rel="alternate", type="text/html", href=entry.link)
        _add(item, "updated", _when(entry.updated))
        writer = ElementTree.SubElement(item, f"{{{ATOM}}}author")
        _add(writer, "name", entry.author)
        for category in entry.categories:
            _add(item, "category", term=category)
        _add(item, "summary", entry.summary, type="text")
        _add(item, "content", entry.content, type="text")
    body = ElementTree.tostring(feed, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"
