"""Judgments in the store: judges' verdicts, their cache, suggestions, and the reads judges need."""
