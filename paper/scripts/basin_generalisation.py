"""Clean vs poisoned basins (``basin.generalisation``): left, the paired mean log-radius difference per
seed over shared filter-normalised directions, with its 95% t-interval; right, the radii of every sampled
direction, pooled over seeds, for both kinds of minimum.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record

COLORS = {"clean": "C0", "poisoned": "C3"}


@figure("basin_generalisation", claims=("basin.generalisation",), produced_by="lth verify basin.generalisation")
def draw(results: Path):
    details = load_claim_record(results, "basin.generalisation")["details"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 3.4), constrained_layout=True)
    paired = details["paired_log_radius"]
    left.plot(range(len(paired["values"])), paired["values"], "o", color="C0", label="per seed")
    left.axhspan(*paired["ci"], color="C0", alpha=0.2, label="95% t-interval of the mean")
    left.axhline(0, color="k", lw=0.8)
    left.set_xticks(range(len(paired["values"])))
    left.set_xlabel("seed (offset from the first)")
    left.set_ylabel(r"mean $\log r_{\mathrm{clean}} - \log r_{\mathrm{poisoned}}$")
    left.set_title("paired over shared directions")
    left.legend(fontsize=8)
    for kind, rows in details["minima"].items():
        values = [v for row in rows for v in row["log_radii"]]
        right.hist(values, bins=30, alpha=0.5, color=COLORS.get(kind), label=f"{kind} (n = {rows[0]['n']:,})")
    right.set_xlabel(r"$\log r(\varphi)$ (filter-normalised)")
    right.set_ylabel("directions")
    right.set_title(f"radii to $L^*$ + {details['threshold']['tau']:g} nats, {len(paired['values'])} seeds")
    right.legend(fontsize=8)
    return fig
