"""Random subset sum benchmarks, like for like (speed is measured here, never in tests).

1. Best subsets with ONE INDEPENDENT POOL PER TARGET: ``best_subsets`` called one target at a time
   (Python call overhead included) and batched (many pools in one call), vs ``scipy.optimize.milp``
   (HiGHS, the open analogue of the Gurobi MIP the published code solved per weight; the model is
   built per target and its set-up is timed), same instances, optimal errors compared.
2. The Pensia workload: every weight of a 784-500-10 bias-free MLP (397,000 weights) from its own
   pool of n = 21 coefficients, all uniform on the weights' range, ε = 0.01: time, fraction within ε,
   largest error, and where the misses are.
   Profiled: the compiled kernel's stages (sorted half-sums, scans, code recovery) and the torch glue
   around it in the public API, printed beside the same breakdown in the committed record
   (``records/bench/subset_sum.json``, the kernels before this run's commit) as ``before``.
3. Sorted subset sums per second on one core (wall and CPU time) for n = 20…24.
4. The cover tests of ``rss.lueker --scale full``: a sample of pools at its smallest test ε (1e−5),
   timed in CPU seconds per pool and extrapolated to the 800,000 pools the full scale decides there;
   profiled as the merged interval-list elements per pool by list length (where the time goes: the
   merges of the longest lists) and the CPU nanoseconds per merged element.

The run ends with issue 31's table: each workload, measured, beside its goal and the HiGHS baseline,
with the machine's load average at the start and end of the run (a loaded machine inflates every
time) and, for the per-weight workload, the fraction of a roofline reached (one element step — a
half-sum generated or a scan step — per cycle per core, at the clock /proc/cpuinfo reports).

Times are the best of several repeats (the machine is shared). Run:
``.venv/bin/python benchmarks/bench_subset_sum.py [--quick] [--device cuda] [--parts per-weight]``;
writes ``results/benchmarks/subset_sum.json`` (or ``--out``) and
``benchmarks/figures/subset_sum_scaling.png``. ``--markdown FILE`` prints the table of a written JSON
(no timing). The JSON's ``readme_table`` is what ``lth paper readme`` copies into the README's
``<!-- bench:begin subset_sum -->`` block when the record is committed as ``records/bench/subset_sum.json``
(``--out records/bench/subset_sum.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, milp

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import REPO_ROOT, best_time, save, table  # noqa: E402

from lth.store import code_state, write_json  # noqa: E402
from lth.theory.subset_sum import (BACKENDS, best_subsets, covers_interval, sample_uniform,  # noqa: E402
                               sorted_subset_sums)
from lth.theory.numerics import gamma  # noqa: E402
from lth.theory.subset_sum_merge import cover_merge_profile, profile_nearest_subset_codes  # noqa: E402

PENSIA_RANGE = (-0.46, 0.54)
PENSIA_SHAPES = ((500, 784), (10, 500))
ANCHOR_SECONDS = 77266.0  # the published per-weight Gurobi run, 36 cores
LUEKER_FULL_POOLS = 800_000  # pools rss.lueker --scale full decides at eps = 1e-5 (8/eps)
LUEKER_EPS = 1e-5
BEFORE = REPO_ROOT / "records" / "bench" / "subset_sum.json"  # the committed (quiet-machine) record
GOALS = {"per_weight_s": 1.0, "ratio_vs_highs": 500_000.0, "lueker_full_wall_s": 300.0,
         "sorted_sums_million_per_cpu_s": 150.0}  # issue 31


def milp_best_subset(x: np.ndarray, target: float) -> float:
    """Optimal |target − Σ_S x| by HiGHS: min e s.t. |x·s − target| ≤ e, s binary, e bounded.

    The model is built here, so its set-up is part of every timed call.
    """
    n = len(x)
    objective = np.r_[np.zeros(n), 1.0]
    rows = np.vstack([np.r_[x, -1.0], np.r_[x, 1.0]])
    constraints = LinearConstraint(rows, [-np.inf, target], [target, np.inf])
    # a finite upper bound on e avoids HiGHS 'Solve error' on some instances
    bounds = Bounds(np.zeros(n + 1), np.r_[np.ones(n), np.abs(x).sum() + abs(target) + 1])
    result = milp(objective, constraints=constraints, integrality=np.r_[np.ones(n), 0], bounds=bounds,
                  options={"mip_rel_gap": 0})
    if not result.success:
        raise RuntimeError(f"HiGHS: {result.message}")
    subset = np.round(result.x[:n]).astype(bool)
    return abs(target - x[subset].sum())


def like_for_like(ns: list[int], milp_instances: int, single: int, batch: int, repeat: int,
                  gen: torch.Generator) -> list[dict]:
    """Targets/s with one pool per target: ours one at a time, ours batched, HiGHS one at a time."""
    rows = []
    for n in ns:
        pools = sample_uniform((batch, n), gen)
        targets = sample_uniform((batch, 1), gen)
        best_subsets(pools[:2], targets[:2])  # compile outside the timing
        batched_s, solution = best_time(lambda: best_subsets(pools, targets), repeat=repeat)
        single_s, _ = best_time(lambda: [best_subsets(pools[i:i + 1], targets[i:i + 1]) for i in range(single)],
                                repeat=repeat)
        x0, t0 = pools[:milp_instances].numpy(), targets[:milp_instances, 0].numpy()
        milp_s, milp_err = best_time(lambda: [milp_best_subset(x, t) for x, t in zip(x0, t0)], repeat=1)
        ours_err = solution.error[:milp_instances, 0].numpy()
        if np.any(ours_err > np.asarray(milp_err) + 1e-12):
            raise AssertionError(f"n={n}: best_subsets worse than HiGHS on some instance")
        milp_rate = milp_instances / milp_s
        rows.append({"n": n, "ours_batched_per_s": batch / batched_s, "ours_single_per_s": single / single_s,
                     "highs_per_s": milp_rate, "ratio_batched": batch / batched_s / milp_rate,
                     "ratio_single": single / single_s / milp_rate,
                     "highs_equal": f"{int(np.sum(np.abs(ours_err - np.asarray(milp_err)) <= 1e-9))}/{milp_instances}"})
        print(f"  n={n}: batched {batch / batched_s:,.0f}/s, one at a time {single / single_s:,.0f}/s, "
              f"HiGHS {milp_rate:.3g}/s", flush=True)
    return rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def pensia_workload(gen: torch.Generator, highs_per_s: float | None, repeat: int, device: torch.device,
                    backend: str = "auto", eps: float = 0.01, n: int = 21) -> dict:
    """Every weight from its own pool (one independent pool per target), as in the construction.

    Pools are drawn on CPU (the same draws whatever the device) and moved to ``device`` before timing.
    With the compiled backend the kernel is also profiled stage by stage; ``glue`` is the public API's
    time beyond the kernel (validation, masks, sums, errors).
    """
    lo, hi = PENSIA_RANGE
    weights = [sample_uniform(shape, gen, lo, hi).reshape(-1, 1).to(device) for shape in PENSIA_SHAPES]
    pools = [sample_uniform((w.shape[0], n), gen, lo, hi).to(device) for w in weights]
    best_subsets(pools[1][:2], weights[1][:2], backend)  # compile outside the timing

    def run():
        solutions = [best_subsets(p, w, backend) for p, w in zip(pools, weights)]
        _sync(device)
        return solutions

    wall = float("inf")
    cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        solutions = run()
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    breakdown = None
    if device.type == "cpu" and backend in ("auto", "compiled"):
        stages = [profile_nearest_subset_codes(p.numpy(), w.numpy(), repeat) for p, w in zip(pools, weights)]
        breakdown = {clock: {k: sum(st[clock][k] for st in stages) for k in ("sums", "scan", "codes", "total")}
                     for clock in ("wall", "cpu")}
        breakdown["wall"]["glue"] = max(wall - breakdown["wall"]["total"], 0.0)
        breakdown["cpu"]["glue"] = max(cpu - breakdown["cpu"]["total"], 0.0)
    errors = [s.error.reshape(-1).cpu() for s in solutions]
    flat = torch.cat(errors)
    misses = [{"layer": layer, "weight": int(i), "error": float(e[i])}
              for layer, e in enumerate(errors) for i in torch.nonzero(e > eps).reshape(-1).tolist()]
    count = int(flat.numel())
    # the reported sums are recomputed from the masks in float64, so |w − ŵ| is exact up to γ_n·Σ|x|
    return {"targets": count, "n": n, "eps": eps, "seconds": wall, "cpu_seconds": cpu,
            "targets_per_s": count / wall, "within_eps": count - len(misses),
            # a string, so that a table never rounds 0.99983 up to "1" (all within ε only when it is so)
            "fraction_within_eps": f"{count - len(misses)}/{count}", "max_error": float(flat.max()),
            "misses": misses[:20], "miss_count": len(misses),
            "ratio_vs_highs_per_target": None if highs_per_s is None else count / wall / highs_per_s,
            "anchor_seconds": ANCHOR_SECONDS, "speedup_vs_anchor": ANCHOR_SECONDS / wall,
            "breakdown_s": breakdown, "device": str(device), "backend": backend, "roofline": roofline(count, n, wall)}


def recorded_breakdown() -> dict | None:
    """The per-weight breakdown, cover sample and commit of the committed record (``before``), if any."""
    if not BEFORE.is_file():
        return None
    record = json.loads(BEFORE.read_text(encoding="utf-8"))
    pensia = record.get("pensia") or {}
    return {"commit": str((record.get("provenance") or {}).get("git_commit"))[:12],
            "load_average": ((record.get("machine") or {}).get("start") or {}).get("load_average"),
            "breakdown_s": pensia.get("breakdown_s"), "seconds": pensia.get("seconds"),
            "cpu_seconds": pensia.get("cpu_seconds"),
            "lueker_cpu_s_per_pool": (record.get("lueker_cover") or {}).get("cpu_s_per_pool")}


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo, or what ``platform`` says."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def clock_hz() -> float | None:
    """The clock /proc/cpuinfo reports (first core), or None where it is not readable."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) * 1e6
    except OSError:
        return None
    return None


def roofline(pools: int, n: int, wall: float) -> dict:
    """Element steps of the meet-in-the-middle (each half-sum generated once, each scan step once)
    at one step per cycle per core: a floor no scalar code reaches, so ``fraction`` ≤ 1 says how
    close the run came."""
    half_sums = 2 ** (n // 2) + 2 ** (n - n // 2)
    steps = pools * (2 * half_sums - 1)
    hz, cores = clock_hz(), os.cpu_count() or 1
    if hz is None:
        return {"element_steps": steps, "seconds": None, "fraction": None}
    seconds = steps / (hz * cores)
    return {"element_steps": steps, "clock_hz": hz, "cores": cores, "seconds": seconds, "fraction": seconds / wall}


def merge_rate(ns: list[int], repeat: int, gen: torch.Generator) -> list[dict]:
    """Sorted subset sums of one pool (one core: a single merge is sequential), wall and CPU time."""
    rows = []
    sorted_subset_sums(sample_uniform((1, 8), gen))
    for n in ns:
        pool = sample_uniform((1, n), gen)
        wall = cpu = float("inf")
        for _ in range(repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            sorted_subset_sums(pool)
            wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
        rows.append({"n": n, "sums": 2**n, "seconds": wall, "million_per_s": 2**n / wall / 1e6,
                     "million_per_cpu_s": 2**n / cpu / 1e6})
    return rows


def lueker_cover_sample(gen: torch.Generator, pools: int, n: int, repeat: int) -> dict:
    """CPU seconds per pool of ``covers_interval`` at ε = 1e−5 on [−1, 1] for ``pools`` uniform pools of
    size ``n`` (the regime that dominates ``rss.lueker --scale full``), extrapolated to its 800,000 pools.
    CPU time, summed over threads, so that the estimate for ``c`` free cores is ``cpu / c``."""
    x = sample_uniform((pools, n), gen)
    covers_interval(x[:2], LUEKER_EPS)  # compile outside the timing
    cpu = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        covered = covers_interval(x, LUEKER_EPS)
        cpu = min(cpu, time.process_time() - start)
    full_cpu = cpu / pools * LUEKER_FULL_POOLS
    cores = os.cpu_count() or 1
    # the kernel's own ordering and radius (covers_interval), replayed step by step to count the work
    flat = x.numpy()
    flat = np.take_along_axis(flat, np.argsort(np.abs(flat), axis=1, kind="stable"), axis=1)
    radii = LUEKER_EPS - gamma(n + 2) * (np.abs(flat).sum(axis=1) + LUEKER_EPS + 1.0)
    merged = cover_merge_profile(flat, radii, -1.0, 1.0)  # [pools, 64]: merged elements by log2 list length
    per_pool = merged.sum(axis=1)
    buckets = {f"2^{k}": float(merged[:, k].mean()) for k in range(merged.shape[1]) if merged[:, k].any()}
    return {"pools": pools, "n": n, "eps": LUEKER_EPS, "covered": int(covered.sum()), "cpu_s_per_pool": cpu / pools,
            "full_pools": LUEKER_FULL_POOLS, "full_cpu_s_estimate": full_cpu, "cores": cores,
            "full_wall_s_estimate": full_cpu / cores, "merged_elements_per_pool": float(per_pool.mean()),
            "cpu_ns_per_merged_element": cpu / float(per_pool.sum()) * 1e9,
            "merged_elements_by_list_length": buckets}


def machine() -> dict:
    return {"load_average": list(os.getloadavg()), "cpu_count": os.cpu_count(), "processor": cpu_model(),
            "clock_hz": clock_hz(), "torch_threads": torch.get_num_threads(),
            "numba_threads": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1))}


def goal_rows(result: dict) -> list[dict]:
    """Issue 31's table: each workload measured, its goal, the HiGHS baseline, and whether it is met."""
    rows = []
    pensia, comparison = result.get("pensia"), result.get("comparison") or []
    highs_21 = next((r["highs_per_s"] for r in comparison if r["n"] == 21), None)
    if pensia:
        rows.append({"workload": f"per-weight, public API, wall ({pensia['targets']:,} pools of n = 21, "
                                 f"{pensia['device']}, backend {pensia['backend']})",
                     "measured": pensia["seconds"], "unit": f"s ({pensia['cpu_seconds']:.3g} CPU-s)",
                     "goal": f"<= {GOALS['per_weight_s']:g} s",
                     "met": pensia["seconds"] <= GOALS["per_weight_s"],
                     "highs": None if highs_21 is None else pensia["targets"] / highs_21,
                     "highs_unit": "s, one core, set-up included",
                     "roofline_fraction": pensia["roofline"]["fraction"]})
    if pensia and pensia["ratio_vs_highs_per_target"] is not None:  # HiGHS is timed in part 1 only
        rows.append({"workload": "per target vs HiGHS milp (n = 21, batched)",
                     "measured": pensia["ratio_vs_highs_per_target"], "unit": "x",
                     "goal": f">= {GOALS['ratio_vs_highs']:,.0f}x",
                     "met": pensia["ratio_vs_highs_per_target"] >= GOALS["ratio_vs_highs"],
                     "highs": highs_21, "highs_unit": "targets/s"})
    cover = result.get("lueker_cover")
    if cover:
        rows.append({"workload": f"rss.lueker --scale full ({cover['full_pools']:,} cover tests to eps = 1e-5, "
                                 f"n = {cover['n']}; extrapolated from {cover['pools']:,} pools)",
                     "measured": cover["full_wall_s_estimate"], "unit": f"s on {cover['cores']} free cores",
                     "goal": f"<= {GOALS['lueker_full_wall_s']:g} s", "met": cover["full_wall_s_estimate"]
                     <= GOALS["lueker_full_wall_s"], "highs": None, "highs_unit": None})
    merge = [r for r in result.get("merge") or [] if r["n"] >= 22]
    if merge:
        slowest = min(merge, key=lambda r: r["million_per_cpu_s"])
        rows.append({"workload": f"sorted subset sums, n = {merge[0]['n']}..{merge[-1]['n']} (slowest n = {slowest['n']})",
                     "measured": slowest["million_per_cpu_s"], "unit": "M sums/s/core",
                     "goal": f">= {GOALS['sorted_sums_million_per_cpu_s']:g}",
                     "met": slowest["million_per_cpu_s"] >= GOALS["sorted_sums_million_per_cpu_s"],
                     "highs": None, "highs_unit": None})
    return rows


def markdown(result: dict) -> str:
    """The README's speed table from a written JSON: goal rows, then the machine and its load."""
    lines = ["| workload | measured | goal | met | HiGHS baseline | roofline fraction |", "|---|---|---|---|---|---|"]
    for r in goal_rows(result):
        highs = "" if r["highs"] is None else f"{r['highs']:,.3g} {r['highs_unit']}"
        frac = "" if r.get("roofline_fraction") is None else f"{100 * r['roofline_fraction']:.2g}%"
        met = {True: "yes", False: "no", None: ""}[r["met"]]
        lines.append(f"| {r['workload']} | {r['measured']:,.3g} {r['unit']} | {r['goal']} | {met} | {highs} | {frac} |")
    comparison = result.get("comparison") or []
    if comparison:
        lines += ["", "| n | ours batched (targets/s) | ours one at a time | HiGHS (targets/s) | ratio batched | "
                      "ratio one at a time | equal to HiGHS |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['n']} | {r['ours_batched_per_s']:,.3g} | {r['ours_single_per_s']:,.3g} | {r['highs_per_s']:,.3g} | "
                  f"{r['ratio_batched']:,.3g}× | {r['ratio_single']:,.3g}× | {r['highs_equal']} |" for r in comparison]
    pensia = result.get("pensia")
    if pensia:
        lines += ["", f"Pensia workload: {pensia['targets']:,} weights, each from its own pool of n = 21 (ε = 0.01): "
                      f"{pensia['seconds']:.3g} s wall, {pensia['cpu_seconds']:.3g} CPU-s; "
                      f"{pensia['fraction_within_eps']} within ε (the largest error {pensia['max_error']:.3g}; a miss is the "
                      f"theorem's failure probability at n = 21, each subset is optimal); "
                      f"anchor 77,266 s on 36 cores (Gurobi), {pensia['speedup_vs_anchor']:,.3g}× faster in wall time."]
    merge = result.get("merge") or []
    if merge:
        lines += ["", "Sorted subset sums on one core: " + ", ".join(
            f"n = {r['n']}: {r['million_per_s']:.3g} M/s ({r['million_per_cpu_s']:.3g} M per CPU-s)" for r in merge) + "."]
    m = result["machine"]
    start, end = m["start"], m["end"]
    lines.append("")
    lines.append(f"Measured by `benchmarks/bench_subset_sum.py` on {start['cpu_count']} cores ({start['processor']}), "
                 f"load average {start['load_average'][0]:.2f} at the start and {end['load_average'][0]:.2f} at the end "
                 f"(commit {str(result.get('provenance', {}).get('git_commit'))[:12]}"
                 f"{', uncommitted changes' if result.get('provenance', {}).get('git_dirty') else ''}).")
    for clock, b in ((result.get("pensia") or {}).get("breakdown_s") or {}).items():
        lines.append(f"Per-weight breakdown ({clock} s): sorted half-sums {b['sums']:.2f}, scans {b['scan']:.2f}, "
                     f"code recovery {b['codes']:.2f}, torch glue {b['glue']:.2f}.")
    before = result.get("before") or {}
    if (before.get("breakdown_s") or {}).get("cpu"):
        b = before["breakdown_s"]["cpu"]
        lines.append(f"Before (record of commit {before['commit']}, load {before['load_average'][0]:.2f}), CPU s: "
                     f"sorted half-sums {b['sums']:.2f}, scans {b['scan']:.2f}, code recovery {b['codes']:.2f}, "
                     f"torch glue {b['glue']:.2f}.")
    cover = result.get("lueker_cover")
    if cover and "cpu_ns_per_merged_element" in cover:
        lines.append(f"Cover sample: {cover['merged_elements_per_pool']:,.0f} merged interval-list elements per pool, "
                     f"{cover['cpu_ns_per_merged_element']:.2g} CPU ns each.")
    return "\n".join(lines)


def plot(comparison: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ns = [r["n"] for r in comparison]
    ax.semilogy(ns, [r["ours_batched_per_s"] for r in comparison], "o-", label="best_subsets, batched")
    ax.semilogy(ns, [r["ours_single_per_s"] for r in comparison], "^-", label="best_subsets, one at a time")
    ax.semilogy(ns, [r["highs_per_s"] for r in comparison], "s-", label="scipy milp (HiGHS), set-up included")
    ax.set(xlabel="pool size n (one pool per target)", ylabel="targets solved per second",
           title="exact best subset, like for like")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = REPO_ROOT / "benchmarks" / "figures"
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "subset_sum_scaling.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="device of the per-weight workload (the other parts run on CPU)")
    parser.add_argument("--backend", choices=list(BACKENDS), default="auto",
                        help="backend of the per-weight workload (torch on CPU times the GPU code path)")
    parser.add_argument("--parts", choices=["all", "per-weight"], default="all",
                        help="per-weight: only the per-weight workload (e.g. a timing on a lent GPU)")
    parser.add_argument("--lueker-n", type=int, default=48,
                        help="pool size of the cover sample: the n that the full-scale rss.lueker record predicts "
                             "at eps = 1e-5 (its details['tests'][-1]['n_pred'])")
    parser.add_argument("--out", type=str, default=None, help="JSON file (default results/benchmarks/subset_sum.json)")
    parser.add_argument("--markdown", type=str, default=None, metavar="JSON",
                        help="print the README table of a JSON this script wrote, and exit (no timing)")
    args = parser.parse_args()
    if args.markdown is not None:
        if not os.path.isfile(args.markdown):
            parser.error(f"--markdown: no such file {args.markdown}")
        print(markdown(json.loads(open(args.markdown, encoding="utf-8").read())))
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch reports no CUDA device")
    if args.device == "cuda" and args.backend == "compiled":
        parser.error("--backend compiled runs on CPU only")
    if args.lueker_n < 1:
        parser.error(f"--lueker-n must be >= 1, got {args.lueker_n}")
    device = torch.device(args.device)
    start_machine = machine()
    gen = torch.Generator().manual_seed(args.seed)
    repeat = 2 if args.quick else 5
    result: dict = {"repeat": repeat, "torch_threads": torch.get_num_threads()}
    highs_21 = None
    if args.parts == "all":
        ns = [15, 18, 21] if args.quick else [15, 18, 21, 24]
        print("1. one pool per target: best_subsets (one at a time / batched) vs scipy.optimize.milp (HiGHS)",
              flush=True)
        comparison = like_for_like(ns, milp_instances=3 if args.quick else 5, single=200 if args.quick else 1000,
                                   batch=4000 if args.quick else 40000, repeat=repeat, gen=gen)
        print(table(comparison, ["n", "ours_batched_per_s", "ours_single_per_s", "highs_per_s", "ratio_batched",
                                 "ratio_single", "highs_equal"]))
        result["comparison"] = comparison
        highs_21 = next((r["highs_per_s"] for r in comparison if r["n"] == 21), None)
    print(f"\n2. Pensia workload (784-500-10, one pool of n = 21 per weight, eps = 0.01, {device}), best of {repeat}",
          flush=True)
    pensia = pensia_workload(gen, highs_21, repeat=repeat, device=device, backend=args.backend)
    print(table([pensia], ["targets", "seconds", "cpu_seconds", "targets_per_s", "ratio_vs_highs_per_target",
                           "fraction_within_eps", "miss_count", "max_error", "speedup_vs_anchor"]))
    for clock, parts in (pensia["breakdown_s"] or {}).items():
        print(f"   breakdown ({clock} s): " + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()))
    before = recorded_breakdown()
    result["before"] = before
    if before and before["breakdown_s"] and pensia["breakdown_s"]:
        print(f"   before (records/bench/subset_sum.json, commit {before['commit']}, load {before['load_average'][0]:.2f}) "
              "-> now, CPU s: " + ", ".join(f"{k} {before['breakdown_s']['cpu'][k]:.3f} -> {pensia['breakdown_s']['cpu'][k]:.3f}"
                                            for k in ("sums", "scan", "codes", "glue", "total")))
    if pensia["misses"]:
        print("   misses (layer, weight index, error): "
              + ", ".join(f"({m['layer']}, {m['weight']}, {m['error']:.4g})" for m in pensia["misses"]))
    result["pensia"] = pensia
    if args.parts == "all":
        print(f"\n3. sorted subset sums, one pool on one core, best of {repeat}", flush=True)
        merge = merge_rate([20, 22] if args.quick else [20, 21, 22, 23, 24], repeat, gen)
        print(table(merge, ["n", "sums", "seconds", "million_per_s", "million_per_cpu_s"]))
        result["merge"] = merge
        pools = 100 if args.quick else 1000
        print(f"\n4. rss.lueker full-scale cover tests: {pools} pools of n = {args.lueker_n} at eps = 1e-5, "
              f"best of {repeat}", flush=True)
        cover = lueker_cover_sample(gen, pools, args.lueker_n, repeat)
        print(table([cover], ["pools", "n", "covered", "cpu_s_per_pool", "full_cpu_s_estimate", "full_wall_s_estimate",
                              "merged_elements_per_pool", "cpu_ns_per_merged_element"]))
        print("   merged elements per pool by list length: " + ", ".join(
            f"{k}: {v:,.0f}" for k, v in cover["merged_elements_by_list_length"].items()))
        if before and before["lueker_cpu_s_per_pool"]:
            print(f"   before: {before['lueker_cpu_s_per_pool'] * 1e3:.3f} CPU ms per pool -> now "
                  f"{cover['cpu_s_per_pool'] * 1e3:.3f}")
        result["lueker_cover"] = cover
    result["machine"] = {"start": start_machine, "end": machine()}
    result["goals"] = goal_rows(result)
    # The README's block is this text, copied by `lth paper readme` from the record (never typed).
    commit, dirty = code_state()
    result["readme_table"] = markdown({**result, "provenance": {"git_commit": commit, "git_dirty": dirty}})
    print("\nissue 31: each workload beside its goal and the HiGHS baseline")
    print(table(result["goals"], ["workload", "measured", "unit", "goal", "met", "highs", "highs_unit",
                                  "roofline_fraction"]))
    print(f"load average {start_machine['load_average'][0]:.2f} at the start, "
          f"{result['machine']['end']['load_average'][0]:.2f} at the end, on {start_machine['cpu_count']} cores")
    if args.out is None:
        path = save("subset_sum", result, seed=args.seed, device=str(device))
    else:
        path = write_json(args.out, result, seed=args.seed, device=str(device))
    print(f"wrote {path}")
    if args.parts == "all":
        plot(result["comparison"])


if __name__ == "__main__":
    main()
