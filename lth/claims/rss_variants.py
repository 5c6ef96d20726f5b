"""Checks for random subset sum variants (proofs/rss.md): subsets of a fixed size k, and pools of
d-dimensional vectors.

Method (rss.fixed_size). For each k and n = k, k+1, ... draw ``trials`` pools of n i.i.d. U[−1, 1]
samples and decide, exactly, whether every z in [lo, hi] is within ε of a sum of exactly k of them
(``fixed_size_worst_case_error`` plus the rounding bound, counted against the pool). n*(k, ε) is the
smallest n whose Clopper–Pearson upper bound on the failure rate is ≤ ε. Natale et al.'s bound has
the form n·H2(k/n) ≥ c·log2(k/ε); the smallest c that covers every fit point *predicts* n at a smaller
test ε, where fresh pools must fail with a rate whose whole confidence interval is ≤ ε.

Method (rss.multidim). For each d and n = 1, 2, ... draw ``trials`` pools of n i.i.d. U[−1, 1]^d vectors
and certify, per pool, whether every z ∈ [−1, 1]^d is within ε (max-norm) of a subset sum (``cube_cover``: a
dyadic-grid covering certificate; an undecided pool counts as a failure; pools are nested, so a pool's
failure is non-increasing in n). n*(ε, d) is the least n whose
Clopper–Pearson upper bound on the failure rate is ≤ δ_fit. Per d the least-squares slope a_d of n* against
log2(1/ε), raised to d when smaller (a slower line falls below the counting bound), drawn through the
highest fit point, predicts n at a smaller held-out ε, where fresh pools must fail at a rate whose whole
interval is ≤ δ (≥ δ_fit: a margin for the first-passage noise of n*). Beside it: the counting bound
d·log2(1/ε) and the ratio of n* to the theorem's order
d³·log2(1/ε)·(log2(1/ε) + log2 d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lth.claims.rss import fit_constant
from lth.registry import COUNT, OPEN_UNIT, Context, Quantity, Record, claim, param
from lth.verdict import clopper_pearson, combine, judge_rate, rate_cell
from lth.theory.fixed_size_subset_sum import fixed_size_worst_case_error
from lth.theory.multidim_subset_sum import counting_samples as cube_counting_samples, prefix_cover
from lth.theory.subset_sum import rounding_slack, sample_uniform

PROOF = "proofs/rss.md"


def binary_entropy(p: float) -> float:
    """H2(p) in bits (0 at p ∈ {0, 1})."""
    if p <= 0 or p >= 1:
        return 0.0
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def entropy_samples(k: int, eps: float, c: float) -> int:
    """Least n ≥ k with n·H2(k/n) ≥ c·log2(k/ε) (n·H2(k/n) grows with n, so the scan stops)."""
    need = c * math.log2(k / eps)
    n = k
    while n * binary_entropy(k / n) < need:
        n += 1
    return n


def counting_samples(k: int, eps: float, lo: float, hi: float) -> int:
    """Least n with C(n, k)·2ε ≥ hi − lo: necessary for any pool (proofs/rss.md, Proposition F1)."""
    n = k
    while math.comb(n, k) * 2 * eps < hi - lo:
        n += 1
    return n


def _rate_test(failures: int, trials: int, threshold: float, confidence: float) -> dict:
    """The held-out test's part of a record: counts, rate, Clopper–Pearson interval and ``judge_rate``'s verdict."""
    verdict, reason = judge_rate(failures, trials, threshold, confidence)
    return {"failures": failures, "trials": trials, "threshold": threshold, "rate": failures / trials,
            "ci": list(clopper_pearson(failures, trials, confidence)), "verdict": verdict, "reason": reason}


def _held_out_record(parts: list[dict], verdicts: list, describe, bound: Quantity, confidence: float,
                     decided: str, unit: str) -> Record:
    """One record for per-``unit`` held-out tests: combined verdict, the worst part's interval as certified.

    ``parts[i]`` and ``verdicts[i]`` describe the same ``unit``; the reason names every part, a tested one by
    ``describe`` and an untested one (no n reached, or n beyond the scan) by its own verdict's reason."""
    verdict, _ = combine(verdicts)
    tested = [part for part in parts if "ci" in part]
    reason = "; ".join(describe(part) if "ci" in part else why for part, (_, why) in zip(parts, verdicts, strict=True))
    worst = max(tested, key=lambda t: t["ci"][1], default=None)
    return Record(
        verdict, reason, bound=bound,
        certified=Quantity(None if worst is None else worst["ci"][1],
                           f"{confidence:.0%} Clopper–Pearson upper bound on the failure rate at the predicted n "
                           f"({decided}), worst {unit}"),
        empirical=Quantity(None if worst is None else worst["rate"], f"observed failure rate (sampled), worst {unit}"),
        details={"parts": parts, "rate_cells": [rate_cell(f"{unit}={t[unit]}", t["failures"], t["trials"], t["threshold"])
                                                for t in tested]},
    )


@dataclass(frozen=True)
class FixedSizeParams:
    """Quick-scale defaults; ``full`` moves to smaller ε and more pools."""

    ks: tuple[int, ...] = param((2, 3), "subset sizes k tested", domain=COUNT)
    lo: float = param(-1.0, "targets z range over [lo, hi]")
    hi: float = param(1.0, "upper end of the target interval")
    eps_fit: tuple[float, ...] = param((0.2, 0.1, 0.05), "ε at which n*(k, ε) is measured to fit c", domain=OPEN_UNIT)
    eps_test: float = param(0.02, "held-out ε at which the fitted bound's n is tested", domain=OPEN_UNIT)
    trials: int = param(200, "pools per n while scanning for n*(k, ε)", domain=COUNT)
    test_trials: int = param(600, "fresh pools at the predicted n (≥ 3/ε so that zero failures can decide)",
                             domain=COUNT)
    n_max: int = param(120, "largest pool size scanned", domain=COUNT)
    confidence: float = param(0.95, "Clopper–Pearson confidence", domain=OPEN_UNIT)


@dataclass(frozen=True)
class FixedSizeFaults:
    n_offset: int = 0  # added to the predicted n; a negative value is a deliberately broken instance


def _failures(pools: torch.Tensor, k: int, eps: float, lo: float, hi: float) -> int:
    upper = fixed_size_worst_case_error(pools, k, lo, hi) + rounding_slack(pools, lo, hi)
    return int((upper > eps).sum())


def _scan(p: FixedSizeParams, k: int, gen: torch.Generator, ctx: Context) -> tuple[dict[float, int], list[dict]]:
    n_star: dict[float, int] = {}
    rows = []
    for n in ctx.bar(range(k, p.n_max + 1), desc=f"rss.fixed_size k={k}"):
        pools = sample_uniform((p.trials, n), gen)
        upper = fixed_size_worst_case_error(pools, k, p.lo, p.hi) + rounding_slack(pools, p.lo, p.hi)
        failures = [int((upper > eps).sum()) for eps in p.eps_fit]
        rows.append({"n": n, "failures": failures})
        for eps, count in zip(p.eps_fit, failures):
            if eps not in n_star and clopper_pearson(count, p.trials, p.confidence)[1] <= eps:
                n_star[eps] = n
        if len(n_star) == len(p.eps_fit):
            break
    return n_star, rows


@claim("rss.fixed_size", "sums of exactly k of n i.i.d. U[-1,1] samples approximate every z in [-1,1] "
       "within ε with probability >= 1-ε once n·H2(k/n) >= c·log2(k/ε) (Natale et al. 2024's form); "
       "c fitted at large ε predicts n at a smaller ε",
       kind="rate", proof=PROOF, params=FixedSizeParams, faults=FixedSizeFaults,
       full={"eps_fit": (0.1, 0.05, 0.02, 0.01), "eps_test": 0.003, "trials": 1000, "test_trials": 6000,
             "n_max": 400},
       full_cost="measured 2026-12-07 (commit 6d6238d) on the 2-core CPU machine (one thread, shared): 11 min 10 s "
                 "wall, 666 CPU-s, peak 1.2 GB")
def check_rss_fixed_size(p: FixedSizeParams, ctx: Context) -> Record:
    if p.eps_test >= min(p.eps_fit) or not p.lo <= p.hi:
        raise ValueError("eps_test must be below every fit ε and lo <= hi")
    parts, verdicts = [], []
    for k in p.ks:
        n_star, rows = _scan(p, k, ctx.generator(k), ctx)
        missing = [e for e in p.eps_fit if e not in n_star]
        if missing:
            verdicts.append(("inconclusive", f"k={k}: no n <= {p.n_max} reached eps={missing}"))
            parts.append({"k": k, "rows": rows, "n_star": {str(e): v for e, v in n_star.items()}})
            continue
        ratios = {eps: n * binary_entropy(k / n) / math.log2(k / eps) for eps, n in n_star.items()}
        c = max(ratios.values())
        n_pred = max(entropy_samples(k, p.eps_test, c) + ctx.faults.n_offset, k)
        pools = sample_uniform((p.test_trials, n_pred), ctx.generator(1000 + k))
        failures = _failures(pools, k, p.eps_test, p.lo, p.hi)
        test = _rate_test(failures, p.test_trials, p.eps_test, p.confidence)
        verdicts.append((test["verdict"], test["reason"]))
        parts.append({"k": k, "n_star": {str(e): v for e, v in n_star.items()},
                      "ratio": {str(e): r for e, r in ratios.items()}, "c": c, "n_pred": n_pred,
                      "n_counting": {str(e): counting_samples(k, e, p.lo, p.hi) for e in (*p.eps_fit, p.eps_test)},
                      **test, "rows": rows})
    return _held_out_record(
        parts, verdicts,
        lambda t: (f"k={t['k']}: n*={list(t['n_star'].values())} at eps={list(p.eps_fit)}, "
                   f"c={t['c']:.2f}, predicted n={t['n_pred']} at eps={p.eps_test:g} "
                   f"(counting needs {t['n_counting'][str(p.eps_test)]}): {t['reason']}"),
        Quantity(p.eps_test, "allowed failure probability ε at the test ε"), p.confidence,
        "per-pool k-subset errors exact, rounding bounded", "k")


def theorem_order(eps: float, d: int) -> float:
    """Becchetti et al.'s sufficient order d³·log2(1/ε)·(log2(1/ε) + log2 d), constant left out."""
    bits = math.log2(1 / eps)
    return d**3 * bits * (bits + math.log2(d))


@dataclass(frozen=True)
class MultidimParams:
    """Quick-scale defaults; ``full`` moves to smaller ε and more pools."""

    dims: tuple[int, ...] = param((1, 2, 3), "dimensions d tested", domain=COUNT)
    eps_fit: tuple[float, ...] = param((0.5, 0.35, 0.25), "max-norm radii ε at which n*(ε, d) is measured for the fit",
                                       domain=OPEN_UNIT)
    eps_test: float = param(0.2, "held-out ε at which the fitted line's n is tested", domain=OPEN_UNIT)
    delta: float = param(0.25, "allowed failure probability at the held-out ε", domain=OPEN_UNIT)
    delta_fit: float = param(0.15, "n*(ε, d) is the least n whose failure-rate upper bound is <= this (< δ: the "
                             "prediction is tested with a margin)", domain=OPEN_UNIT)
    trials: int = param(200, "nested pools scanned for n*(ε, d)", domain=COUNT)
    test_trials: int = param(200, "fresh pools at the predicted n", domain=COUNT)
    n_max: int = param(24, "largest pool size scanned (2^n subset sums per pool)", domain=COUNT)
    max_depth: int = param(8, "grid refinements per cell before a pool counts as undecided (= failure)", domain=COUNT)
    confidence: float = param(0.95, "Clopper–Pearson confidence", domain=OPEN_UNIT)


@dataclass(frozen=True)
class MultidimFaults:
    n_offset: int = 0  # added to the predicted n; a negative value is a deliberately broken instance


def _scan_cube(p: MultidimParams, d: int, gen: torch.Generator, ctx: Context) -> tuple[dict[float, int], list[dict]]:
    """Nested pools (pool n = the first n vectors of one draw of ``n_max``), so each pool's failure is
    non-increasing in n and pools already covered are not certified again (``prefix_cover``)."""
    pools = sample_uniform((p.trials, p.n_max, d), gen)
    sizes = list(range(cube_counting_samples(max(p.eps_fit), d), p.n_max + 1))
    passing = max((k for k in range(p.trials + 1) if clopper_pearson(k, p.trials, p.confidence)[1] <= p.delta_fit),
                  default=-1)  # the CP upper bound grows with the count: at most this many failures pass
    failures = {eps: (~prefix_cover(pools, eps, sizes, p.max_depth, stop_at=passing)).sum(0).tolist()
                for eps in ctx.bar(p.eps_fit, desc=f"rss.multidim d={d}")}
    n_star = {}
    for eps, counts in failures.items():
        passed = [n for n, k in zip(sizes, counts) if k <= passing]
        if passed:
            n_star[eps] = passed[0]
    rows = [{"n": n, "failures": [failures[eps][i] if i < len(failures[eps]) else None for eps in p.eps_fit]}
            for i, n in enumerate(sizes) if any(i < len(counts) for counts in failures.values())]
    return n_star, rows


def _test_failures(p: MultidimParams, d: int, n: int, gen: torch.Generator) -> int:
    """Failures among ``test_trials`` fresh pools of n vectors at ``eps_test``; pools covered by a prefix of
    n − 6 or n − 3 vectors are covered at n (monotone), so only the rest are certified at full size."""
    pools = sample_uniform((p.test_trials, n, d), gen)
    sizes = sorted({max(1, n - 6), max(1, n - 3), n})
    return int((~prefix_cover(pools, p.eps_test, sizes, p.max_depth)[:, -1]).sum())


@claim("rss.multidim", "n i.i.d. U[-1,1]^d vectors: every z in [-1,1]^d is within ε (max-norm) of a subset sum with "
       "probability >= 1-δ once n >= max(a_d, d)·log2(1/ε) + b_d, the line fitted at large ε predicting n at a "
       "smaller ε "
       "(Becchetti et al. 2022: n = O(d³·log(1/ε)·(log(1/ε) + log d)) suffices; d·log2(1/ε) is necessary)",
       kind="rate", proof=PROOF, params=MultidimParams, faults=MultidimFaults,
       full={"eps_fit": (0.4, 0.3, 0.25, 0.2), "eps_test": 0.15, "delta": 0.1, "delta_fit": 0.05,
             "trials": 400, "test_trials": 1000,
             # 30: the largest pool cube_cover certifies here (2^30 sums); 28 left d = 3 untested (amendments.md)
             "n_max": 30},
       full_cost="measured 2026-12-08 (clean commit fb6cb3a, one thread, 2-core CPU machine): 1 min 39 s wall, "
                 "93 CPU-s, peak 1.3 GB")
def check_rss_multidim(p: MultidimParams, ctx: Context) -> Record:
    if not 0 < p.eps_test < min(p.eps_fit) or max(p.eps_fit) >= 1 or len(set(p.eps_fit)) < 2:
        raise ValueError("need at least two distinct fit ε in (0, 1) and 0 < eps_test below all of them")
    if not 0 < p.delta_fit <= p.delta < 1 or min(p.dims) < 1:
        raise ValueError("need 0 < delta_fit <= delta < 1 and every d >= 1")
    parts, verdicts = [], []
    for d in p.dims:
        n_star, rows = _scan_cube(p, d, ctx.generator(d), ctx)
        missing = [e for e in p.eps_fit if e not in n_star]
        if missing:
            verdicts.append(("inconclusive", f"d={d}: no n <= {p.n_max} reached eps={missing}"))
            parts.append({"d": d, "rows": rows, "n_star": {str(e): v for e, v in n_star.items()}})
            continue
        slope, slope_se, intercept = fit_constant(n_star)
        rise = max(slope, d)  # a line rising slower than d·log2(1/ε) falls below the counting bound at small ε
        base = max(n - rise * math.log2(1 / eps) for eps, n in n_star.items())  # through the highest fit point
        n_pred = max(math.ceil(rise * math.log2(1 / p.eps_test) + base - 1e-9) + ctx.faults.n_offset, 1)
        if n_pred > p.n_max:
            verdicts.append(("inconclusive", f"d={d}: predicted n={n_pred} exceeds n_max={p.n_max}"))
            parts.append({"d": d, "rows": rows, "n_star": {str(e): v for e, v in n_star.items()}, "n_pred": n_pred})
            continue
        failures = _test_failures(p, d, n_pred, ctx.generator(1000 + d))
        test = _rate_test(failures, p.test_trials, p.delta, p.confidence)
        verdicts.append((test["verdict"], test["reason"]))
        eps_all = (*p.eps_fit, p.eps_test)
        parts.append({"d": d, "n_star": {str(e): v for e, v in n_star.items()}, "slope": slope,
                      "slope_se": slope_se, "intercept": intercept, "rise": rise, "base": base, "n_pred": n_pred,
                      "n_counting": {str(e): cube_counting_samples(e, d) for e in eps_all},
                      "theorem_ratio": {str(e): n / theorem_order(e, d) for e, n in n_star.items()},
                      **test, "rows": rows})
    return _held_out_record(
        parts, verdicts,
        lambda t: (f"d={t['d']}: n*={list(t['n_star'].values())} at eps={list(p.eps_fit)}, "
                   f"fit n = {t['slope']:.2f}·log2(1/eps) + {t['intercept']:.2f}, predicted n = "
                   f"{t['rise']:.2f}·log2(1/eps) + {t['base']:.2f} -> {t['n_pred']} at eps={p.eps_test:g} "
                   f"(counting needs {t['n_counting'][str(p.eps_test)]}): {t['reason']}"),
        Quantity(p.delta, "allowed failure probability δ at the held-out ε"), p.confidence,
        "per-pool cover certified on a dyadic grid, undecided pools counted as failures", "d")
