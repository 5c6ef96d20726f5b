"""Ticket transfer matrix: test accuracy on each target data set of the target's own ticket, a ticket
transferred from the source, a random mask and a random re-init, at the sparsest IMP level.

Reads the ``directions`` stored by ``sim.transfer``; cells show the mean over seeds and the half
width of the 95% t-interval.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lth.figures import figure, load_claim_record

COLUMNS = (("ticket@0", "target's own ticket"), ("transfer", "transferred ticket"), ("random", "random mask"),
           ("reinit", "random re-init"))


@figure("sim_transfer", claims=("sim.transfer",), produced_by="lth verify sim.transfer")
def draw(results: Path):
    directions = load_claim_record(results, "sim.transfer")["details"]["directions"]
    names = list(directions)
    means = np.full((len(names), len(COLUMNS)), np.nan)
    halves = np.full_like(means, np.nan)
    for i, name in enumerate(names):
        acc = directions[name][-1]["acc"]
        for j, (key, _) in enumerate(COLUMNS):
            if key in acc:
                means[i, j] = 100 * acc[key]["mean"]
                halves[i, j] = 100 * (acc[key]["ci"][1] - acc[key]["ci"][0]) / 2
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.8 * len(names)), constrained_layout=True)
    image = ax.imshow(means, cmap="viridis", aspect="auto")
    middle = np.nanmean(means)
    for (i, j), value in np.ndenumerate(means):
        if np.isfinite(value):
            # Dark text on the bright (high-accuracy) end of viridis, white on the dark end.
            ax.text(j, i, f"{value:.1f}\n±{halves[i, j]:.1f}", ha="center", va="center", fontsize=8,
                    color="k" if value > middle else "w")
    ax.set_xticks(range(len(COLUMNS)), [label for _, label in COLUMNS], fontsize=8)
    rows = [f"{name}\n({100 * directions[name][-1]['remaining']:.1f}% left)" for name in names]
    ax.set_yticks(range(len(names)), rows, fontsize=8)
    fig.colorbar(image, ax=ax, label="test accuracy (%)")
    ax.set_title("Ticket transfer (source -> target), sparsest level", fontsize=9)
    return fig
