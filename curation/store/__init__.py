"""The store: the DuckDB file, its versioned migrations, settings, SQL helpers and run rows."""
