"""Early-stop iteration (by the run's stop rule, named in the title) against % of weights remaining.

Reads the per-seed early-stop iterations stored by ``sim.imp.controls``; bars are 95% t-intervals.
Frankle & Carbin report that winning tickets learn faster (earlier early stop) than the controls.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.paper.scripts.sim_imp_accuracy import VARIANTS, band, finish_sparsity_axes
from lth.simulations.statistics import t_interval
from lth.figures import figure, load_claim_record


# The early-stop rule the run used (lth.simulations.training_settings.STOP_RULES), as the title names it.
STOP_RULE = {"val_loss": "first minimum of validation loss", "val_acc": "first maximum of validation accuracy"}


@figure("sim_imp_early_stop", claims=("sim.imp.controls",), produced_by="lth verify sim.imp.controls")
def draw(results: Path):
    details = load_claim_record(results, "sim.imp.controls")["details"]
    levels, settings = details["levels"], details["settings"]
    fig, ax = plt.subplots(figsize=(6.2, 3.6), constrained_layout=True)
    mean, lower, upper = t_interval([float(v) for v in levels[0]["variants"]["dense"]["early_stop"]])
    ax.axhspan(lower, upper, color="0.85", label="dense network (95% CI)")
    for variant, label, color in VARIANTS:
        x, m, lo, hi = band(levels[1:], variant, "early_stop")
        ax.errorbar(x, m, yerr=[[a - b for a, b in zip(m, lo)], [b - a for a, b in zip(m, hi)]], fmt="o-",
                    color=color, capsize=3, label=label)
    finish_sparsity_axes(ax, "early-stop iteration",
                         f"IMP on {settings['dataset']}: iteration of the {STOP_RULE[settings['stop_on']]} "
                         f"(evaluated every {settings['eval_every']})")
    return fig
