"""Kept parameters of the layer-lemma ticket against log2(1/ε), ε the certified sup error.

Reads the ``sweep`` of ``slth.conv.layer``: each point is one n (nested pools), its certified error
(exact sup plus rounding bound) and the number of unmasked random weights. The theory predicts a
straight line: n = O(log(d²c·m/ε)) channels per kernel.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record


@figure("conv_kept_vs_eps", claims=("slth.conv.layer",), produced_by="lth verify slth.conv.layer")
def draw(results: Path):
    rows = load_claim_record(results, "slth.conv.layer")["details"]["sweep"]
    fig, ax = plt.subplots(figsize=(6.2, 3.4), constrained_layout=True)
    bits = [math.log2(1 / r["certified"]) for r in rows]
    ax.plot(bits, [r["kept"] for r in rows], "o-", label="kept weights")
    ax.plot(bits, [r["random_size"] for r in rows], "s--", label="random weights (U and V)")
    labelled = -math.inf
    for b, r in zip(bits, rows):
        if b - labelled < 0.5:  # the sweep's points crowd at small n: label only those apart
            continue
        labelled = b
        ax.annotate(f"n={r['n']}", (b, r["kept"]), fontsize=7.5, textcoords="offset points", xytext=(3, -9))
    ax.axhline(rows[0]["target_size"], color="0.5", ls=":", label="target weights")
    ax.set_xlabel(r"$\log_2(1/\varepsilon)$, $\varepsilon$ = certified sup error")
    ax.set_ylabel("parameters")
    ax.set_title(f"layer lemma, K {'×'.join(str(s) for s in rows[0]['shape'])}")
    ax.legend(fontsize=8)
    return fig
