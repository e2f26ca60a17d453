"""Storage: one module per feature, each holding the feature's records, its small interface
(a ``Protocol``), its tables and their SQL; ``common`` is what every store shares, ``stores`` binds
them all to one unit of work, ``engine`` opens the units, ``migrate`` and ``migrations`` keep the
schema. docs/architecture.md is the map.

Importing any part of storage registers every table (``storage.schema``), so
``SQLModel.metadata`` is whole wherever it is used.
"""

from storage import schema as schema
