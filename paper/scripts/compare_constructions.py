"""Four strong-ticket constructions on the same targets: random weights against 1/ε.

Reads ``details.rows`` of ``slth.constructions.compare``. One panel per target: per construction, the random
weights of its least certified grid width (filled markers, draw 0; the certified errors behind them are rigorous,
the counts exact) and of its theorem's proven widths (dashed, closed forms at the record's δ). A row no grid width
certified within the size limit is drawn as an open triangle at the largest source built (its least certified
size lies above it).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record

CLAIM = "slth.constructions.compare"
STYLE = {"pensia": ("C0", "o", "Pensia"), "hyperbolic": ("C1", "s", "hyperbolic"),
         "burkholz": ("C2", "D", "Burkholz L+1"), "sparse": ("C3", "v", "ER sparse")}


@figure("compare_constructions", claims=(CLAIM,), produced_by=f"lth verify {CLAIM}")
def draw(results: Path):
    record = load_claim_record(results, CLAIM)
    details = record["details"]
    labels = [t["target"] for t in details["targets"]]
    fig, axes = plt.subplots(1, len(labels), figsize=(6.2, 3.4), constrained_layout=True, squeeze=False)
    for ax, label in zip(axes[0], labels):
        for name, (color, marker, legend) in STYLE.items():
            rows = sorted((r for r in details["rows"] if r["target"] == label and r["construction"] == name
                           and r["draw"] == 0), key=lambda r: r["eps"], reverse=True)
            found = [r for r in rows if r["width"] is not None]
            ax.plot([1 / r["eps"] for r in found], [r["random_parameters"] for r in found], marker=marker,
                    color=color, lw=1, label=legend)
            censored = [r for r in rows if r["width"] is None and r["tried_random_parameters"]]
            ax.plot([1 / r["eps"] for r in censored], [r["tried_random_parameters"] for r in censored], "^",
                    mfc="none", color=color)
            proven = [r for r in rows if r["proven_random_parameters"]]
            ax.plot([1 / r["eps"] for r in proven], [r["proven_random_parameters"] for r in proven], "--",
                    color=color, lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("1/ε")
        ax.set_title(label.replace(" MLP ", " MLP\n"), fontsize=8)
    axes[0][0].set_ylabel("random weights")
    axes[0][0].plot([], [], "k--", lw=1, label="proven")
    axes[0][0].plot([], [], "k^", mfc="none", label="not certified")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    cross = details["crossing_eps"]
    ordering = (f"Pensia < hyperbolic for ε ≤ {cross:g}" if cross is not None
                else "Pensia < hyperbolic: no crossing in the grid")
    fig.suptitle(f"Solid: least certified width; dashed: proven size; {ordering}", fontsize=9)
    return fig
