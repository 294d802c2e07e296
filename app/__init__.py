"""The prefstudio front ends: the command-line interface (and, later, the web app and API)."""
