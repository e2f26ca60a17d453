"""The values identifier: a statement at the front of a key publication saying how it is in line
with our values and helps achieve our vision. Made in a short conversation (``dialog``),
reviewed by comms (``dialogs.review``), then published as a Word page, a print page, a badge
and a line of the register (``documents``, ``pages``), and put at the front of a Word or PDF
file by ``valuesbot identifier attach`` (``attach``)."""
