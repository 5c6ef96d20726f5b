"""Source-level mutation testing of the compiled (numba) subset-sum kernels, which mutmut skips.

mutmut 3 does not mutate decorated functions, so ``@numba.njit`` kernels behind ``covers_interval``,
``worst_case_error``, ``sorted_subset_sums`` and ``best_subsets`` (theory/subset_sum_merge.py) are never
mutated by ``make mutants``. This script mutates their *source* instead, one mutant per run, and runs the
tests that reach the mutated function against a scratch copy of the repository.

Mutants (a fixed, deterministic set, generated from the module's source at run time; every node of
every function body is visited in source order):

* ``cmp``    a comparison ``<``/``<=``/``>``/``>=``/``==``/``!=``: its boundary flip (``<`` ↔ ``<=``, ``>`` ↔ ``>=``)
             and its negation (``<`` → ``>=``, ``<=`` → ``>``, ``==`` → ``!=`` …);
* ``arith``  a binary or augmented operator: ``+`` ↔ ``-``, ``*`` → ``+``, ``/`` and ``//`` → ``*``, ``%`` → ``//``,
             ``<<`` ↔ ``>>``, ``|`` ↔ ``&`` (``i += 1`` → ``i -= 1`` included);
* ``const``  an int or float literal ``c`` → ``c + 1`` and ``c − 1`` (booleans and strings untouched);
* ``bool``   ``and`` ↔ ``or``; ``not e`` → ``e``;
* ``neg``    unary ``-e`` → ``e``;
* ``ifexp``  ``a if c else b`` → ``b if c else a`` (the kernels' branch-free selects);
* ``minmax`` a call of ``min`` ↔ ``max``;
* ``drop``   an augmented assignment (an index increment, an accumulation), a ``break`` or a ``continue``
             → ``pass``;
* ``llvm``   in the code generators of ``@intrinsic`` kernels (llvmlite ``builder`` calls): a comparison
             predicate flipped as ``cmp`` (``fcmp_ordered("<=", …)`` → ``"<"``, ``">"``), ``fadd`` ↔ ``fsub``,
             ``add`` ↔ ``sub``, ``mul`` → ``add``, ``and_`` ↔ ``or_``, ``select(c, a, b)`` → ``select(c, b, a)``,
             ``not_(v)`` → ``v``.

Each mutant is a one-token (or one-expression) textual edit of the original file, so its diff is the
changed line; mutants whose code equals the original or an earlier mutant's are dropped.

Which tests run: the module's *entry points* (:data:`ENTRY_TESTS`: ``merge_sorted_sums``,
``nearest_subset_codes``, ``cover_verdicts``) each have a list of fast tests that call them (directly
or through ``lth.theory.subset_sum``); a mutated function runs the tests of every entry point that
reaches it in the module's static call graph, cheapest-to-fail first, stopping at the first failure
(``pytest -x``). Functions no entry point reaches (``profile_nearest_subset_codes``, a benchmark
helper) are not mutated.

Isolation: the tree of a *committed* revision (``git archive``; default ``HEAD``) is unpacked into a
scratch directory per worker (never the working tree, which others edit), plus any ``--overlay``
files from the working tree (new tests not yet committed); each mutant overwrites the module there,
runs pytest with ``PYTHONPATH`` at the copy (``lth/__init__.py`` resolves ``lth.theory`` to it), a fresh
``NUMBA_CACHE_DIR`` (numba and Python would otherwise reuse a compiled kernel whose file stamp
matches), ``PYTHONDONTWRITEBYTECODE=1``, and the thread settings of the Makefile's mutmut run
(``OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 NUMBA_THREADING_LAYER=workqueue``).

Status per mutant:

* ``killed``        a test failed (its name is recorded);
* ``crashed``       pytest died by a signal (e.g. an out-of-bounds write in compiled code: a failure a
                    user would see, counted as killed in the totals but listed apart);
* ``compile_error`` numba refused to type or lower the mutant (the failure names a numba error): the
                    mutant cannot run at all, so no test could have missed it;
* ``timeout``       the tests ran past ``--timeout`` CPU seconds (default: 2 × the unmutated run of the
                    same tests + 30 s) — not counted as killed (a slow mutant may still be correct);
* ``survived``      every selected test passed.

Usage::

    .venv/bin/python benchmarks/kernel_mutants.py [--rev HEAD] [--jobs 1] [--only ID,...]
        [--functions f,g] [--sample RATE] [--limit N] [--overlay tests/test_subset_sum_kernels.py] [--out FILE] [--update]
    .venv/bin/python benchmarks/kernel_mutants.py --list      # the mutants, no tests run

writes ``records/bench/kernel_mutants.json`` (or ``--out``): the revision, the command, per mutant its id,
kind, function, line, the original and mutated line, status, seconds and the failing test; and the
totals. ``--sample RATE`` keeps, per function and kind, ``⌈RATE · count⌉`` of its mutants (so at least one),
those of smallest sha256(id) (stable under edits to other functions); ``--limit N`` then keeps N of them,
each stratum's first before any stratum's second (:func:`sample`). ``--only ID,... --update`` re-runs
named mutants (e.g. the survivors, after tests were added) and replaces their rows in the summary, with
the re-run's revision and overlays logged under ``reruns``.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import difflib
import hashlib
import io
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import tokenize
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: its own lth
from lth.store import write_atomic  # noqa: E402
MODULE = "theory/subset_sum_merge.py"
TREE = ["lth", "theory", "tests", "pyproject.toml"]  # what the tests import and read
OUT = ROOT / "records" / "bench" / "kernel_mutants.json"

_SUMS = "tests/test_subset_sum.py::test_"
_BACKENDS = "tests/test_subset_sum_backends.py::test_"
_KERNELS = "tests/test_subset_sum_kernels.py::test_"
# entry point → the fast tests that call it, in the order they run (sharp, cheap ones first)
ENTRY_TESTS: dict[str, list[str]] = {
    "merge_sorted_sums": [
        _SUMS + "merged_sums_equal_the_sorted_brute_force_sums",
        _SUMS + "compiled_merge_equals_the_sorted_sums_of_drawn_arrays_with_ties_and_zeros",
        _BACKENDS + "sorted_sums_are_the_same_on_both_backends_and_equal_the_oracle",
        _BACKENDS + "worst_case_error_is_the_same_on_both_backends_and_equals_the_oracle",
        _SUMS + "worst_case_error_matches_a_dense_grid_and_is_never_below_it",
        "tests/test_oracles.py::test_the_rss_worst_case_plus_slack_is_at_least_the_exact_rational_supremum",
        "tests/test_lueker.py::test_worst_case_error_plus_minus_the_rounding_slack_brackets_the_exact_rational_supremum",
    ],
    "nearest_subset_codes": [
        _KERNELS + "nearest_codes_attain_the_exhaustive_optimum_for_small_pools",
        _KERNELS + "ties_are_broken_as_before_the_kernels_were_tuned",
        _KERNELS + "lockstep_scans_and_the_sorting_network_break_ties_as_the_merged_pool_by_pool_path",
        _KERNELS + "the_parallel_path_attains_the_exhaustive_optimum_with_duplicated_entries",
        _KERNELS + "nearest_codes_attain_the_exhaustive_optimum_for_drawn_pools_up_to_n_24",
        _SUMS + "best_subsets_equal_exhaustive_search_and_masks_reproduce_the_sums",
        _SUMS + "two_pointer_search_finds_the_exact_optimum_for_drawn_pools_and_targets",
        _SUMS + "best_subsets_reach_the_exhaustive_optimum_for_every_n_up_to_24_with_ties_and_duplicates",
        _SUMS + "best_subsets_shares_one_pool_across_a_row_of_many_targets_at_large_n",
        _BACKENDS + "best_subsets_reach_the_oracle_optimum_on_both_backends",
    ],
    "cover_verdicts": [
        _KERNELS + "a_merge_run_as_three_runs_in_lockstep_gives_the_components_of_the_plain_merge_bit_for_bit",
        _KERNELS + "the_cover_verdict_is_the_exact_closed_cover_where_intervals_touch_on_dyadic_pools",
        _SUMS + "compiled_cover_agrees_with_the_exact_worst_case_error_on_drawn_pools",
        _SUMS + "interval_cover_decides_exactly_whether_the_worst_case_error_is_below_eps",
        _SUMS + "a_pool_whose_intervals_are_all_pruned_is_reported_as_not_covering",
        _SUMS + "interval_cover_stopped_early_agrees_with_the_exact_worst_case_on_long_pools",
        "tests/test_oracles.py::test_covers_interval_never_accepts_a_radius_below_the_exact_supremum",
        "tests/test_oracles.py::test_covers_interval_accepts_every_radius_clearly_above_the_exact_supremum",
        "tests/test_certificate_mutants.py::test_covers_interval_shrinks_the_radius_by_the_documented_rounding_bound",
        "tests/test_certificate_mutants.py::test_covers_interval_accepts_just_above_the_documented_shrink",
        "tests/test_certificate_mutants.py::test_batched_and_float32_pools_get_the_verdicts_of_one_pool_at_a_time",
        "tests/test_lueker.py::test_a_true_from_covers_interval_certifies_the_cover_in_exact_arithmetic",
    ],
}
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
       "NUMBA_THREADING_LAYER": "workqueue", "HYPOTHESIS_PROFILE": "ci", "PYTHONDONTWRITEBYTECODE": "1"}
MEMORY_LIMIT = 6 * 2**30  # bytes of data segment per test run
NUMBA_ERRORS = re.compile(r"numba\.core\.errors|TypingError|LoweringError|UnsupportedError|NumbaError")

CMP_FLIPS = {ast.Lt: (ast.LtE, ast.GtE), ast.LtE: (ast.Lt, ast.Gt), ast.Gt: (ast.GtE, ast.LtE),
             ast.GtE: (ast.Gt, ast.Lt), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,)}
ARITH_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult,
               ast.Mod: ast.FloorDiv, ast.LShift: ast.RShift, ast.RShift: ast.LShift, ast.BitOr: ast.BitAnd,
               ast.BitAnd: ast.BitOr}
SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Add: "+",
          ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<",
          ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.And: "and", ast.Or: "or"}
# llvmlite builder calls of the @intrinsic kernels: the predicate string of a comparison, arithmetic, a select
IR_COMPARISONS = {"fcmp_ordered", "fcmp_unordered", "icmp_signed", "icmp_unsigned"}
IR_FLIPS = {"<": ("<=", ">="), "<=": ("<", ">"), ">": (">=", "<="), ">=": (">", "<"), "==": ("!=",), "!=": ("==",)}
IR_SWAPS = {"fadd": "fsub", "fsub": "fadd", "add": "sub", "sub": "add", "mul": "add", "fmul": "fadd",
            "and_": "or_", "or_": "and_"}
KINDS = ("cmp", "arith", "const", "bool", "neg", "ifexp", "minmax", "drop", "llvm")


@dataclass
class Mutant:
    """One textual edit of the module: ``source[start:end]`` (character offsets) → ``replacement``."""

    id: str  # function:kind:k, k counting that function's mutants of that kind in source order
    kind: str
    function: str
    line: int  # 1-based line of the edit in the original file
    before: str  # the original line(s), stripped
    after: str  # the mutated line(s), stripped
    start: int
    end: int
    replacement: str

    def apply(self, source: str) -> str:
        return source[:self.start] + self.replacement + source[self.end:]


class _Offsets:
    """(line, UTF-8 byte column) of the ast and (line, character column) of tokenize → character offsets."""

    def __init__(self, source: str):
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def of_ast(self, line: int, byte_col: int) -> int:
        return self.starts[line - 1] + len(self.lines[line - 1].encode()[:byte_col].decode())

    def of_token(self, line: int, col: int) -> int:
        return self.starts[line - 1] + col

    def node(self, node: ast.AST) -> tuple[int, int]:
        return self.of_ast(node.lineno, node.col_offset), self.of_ast(node.end_lineno, node.end_col_offset)


def _operator_tokens(source: str, offsets: _Offsets) -> list[tuple[int, int, str]]:
    """Every operator and keyword token as (start, end, text), in source order."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.OP, tokenize.NAME):
            found.append((offsets.of_token(*tok.start), offsets.of_token(*tok.end), tok.string))
    return found


def _token_between(tokens, start: int, end: int, texts: set[str]) -> tuple[int, int, str]:
    """The single token with text in ``texts`` lying in ``[start, end)`` (between two operands)."""
    hits = [t for t in tokens if start <= t[0] and t[1] <= end and t[2] in texts]
    if len(hits) != 1:
        raise ValueError(f"expected one of {texts} between offsets {start} and {end}, found {hits}")
    return hits[0]


def _function_edits(fn: ast.FunctionDef, source: str, offsets: _Offsets, tokens) -> list[tuple[str, int, int, str]]:
    """(kind, start, end, replacement) for every mutation of ``fn``'s body, in source order."""
    edits = []
    text = lambda node: source[slice(*offsets.node(node))]  # noqa: E731
    for node in (n for stmt in fn.body for n in ast.walk(stmt)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # docstring
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for op, left, right in zip(node.ops, operands, operands[1:]):
                for new in CMP_FLIPS.get(type(op), ()):
                    s, e, _ = _token_between(tokens, offsets.node(left)[1], offsets.node(right)[0], {SYMBOL[type(op)]})
                    edits.append(("cmp", s, e, SYMBOL[new]))
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in ARITH_SWAPS:
            left, right = (node.left, node.right) if isinstance(node, ast.BinOp) else (node.target, node.value)
            old = SYMBOL[type(node.op)] + ("=" if isinstance(node, ast.AugAssign) else "")
            s, e, _ = _token_between(tokens, offsets.node(left)[1], offsets.node(right)[0], {old})
            edits.append(("arith", s, e, old.replace(SYMBOL[type(node.op)], SYMBOL[ARITH_SWAPS[type(node.op)]])))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            s, e = offsets.node(node)
            for delta in (1, -1):
                edits.append(("const", s, e, f"({node.value + delta!r})"))
        elif isinstance(node, ast.BoolOp):
            old = SYMBOL[type(node.op)]
            for left, right in zip(node.values, node.values[1:]):
                s, e, _ = _token_between(tokens, offsets.node(left)[1], offsets.node(right)[0], {old})
                edits.append(("bool", s, e, "or" if old == "and" else "and"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            s, e = offsets.node(node)
            edits.append(("bool" if isinstance(node.op, ast.Not) else "neg", s, e, f"({text(node.operand)})"))
        elif isinstance(node, ast.IfExp):
            s, e = offsets.node(node)
            edits.append(("ifexp", s, e, f"{text(node.orelse)} if {text(node.test)} else {text(node.body)}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
            s, e = offsets.node(node.func)
            edits.append(("minmax", s, e, "max" if node.func.id == "min" else "min"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            edits.extend(_llvm_edits(node, offsets, text))
        if isinstance(node, (ast.AugAssign, ast.Break, ast.Continue)):
            s, e = offsets.node(node)
            edits.append(("drop", s, e, "pass"))
    return edits


def _llvm_edits(node: ast.Call, offsets: _Offsets, text) -> list[tuple[str, int, int, str]]:
    """Mutations of one llvmlite ``builder`` call in an ``@intrinsic``'s code generator (kind ``llvm``)."""
    attr, args = node.func.attr, node.args
    func_end = offsets.node(node.func)[1]
    if attr in IR_COMPARISONS and args and isinstance(args[0], ast.Constant) and args[0].value in IR_FLIPS:
        s, e = offsets.node(args[0])
        return [("llvm", s, e, repr(new)) for new in IR_FLIPS[args[0].value]]
    if attr in IR_SWAPS:
        return [("llvm", func_end - len(attr), func_end, IR_SWAPS[attr])]
    if attr == "select" and len(args) == 3:
        s, e = offsets.node(args[1])[0], offsets.node(args[2])[1]
        return [("llvm", s, e, f"{text(args[2])}, {text(args[1])}")]
    if attr == "not_" and len(args) == 1:
        s, e = offsets.node(node)
        return [("llvm", s, e, text(args[0]))]
    return []


def call_graph(tree: ast.Module) -> dict[str, set[str]]:
    """Module-level function → the module-level functions its body names (calls or references)."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    return {name: {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and n.id in functions} - {name}
            for name, fn in functions.items()}


def reached_by(graph: dict[str, set[str]], entries) -> dict[str, list[str]]:
    """Function → the entry points whose static call graph reaches it (itself included)."""
    reach: dict[str, list[str]] = {}
    for entry in entries:
        stack, seen = [entry], set()
        while stack:
            f = stack.pop()
            if f in seen or f not in graph:
                continue
            seen.add(f)
            stack.extend(graph[f])
        for f in seen:
            reach.setdefault(f, []).append(entry)
    return reach


def generate(source: str, functions: set[str] | None = None) -> list[Mutant]:
    """Every mutant of the module-level functions (all, or those named), deduplicated, in source order."""
    tree = ast.parse(source)
    offsets = _Offsets(source)
    tokens = _operator_tokens(source, offsets)
    original = ast.dump(tree)
    mutants, seen = [], {original}
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        if functions is not None and fn.name not in functions:
            continue
        counters: dict[str, int] = {}
        for kind, start, end, replacement in _function_edits(fn, source, offsets, tokens):
            mutated = source[:start] + replacement + source[end:]
            dump = ast.dump(ast.parse(mutated))
            if dump in seen:
                continue
            seen.add(dump)
            counters[kind] = counters.get(kind, 0) + 1
            line = source.count("\n", 0, start) + 1
            last = source.count("\n", 0, end) + 1
            after_end = end + len(replacement) - (end - start)
            line_start = offsets.starts[line - 1]
            line_stop = offsets.starts[last] if last < len(offsets.starts) else len(source)
            mutants.append(Mutant(
                id=f"{fn.name}:{kind}:{counters[kind]}", kind=kind, function=fn.name, line=line,
                before=" ".join(source[line_start:line_stop].split()),
                after=" ".join(mutated[line_start:line_stop + after_end - end].split()),
                start=start, end=end, replacement=replacement))
    return mutants


def sample(mutants: list[Mutant], rate: float, limit: int = 0) -> list[Mutant]:
    """Per function and kind, its ``⌈rate · count⌉`` mutants of smallest sha256(id), in source order: every
    kind of mutation of every function is represented (at least one mutant each), and the choice within
    one function does not change when another function is edited. With ``limit``, only the first ``limit``
    of those in round-robin order: every (function, kind) stratum's first mutant (strata in sha256 order
    of their first ids), then every stratum's second, and so on."""
    strata: dict[tuple[str, str], list[Mutant]] = {}
    for m in mutants:
        strata.setdefault((m.function, m.kind), []).append(m)
    digest = lambda m: hashlib.sha256(m.id.encode()).hexdigest()  # noqa: E731
    ranked = []
    for own in strata.values():
        own = sorted(own, key=digest)[:math.ceil(rate * len(own))]
        ranked += [(rank, digest(own[0]), m.id) for rank, m in enumerate(own)]
    chosen = {mid for _, _, mid in sorted(ranked)[:limit or None]}
    return [m for m in mutants if m.id in chosen]


def diff(source: str, mutant: Mutant) -> str:
    """Unified diff of one mutant against the original module."""
    return "".join(difflib.unified_diff(source.splitlines(True), mutant.apply(source).splitlines(True),
                                        MODULE, MODULE + " (mutant " + mutant.id + ")", n=0))


def scratch_tree(rev: str, overlays: list[str], root: Path) -> Path:
    """A copy of revision ``rev``'s files that the tests need under ``root``, plus the working-tree overlays."""
    root.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *TREE], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    for path in overlays:
        shutil.copyfile(ROOT / path, root / path)
    return root


# pytest plugin written into each scratch tree: a failing hypothesis example kills the mutant as it is;
# shrinking it (minutes for some cover mutants, which then ran into the timeout) would only cost time
NO_SHRINK_PLUGIN = """from hypothesis.internal.conjecture.engine import ConjectureRunner

ConjectureRunner.shrink_interesting_test_cases = lambda self: None
"""


def run_tests(tree: Path, tests: list[str], timeout: float) -> tuple[str, float, str]:
    """(status, CPU seconds, detail) of pytest ``-x`` over ``tests`` in ``tree``, with a fresh numba cache and
    hypothesis failures reported unshrunk. ``timeout`` is in CPU seconds (RLIMIT_CPU: the run is
    single-threaded, and a wall-clock limit on the shared machine timed out correct mutants whenever the
    load rose); the wall clock is cut at 20 × that, for a mutant that sleeps."""
    cache = tempfile.mkdtemp(prefix="numba-", dir=tree.parent)
    (tree / "_kernel_mutants_no_shrink.py").write_text(NO_SHRINK_PLUGIN)
    env = {**os.environ, **ENV, "PYTHONPATH": str(tree), "NUMBA_CACHE_DIR": cache}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "--tb=short", "-p", "no:cacheprovider",
               "-p", "_kernel_mutants_no_shrink", *tests]
    process = subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True, preexec_fn=lambda: _limit(timeout))
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(process.stdout.read()))
    reader.start()
    # the group: pytest and anything it started
    alarm = threading.Timer(20 * timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
    alarm.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)  # reaped here, so its rusage is its own
    finally:
        alarm.cancel()
        reader.join()
        shutil.rmtree(cache, ignore_errors=True)
    process.returncode = os.waitstatus_to_exitcode(status)
    output, seconds = "".join(chunks), round(usage.ru_utime + usage.ru_stime, 1)
    if process.returncode == 0:
        return "survived", seconds, ""
    if process.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return "timeout", seconds, f"over {timeout:.0f} CPU s"
    if process.returncode < 0:
        return "crashed", seconds, f"signal {-process.returncode}"
    failed = re.findall(r"^FAILED (\S+)", output, re.M)
    if NUMBA_ERRORS.search(output):
        return "compile_error", seconds, (failed or [""])[0]
    if process.returncode == 1 and failed:
        return "killed", seconds, failed[0]
    if process.returncode == 3 and re.search(r"^INTERNALERROR> MemoryError", output, re.M):
        # a test ran out of memory (the mutant sized a buffer wrongly) and pytest itself, formatting the
        # traceback within the same limit, did too: a failure, not a harness fault
        return "killed", seconds, "MemoryError (pytest's report of it failed too)"
    return "error", seconds, output[-2000:]  # collection or usage error: the harness's fault, reported


def _limit(cpu_seconds: float) -> None:
    """In the child: a CPU-time limit (SIGXCPU, then SIGKILL 5 s later), and a data limit, so that a mutant
    that sizes a buffer wrongly fails with MemoryError instead of swapping the shared machine."""
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(cpu_seconds), math.ceil(cpu_seconds) + 5))
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))



def tests_for(mutant: Mutant, reach: dict[str, list[str]]) -> list[str]:
    return [t for entry in ENTRY_TESTS if entry in reach.get(mutant.function, []) for t in ENTRY_TESTS[entry]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rev", default="HEAD", help="committed revision whose files are tested (default HEAD)")
    parser.add_argument("--overlay", action="append", default=[], help="working-tree file copied over the revision's")
    parser.add_argument("--functions", default="", help="comma-separated functions to mutate (default: all reached)")
    parser.add_argument("--only", default="", help="comma-separated mutant ids to run")
    parser.add_argument("--sample", type=float, default=1.0,
                        help="fraction of each function's mutants of each kind kept (at least one), chosen by the hash of their ids")
    parser.add_argument("--limit", type=int, default=0, help="at most this many of the sampled mutants (see sample())")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=0.0, help="seconds per mutant (default 3 × baseline + 60)")
    parser.add_argument("--list", action="store_true", help="print the mutants and their diffs; run nothing")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--update", action="store_true",
                        help="re-run mutants (--only) of the summary at --out: replace their rows, log the re-run")
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "kmut")
    args = parser.parse_args(argv)
    if args.jobs < 1 or not 0 < args.sample <= 1 or args.timeout < 0 or args.limit < 0:
        print("kernel_mutants: --jobs must be ≥ 1, --sample in (0, 1], --timeout and --limit ≥ 0", file=sys.stderr)
        return 2
    for path in args.overlay:
        if not (ROOT / path).is_file():
            print(f"kernel_mutants: no file {path} to overlay", file=sys.stderr)
            return 2
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", args.rev + "^{commit}"],
                                check=True, capture_output=True, text=True).stdout.strip()
    except subprocess.CalledProcessError:
        print(f"kernel_mutants: {args.rev!r} is not a commit", file=sys.stderr)
        return 2
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{MODULE}"], check=True,
                            capture_output=True, text=True).stdout
    reach = reached_by(call_graph(ast.parse(source)), ENTRY_TESTS)
    names = set(args.functions.split(",")) - {""} if args.functions else set(reach)
    unknown = names - set(reach)
    if unknown:
        print(f"kernel_mutants: no entry point reaches {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    mutants = generate(source, names)
    total = len(mutants)
    if args.only:
        wanted = set(args.only.split(","))
        missing = wanted - {m.id for m in mutants}
        if missing:
            print(f"kernel_mutants: no mutant {', '.join(sorted(missing))} at {commit[:10]}", file=sys.stderr)
            return 2
        mutants = [m for m in mutants if m.id in wanted]
    if args.sample < 1 or args.limit:
        mutants = sample(mutants, args.sample, args.limit)
    if args.update and not (args.only and args.out.is_file()):
        print(f"kernel_mutants: --update re-runs named mutants (--only) of an existing summary ({args.out})",
              file=sys.stderr)
        return 2
    if args.list:
        for m in mutants:
            print(f"{m.id}  line {m.line}\n{diff(source, m)}")
        print(f"{len(mutants)} of {total} mutants at {commit[:10]}")
        return 0

    work = Path(tempfile.mkdtemp(prefix="run-", dir=_mkdir(args.scratch)))
    trees = [scratch_tree(commit, args.overlay, work / f"tree{k}") for k in range(args.jobs)]
    baseline = {}
    needed = {entry for m in mutants for entry in reach[m.function]}
    for entry, tests in ((e, t) for e, t in ENTRY_TESTS.items() if e in needed):
        # the unmutated module must pass the tests, and sets the time scale
        status, seconds, detail = run_tests(trees[0], tests, 1800)
        if status != "survived":
            print(f"kernel_mutants: the unmutated tests of {entry} do not pass ({status}): {detail}", file=sys.stderr)
            return 1
        baseline[entry] = seconds
        print(f"baseline {entry}: {seconds:.1f} CPU s", flush=True)

    def one(k: int, mutant: Mutant) -> dict:
        tree = trees[k % args.jobs]  # job k runs only in tree k % jobs, one at a time (see below)
        entries = [e for e in ENTRY_TESTS if e in reach[mutant.function]]
        timeout = args.timeout or 2 * sum(baseline[e] for e in entries) + 30
        (tree / MODULE).write_text(mutant.apply(source))
        try:
            status, seconds, detail = run_tests(tree, tests_for(mutant, reach), timeout)
        finally:
            (tree / MODULE).write_text(source)
        row = {**{k: v for k, v in asdict(mutant).items() if k not in ("start", "end", "replacement")},
               "status": status, "seconds": round(seconds, 1), "detail": detail}
        print(f"{mutant.id:<40} {status:<14} {seconds:6.1f} CPU s  {detail[:90]}", flush=True)
        return row

    rows: list[dict] = []
    for batch in range(0, len(mutants), args.jobs):  # one mutant per tree at a time
        chunk = mutants[batch:batch + args.jobs]
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            rows.extend(pool.map(one, range(len(chunk)), chunk))
        if not args.update:
            _write(args, commit, total, baseline, rows, partial=batch + args.jobs < len(mutants))
    if args.update:
        _update(args, commit, baseline, rows)
    shutil.rmtree(work, ignore_errors=True)
    counts = _counts(rows)
    print(" ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _counts(rows: list[dict]) -> dict[str, int]:
    counts = {s: 0 for s in ("killed", "crashed", "compile_error", "timeout", "survived", "error")}
    for row in rows:
        counts[row["status"]] += 1
    return counts


def _update(args, commit: str, baseline: dict, rows: list[dict]) -> None:
    """Replace the re-run mutants' rows in the summary at ``args.out`` and log the re-run (its revision,
    overlays, command and the ids) under ``reruns``; the counts are recomputed."""
    record = json.loads(args.out.read_text())
    fresh = {row["id"]: {**row, "rerun": len(record.get("reruns", [])) + 1} for row in rows}
    record["mutants"] = [fresh.get(row["id"], row) for row in record["mutants"]]
    record.setdefault("reruns", []).append({
        "commit": commit, "overlay": args.overlay, "command": "benchmarks/kernel_mutants.py " + " ".join(sys.argv[1:]),
        "baseline_seconds": {k: round(v, 1) for k, v in baseline.items()}, "ids": sorted(fresh)})
    record["counts"] = _counts(record["mutants"])
    write_atomic(args.out, json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def _write(args, commit: str, total: int, baseline: dict, rows: list[dict], partial: bool) -> None:
    """Write the summary atomically (a partial one after every batch, so an interrupted run keeps its rows)."""
    record = {
        "module": MODULE, "commit": commit, "module_last_changed": subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%H", commit, "--", MODULE],
            capture_output=True, text=True).stdout.strip(), "command": "benchmarks/kernel_mutants.py " + " ".join(sys.argv[1:]),
        "overlay": args.overlay, "seconds": "CPU seconds of each test run (user + system)",
        "mutants_generated": total, "mutants_run": len(rows), "partial": partial,
        "entry_tests": ENTRY_TESTS, "baseline_seconds": {k: round(v, 1) for k, v in baseline.items()},
        "env": ENV, "counts": _counts(rows), "mutants": rows,
    }
    write_atomic(args.out, json.dumps(record, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
