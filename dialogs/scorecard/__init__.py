"""The vision and purpose scorecard: the organisation measured against its objectives, in chat
and on the web.

``service`` holds the command and the comms team's actions (``Scorecards``); ``sources``
gathers each measure's figures; ``measures`` the trends, statuses and headline (pure);
``figures`` reads the staff survey file and figures typed in chat; ``stakeholders`` the rounds
of single-use links for external partners; ``cards`` the chat cards; ``pages`` and ``views``
the web pages (``GET /scorecard``, ``.json``, ``.csv``, the stakeholder form).
"""
