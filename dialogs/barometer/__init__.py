"""The monthly staff barometer: a poll in chat, anonymous by construction, results for all.

``service`` holds the commands, clicks and the round's life (``Barometer``); ``cards`` the
cards; ``results`` the publication rules (thresholds, breakdowns, trends); ``schedule`` the
timetable; ``tokens`` the answered card's token; ``page`` the web pages, JSON and CSV. "You
said, we did": ``follow_up`` (the comms team's responses and actions, the author's own view of
the response to their comment) with its cards in ``follow_up_cards`` and its page's views in
``said_did``.
"""
