"""The layering of DESIGN.md: who may import whom, and the data core stays light."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ["gradio", "torch", "transformers", "trl", "peft", "datasets"]
# Which of our packages (and gradio) each package may import.
ALLOWED = {
    "curation": set(),
    "judges": {"curation", "training.models"},
    "training": {"curation"},
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_import_curation_loads_no_gradio_or_torch():
    modules = [m.name for m in pkgutil.walk_packages([str(ROOT / "curation")], "curation.")]
    code = (
        f"import importlib, json, sys; [importlib.import_module(m) for m in {modules!r}]; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_its_layer_allows(package):
    ours = {"app", "curation", "judges", "training", "gradio"}
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top not in ours or top == package:
                continue
            if not any(module == a or module.startswith(a + ".") for a in ALLOWED[package]):
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    assert bad == []


@pytest.mark.parametrize(
    ("adapter", "other"), [("app/api", "app.commands"), ("app/tabs", "app.commands")]
)
def test_adapters_call_the_cores_not_each_other(adapter, other):
    """The API and the UI call core functions; neither borrows the CLI's code."""
    door = ROOT / "app/api/actions.py"  # the CLI's own route runs the CLI's commands
    bad = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / adapter).rglob("*.py"))
        if path != door
        for module in imported_modules(path)
        if module == other or module.startswith(other + ".")
    ]
    assert bad == []
