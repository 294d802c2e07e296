"""The `prefstudio` subcommands, one module per area; `app.cli` registers them."""
