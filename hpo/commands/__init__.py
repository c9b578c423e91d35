"""CLI subcommands, one module each; `hpo.cli` wires them into one group."""
