"""Alembic environment: run by ``storage.migrate`` with an open connection.

``valuesbot db upgrade`` (and ``valuesbot db revision``) hand the connection in through
``config.attributes["connection"]``; the target metadata is every table (``storage.schema``).
"""

from __future__ import annotations

from alembic import context

from storage.schema import include_name, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `valuesbot db upgrade`, which opens the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters tables by copying them; batch mode does that for us.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # Indexes made by their migrations alone (PostgreSQL's full-text search index).
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
