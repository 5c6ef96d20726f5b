"""Searched vs constructed strong tickets for one trained target.

Reads the record of ``sim.edge_popup.width``: edge-popup test accuracy (mean over seeds, 95%
Student-t bars) against the random network's size in multiples of the target's weight count (log
axis), beside Pensia et al.'s construction for the same target: the smallest built ticket whose
sup-error certificate keeps all but the accuracy gap of the test predictions (filled squares, one
per constructed seed, drawn at that seed's target accuracy with a bar down to the certified
worst case: target minus the predictions that may change), the narrower build that did not certify
(open squares) and the width rule's size (crosses, a formula, not a build).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.simulations.statistics import t_interval
from lth.figures import figure, load_claim_record


@figure("sim_edge_popup_width", claims=("sim.edge_popup.width",), produced_by="lth verify sim.edge_popup.width")
def draw(results: Path):
    details = load_claim_record(results, "sim.edge_popup.width")["details"]
    target, rows, s = details["target"], details["factors"], details["settings"]
    base = target["weights"]
    fig, ax = plt.subplots(figsize=(6.2, 3.8), constrained_layout=True)
    stats = [t_interval(row["test_acc"]) for row in rows]
    x = [row["weights"] / base for row in rows]
    ax.errorbar(x, [100 * m for m, _, _ in stats], yerr=[[100 * (m - lo) for m, lo, _ in stats],
                                                          [100 * (hi - m) for m, _, hi in stats]],
                fmt="o-", color="C0", capsize=3, label="edge-popup (searched), width ×" +
                ", ".join(f"{row['factor']:g}" for row in rows))
    mean, lower, upper = t_interval(target["test_acc"])
    ax.axhspan(100 * lower, 100 * upper, color="0.85", label="trained target (95% CI)")
    ax.axhline(100 * mean, color="0.5", lw=0.8)
    for i, search in enumerate(target.get("certified") or []):
        acc, best, narrower = 100 * target["test_acc"][i], search["certified"], search["narrower"]
        if best is not None:
            drop = 100 * best["may_change"] / search["n_test"]
            ax.errorbar(best["random_weights"] / base, acc, yerr=[[drop], [0]], fmt="s", color="C3", capsize=3,
                        label=None if i else f"constructed, certified (smallest built; m₁ = {best['units'][0]}, "
                        f"{best['kept']:,} kept)")
        if narrower is not None:
            ax.plot(narrower["random_weights"] / base, acc, "s", mfc="none", color="C3",
                    label=None if i else f"constructed, not certified (m₁ = {narrower['units'][0]})")
    for i, built in enumerate(target.get("construction") or []):
        ax.plot(built["weights"] / base, 100 * target["test_acc"][i], "x", color="C2",
                label=None if i else "Pensia width rule (formula, C = 2)")
    ax.set_xscale("log")
    ax.set_xlabel("random-network weights / target weights")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"searched vs constructed tickets: target {s['arch']} ×{s['width']:g} on {s['dataset']}, "
                 f"{s['seeds']} seeds, keep {100 * s['keep']:.0f}%")
    ax.legend(loc="lower right")
    return fig
