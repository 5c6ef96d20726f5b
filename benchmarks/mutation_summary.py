"""Kill rate of the last ``make mutants`` run, per function and in total (reads mutmut's metadata).

Usage: ``python benchmarks/mutation_summary.py PATTERN...`` with mutmut's mutant-name patterns
(the Makefile's MUTANT_SCOPE); prints killed / survived / timeout / not checked per function.
A timeout counts as killed (the mutant made the tests hang, which a user would notice).
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

from mutmut.stats import status_by_exit_code


def main(patterns: list[str]) -> None:
    counts: dict[str, Counter] = defaultdict(Counter)
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if any(fnmatch.fnmatch(name, p) for p in patterns):
                status = "not checked" if code is None else status_by_exit_code[code]
                counts[re.sub(r"__mutmut_\d+$", "", name)][status] += 1
    total = Counter()
    for function, c in sorted(counts.items()):
        total += c
        print(f"{function:<58} " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    dead = total["killed"] + total["timeout"]
    checked = sum(v for k, v in total.items() if k != "not checked")
    print(f"\nkilled {dead} of {checked} checked mutants ({dead / max(checked, 1):.1%}); "
          + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))


if __name__ == "__main__":
    main(sys.argv[1:])
