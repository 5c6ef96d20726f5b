"""Checks for random subset sum (proofs/rss.md): Lueker's bound for uniform and product pools.

Method. For n = 1, 2, ... draw ``trials`` pools and count, for each ε of the grid, the pools whose
exact worst-case error over [lo, hi] exceeds ε (decided by ``covers_interval``, rounding counted
against the pool). n*(ε) is the smallest n whose
Clopper–Pearson upper bound on the failure rate is ≤ ε. A least-squares fit
n*(ε) = C·log2(1/ε) + c0 on the fit grid *predicts* n at the smaller test ε; the claim holds when,
at that predicted n, fresh pools fail with a rate whose whole confidence interval is ≤ ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from theory.lueker import bound_lueker_samples, bound_lueker_table
from lth.registry import Context, Quantity, Record, claim
from lth.verdict import clopper_pearson, judge_rate
from theory.subset_sum import covers_interval, rounding_slack, sample_pools, worst_case_error

PROOF = "proofs/rss.md"


@dataclass(frozen=True)
class LuekerParams:
    """Quick-scale defaults; ``full`` in the registration moves to paper-grade ε and trial counts."""

    law: str = "uniform"
    lo: float = -1.0  # targets z range over [lo, hi]
    hi: float = 1.0
    eps_fit: tuple[float, ...] = (0.2, 0.1, 0.05, 0.03)
    eps_test: tuple[float, ...] = (0.01,)
    trials: int = 600  # pools per n while scanning for n*(ε)
    test_trials: int = 3000  # pools at the predicted n (≥ 3/ε so that zero failures can decide)
    n_max: int = 26
    n_step: int = 1  # scan n = n_step, 2·n_step, ...; n*(ε) is then known up to this step
    hist_n: int = 12  # n at which the distribution of worst-case errors is stored
    confidence: float = 0.95


FULL_LUEKER = {"eps_fit": (0.1, 0.05, 0.02, 0.01, 5e-3, 2e-3), "eps_test": (1e-3, 3e-4, 1e-4),
               "trials": 4000, "test_trials": 60000, "n_max": 32}


def count_failures(pools: torch.Tensor, eps_grid: list[float], lo: float, hi: float) -> list[int]:
    """Pools [trials, n] whose worst-case error over [lo, hi] exceeds ε, for each ε of the grid.

    Decided exactly by ``covers_interval`` (rounding counted against the pool, so failures are never
    under-counted).
    """
    return [int((~covers_interval(pools, eps, lo, hi)).sum()) for eps in eps_grid]


def scan_thresholds(p: LuekerParams, ctx: Context) -> dict:
    """Failure counts for every n until each fit ε has its n*(ε); the phase-transition table."""
    eps_all = sorted(set(p.eps_fit) | set(p.eps_test), reverse=True)
    n_star: dict[float, int] = {}
    rows = []
    gen = ctx.generator()
    hist = None
    for n in ctx.bar(range(p.n_step, p.n_max + 1, p.n_step), desc=f"rss.{p.law} scan n"):
        pools = sample_pools(p.law, (p.trials, n), gen)
        if n == p.hist_n:
            hist = (worst_case_error(pools, p.lo, p.hi) + rounding_slack(pools, p.lo, p.hi)).cpu().numpy()
        failures = count_failures(pools, eps_all, p.lo, p.hi)
        rows.append({"n": n, "failures": failures})
        for eps, k in zip(eps_all, failures):
            if eps in p.eps_fit and eps not in n_star and clopper_pearson(k, p.trials, p.confidence)[1] <= eps:
                n_star[eps] = n
        if len(n_star) == len(p.eps_fit) and n >= p.hist_n:
            break
    quantiles = None if hist is None else np.quantile(hist, np.linspace(0, 1, 101)).tolist()
    return {"eps": eps_all, "trials": p.trials, "rows": rows, "n_star": n_star,
            "hist_n": p.hist_n, "hist_quantiles": quantiles}


def fit_constant(n_star: dict[float, int]) -> tuple[float, float | None, float]:
    """Least squares n*(ε) = C·log2(1/ε) + c0; returns (C, standard error of C, c0).

    The standard error needs at least three fit points; with two it is None.
    """
    bits = np.array([math.log2(1 / e) for e in n_star])
    ns = np.array(list(n_star.values()), dtype=float)
    design = np.stack([bits, np.ones_like(bits)], axis=1)
    coef, *_ = np.linalg.lstsq(design, ns, rcond=None)
    dof = len(ns) - 2
    if dof <= 0:
        return float(coef[0]), None, float(coef[1])
    resid = ns - design @ coef
    cov = float(resid @ resid) / dof * np.linalg.inv(design.T @ design)
    return float(coef[0]), float(math.sqrt(cov[0, 0])), float(coef[1])


def check_lueker(p: LuekerParams, ctx: Context) -> Record:
    scan = scan_thresholds(p, ctx)
    missing = [e for e in p.eps_fit if e not in scan["n_star"]]
    if missing:
        return Record("inconclusive", f"no n <= n_max={p.n_max} reached the fit target for eps={missing}",
                      details={"scan": scan})
    slope, slope_se, intercept = fit_constant(scan["n_star"])
    tests = []
    gen = ctx.generator(offset=1)
    for eps in p.eps_test:
        n_pred = max(math.ceil(slope * math.log2(1 / eps) + intercept) + ctx.faults.n_offset, 1)
        pools = sample_pools(p.law, (p.test_trials, n_pred), gen)
        failures = count_failures(pools, [eps], p.lo, p.hi)[0]
        verdict, reason = judge_rate(failures, p.test_trials, eps, p.confidence)
        lower, upper = clopper_pearson(failures, p.test_trials, p.confidence)
        tests.append({"eps": eps, "n_pred": n_pred, "n_proof": bound_lueker_samples(eps, p.law, (p.lo, p.hi)),
                      "failures": failures, "trials": p.test_trials,
                      "rate": failures / p.test_trials, "ci": [lower, upper], "verdict": verdict,
                      "reason": reason})
    verdicts = {t["verdict"] for t in tests}
    verdict = "fails" if "fails" in verdicts else "inconclusive" if "inconclusive" in verdicts else "holds"
    worst = max(tests, key=lambda t: t["ci"][1] / t["eps"])
    spread = "" if slope_se is None else f"(±{slope_se:.2f})"
    proof = bound_lueker_table(scan["eps"], p.law, (p.lo, p.hi))
    reason = (f"fit on eps={list(p.eps_fit)}: n* = {slope:.2f}{spread}·log2(1/eps) + {intercept:.2f} "
              f"(proof: {proof['C']:.2f}·log2(1/eps) + {proof['c0']:.2f}); "
              + "; ".join(f"at eps={t['eps']:g}, predicted n={t['n_pred']} (proof n={t['n_proof']}): {t['reason']}"
                          for t in tests))
    return Record(
        verdict, reason,
        bound=Quantity(worst["eps"], "allowed failure probability ε at the smallest-margin test ε"),
        certified=Quantity(worst["ci"][1], f"{p.confidence:.0%} Clopper–Pearson upper bound on the failure "
                           "rate at the predicted n (per-pool errors exact, rounding bounded)"),
        empirical=Quantity(worst["rate"], "observed failure rate at the predicted n (sampled)"),
        details={"C": slope, "C_se": slope_se, "c0": intercept, "tests": tests, "proof": proof,
                 "scan": {**scan, "n_star": {str(k): v for k, v in scan["n_star"].items()}}},
    )


@dataclass(frozen=True)
class RssFaults:
    n_offset: int = 0  # added to the predicted n; a negative value is a deliberately broken instance


@claim("rss.lueker", "n >= C·log2(1/ε) + c0 i.i.d. U[-1,1] samples approximate every z in [-1,1] within ε "
       "with probability >= 1-ε; C fitted at large ε predicts n at small ε",
       proof=PROOF, params=LuekerParams, full=FULL_LUEKER, faults=RssFaults)
def check_rss_lueker(p: LuekerParams, ctx: Context) -> Record:
    return check_lueker(p, ctx)


@dataclass(frozen=True)
class ProductParams(LuekerParams):
    law: str = "product"
    lo: float = -0.5  # the interval of Corollary 2 in proofs/rss.md (the U[-1/2, 1/2] component)
    hi: float = 0.5
    n_max: int = 160
    n_step: int = 2
    trials: int = 300
    test_trials: int = 1200
    hist_n: int = 20


@claim("rss.product", "the same bound for Pensia et al.'s product law D = ½δ0 + ½·Law(XY) "
       "(X~U[0,1], Y~U[-1,1]) on targets in [-1/2, 1/2], with its own constant", proof=PROOF, params=ProductParams, faults=RssFaults,
       full={**FULL_LUEKER, "n_max": 140, "trials": 2000, "test_trials": 40000})
def check_rss_product(p: ProductParams, ctx: Context) -> Record:
    return check_lueker(p, ctx)
