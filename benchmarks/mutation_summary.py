"""Kill rate of the last ``make mutants`` run, per function, per module and in total (reads mutmut's metadata).

Usage: ``python benchmarks/mutation_summary.py PATTERN...`` with mutmut's mutant-name patterns
(the Makefile's MUTANT_SCOPE); prints killed / survived / timeout / no tests / suspicious / not
checked per function and per module, then the surviving mutants' names (``mutmut show NAME`` prints
each diff). A timeout counts as killed (the mutant made the tests hang; the Makefile runs torch and
numba single-threaded so that a forked thread pool cannot hang an unmutated run). "suspicious" (the
worker died by a signal) and "no tests" count as not killed.

``python benchmarks/mutation_summary.py --kernels records/bench/kernel_mutants.json`` prints the same for
the source-level mutants of the numba kernels (benchmarks/kernel_mutants.py): per function and in
total, killed (crashed counted with them, listed apart), compile errors, timeouts (not counted as
killed) and survivors with their lines.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path


def rate(c: Counter) -> str:
    dead = c["killed"] + c["timeout"]
    checked = sum(v for k, v in c.items() if k != "not checked")
    return (f"killed {dead} of {checked} ({dead / max(checked, 1):.1%}); "
            + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))


def main(patterns: list[str]) -> None:
    from mutmut.stats import status_by_exit_code  # here: the kernel summary needs no mutmut

    counts: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if any(fnmatch.fnmatch(name, p) for p in patterns):
                status = "not checked" if code is None else status_by_exit_code[code]
                counts[re.sub(r"__mutmut_\d+$", "", name)][status] += 1
                if status == "survived":
                    survivors.append(name)
    modules: dict[str, Counter] = defaultdict(Counter)
    for function, c in sorted(counts.items()):
        modules[function.rsplit(".", 1)[0]] += c
        print(f"{function:<58} {rate(c)}")
    print()
    for module, c in sorted(modules.items()):
        print(f"{module:<24} {rate(c)}")
    print(f"\nall{'':<21} {rate(sum(modules.values(), Counter()))}")
    print("\nsurvivors:", " ".join(survivors) if survivors else "none")


def kernels(path: Path) -> None:
    record = json.loads(path.read_text())
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in record["mutants"]:
        counts[row["function"]][row["status"]] += 1
    print(f"{record['module']} at {record['commit'][:10]} (last changed {record['module_last_changed'][:10]}): "
          f"{record['mutants_run']} of {record['mutants_generated']} mutants run{' (partial)' if record['partial'] else ''}")
    for function, c in sorted(counts.items()):
        print(f"{function:<28} {kernel_rate(c)}")
    print(f"\nall{'':<25} {kernel_rate(sum(counts.values(), Counter()))}")
    survivors = [row for row in record["mutants"] if row["status"] in ("survived", "timeout", "error")]
    for row in survivors:
        print(f"{row['status']:<9} {row['id']:<36} line {row['line']}: {row['after']}")
    if not survivors:
        print("survivors: none")


def kernel_rate(c: Counter) -> str:
    dead = c["killed"] + c["crashed"]
    checked = sum(c.values()) - c["compile_error"]  # a mutant numba cannot compile never runs
    return (f"killed {dead} of {checked} ({dead / max(checked, 1):.1%}); "
            + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--kernels"] and len(sys.argv) == 3:
        kernels(Path(sys.argv[2]))
    else:
        main(sys.argv[1:])
