"""Late resetting: accuracy of tickets rewound to θk for each swept k, against % of weights remaining.

Reads the ``sweep`` of ``sim.late_resetting`` (per-seed accuracies per rewind point); bands are 95%
t-intervals across seeds, the grey band the dense network's.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from paper.scripts.sim_imp_accuracy import finish_sparsity_axes
from lth.figures import figure, load_claim_record


@figure("sim_late_resetting", claims=("sim.late_resetting",), produced_by="lth verify sim.late_resetting")
def draw(results: Path):
    record = load_claim_record(results, "sim.late_resetting")
    details = record["details"]
    sweep, settings, dense = details["sweep"], details["settings"], details["dense"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    ax.axhspan(100 * dense["ci"][0], 100 * dense["ci"][1], color="0.85", label="dense network (95% CI)")
    x = [100 * row["remaining"] for row in sweep]
    for i, k in enumerate(sweep[0]["acc"]):
        stats = [row["acc"][k] for row in sweep]
        color = f"C{i}"
        ax.plot(x, [100 * s["mean"] for s in stats], "o-", color=color, label=f"rewound to θ{k}")
        ax.fill_between(x, [100 * s["ci"][0] for s in stats], [100 * s["ci"][1] for s in stats], color=color,
                        alpha=0.2)
    finish_sparsity_axes(ax, "test accuracy at early stop (%)",
                         f"Late resetting, {settings['arch']} (width ×{settings['width']}) on "
                         f"{settings['dataset']}, {settings['iterations']} iterations; verdict: {record['verdict']}")
    return fig
