"""Data in and out: reading files of every format into the store in one transaction, exporting TRL datasets, the content ids rows are named by, and the OpenAI-compatible HTTP client."""
