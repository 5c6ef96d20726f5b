"""The kernel mutation harness (benchmarks/kernel_mutants.py): its mutants, its test map, its verdicts.

Fast: no numba kernel is compiled; the verdict tests run pytest on a one-function module in a
temporary tree.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("kernel_mutants", ROOT / "benchmarks" / "kernel_mutants.py")
km = importlib.util.module_from_spec(_spec)
sys.modules["kernel_mutants"] = km  # dataclasses look their module up there
_spec.loader.exec_module(km)

SMALL = '''import math


def f(x, n):
    """1 < 2 in a docstring is not mutated."""
    s = 0
    for i in range(n):
        if x[i] < 0 and not x[i] == -1:
            break
        s += min(x[i], 2.5) if x[i] > 0 else x[i]  # ≤ a non-ASCII comment before nothing
    return s


def g(x):
    return f(x, 2) * "é".count("é") + h()


def h():
    return 1


def codegen(builder, a, b):
    c = builder.fcmp_ordered("<=", a, b)
    return builder.select(c, builder.fadd(a, b), builder.not_(b))
'''


def mutants_of(source, functions=None):
    return {m.id: m for m in km.generate(source, functions)}


def test_the_generator_yields_every_documented_kind_with_the_documented_replacements():
    mutants = mutants_of(SMALL, {"f", "codegen"})
    assert {m.kind for m in mutants.values()} == set(km.KINDS)
    llvm = {m.after for m in mutants.values() if m.kind == "llvm"}
    assert llvm == {"c = builder.fcmp_ordered('<', a, b)", "c = builder.fcmp_ordered('>', a, b)",
                    "return builder.select(c, builder.not_(b), builder.fadd(a, b))",
                    "return builder.select(c, builder.fsub(a, b), builder.not_(b))",
                    "return builder.select(c, builder.fadd(a, b), b)"}
    edits = {(m.kind, m.before, m.after) for m in mutants.values()}
    line = "if x[i] < 0 and not x[i] == -1:"
    for after in ("if x[i] <= 0 and not x[i] == -1:", "if x[i] >= 0 and not x[i] == -1:",  # boundary, negation
                  "if x[i] < 0 and not x[i] != -1:", "if x[i] < 0 or not x[i] == -1:",
                  "if x[i] < 0 and (x[i] == -1):", "if x[i] < 0 and not x[i] == (1):",  # not dropped, − dropped
                  "if x[i] < (1) and not x[i] == -1:", "if x[i] < (-1) and not x[i] == -1:",  # 0 ± 1
                  "if x[i] < 0 and not x[i] == -(2):", "if x[i] < 0 and not x[i] == -(0):"):
        assert any(b == line and a == after for _, b, a in edits), after
    body = "s += min(x[i], 2.5) if x[i] > 0 else x[i] # ≤ a non-ASCII comment before nothing"
    for kind, after in (("arith", "s -= min(x[i], 2.5) if x[i] > 0 else x[i] # ≤ a non-ASCII comment before nothing"),
                        ("minmax", "s += max(x[i], 2.5) if x[i] > 0 else x[i] # ≤ a non-ASCII comment before nothing"),
                        ("ifexp", "s += x[i] if x[i] > 0 else min(x[i], 2.5) # ≤ a non-ASCII comment before nothing"),
                        ("const", "s += min(x[i], (3.5)) if x[i] > 0 else x[i] # ≤ a non-ASCII comment before nothing"),
                        ("drop", "pass # ≤ a non-ASCII comment before nothing")):
        assert (kind, body, after) in edits, (kind, after)
    assert ("drop", "break", "pass") in edits
    assert not any("1 < 2" in m.before for m in mutants.values())


def test_every_mutant_parses_differs_from_the_original_and_from_every_other():
    mutants = km.generate(SMALL)
    dumps = {ast.dump(ast.parse(SMALL))}
    for m in mutants:
        dump = ast.dump(ast.parse(m.apply(SMALL)))
        assert dump not in dumps, m.id
        dumps.add(dump)
        assert SMALL.splitlines()[m.line - 1].split() == m.before.split()
    assert len({m.id for m in mutants}) == len(mutants)
    # byte columns (ast) and character columns agree after a non-ASCII literal on the line
    assert any(m.after == 'return f(x, 2) * "é".count("é") - h()' for m in mutants)


def test_a_function_is_tested_through_every_entry_point_that_reaches_it():
    graph = km.call_graph(ast.parse(SMALL))
    assert graph == {"f": set(), "g": {"f", "h"}, "h": set(), "codegen": set()}
    assert km.reached_by(graph, ["g"]) == {"g": ["g"], "f": ["g"], "h": ["g"]}
    assert km.reached_by(graph, ["f", "g"])["f"] == ["f", "g"]


def test_the_sample_keeps_the_ceiling_share_of_each_function_and_kind_and_is_deterministic():
    mutants = km.generate(SMALL)
    chosen = km.sample(mutants, 0.3)
    assert [m.id for m in chosen] == [m.id for m in km.sample(list(reversed(mutants)), 0.3)][::-1]
    strata = {(m.function, m.kind) for m in mutants}
    first = km.sample(mutants, 1.0, limit=len(strata))  # one of every stratum before any stratum's second
    assert {(m.function, m.kind) for m in first} == strata
    strata = {(m.function, m.kind) for m in mutants}
    for function, kind in strata:
        count = sum(m.function == function and m.kind == kind for m in mutants)
        assert sum(m.function == function and m.kind == kind for m in chosen) == math.ceil(0.3 * count)


def test_every_compiled_kernel_of_the_module_is_reached_and_every_mapped_test_exists():
    # a kernel that no entry point reaches would never be mutated; a renamed test would break every run
    tree = ast.parse((ROOT / km.MODULE).read_text())
    reach = km.reached_by(km.call_graph(tree), km.ENTRY_TESTS)
    kernels = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)
               and any("njit" in ast.unparse(d) for d in n.decorator_list)}
    assert kernels and kernels <= set(reach)
    for tests in km.ENTRY_TESTS.values():
        for node in tests:
            path, name = node.split("::")
            defined = {n.name for n in ast.parse((ROOT / path).read_text()).body if isinstance(n, ast.FunctionDef)}
            assert name in defined, node


@pytest.fixture
def tiny_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "mod.py").write_text("def add(a, b):\n    return a + b\n\n\ndef spin(n):\n    i = 0\n    while i < n:\n"
                                 "        i += 1\n    return i\n")
    (tree / "test_mod.py").write_text("from mod import add, spin\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
                                      "def test_spin():\n    assert spin(3) == 3\n")
    return tree


def test_a_known_bad_mutant_is_killed_by_the_test_that_fails_and_the_original_survives(tiny_tree):
    source = (tiny_tree / "mod.py").read_text()
    bad = mutants_of(source, {"add"})["add:arith:1"]
    assert bad.after == "return a - b"
    assert km.run_tests(tiny_tree, ["test_mod.py"], 120)[0] == "survived"
    (tiny_tree / "mod.py").write_text(bad.apply(source))
    status, _, detail = km.run_tests(tiny_tree, ["test_mod.py"], 120)
    assert (status, detail) == ("killed", "test_mod.py::test_add")


def test_a_mutant_that_never_ends_is_a_timeout_not_a_kill(tiny_tree):
    source = (tiny_tree / "mod.py").read_text()
    endless = mutants_of(source, {"spin"})["spin:drop:1"]  # i += 1 dropped
    assert re.fullmatch(r"pass", endless.after)
    (tiny_tree / "mod.py").write_text(endless.apply(source))
    assert km.run_tests(tiny_tree, ["test_mod.py::test_spin"], 2)[0] == "timeout"
