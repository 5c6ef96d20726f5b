"""Random subset sum benchmarks, side by side in one run (speed is measured here, never in tests).

1. Best-subset throughput: ``best_subsets`` vs ``scipy.optimize.milp`` (HiGHS, the open analogue of
   the Gurobi MIP the published code solved per weight) vs naive numpy enumeration, same instances,
   optimal errors compared.
2. The Pensia-scale workload: every weight of a 784-500-10 bias-free MLP from n = 21 coefficients,
   one pool per weight-matrix row, coefficients uniform on the weights' range, ε = 0.01.
3. Scaling: time vs n and vs number of targets; sorted-subset-sum throughput for n = 20…24.

Run: ``.venv/bin/python benchmarks/bench_subset_sum.py [--quick]``; writes
``results/benchmarks/subset_sum.json`` and ``benchmarks/figures/subset_sum_scaling.png``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, milp

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import REPO_ROOT, best_time, save, table  # noqa: E402

from theory.subset_sum import best_subsets, sample_uniform, sorted_subset_sums  # noqa: E402

PENSIA_RANGE = (-0.46, 0.54)


def milp_best_subset(x: np.ndarray, target: float) -> float:
    """Optimal |target − Σ_S x| by HiGHS: min e s.t. |x·s − target| ≤ e, s binary, e bounded."""
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


def numpy_enumeration(x: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Naive baseline: all 2^n sums by a bit matrix product, then argmin per target."""
    n = len(x)
    bits = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    sums = bits @ x
    return np.array([np.abs(sums - t).min() for t in targets])


def solver_comparison(ns: list[int], milp_instances: int, batch: int, gen: torch.Generator) -> list[dict]:
    rows = []
    for n in ns:
        pools = sample_uniform((batch, n), gen)
        targets = sample_uniform((batch, 1), gen)
        ours_s, solution = best_time(lambda: best_subsets(pools, targets))
        ours_rate = batch / ours_s
        x0, t0 = pools[:milp_instances].numpy(), targets[:milp_instances, 0].numpy()
        milp_s, milp_err = best_time(lambda: [milp_best_subset(x, t) for x, t in zip(x0, t0)], repeat=1)
        enum_count = min(milp_instances, 4) if n <= 22 else 0
        enum_s, enum_err = (best_time(lambda: np.concatenate([numpy_enumeration(x, [t]) for x, t in
                                                              zip(x0[:enum_count], t0[:enum_count])]), repeat=1)
                            if enum_count else (float("nan"), np.array([])))
        ours_err = solution.error[:milp_instances, 0].numpy()
        if np.any(ours_err > np.asarray(milp_err) + 1e-12):
            raise AssertionError(f"n={n}: best_subsets worse than HiGHS on some instance")
        if enum_count and not np.allclose(ours_err[:enum_count], enum_err, rtol=0, atol=1e-12):
            raise AssertionError(f"n={n}: best_subsets differs from exhaustive enumeration")
        rows.append({"n": n, "ours_per_s": ours_rate, "milp_per_s": milp_instances / milp_s,
                     "enum_per_s": enum_count / enum_s if enum_count else None,
                     "speedup_vs_milp": ours_rate * milp_s / milp_instances,
                     "milp_equal": int(np.sum(np.abs(ours_err - np.asarray(milp_err)) <= 1e-9)),
                     "milp_instances": milp_instances})
        print(f"  n={n}: ours {ours_rate:,.0f}/s, HiGHS {milp_instances / milp_s:.2f}/s", flush=True)
    return rows


def pensia_workload(gen: torch.Generator, eps: float = 0.01, n: int = 21) -> dict:
    lo, hi = PENSIA_RANGE
    weights = [sample_uniform((500, 784), gen, lo, hi), sample_uniform((10, 500), gen, lo, hi)]
    pools = [sample_uniform((w.shape[0], n), gen, lo, hi) for w in weights]

    def run():
        return [best_subsets(p, w) for p, w in zip(pools, weights)]

    seconds, solutions = best_time(run, repeat=2)
    errors = torch.cat([s.error.reshape(-1) for s in solutions])
    # the reported sums are recomputed from the masks in float64, so max |w − ŵ| is exact up to γ_n·Σ|x|
    return {"weights": int(errors.numel()), "n": n, "eps": eps, "seconds": seconds,
            "max_error": float(errors.max()), "within_eps": int((errors <= eps).sum()),
            "rows_all_within": int(sum(int((s.error <= eps).all(dim=1).sum()) for s in solutions)),
            "rows": 510, "anchor_seconds": 77266.0, "speedup_vs_anchor": 77266.0 / seconds}


def scaling(gen: torch.Generator, ns: list[int], counts: list[int]) -> dict:
    by_n = []
    for n in ns:
        pool = sample_uniform((1, n), gen)
        targets = sample_uniform((1, 256), gen)
        seconds, _ = best_time(lambda: best_subsets(pool, targets), repeat=2 if n < 34 else 1)
        by_n.append({"n": n, "targets": 256, "seconds": seconds})
    by_targets = []
    for count in counts:
        pools = sample_uniform((count, 21), gen)
        targets = sample_uniform((count, 1), gen)
        seconds, _ = best_time(lambda: best_subsets(pools, targets), repeat=2)
        by_targets.append({"n": 21, "targets": count, "seconds": seconds})
    merge = []
    for n in range(20, 25):
        pool = sample_uniform((1, n), gen)
        seconds, _ = best_time(lambda: sorted_subset_sums(pool), repeat=3)
        merge.append({"n": n, "sums": 2**n, "seconds": seconds, "million_per_s": 2**n / seconds / 1e6})
    return {"by_n": by_n, "by_targets": by_targets, "merge": merge}


def plot(result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    by_n = result["scaling"]["by_n"]
    axes[0].semilogy([r["n"] for r in by_n], [r["seconds"] for r in by_n], "o-")
    axes[0].set(xlabel="pool size n", ylabel="seconds (256 targets, one pool)", title="best_subsets vs n")
    by_t = result["scaling"]["by_targets"]
    axes[1].loglog([r["targets"] for r in by_t], [r["seconds"] for r in by_t], "o-")
    axes[1].set(xlabel="targets (one pool each, n = 21)", ylabel="seconds", title="best_subsets vs batch")
    comp = result["comparison"]
    axes[2].semilogy([r["n"] for r in comp], [r["ours_per_s"] for r in comp], "o-", label="best_subsets")
    axes[2].semilogy([r["n"] for r in comp], [r["milp_per_s"] for r in comp], "s-", label="scipy milp (HiGHS)")
    enum = [r for r in comp if r["enum_per_s"]]
    axes[2].semilogy([r["n"] for r in enum], [r["enum_per_s"] for r in enum], "^-", label="numpy enumeration")
    axes[2].set(xlabel="n", ylabel="targets solved per second", title="throughput")
    axes[2].legend(fontsize=8)
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
    ns = [15, 18, 21] if args.quick else [15, 18, 21, 24]
    print("1. best_subsets vs scipy.optimize.milp vs numpy enumeration", flush=True)
    comparison = solver_comparison(ns, milp_instances=3 if args.quick else 5, batch=2000, gen=gen)
    print(table(comparison, ["n", "ours_per_s", "milp_per_s", "enum_per_s", "speedup_vs_milp", "milp_equal"]))
    print("\n2. Pensia-scale workload (784-500-10, n = 21, eps = 0.01)", flush=True)
    pensia = pensia_workload(gen)
    print(table([pensia], ["weights", "seconds", "max_error", "within_eps", "rows_all_within", "speedup_vs_anchor"]))
    print("\n3. scaling", flush=True)
    scale = scaling(gen, [10, 16, 22, 28] if args.quick else [10, 14, 18, 22, 26, 30, 34, 38, 40],
                    [100, 1000, 10000] if args.quick else [100, 1000, 10000, 100000])
    print(table(scale["merge"], ["n", "sums", "seconds", "million_per_s"]))
    result = {"comparison": comparison, "pensia": pensia, "scaling": scale, "torch_threads": torch.get_num_threads()}
    save("subset_sum", result, seed=args.seed, device="cpu")
    plot(result)


if __name__ == "__main__":
    main()
