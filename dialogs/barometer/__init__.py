"""The monthly staff barometer: a poll in chat, anonymous by construction, results for all.

``service`` holds the commands, clicks and the round's life (``Barometer``); ``cards`` the
cards; ``results`` the publication rules (thresholds, breakdowns, trends); ``schedule`` the
timetable; ``page`` the web page, JSON and CSV.
"""
