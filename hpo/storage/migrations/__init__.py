"""Alembic migrations shipped inside the package (run them with `hpo.storage.migrate`)."""
