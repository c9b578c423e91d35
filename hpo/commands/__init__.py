"""CLI subcommands, one module each; `hpo.cli` wires them into one group.

Imports inside the commands' functions are on purpose: what only some commands need (torch and
the trainers, the pydantic specs, httpx's client, uvicorn and the API app, SQLAlchemy, the
benchmark harness, tracemalloc) loads when such a command runs, so `hpo --help` and every other
command start without it. They hide no import cycle (none of those modules imports a command).
"""
