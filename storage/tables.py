"""The name under which migrations 0001 to 0009 know the UTC column type.

Those migrations were written when every table lived in this module, and a released migration
never changes; the tables now live with their features and the type in ``storage.common``.
Nothing else imports this module (ruff bans it outside ``storage/migrations/versions``).
"""

from storage.common import UtcDateTime

__all__ = ["UtcDateTime"]
