"""Sub-commands of `python -m fer_engine` (see fer_engine.cli)."""
