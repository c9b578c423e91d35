"""Alembic revisions, one per schema change, named YYYYMMDD_NNNN_what.py."""
