"""Zhou et al.'s mask criteria: zero-shot (mask on θ0) and sign-only accuracy of every criterion.

Reads the record of ``sim.supermask.zero_shot`` (all twelve criteria at the judged level); bars are
means over seeds with 95% Student-t intervals; retrained tickets are drawn when the run retrained them
(full scale). The dense network's accuracy and chance are the reference lines.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.simulations.statistics import t_interval
from lth.figures import figure, load_claim_record

VARIANTS = (("zero_shot", r"zero-shot: mask on $\theta_0$", "C0"),
            ("sign_only", r"sign-only: mask on $\mathrm{sign}(\theta_0)\cdot\sigma$", "C1"),
            ("trained", "retrained ticket (IMP-style)", "C2"))


@figure("sim_supermask_criteria", claims=("sim.supermask.zero_shot",), produced_by="lth verify sim.supermask.zero_shot")
def draw(results: Path):
    details = load_claim_record(results, "sim.supermask.zero_shot")["details"]
    level = details["levels"][details["judged"]["level"] - 1]
    names = list(level["criteria"])
    present = [v for v in VARIANTS if v[0] in level["criteria"][names[0]]]
    fig, ax = plt.subplots(figsize=(6.2, 4.2), constrained_layout=True)
    height = 0.8 / len(present)
    for j, (key, label, color) in enumerate(present):
        stats = [t_interval(level["criteria"][name][key]) for name in names]
        y = [i + (j - (len(present) - 1) / 2) * height for i in range(len(names))]
        ax.barh(y, [100 * s[0] for s in stats], height, color=color, label=label,
                xerr=[[100 * (s[0] - s[1]) for s in stats], [100 * (s[2] - s[0]) for s in stats]], capsize=2)
    dense = t_interval(details["dense"]["test_acc"])
    ax.axvline(100 * dense[0], color="0.3", lw=1, label=f"dense network {100 * dense[0]:.1f}%")
    ax.axvline(10, color="0.6", ls=":", lw=1, label="chance")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy (%)")
    s = details["settings"]
    ax.set_title(f"mask criteria at {100 * details['judged']['remaining']:.0f}% of weights kept: {s['arch']} on\n"
                 f"{s['dataset']}, {s['seeds']} seeds (95% t-intervals)")
    ax.set_xlim(0, 100)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    return fig
