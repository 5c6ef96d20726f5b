"""IMP runs split into one task per seed, for ``--workers`` / ``--scheduler`` (see :mod:`lth.sweep`).

Every random stream of an IMP run is drawn per seed (``lth.simulations.imp._generators``), so seed
``s`` run alone trains exactly replica ``s`` of the batched run: the per-seed rows, concatenated in
seed order, equal the batched rows bit for bit (tests/test_simulate_sweep.py). In this process the
batched run stays the default (one batch trains every seed at once, the fast path on one device);
with a Dask engine each seed is a task, stored and reused like any other.
"""

from __future__ import annotations

import dataclasses

import torch

from lth.store import settings_hash
from lth.sweep import Sweep, Task, TaskStore
from lth.simulations.imp import ImpResult, ImpSettings, run_imp, run_transfer


def one_seed(settings: ImpSettings, index: int) -> ImpSettings:
    """The ``index``-th seed of ``settings`` as a run of its own."""
    return dataclasses.replace(settings, seeds=1, seed=settings.seed + index)


def imp_seed_task(settings: ImpSettings, device: str) -> list[dict]:
    """One seed's IMP run on a worker: its per-level rows (JSON data)."""
    return run_imp(settings, torch.device(device), progress=False).levels


def transfer_seed_task(source: ImpSettings, target: ImpSettings, levels: tuple[int, ...] | None,
                       device: str) -> list[dict]:
    """One seed's transfer run on a worker: its per-level rows (JSON data)."""
    return run_transfer(source, target, torch.device(device), levels=levels, progress=False)


def merge_seeds(per_seed: list[list[dict]]) -> list[dict]:
    """Per-seed level rows → the batched run's rows: every ``variants[name][metric]`` list is the
    concatenation over seeds in seed order; every other field must agree between seeds."""
    merged = []
    for rows in zip(*per_seed, strict=True):
        row = {key: value for key, value in rows[0].items() if key != "variants"}
        for other in rows[1:]:
            differing = [key for key in row if other[key] != row[key]]
            if differing:
                raise ValueError(f"seeds disagree on {differing} at level {row.get('level')}")
        row["variants"] = {name: {metric: [x for r in rows for x in r["variants"][name][metric]]
                                  for metric in values}
                           for name, values in rows[0]["variants"].items()}
        merged.append(row)
    return merged


def imp_result(settings: ImpSettings, device: torch.device, sweep: Sweep, *, store: TaskStore | None = None,
               progress: bool = True) -> ImpResult:
    """``run_imp(settings)``: batched in this process without a Dask client, else one task per seed
    (the result then carries no ticket tensors: workers return rows only)."""
    if sweep.client is None:
        return run_imp(settings, device, progress=progress)
    seeds = [one_seed(settings, i) for i in range(settings.seeds)]
    tasks = [Task(f"imp-{settings_hash(s)}-seed-{s.seed}", (s, str(device))) for s in seeds]
    rows = sweep.map(imp_seed_task, tasks, store=store, desc=f"IMP {settings.arch}/{settings.dataset} seeds",
                     total=len(tasks), progress=progress)
    return ImpResult(settings, merge_seeds(rows), [], [])


def transfer_rows(source: ImpSettings, target: ImpSettings, device: torch.device, sweep: Sweep, *,
                  levels: tuple[int, ...] | None = None, store: TaskStore | None = None,
                  progress: bool = True) -> list[dict]:
    """``run_transfer(source, target)``: batched in this process, or one task per seed on Dask."""
    if sweep.client is None:
        return run_transfer(source, target, device, levels=levels, progress=progress)
    pairs = [(one_seed(source, i), one_seed(target, i)) for i in range(target.seeds)]
    tasks = [Task(f"transfer-{settings_hash(s)}-{settings_hash(t)}-seed-{t.seed}", (s, t, levels, str(device))) for s, t in pairs]
    rows = sweep.map(transfer_seed_task, tasks, store=store, desc=f"transfer {source.dataset}->{target.dataset} seeds",
                     total=len(tasks), progress=progress)
    return merge_seeds(rows)
