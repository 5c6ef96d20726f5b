"""Distribution of the exact worst-case error over the measured interval at a fixed pool size.

Each curve is the empirical CDF of the stored percentiles (0, 1, ..., 100) of
``worst_case_error + rounding_slack`` over the scan's pools at ``hist_n``; vertical dotted lines mark
the scan's ε values and the dashed line the counting floor (hi − lo)/2^(n+1) below which no pool of n
numbers can go (2^n intervals of radius E must cover [lo, hi]).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lth.paper.scripts.rss_records import PRODUCED_BY, RSS_CLAIMS, TITLES, load_rss_records, measured_interval
from lth.figures import figure


@figure("rss_error_distribution", claims=RSS_CLAIMS, produced_by=PRODUCED_BY)
def draw(results: Path):
    records = load_rss_records(results)
    fig, ax = plt.subplots(figsize=(6.2, 3.6), constrained_layout=True)
    levels = np.linspace(0.0, 1.0, 101)
    for color, record in zip(("C0", "C1"), records):
        scan, law = record["details"]["scan"], record["params"]["law"]
        quantiles = scan.get("hist_quantiles")
        if quantiles is None:
            continue
        n = scan["hist_n"]
        lo, hi = measured_interval(record["params"])
        ax.plot(quantiles, levels, "-", color=color,
                label=f"{TITLES[law]}, n = {n}, on [{lo:g}, {hi:g}] (median {quantiles[50]:.2g})")
        ax.axvline((hi - lo) / 2.0 ** (n + 1), color=color, ls="--", lw=0.8)
    for eps in records[0]["details"]["scan"]["eps"]:
        ax.axvline(eps, color="0.6", ls=":", lw=0.8)
        ax.text(eps, 0.02, f" ε={eps:g}", rotation=90, fontsize=7.5, color="0.4", va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel("worst-case error over the target interval (exact, plus rounding bound)")
    ax.set_ylabel("fraction of pools")
    ax.set_title(r"worst-case error at fixed $n$; dashed: counting floor $(hi - lo)/2^{n+1}$")
    ax.legend(fontsize=8, loc="upper left")
    return fig
