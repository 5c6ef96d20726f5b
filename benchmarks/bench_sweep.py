"""Speed-up of a sweep on Dask workers: ``rss.lueker --scale full`` on a LocalCluster of 1 vs N workers.

Default: the registered full scale with 1/ε instead of 8/ε test pools at ε = 1e−5 (the full scan, tests
at 1e−3, 1e−4 on 60,000 and 80,000 pools and at 1e−5 on 100,000 pools), minutes per core;
``--full`` runs the registered full scale (800,000 pools at 1e−5). Every run
starts without stored tasks (nothing is reused), and the records of all runs must be identical.
``0`` workers means in-process, where numba's parallel kernels may already use every core; a
worker runs one thread, so 1 vs N workers is the sweep's own speed-up, reported with the cluster's
start-up and without it ("sweep seconds": from a connected client to the finished record).
The machine's other load counts: quote the ``load`` column with the times.

    .venv/bin/python benchmarks/bench_sweep.py [--workers 0 1 2] [--full]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save, table  # noqa: E402

from lth.registry import run_claim  # noqa: E402
from lth.sweep import open_sweep  # noqa: E402

# The registered full scan and test ε, with 1/ε instead of 8/ε pools at ε = 1e-5 (100,000 pools, 25 tasks;
# minutes per core): long enough that cluster start-up does not hide the sweep's own speed-up.
REDUCED_FULL = {"test_trials_per_inv_eps": 1.0}


def timed_record(workers: int, overrides: dict) -> tuple[float, float, dict]:
    """Wall time with and without the cluster's start-up, and the record (timing fields removed)."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as results, open_sweep(workers or None) as sweep:
        ready = time.perf_counter()
        record = run_claim("rss.lueker", scale="full", engine=sweep, results=Path(results), progress=True,
                           **overrides).to_dict()
        swept = time.perf_counter() - ready
    record.pop("wall_s")
    return time.perf_counter() - start, swept, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="0: in-process")
    parser.add_argument("--full", action="store_true", help="the registered full scale instead of the reduced one")
    args = parser.parse_args()
    overrides = {} if args.full else REDUCED_FULL
    rows, records = [], []
    for workers in args.workers:
        load = os.getloadavg()[0]
        seconds, swept, record = timed_record(workers, overrides)
        records.append(record)
        rows.append({"workers": workers, "seconds": seconds, "sweep seconds": swept, "load": load,
                     "verdict": record["verdict"]})
        print(f"{workers} worker(s): {seconds:.1f} s, {swept:.1f} s after start-up (1-min load before: {load:.1f})",
              flush=True)
    base = next((r for r in rows if r["workers"] == 1), rows[0])
    for row in rows:
        row["speed-up"] = base["seconds"] / row["seconds"]
        row["sweep speed-up"] = base["sweep seconds"] / row["sweep seconds"]
    identical = all(r == records[0] for r in records)
    print(table(rows, ["workers", "seconds", "speed-up", "sweep seconds", "sweep speed-up", "load", "verdict"]))
    print(f"records identical across worker counts: {identical}; cores: {os.cpu_count()}")
    save("sweep", {"config": "full" if args.full else {"full_with": REDUCED_FULL}, "rows": rows,
                   "records_identical": identical, "cores": os.cpu_count()}, seed=0, device="cpu")
    if not identical:
        raise SystemExit("records differ between worker counts")


if __name__ == "__main__":
    main()
