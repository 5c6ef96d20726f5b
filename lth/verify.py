"""``lth verify``: run registered checks, print the table, write the reports.

Outputs under ``DIR`` (default ``results/``): ``verify.json`` (all records of this run, schema +
provenance), ``verify.md`` (the table), and one record per claim at its address
``claims/<id>/<scale>-<params hash>.json`` (what figures and the paper read; see :mod:`lth.store`).
"""

from __future__ import annotations

import math
import os
import resource
import time
from pathlib import Path
from typing import Iterable

from tqdm.auto import tqdm

from lth.store import code_state, write_atomic, write_claim_record, write_json
from lth.registry import Quantity, Record, run_claim
from lth.sweep import Sweep
from lth.verdict import judge_rate_cells

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
    code_state()  # pin the commit and dirty flag the records will name to the code at the start
    start = run_cost()
    records = []
    bar = tqdm(claim_ids, desc="lth verify", disable=not progress)
    for claim_id in bar:
        bar.set_postfix_str(claim_id)
        record = run_claim(claim_id, scale=scale, device=device, seed=seed, progress=progress, faults=faults,
                           engine=sweep, results=out, **(overrides or {}))
        write_claim_record(out, record.to_dict(), seed=seed, device=record.device)
        records.append(record)
    device_used = records[0].device if records else device
    write_json(out / "verify.json", {"scale": scale, "cost": cost_since(start), "records": [r.to_dict() for r in records]},
               seed=seed, device=device_used)
    write_atomic(out / "verify.md", format_markdown(records))
    return records


def run_cost() -> dict:
    """The clocks a run's cost is measured against: wall, this process's and its children's CPU, load."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": time.perf_counter(), "user": own.ru_utime + children.ru_utime,
            "system": own.ru_stime + children.ru_stime, "load": os.getloadavg()[0]}


def cost_since(start: dict) -> dict:
    """What the run cost since ``start`` (:func:`run_cost`): wall and CPU seconds, peak memory of this
    process, the cores, torch's threads and the load average at both ends (a loaded machine inflates
    the wall time), as ``verify.json`` stores it and the README's cost line prints it."""
    import torch

    end = run_cost()
    return {"wall_s": end["wall"] - start["wall"], "user_s": end["user"] - start["user"],
            "system_s": end["system"] - start["system"],
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_start": start["load"], "load_end": end["load"]}


def is_empirical(record: Record) -> bool:
    """An empirical claim is judged by a preregistered protocol, or has no certified value (a replication of a
    published measurement). A protocol decides it even when its record reports a certificate beside the
    measurement (the certified width of edge-popup, the planted ticket of a recovery experiment)."""
    return record.protocol_hash is not None or record.certified is None or record.certified.value is None


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


SEED_COLUMNS = ("claim", "kind", "seeds", "holds", "fails", "inconclusive", "error", "verdict")


def parse_seeds(text: str) -> list[int]:
    """``A..B`` (inclusive) or a comma list ``0,3,7``: the seeds of ``lth verify --seeds``."""
    try:
        if ".." in text:
            first, last = (int(part) for part in text.split("..", 1))
            seeds = list(range(first, last + 1))
        else:
            seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--seeds expects A..B or a comma list of integers, got {text!r}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r} must name at least one seed, each non-negative and once")
    return seeds


def aggregate(kind: str, records: list[Record], confidence: float = 0.95) -> tuple[str, str]:
    """One verdict for a claim run at several seeds (one record per seed).

    ``theorem`` and ``exact`` claims must hold at every seed. ``rate`` claims pool each binomial cell
    (``details["rate_cells"]``, same name) over the seeds and judge the pooled rates against their
    thresholds (Bonferroni over cells), so a measured constant is judged over all draws. ``empirical``
    claims already judge several seeds inside one run: their per-seed verdicts are counted and
    combined (any fails fails). An error at any seed is an error.
    """
    verdicts = [r.verdict for r in records]
    if "error" in verdicts:
        seeds = [r.seed for r in records if r.verdict == "error"]
        return "error", f"error at seed(s) {seeds}: {next(r.reason for r in records if r.verdict == 'error')}"
    if kind == "rate" and all("rate_cells" in r.details for r in records):
        pooled: dict[str, dict] = {}
        for r in records:
            for cell in r.details["rate_cells"]:
                into = pooled.setdefault(cell["name"], {**cell, "failures": 0, "trials": 0})
                into["failures"] += cell["failures"]
                into["trials"] += cell["trials"]
        return judge_rate_cells(list(pooled.values()), confidence)
    for outcome in ("fails", "inconclusive"):
        seeds = [r.seed for r in records if r.verdict == outcome]
        if seeds:
            return outcome, f"{outcome} at seed(s) {seeds}: " + "; ".join(
                f"seed {r.seed}: {r.reason}" for r in records if r.verdict == outcome)
    return "holds", f"holds at all {len(records)} seeds"


def seed_rows(by_claim: dict[str, list[Record]], kinds: dict[str, str]) -> list[dict]:
    """Per claim: verdict counts, the aggregate verdict, and per seed the reported numbers plus the
    record's ``rate_cells`` and ``measured`` constants (what the README's seed table reads)."""
    rows = []
    for claim_id, records in by_claim.items():
        verdict, reason = aggregate(kinds[claim_id], records)
        counts = {v: sum(r.verdict == v for r in records) for v in ("holds", "fails", "inconclusive", "error")}
        per_seed = [{"seed": r.seed, "verdict": r.verdict, "wall_s": r.wall_s,
                     **{name: None if q is None else q.value
                        for name, q in (("bound", r.bound), ("certified", r.certified), ("empirical", r.empirical))},
                     **{key: r.details[key] for key in ("rate_cells", "measured") if key in r.details}}
                    for r in records]
        rows.append({"claim": claim_id, "kind": kinds[claim_id], "seeds": [r.seed for r in records], **counts,
                     "verdict": verdict, "reason": reason, "per_seed": per_seed})
    return rows


def format_seed_table(rows: list[dict]) -> str:
    cells = [SEED_COLUMNS] + [(r["claim"], r["kind"], str(len(r["seeds"])), str(r["holds"]), str(r["fails"]),
                               str(r["inconclusive"]), str(r["error"]), r["verdict"]) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(SEED_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_seeds(claim_ids: list[str], seeds: list[int], kinds: dict[str, str], *, scale: str, device: str, out: Path,
              progress: bool = True, overrides: dict | None = None, faults: dict | None = None,
              sweep: Sweep | None = None) -> list[dict]:
    """Run the checks at every seed (each seed's reports under ``out/seeds/<seed>/``), then write the
    per-claim aggregate to ``out/seeds.json`` and ``out/seeds.md``; returns the aggregate rows."""
    code_state()
    by_claim: dict[str, list[Record]] = {claim_id: [] for claim_id in claim_ids}
    for seed in tqdm(seeds, desc="lth verify --seeds", disable=not progress):
        for record in run_verify(claim_ids, scale=scale, device=device, seed=seed, out=out / "seeds" / str(seed),
                                 progress=progress, overrides=overrides, faults=faults, sweep=sweep):
            by_claim[record.claim].append(record)
    rows = seed_rows(by_claim, kinds)
    write_json(out / "seeds.json", {"scale": scale, "seeds": seeds, "claims": rows}, seed=None, device=device)
    write_atomic(out / "seeds.md", "# lth verify --seeds\n\n```\n" + format_seed_table(rows) + "\n```\n\n"
                 + "\n".join(f"- **{r['claim']}** ({r['verdict']}): {r['reason']}" for r in rows) + "\n")
    return rows


def seeds_exit_status(rows: list[dict], strict: bool = False) -> int:
    """1 when an aggregate errors, or fails for a theory claim (any claim with ``strict``)."""
    return 1 if any(r["verdict"] == "error" or r["verdict"] == "fails" and (strict or r["kind"] != "empirical")
                    for r in rows) else 0
