"""The FastAPI application: thin routes over hpo.service."""
