"""The hub's view functions, without a browser or a database."""

from __future__ import annotations

from bot.pages import PageRequest
from dialogs.hub.views import Paging, pagination


def test_one_page_needs_no_pagination() -> None:
    assert pagination(PageRequest(path="/case-studies"), Paging(page=1, total=10)) is None


def test_pages_around_the_current_one_with_gaps_marked() -> None:
    request = PageRequest(path="/case-studies", query={"q": "patients", "page": "5"})
    params = pagination(request, Paging(page=5, total=95))
    assert params is not None
    numbers = [i.get("number", "…") for i in params["items"]]
    assert numbers == [1, "…", 4, 5, 6, "…", 10]
    assert params["items"][0]["href"] == "/case-studies?q=patients"  # page 1 has no number
    assert [i["current"] for i in params["items"] if "number" in i] == [
        False,
        False,
        True,
        False,
        False,
    ]
    assert params["previous"]["href"] == "/case-studies?page=4&q=patients"
    assert params["next"]["href"] == "/case-studies?page=6&q=patients"
    last = pagination(request, Paging(page=10, total=95))
    assert last is not None
    assert "next" not in last
