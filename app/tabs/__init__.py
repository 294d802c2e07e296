"""The web UI's tabs, one module each, each with a `create_<name>_tab(ctx)` builder."""
