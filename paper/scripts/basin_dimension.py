"""Typical basin radius against width at matched training loss (``basin.dimension``): mean over seeds of
E[log r] along filter-normalised random directions per width (95% t-interval), and the stricter reading
E[log r] − ½ log n (relative perturbation per filter), both against log2 width.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record


@figure("basin_dimension", claims=("basin.dimension",), produced_by="lth verify basin.dimension")
def draw(results: Path):
    details = load_claim_record(results, "basin.dimension")["details"]
    rows = details["per_width"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 3.4), constrained_layout=True)
    widths = [r["width"] for r in rows]
    for ax, key, label in ((left, "log_radius_mean", r"$E[\log r]$ (judged)"),
                           (right, "relative_log_radius", r"$E[\log r] - \frac{1}{2}\log n$ (reported)")):
        means = [r[key]["mean"] for r in rows]
        ax.errorbar(widths, means, yerr=[[m - r[key]["ci"][0] for m, r in zip(means, rows)],
                                         [r[key]["ci"][1] - m for m, r in zip(means, rows)]],
                    fmt="o-", capsize=4)
        for r, m in zip(rows, means):
            ax.annotate(f"n = {r['n']:,}", (r["width"], m), textcoords="offset points", xytext=(4, -10))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("width factor (LeNet-300-100)")
        ax.set_ylabel(label)
    slope = details["slope"]
    left.set_title(f"slope/doubling {slope['mean']:.3f} [{slope['ci'][0]:.3f}, {slope['ci'][1]:.3f}]")
    rel = details["relative_slope"]
    right.set_title(f"slope/doubling {rel['mean']:.3f} [{rel['ci'][0]:.3f}, {rel['ci'][1]:.3f}]")
    return fig
