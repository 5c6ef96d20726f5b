"""Ticket transfer matrix: test accuracy on each target data set of the target's own ticket, a ticket
transferred from the source, a random mask and a random re-init, at the level each direction was
judged at (fixed in the protocol).

Reads the ``directions`` stored by ``sim.transfer``; one row per direction, each variant a point at
the mean over seeds with its 95% t-interval across seeds as a horizontal bar.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lth.figures import figure, load_claim_record

COLUMNS = (("ticket", "target's own ticket"), ("transfer", "transferred ticket"), ("random", "random mask"),
           ("reinit", "random re-init"))


@figure("sim_transfer", claims=("sim.transfer",), produced_by="lth verify sim.transfer")
def draw(results: Path):
    details = load_claim_record(results, "sim.transfer")["details"]
    names = list(details["directions"])
    judged = {name: next(r for r in details["directions"][name] if r["level"] == details["judged"][name]["level"])
              for name in names}
    fig, ax = plt.subplots(figsize=(6.2, min(4.2, 1.6 + 0.9 * len(names))), constrained_layout=True)
    offsets = np.linspace(-0.27, 0.27, len(COLUMNS))
    for j, (key, label) in enumerate(COLUMNS):
        rows = [(i, judged[name]["acc"][key]) for i, name in enumerate(names) if key in judged[name]["acc"]]
        if not rows:
            continue
        y = [i + offsets[j] for i, _ in rows]
        mean = [100 * acc["mean"] for _, acc in rows]
        # Horizontal bars: the 95% t-interval across seeds (what the heatmap's "±" used to abbreviate).
        err = [[m - 100 * acc["ci"][0] for m, (_, acc) in zip(mean, rows)],
               [100 * acc["ci"][1] - m for m, (_, acc) in zip(mean, rows)]]
        ax.errorbar(mean, y, xerr=err, fmt="o", color=f"C{j}", capsize=3, label=label)
    ax.set_yticks(range(len(names)),
                  [f"{name.replace('->', ' → ')}\n({100 * judged[name]['remaining']:.1f}% of weights left)"
                   for name in names])
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel("test accuracy on the target (%): mean and 95% t-interval across seeds")
    ax.set_title("ticket transfer (source → target) at the protocol's level")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    return fig
