"""Random subset sum benchmarks, like for like (speed is measured here, never in tests).

1. Best subsets with ONE INDEPENDENT POOL PER TARGET: ``best_subsets`` called one target at a time
   (Python call overhead included) and batched (many pools in one call), vs ``scipy.optimize.milp``
   (HiGHS, the open analogue of the Gurobi MIP the published code solved per weight; the model is
   built per target and its set-up is timed), same instances, optimal errors compared.
2. The Pensia workload: every weight of a 784-500-10 bias-free MLP (397,000 weights) from its own
   pool of n = 21 coefficients, all uniform on the weights' range, ε = 0.01: time, fraction within ε,
   largest error, and where the misses are.
3. Sorted subset sums per second on one core (wall and CPU time) for n = 20…24.

Times are the best of several repeats (the machine is shared). Run:
``.venv/bin/python benchmarks/bench_subset_sum.py [--quick]``; writes
``results/benchmarks/subset_sum.json`` and ``benchmarks/figures/subset_sum_scaling.png``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, milp

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import REPO_ROOT, best_time, save, table  # noqa: E402

from theory.subset_sum import best_subsets, sample_uniform, sorted_subset_sums  # noqa: E402

PENSIA_RANGE = (-0.46, 0.54)
PENSIA_SHAPES = ((500, 784), (10, 500))
ANCHOR_SECONDS = 77266.0  # the published per-weight Gurobi run, 36 cores


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


def pensia_workload(gen: torch.Generator, highs_per_s: float | None, repeat: int, eps: float = 0.01,
                    n: int = 21) -> dict:
    """Every weight from its own pool (one independent pool per target), as in the construction."""
    lo, hi = PENSIA_RANGE
    weights = [sample_uniform(shape, gen, lo, hi).reshape(-1, 1) for shape in PENSIA_SHAPES]
    pools = [sample_uniform((w.shape[0], n), gen, lo, hi) for w in weights]
    best_subsets(pools[1][:2], weights[1][:2])  # compile outside the timing

    def run():
        return [best_subsets(p, w) for p, w in zip(pools, weights)]

    wall = float("inf")
    cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        solutions = run()
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    errors = [s.error.reshape(-1) for s in solutions]
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
            "anchor_seconds": ANCHOR_SECONDS, "speedup_vs_anchor": ANCHOR_SECONDS / wall}


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
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(args.seed)
    repeat = 2 if args.quick else 5
    ns = [15, 18, 21] if args.quick else [15, 18, 21, 24]
    print("1. one pool per target: best_subsets (one at a time / batched) vs scipy.optimize.milp (HiGHS)",
          flush=True)
    comparison = like_for_like(ns, milp_instances=3 if args.quick else 5, single=200 if args.quick else 1000,
                               batch=4000 if args.quick else 40000, repeat=repeat, gen=gen)
    print(table(comparison, ["n", "ours_batched_per_s", "ours_single_per_s", "highs_per_s", "ratio_batched",
                             "ratio_single", "highs_equal"]))
    print(f"\n2. Pensia workload (784-500-10, one pool of n = 21 per weight, eps = 0.01), best of {repeat}",
          flush=True)
    highs_21 = next((r["highs_per_s"] for r in comparison if r["n"] == 21), None)
    pensia = pensia_workload(gen, highs_21, repeat=repeat)
    print(table([pensia], ["targets", "seconds", "cpu_seconds", "targets_per_s", "ratio_vs_highs_per_target",
                           "fraction_within_eps", "miss_count", "max_error", "speedup_vs_anchor"]))
    if pensia["misses"]:
        print("   misses (layer, weight index, error): "
              + ", ".join(f"({m['layer']}, {m['weight']}, {m['error']:.4g})" for m in pensia["misses"]))
    print(f"\n3. sorted subset sums, one pool on one core, best of {repeat}", flush=True)
    merge = merge_rate([20, 22] if args.quick else [20, 21, 22, 23, 24], repeat, gen)
    print(table(merge, ["n", "sums", "seconds", "million_per_s", "million_per_cpu_s"]))
    result = {"comparison": comparison, "pensia": pensia, "merge": merge, "repeat": repeat,
              "torch_threads": torch.get_num_threads()}
    save("subset_sum", result, seed=args.seed, device="cpu")
    plot(comparison)


if __name__ == "__main__":
    main()
