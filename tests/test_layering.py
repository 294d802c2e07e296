"""The data core stays light: importing it pulls in no UI or deep-learning library."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["gradio", "torch", "transformers", "trl", "peft", "datasets"]


def test_import_curation_loads_no_gradio_or_torch():
    code = (
        "import json, sys, curation, curation.importer, curation.exporter; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []
