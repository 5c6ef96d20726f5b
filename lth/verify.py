"""``lth verify``: run registered checks, print the table, write the reports.

Outputs under ``DIR`` (default ``results/``): ``verify.json`` (all records of this run, schema +
provenance), ``verify.md`` (the table), and one record per claim at its address
``claims/<id>/<scale>-<params hash>.json`` (what figures and the paper read; see :mod:`lth.store`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

from tqdm.auto import tqdm

from lth.store import write_atomic, write_claim_record, write_json
from lth.registry import Quantity, Record, run_claim
from lth.sweep import Sweep

COLUMNS = ("claim", "bound", "certified", "empirical", "verdict", "time")


def _fmt(q: Quantity | None) -> str:
    if q is None or q.value is None:
        return "—"
    value = q.value
    return f"{value:.3g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def table_rows(records: Iterable[Record]) -> list[tuple[str, ...]]:
    return [(r.claim, _fmt(r.bound), _fmt(r.certified), _fmt(r.empirical), r.verdict, f"{r.wall_s:.1f}s")
            for r in records]


def format_table(records: list[Record]) -> str:
    rows = [COLUMNS, *table_rows(records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(records: list[Record]) -> str:
    lines = ["# lth verify", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(records)]
    lines += ["", "## Verdicts", ""]
    for r in records:
        lines.append(f"- **{r.claim}** ({r.verdict}): {r.reason}")
        for name, q in (("bound", r.bound), ("certified", r.certified), ("empirical", r.empirical)):
            if q is not None:
                lines.append(f"  - {name}: {_fmt(q)} — {q.label}")
    return "\n".join(lines) + "\n"


def run_verify(claim_ids: list[str], *, scale: str, device: str, seed: int, out: Path,
               progress: bool = True, overrides: dict | None = None, faults: dict | None = None,
               sweep: Sweep | None = None) -> list[Record]:
    """Run the checks, write ``verify.json``, ``verify.md`` and ``claims/<id>.json`` atomically.

    Checks split into tasks run them on ``sweep`` (default: in this process) and keep each finished
    task under ``out/tasks/``, so an interrupted run resumes and a repeated one reuses them.
    """
    records = []
    bar = tqdm(claim_ids, desc="lth verify", disable=not progress)
    for claim_id in bar:
        bar.set_postfix_str(claim_id)
        record = run_claim(claim_id, scale=scale, device=device, seed=seed, progress=progress, faults=faults,
                           engine=sweep, results=out, **(overrides or {}))
        write_claim_record(out, record.to_dict(), seed=seed, device=record.device)
        records.append(record)
    device_used = records[0].device if records else device
    write_json(out / "verify.json", {"scale": scale, "records": [r.to_dict() for r in records]},
               seed=seed, device=device_used)
    write_atomic(out / "verify.md", format_markdown(records))
    return records


def is_empirical(record: Record) -> bool:
    """An empirical claim (a replication of a published measurement) has no certified value."""
    return record.certified is None or record.certified.value is None


def exit_status(records: list[Record], strict: bool = False) -> int:
    """1 when a check errors or a certified claim fails, else 0; inconclusive is reported, not failed.

    A failing *empirical* claim is a measured non-replication at the run's scale — a result, not a
    malfunction of the toolkit — so it is reported (:func:`summary`) but sets the status only with
    ``strict``.
    """
    return 1 if any(r.verdict == "error" or r.verdict == "fails" and (strict or not is_empirical(r))
                    for r in records) else 0


def summary(records: list[Record]) -> str:
    """One line: counts per verdict, naming the failing and erroring claims."""
    counts = {v: sum(r.verdict == v for r in records) for v in ("holds", "inconclusive", "fails", "error")}
    line = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    empirical = [r.claim for r in records if r.verdict == "fails" and is_empirical(r)]
    certified = [r.claim for r in records if r.verdict == "fails" and not is_empirical(r)]
    errors = [r.claim for r in records if r.verdict == "error"]
    if certified:
        line += f"; CERTIFIED CLAIM FAILS: {', '.join(certified)}"
    if empirical:
        line += f"; empirical, not reproduced at this scale: {', '.join(empirical)} (see their reasons)"
    if errors:
        line += f"; ERROR: {', '.join(errors)} (tracebacks in verify.json)"
    return line
