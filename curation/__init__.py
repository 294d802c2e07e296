"""The data core of prefstudio: the DuckDB store, import/export, and the queries over them.

Importing this package stays light: no torch, transformers or gradio.
"""

from curation.errors import (
    BadInput,
    ModelError,
    PrefstudioError,
    StoreError,
    StoreLocked,
    UnknownFormat,
)
from curation.io.exporter import EXPORT_FORMATS, export_dataset
from curation.io.importer import IMPORT_FORMATS, import_paths
from curation.stats import store_stats
from curation.store.store import Store, default_db_path

__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "BadInput",
    "ModelError",
    "PrefstudioError",
    "Store",
    "StoreError",
    "StoreLocked",
    "UnknownFormat",
    "default_db_path",
    "export_dataset",
    "import_paths",
    "store_stats",
]
