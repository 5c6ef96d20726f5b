"""Failure probability of random subset sum against pool size: the phase transition.

For each ε of the stored scan, the fraction of pools whose exact worst-case error over the measured
interval ([−1, 1] unless the check's parameters say otherwise) exceeds ε, with its Clopper–Pearson
band; the dotted level is ε itself and the marker n*(ε), the first n whose upper confidence bound
is ≤ ε.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.paper.scripts.rss_records import (PRODUCED_BY, RSS_CLAIMS, TITLES, failure_table, load_rss_records,
                                       measured_interval)
from lth.figures import figure


@figure("rss_phase_transition", claims=RSS_CLAIMS, produced_by=PRODUCED_BY)
def draw(results: Path):
    records = load_rss_records(results)
    fig, axes = plt.subplots(1, len(records), figsize=(6.2, 3.8), constrained_layout=True)
    for ax, record in zip(axes, records):
        scan, params = record["details"]["scan"], record["params"]
        floor = 0.3 / scan["trials"]
        colors = plt.cm.viridis_r([0.15 + 0.8 * i / max(1, len(scan["eps"]) - 1) for i in range(len(scan["eps"]))])
        for color, (eps, rows) in zip(colors, failure_table(scan, params["confidence"]).items()):
            ax.fill_between(rows["n"], rows["lower"].clip(min=floor), rows["upper"], color=color, alpha=0.2, lw=0)
            seen = rows["rate"] > 0
            ax.plot(rows["n"][seen], rows["rate"][seen], "o-", color=color, ms=3, lw=1, label=f"ε = {eps:g}")
            ax.axhline(eps, color=color, ls=":", lw=0.8)
            n_star = scan["n_star"].get(str(eps))
            if n_star is not None:
                ax.plot([n_star], [eps], marker="v", color=color, ms=8, mec="k", mew=0.5)
        ax.set_yscale("log")
        ax.set_ylim(floor, 1.5)
        ax.set_xlabel("pool size $n$")
        lo, hi = measured_interval(params)
        ax.set_ylabel(f"P(worst-case error on [{lo:g}, {hi:g}] > ε)" if ax is axes[0] else "")
        ax.set_title(f"{TITLES[params['law']]}\n{scan['trials']} pools per n, "
                     f"▼ $n^*(ε)$")
        ax.legend(loc="lower left")
    return fig
