"""Alembic environment: runs on the connection `hpo.storage.migrate` hands over.

There is no alembic.ini: `hpo.storage.migrate` builds the Config in code and passes an open
connection (already inside a transaction that holds the migration lock) in
`config.attributes["connection"]`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from hpo.storage.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "run migrations with hpo.storage.migrate(url) or `hpo migrate`, not the alembic CLI"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: batch mode recreates the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
