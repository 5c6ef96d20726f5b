"""IMP tickets vs random re-init and random masks: test accuracy against % of weights remaining.

Reads the per-level, per-seed accuracies stored by ``sim.imp.controls`` (``sim.imp.tickets`` judges its
own run, with more seeds and fewer rounds); bands are 95% Student-t intervals across seeds, the grey
band the dense network's.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from lth.simulations.statistics import t_interval
from lth.figures import figure, load_claim_record

VARIANTS = (("ticket@0", r"ticket (rewound to $\theta_0$)", "C0"), ("reinit", "same mask, random re-init", "C1"),
            ("random", "random mask, same sparsity", "C2"))


def band(levels: list[dict], variant: str, key: str) -> tuple[list[float], list[float], list[float], list[float]]:
    """x = % remaining, mean, lower, upper of ``key`` over seeds for one variant."""
    rows = [(100 * lv["remaining"], *t_interval(lv["variants"][variant][key])) for lv in levels
            if variant in lv["variants"]]
    return tuple(map(list, zip(*rows)))


def finish_sparsity_axes(ax, ylabel: str, title: str) -> None:
    """Shared look of the IMP figures: log-scaled % of weights remaining, decreasing to the right."""
    ax.set_xscale("log")
    # Plain percentages ("60", not "6×10¹") at the major and minor ticks of the log axis.
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    # minor ticks as long as major ones, so that "10" (a major tick) is printed on the line of the others
    ax.tick_params(axis="x", which="minor", length=plt.rcParams["xtick.major.size"])
    ax.invert_xaxis()
    ax.set_xlabel("% of weights remaining")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()


@figure("sim_imp_accuracy", claims=("sim.imp.controls",), produced_by="lth verify sim.imp.controls")
def draw(results: Path):
    details = load_claim_record(results, "sim.imp.controls")["details"]
    levels, settings = details["levels"], details["settings"]
    fig, ax = plt.subplots(figsize=(6.2, 3.6), constrained_layout=True)
    mean, lower, upper = t_interval(levels[0]["variants"]["dense"]["test_acc"])
    ax.axhspan(100 * lower, 100 * upper, color="0.85", label="dense network (95% CI)")
    ax.axhline(100 * mean, color="0.5", lw=0.8)
    for variant, label, color in VARIANTS:
        x, m, lo, hi = band(levels[1:], variant, "test_acc")
        ax.plot(x, [100 * v for v in m], "o-", color=color, label=label)
        ax.fill_between(x, [100 * v for v in lo], [100 * v for v in hi], color=color, alpha=0.2)
    finish_sparsity_axes(ax, "test accuracy at early stop (%)",
                         f"IMP on {settings['dataset']}, {settings['arch']} (width ×{settings['width']}), "
                         f"{settings['seeds']} seeds, {settings['iterations']} iterations/level")
    return fig
