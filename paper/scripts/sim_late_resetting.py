"""Late resetting: accuracy of tickets rewound to θk for each swept k, against % of weights remaining,
one panel per regime (Adam on a shallow net; SGD + momentum at a high learning rate on a deeper one).

Reads the ``regimes`` of ``sim.late_resetting`` (per-seed accuracies per rewind point); bands are 95%
t-intervals across seeds, the grey band the dense network's. Each panel's title gives the regime's
verdict (equivalence where θ0 tickets match dense, a gain where they fall below).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.paper.scripts.sim_imp_accuracy import finish_sparsity_axes
from lth.figures import figure, load_claim_record


@figure("sim_late_resetting", claims=("sim.late_resetting",), produced_by="lth verify sim.late_resetting")
def draw(results: Path):
    regimes = load_claim_record(results, "sim.late_resetting")["details"]["regimes"]
    fig, axes = plt.subplots(len(regimes), 1, figsize=(6.2, 4.2), constrained_layout=True,
                             squeeze=False, sharex=True)
    for ax, (name, regime) in zip(axes[:, 0], regimes.items()):
        sweep, settings, dense = regime["sweep"], regime["settings"], regime["dense"]
        ax.axhspan(100 * dense["ci"][0], 100 * dense["ci"][1], color="0.85", label="dense network (95% CI)")
        x = [100 * row["remaining"] for row in sweep]
        for i, k in enumerate(sweep[0]["acc"]):
            stats = [row["acc"][k] for row in sweep]
            ax.plot(x, [100 * s["mean"] for s in stats], "o-", color=f"C{i}", label=f"rewound to $\\theta_{{{k}}}$")
            ax.fill_between(x, [100 * s["ci"][0] for s in stats], [100 * s["ci"][1] for s in stats], color=f"C{i}",
                            alpha=0.2)
        finish_sparsity_axes(ax, "test accuracy (%)",
                             f"{name}: {settings['arch']} (width ×{settings['width']}), {settings['optimizer']} "
                             f"lr {settings['lr']:g} on {settings['dataset']}; {regime['verdict']}")
    for ax in axes[:-1, 0]:  # the shared axis is labelled once, below
        ax.set_xlabel("")
    return fig
