"""Alembic environment: always driven from ``lockstep.store.migrate`` with a live connection.

``lockstep db upgrade`` (and ``lockstep run`` on start) pass an already-open connection in
``config.attributes["connection"]``; there is no alembic.ini to keep in sync with the settings.
"""

from alembic import context

from lockstep.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
