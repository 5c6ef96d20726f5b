"""The claim ``example.fixed_size_rss``: sums of exactly k random samples, with the researcher's constant.

Objects (proofs/fixed_size_rss.md). A pool of ``n`` i.i.d. U[−1, 1] samples; its *k-sums* are the sums of
exactly ``k`` of them. The bound: once ``n ≥ n_H(k, ε) = ⌈C_H·(k!·ln(1/ε)/ε)^{1/k}⌉`` with the researcher's
constant ``C_H = 3``, every ``z ∈ [−1, 1]`` is within ``ε`` of a k-sum with probability at least ``1 − ε``.

Method. For each ``(k, ε)`` cell, ``trials`` pools of ``n_H(k, ε)`` samples are drawn and a pool fails when
the exact float64 worst case of its k-sums plus its rounding bound exceeds ``ε`` (so failures are never
under-counted). The claim holds when every cell's exact Clopper–Pearson interval lies at or below ``ε``
(Bonferroni over the cells), fails when one lies wholly above. ``n_H`` is also checked, exactly, against the
counting bound every pool needs: ``C(n, k) ≥ (hi − lo)/(2ε)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lth.registry import Context, Quantity, Record, claim, param
from lth.verdict import clopper_pearson, combine, judge_rate_cells, rate_cell
from lth.theory.fixed_size_subset_sum import fixed_size_worst_case_error
from lth.theory.subset_sum import rounding_slack, sample_uniform

CLAIM_ID = "example.fixed_size_rss"
C_H = 3.0  # the researcher's constant (proofs/fixed_size_rss.md)
LO, HI = -1.0, 1.0


def her_samples(k: int, eps: float, constant: float = C_H) -> int:
    """``n_H(k, ε) = ⌈C·(k!·ln(1/ε)/ε)^{1/k}⌉``, at least ``k``."""
    if k < 1 or not 0 < eps < 1:
        raise ValueError(f"need k >= 1 and 0 < eps < 1, got k={k}, eps={eps}")
    return max(k, math.ceil(constant * (math.factorial(k) * math.log(1 / eps) / eps) ** (1 / k)))


def counting_samples(k: int, eps: float) -> int:
    """The smallest ``n`` with ``C(n, k)·2ε ≥ hi − lo``: below it the ``C(n, k)`` intervals of radius ε
    around the k-sums cannot cover ``[lo, hi]``, so every pool fails (a rigorous necessary condition)."""
    n = k
    while math.comb(n, k) * 2 * eps < HI - LO:
        n += 1
    return n


@dataclass(frozen=True)
class FixedSizeRssParams:
    """Quick-scale defaults; ``full`` adds smaller ε and more pools."""

    ks: tuple[int, ...] = param((2, 3), "subset sizes k")
    eps: tuple[float, ...] = param((0.1, 0.05), "ε grid: each (k, ε) is one cell")
    trials: int = param(400, "pools per cell (a zero-failure Clopper–Pearson bound needs about 3.7/ε)")
    confidence: float = param(0.95, "family-wise confidence of the Clopper–Pearson intervals (Bonferroni)")


@dataclass(frozen=True)
class FixedSizeRssFaults:
    constant_scale: float = param(1.0, "multiplies C_H: below 1, pools too small for the bound (a broken instance)")


@claim(CLAIM_ID, "n >= ceil(3·(k!·ln(1/ε)/ε)^(1/k)) i.i.d. U[-1,1] samples: sums of exactly k of them approximate "
       "every z in [-1,1] within ε with probability >= 1-ε (a researcher's constant C_H = 3)",
       kind="rate", proof="proofs/fixed_size_rss.md", params=FixedSizeRssParams, faults=FixedSizeRssFaults,
       full={"eps": (0.1, 0.05, 0.02, 0.01), "trials": 2000},
       full_cost="89 s wall on one core of a loaded 2-core CPU (load ≈ 8), measured 2026-12-07")
def check_fixed_size_rss(p: FixedSizeRssParams, ctx: Context) -> Record:
    cells, rows, counting = [], [], []
    level = 1 - (1 - p.confidence) / (len(p.ks) * len(p.eps))  # the per-cell level of judge_rate_cells
    for index, (k, eps) in enumerate((k, eps) for k in p.ks for eps in p.eps):
        n = her_samples(k, eps, C_H * ctx.faults.constant_scale)
        pools = sample_uniform((p.trials, n), ctx.generator(index))
        upper = fixed_size_worst_case_error(pools, k, LO, HI) + rounding_slack(pools, LO, HI)
        failures = int((upper > eps).sum())
        cells.append(rate_cell(f"k={k} eps={eps:g} n={n}", failures, p.trials, eps))
        rows.append({"k": k, "eps": eps, "n": n, "n_counting": counting_samples(k, eps), "failures": failures,
                     "ci": list(clopper_pearson(failures, p.trials, level))})
        if n < rows[-1]["n_counting"]:
            counting.append(("fails", f"k={k} eps={eps:g}: n={n} < {rows[-1]['n_counting']}, the counting bound "
                                      "every pool needs"))
    verdict, reason = combine([judge_rate_cells(cells, p.confidence), *counting])
    worst = max(rows, key=lambda row: row["ci"][1] / row["eps"])
    return Record(verdict, reason,
                  bound=Quantity(worst["eps"], f"allowed failure probability ε of the worst cell (k={worst['k']})"),
                  certified=Quantity(worst["ci"][1], "Clopper–Pearson upper bound on that cell's failure rate at "
                                                     "the Bonferroni level (per-pool errors exact, rounding bounded)"),
                  empirical=Quantity(worst["failures"] / p.trials, "that cell's observed failure rate"),
                  details={"constant": C_H * ctx.faults.constant_scale, "cells": rows, "rate_cells": cells})
