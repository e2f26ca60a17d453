"""The hub's pages: routes, and handlers that fetch records and hand them to ``views``."""

from __future__ import annotations

from bot.content import Content
from bot.pages import Access, BadRequest, Html, NotFound, PageRequest, Pages
from dialogs.digest import RUN_ID, Digests
from dialogs.hub.views import digest_view
from storage.stores import Stores


class HubPages:
    """The vision and values hub."""

    def __init__(self, *, content: Content, digests: Digests) -> None:
        self.content = content
        self.digests = digests

    def pages(self) -> Pages:
        """The hub's routes and its navigation."""
        pages = Pages("hub", "dialogs.hub")
        pages.add("/digest/{run_id}", self.digest, access=Access.HUB)
        return pages

    async def digest(self, request: PageRequest, stores: Stores) -> Html:
        """``GET /digest/<id>``: a sent values digest."""
        run_id = request.match["run_id"]
        if not RUN_ID.match(run_id):
            raise BadRequest("That is not the address of a digest.")
        digest = await self.digests.sent(stores, run_id)
        if digest is None:
            raise NotFound("There is no digest at this address.")
        return Html(template="hub/digest.html", title=digest.title, context=digest_view(digest))
