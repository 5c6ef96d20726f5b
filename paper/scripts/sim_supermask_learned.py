"""Learned supermask on frozen θ0: test accuracy during score training beside the trained dense network.

Reads the record of ``sim.supermask.learned``; the curve is the mean over seeds with a 95% Student-t
band, evaluated with the deterministic mask [σ(s) > 1/2].
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.simulations.statistics import t_interval
from lth.figures import figure, load_claim_record


@figure("sim_supermask_learned", claims=("sim.supermask.learned",), produced_by="lth verify sim.supermask.learned")
def draw(results: Path):
    details = load_claim_record(results, "sim.supermask.learned")["details"]
    learned, s = details["learned"], details["settings"]
    curve = [t_interval(list(column)) for column in zip(*learned["test_curve"])]
    fig, ax = plt.subplots(figsize=(6.2, 3.4), constrained_layout=True)
    x = learned["eval_iterations"]
    ax.plot(x, [100 * c[0] for c in curve], "o-", color="C0", label=f"learned supermask, mask [σ(s) > ½]\n(scores trained with {s['estimator']} masks)")
    ax.fill_between(x, [100 * c[1] for c in curve], [100 * c[2] for c in curve], color="C0", alpha=0.2)
    dense = t_interval(details["dense"]["test_acc"])
    ax.axhspan(100 * dense[1], 100 * dense[2], color="0.85", label="trained dense network (95% CI)")
    ax.axhline(100 * dense[0], color="0.5", lw=0.8)
    ax.set_xlabel("score-training iteration")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"learned supermask on frozen $θ_0$: {s['arch']} on {s['dataset']}, {s['seeds']} seeds")
    ax.legend(fontsize=8, loc="lower right")
    return fig
