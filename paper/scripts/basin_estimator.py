"""The second-order basin-volume estimator on drawn quadratic basins (``basin.estimator``): left, each
case's error log V̂ − log V in units of its own interval's half-width against n (inside ±1: the interval
covers), the Monte-Carlo reference beside it; right, the mean bias per dimension per decade of n with its
90% interval and the equivalence margin, and the reference's per-case bias per dimension.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record


def _standardised(row: dict) -> float:
    """Error over the half-width on the side of the error (intervals need not be symmetric)."""
    lo, hi = row["ci"]
    error = row["estimate"] - row["exact"]
    side = (hi - row["estimate"]) if error < 0 else (row["estimate"] - lo)
    return error / side if side > 0 else float("inf")


@figure("basin_estimator", claims=("basin.estimator",), produced_by="lth verify basin.estimator")
def draw(results: Path):
    record = load_claim_record(results, "basin.estimator")
    details = record["details"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 4.2), constrained_layout=True)
    cases = details["cases"]
    left.scatter([r["n"] for r in cases], [_standardised(r) for r in cases], s=8, color="C0",
                 label=f"second-order (covers {details['coverage']['covered']}/{details['coverage']['cases']})")
    reference = details["reference"]
    if reference:
        covered = sum(r["covers"] for r in reference)
        left.scatter([r["n"] for r in reference], [max(min(_standardised(r), 10), -10) for r in reference], s=12,
                     marker="x", color="C3",
                     label=f"Monte-Carlo reference\n(covers {covered}/{len(reference)}; clipped at ±10)")
    for y in (-1, 1):
        left.axhline(y, color="k", lw=0.8, ls="--")
    left.set_xscale("log")
    left.set_xlabel("n")
    left.set_ylabel(r"$(\log\hat V - \log V)$ / half-width")
    left.set_title("nominal-95% intervals, quadratic basins")
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2))
    bins = details["bias_per_dimension"]
    means = [b["mean"] for b in bins]
    right.errorbar([b["decade"] * 3.16 for b in bins], means,
                   yerr=[[m - b["ci"][0] for m, b in zip(means, bins)], [b["ci"][1] - m for m, b in zip(means, bins)]],
                   fmt="o", capsize=4, color="C0", label="second-order, mean per\ndecade (90% interval)")
    if reference:
        right.scatter([r["n"] for r in reference], [r["error_per_dim"] for r in reference], s=12, marker="x",
                      color="C3", label="Monte-Carlo reference, per case")
    margin = record["params"]["bias_margin"]
    right.axhspan(-margin, margin, color="0.9", label=f"±{margin:g} nats (margin)")
    right.set_xscale("log")
    right.set_xlabel("n")
    right.set_ylabel(r"$(\log\hat V - \log V)/n$ (nats)")
    right.set_title("bias per dimension")
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return fig
