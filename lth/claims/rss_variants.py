"""Checks for random subset sum variants (proofs/rss.md): subsets of a fixed size k.

Method (rss.fixed_size). For each k and n = k, k+1, ... draw ``trials`` pools of n i.i.d. U[−1, 1]
samples and decide, exactly, whether every z in [lo, hi] is within ε of a sum of exactly k of them
(``fixed_size_worst_case_error`` plus the rounding bound, counted against the pool). n*(k, ε) is the
smallest n whose Clopper–Pearson upper bound on the failure rate is ≤ ε. Natale et al.'s bound has
the form n·H2(k/n) ≥ c·log2(k/ε); the smallest c that covers every fit point *predicts* n at a smaller
test ε, where fresh pools must fail with a rate whose whole confidence interval is ≤ ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lth.registry import Context, Quantity, Record, claim, param
from lth.verdict import clopper_pearson, combine, judge_rate
from theory.fixed_size_subset_sum import fixed_size_worst_case_error
from theory.subset_sum import rounding_slack, sample_uniform

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


@dataclass(frozen=True)
class FixedSizeParams:
    """Quick-scale defaults; ``full`` moves to smaller ε and more pools."""

    ks: tuple[int, ...] = param((2, 3), "subset sizes k tested")
    lo: float = param(-1.0, "targets z range over [lo, hi]")
    hi: float = param(1.0, "upper end of the target interval")
    eps_fit: tuple[float, ...] = param((0.2, 0.1, 0.05), "ε at which n*(k, ε) is measured to fit c")
    eps_test: float = param(0.02, "held-out ε at which the fitted bound's n is tested")
    trials: int = param(200, "pools per n while scanning for n*(k, ε)")
    test_trials: int = param(600, "fresh pools at the predicted n (≥ 3/ε so that zero failures can decide)")
    n_max: int = param(120, "largest pool size scanned")
    confidence: float = param(0.95, "Clopper–Pearson confidence")


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
       proof=PROOF, params=FixedSizeParams, faults=FixedSizeFaults,
       full={"eps_fit": (0.1, 0.05, 0.02, 0.01), "eps_test": 0.003, "trials": 1000, "test_trials": 6000,
             "n_max": 400})
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
        verdict = judge_rate(failures, p.test_trials, p.eps_test, p.confidence)
        verdicts.append(verdict)
        lower, upper = clopper_pearson(failures, p.test_trials, p.confidence)
        parts.append({"k": k, "n_star": {str(e): v for e, v in n_star.items()},
                      "ratio": {str(e): r for e, r in ratios.items()}, "c": c, "n_pred": n_pred,
                      "n_counting": {str(e): counting_samples(k, e, p.lo, p.hi) for e in (*p.eps_fit, p.eps_test)},
                      "failures": failures, "trials": p.test_trials, "rate": failures / p.test_trials,
                      "ci": [lower, upper], "verdict": verdict[0], "reason": verdict[1], "rows": rows})
    verdict, _ = combine(verdicts)
    tested = [part for part in parts if "ci" in part]
    reason = "; ".join(
        f"k={t['k']}: n*={list(t['n_star'].values())} at eps={list(p.eps_fit)}, "
        f"c={t['c']:.2f}, predicted n={t['n_pred']} at eps={p.eps_test:g} "
        f"(counting needs {t['n_counting'][str(p.eps_test)]}): {t['reason']}" for t in tested) or \
        "; ".join(r for _, r in verdicts)
    worst = max(tested, key=lambda t: t["ci"][1], default=None)
    return Record(
        verdict, reason,
        bound=Quantity(p.eps_test, "allowed failure probability ε at the test ε"),
        certified=Quantity(None if worst is None else worst["ci"][1],
                           f"{p.confidence:.0%} Clopper–Pearson upper bound on the failure rate at the predicted n "
                           "(per-pool k-subset errors exact, rounding bounded), worst k"),
        empirical=Quantity(None if worst is None else worst["rate"], "observed failure rate (sampled), worst k"),
        details={"parts": parts},
    )
