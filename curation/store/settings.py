"""Store-wide settings: one JSON value per key in the `settings` table."""

from __future__ import annotations

import json
from typing import Any

from curation.store.store import Store, fetch_one


def get_setting(store: Store, key: str, default: Any = None) -> Any:
    """The value stored under `key`, or `default` when it was never set."""
    row = fetch_one(store.con, "SELECT value FROM settings WHERE key = ?", [key])
    return json.loads(row[0]) if row else default


def set_setting(store: Store, key: str, value: Any) -> None:
    """Store `value` (anything JSON can hold) under `key`, replacing what was there."""
    with store.transaction() as con:
        con.execute(
            "INSERT OR REPLACE INTO settings (key, value, updated) VALUES (?, ?, now())",
            [key, json.dumps(value)],
        )
