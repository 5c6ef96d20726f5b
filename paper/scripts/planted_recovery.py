"""Planted tickets as ground truth: how much of the certified planted mask each search recovers, per layer,
beside a random mask of the same counts and a second certified construction on the same network, and the
test accuracy of found, planted and random subnetworks.

Reads the record of ``sim.planted.recovery``; bars are means over seeds with 95% Student-t intervals.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record
from lth.simulations.statistics import t_interval

SEARCHES = {"edge_popup": "edge-popup", "supermask": "learned supermask", "imp": "IMP"}


def _bar(ax, x: float, values: list[float], width: float, **style) -> None:
    mean, lo, hi = t_interval(values)
    ax.bar(x, mean, width, yerr=[[mean - lo], [hi - mean]], capsize=2, **style)


@figure("planted_recovery", claims=("sim.planted.recovery",), produced_by="lth verify sim.planted.recovery")
def draw(results: Path):
    details = load_claim_record(results, "sim.planted.recovery")["details"]
    runs = {**details["searches"], **({"imp": details["imp"]} if details.get("imp") else {})}
    layers = len(details["source"]["layers"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 3.4), constrained_layout=True,
                                      gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / (2 * len(runs))
    for k, (name, run) in enumerate(runs.items()):
        for i in range(layers):
            x = i + (2 * k - len(runs) + 0.5) * width
            _bar(left, x, run["overlap"]["layers"][i]["recall"], width, color=f"C{k}",
                 label=SEARCHES[name] if i == 0 else None)
            _bar(left, x + width, run["random"]["overlap"]["layers"][i]["recall"], width, color=f"C{k}", alpha=0.35,
                 label="random mask" if i == 0 and k == 0 else None)
    other = details["planted"]["alternative"]["overlap"]["layers"]
    left.plot(range(layers), [t_interval(other[i]["recall"])[0] for i in range(layers)], "kD", markersize=4,
              label="2nd certified ticket")
    left.set_xticks(range(layers), [f"layer {i + 1}" for i in range(layers)])
    left.set_ylabel("planted weights kept (recall)")
    left.set_ylim(0, 1)
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3)
    planted = details["planted"]
    bars = [("planted", planted["test_acc"], "0.4")] + \
        [(SEARCHES[n], details["searches"][n]["test_acc"], f"C{k}") for k, n in enumerate(details["searches"])] + \
        [(f"random ({SEARCHES[n]})", details["searches"][n]["random"]["test_acc"], f"C{k}")
         for k, n in enumerate(details["searches"])]
    for j, (label, values, color) in enumerate(bars):
        _bar(right, j, [100 * v for v in values], 0.7, color=color, alpha=0.35 if label.startswith("random") else 1.0)
    right.set_xticks(range(len(bars)), [b[0] for b in bars], rotation=35, ha="right")
    right.set_ylabel("test accuracy on target labels (%)")
    widths = "-".join(map(str, details["target"]["widths"]))
    fig.suptitle(f"planted ticket (certified ≤ {max(planted['certified']):.1g}) in a "
                 f"{details['source']['weights']:,}-weight source, target {widths}, {len(planted['test_acc'])} seeds")
    return fig
