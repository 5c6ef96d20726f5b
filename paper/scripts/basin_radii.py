"""Radius distributions of the basins in ``basin.generalisation``: log r(φ) along every sampled
direction, pooled over seeds, for the clean, poisoned and IMP-ticket minima.

The log-volume is n·log r of the *largest* radius plus constants (ESS ≈ 1), so the right tail of
each histogram is what the volume estimate sees; the bulk shows how typical directions compare.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record

COLORS = {"clean": "C0", "poisoned": "C3", "ticket": "C2"}


@figure("basin_radii", claims=("basin.generalisation",), produced_by="lth verify basin.generalisation")
def draw(results: Path):
    details = load_claim_record(results, "basin.generalisation")["details"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    for kind, rows in details["minima"].items():
        values = [v for row in rows for v in row["log_radii"]]
        ax.hist(values, bins=30, alpha=0.5, color=COLORS.get(kind), label=f"{kind} (n = {rows[0]['n']:,})")
    ax.set_xlabel("log r(φ) (filter-normalised coordinates)" if details["settings"]["filter_normalised"]
                  else "log r(φ)")
    ax.set_ylabel("directions")
    ax.set_title(f"Basin radii to L* + {details['threshold']['tau']:g} nats, {len(rows)} seeds", fontsize=9)
    ax.legend(fontsize=8)
    return fig
