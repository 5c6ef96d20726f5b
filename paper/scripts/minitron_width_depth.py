"""Minitron on SmolLM2-135M-Instruct: held-out NLL of width- and depth-pruned models, per draw.

Reads the records of ``minitron.width`` (activation, random and magnitude importance at the same
width target, no retraining; unpruned for reference) and ``minitron.depth`` (blocks dropped by Block
Importance, by the per-block perplexity increase and at random). One point per draw (each draw
resamples calibration and held-out windows); the bar is the mean.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record

WIDTH = (("unpruned", "unpruned"), ("activation", "activation"), ("random", "random"), ("magnitude", "magnitude"))
DEPTH = (("nll_bi", "Block Importance"), ("nll_ppl_drop", "perplexity drop"), ("nll_random", "random blocks"))


def _panel(ax, series: list[tuple[str, list[float]]], title: str) -> None:
    for x, (label, values) in enumerate(series):
        ax.bar(x, sum(values) / len(values), color="0.8")
        ax.plot([x] * len(values), values, "o", color="black", markersize=3)
    ax.set_xticks(range(len(series)), [label for label, _ in series], rotation=20)
    ax.set_ylabel("held-out NLL (nats)")
    ax.set_title(title)


@figure("minitron_width_depth", claims=("minitron.width", "minitron.depth"),
        produced_by="lth verify minitron.width minitron.depth")
def draw(results: Path):
    width = load_claim_record(results, "minitron.width")["details"]
    depth = load_claim_record(results, "minitron.depth")["details"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 3.4), constrained_layout=True)
    t = width["target"]
    _panel(left, [(label, [row[key]["all"] for row in width["rows"]]) for key, label in WIDTH],
           f"width: hidden {t['hidden']}, MLP {t['intermediate']} (no retraining)")
    _panel(right, [(label, [row[key] for row in depth["rows"]]) for key, label in DEPTH],
           f"depth: {depth['architecture']['layers']} → {depth['kept_layers']} blocks")
    return fig
