"""Shared benchmark plumbing: timing, result files with provenance, tables."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from lth.store import REPO_ROOT, write_json

RESULTS = REPO_ROOT / "results" / "benchmarks"


def best_time(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Smallest wall time of ``repeat`` calls (the least disturbed by other load) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |" for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)


def save(name: str, payload: dict[str, Any], seed: int, device: str) -> Path:
    return write_json(RESULTS / f"{name}.json", payload, seed=seed, device=device)
