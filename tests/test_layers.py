"""The layering rule: the libraries (``lth.theory``, ``lth.simulations``) never reach into the harness.

Imports run harness → library only. The libraries take tensors and return typed objects; flags,
files and JSON belong to the harness (``lth``). Parsed from source, like the claim audit, so an
import hidden inside a function is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("theory", "simulations")
# user-facing machinery a library module must not import; within lth, only the libraries themselves
FORBIDDEN = ("benchmarks", "argparse", "tempfile", "safetensors")


def forbidden(module: str) -> bool:
    """``lth.store`` or ``lth.paper`` (the harness) and FORBIDDEN; ``lth.theory.*`` and ``lth.simulations.*`` pass."""
    top, _, rest = module.partition(".")
    if top == "lth":
        return rest.split(".")[0] not in LIBRARIES
    return top in FORBIDDEN


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def violations(root: Path = ROOT) -> list[str]:
    problems = []
    for library in LIBRARIES:
        for path in sorted((root / library).rglob("*.py")):
            for line, module in imported_modules(path):
                if forbidden(module):
                    problems.append(f"{path.relative_to(root)}:{line} imports {module}")
    return problems


def test_no_library_module_imports_the_harness_or_user_io():
    assert violations() == []


def test_the_rule_catches_a_library_module_that_imports_the_harness(tmp_path: Path):
    (tmp_path / "theory").mkdir()
    (tmp_path / "simulations").mkdir()
    (tmp_path / "theory" / "bad.py").write_text("def f():\n    from lth.store import write_json\n")
    (tmp_path / "simulations" / "worse.py").write_text("import argparse\n")
    (tmp_path / "simulations" / "fine.py").write_text("from lth.theory.dense import DenseTicket\nimport lth.simulations.data\n")
    assert violations(tmp_path) == ["theory/bad.py:2 imports lth.store", "simulations/worse.py:1 imports argparse"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_every_library_package_exists(library: str):
    assert (ROOT / library / "__init__.py").exists()
