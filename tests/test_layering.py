"""Imports flow one way: config <- model <- storage <- worker <- webhook <- cli <- benchmarks.

Every import in the product packages (module level or inside a function) is read from the
source; none may reach a layer above its own, and no product package may reach `tests` (test
fixtures live there, never in product code; benchmarks, not installed, reuse the storage
oracle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ["config", "model", "storage", "worker", "webhook", "cli", "benchmarks"]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", LAYERS)
def test_no_import_reaches_a_higher_layer_or_tests(package):
    above = set(LAYERS[LAYERS.index(package) + 1:])
    if package != "benchmarks":
        above.add("tests")
    wrong = {f"{path.relative_to(REPO)} imports {sorted(_imports(path) & above)}"
             for path in (REPO / package).rglob("*.py") if _imports(path) & above}
    assert not wrong, sorted(wrong)
