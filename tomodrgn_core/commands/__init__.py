"""One module per CLI command (see tomodrgn_core.cli.COMMANDS)."""
