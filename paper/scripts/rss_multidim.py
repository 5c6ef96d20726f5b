"""Multidimensional random subset sum: n*(ε, d) against log2(1/ε) per dimension d, with the bounds.

Points are the measured n*(ε, d) (nested pools of i.i.d. U[−1, 1]^d vectors; the least n whose
Clopper–Pearson upper bound on the rate of pools not certified to ε-cover the cube in the max-norm is ≤ δ_fit);
the solid line is the prediction line (least-squares slope raised to d when flatter, through the
highest fit point); the square is the held-out ε at the predicted n (filled when the whole interval of
the failure rate is ≤ δ); dotted steps are the counting bound d·log2(1/ε) (necessary for any pool);
the dashed curve is Becchetti et al.'s order d³·log2(1/ε)·(log2(1/ε) + log2 d) scaled to meet the
largest-ε point (the paper gives no constant), to show the shape of the sufficient bound. Every
dimension d of the record is drawn: one whose prediction was not tested (no n* at some fitted ε, or a
predicted n above the largest pool scanned, the dash-dotted line n_max) shows its measured points and
bounds, and its prediction, if any, as a cross.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lth.claims.rss_variants import theorem_order
from lth.figures import figure, load_claim_record
from lth.theory.multidim_subset_sum import counting_samples


@figure("rss_multidim", claims=("rss.multidim",), produced_by="lth verify rss.multidim")
def draw(results: Path):
    record = load_claim_record(results, "rss.multidim")
    params = record["params"]
    fig, ax = plt.subplots(figsize=(6.2, 4.2), constrained_layout=True)
    eps_all = [*params["eps_fit"], params["eps_test"]]
    bits = np.linspace(math.log2(1 / max(eps_all)) - 0.2, math.log2(1 / min(eps_all)) + 0.3, 100)
    test_bits = math.log2(1 / params["eps_test"])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for color, part in zip(colors * len(record["details"]["parts"]), record["details"]["parts"]):
        _draw_dimension(ax, part, params, bits, test_bits, color)
    ax.axhline(params["n_max"], color="0.5", ls="-.", lw=0.8,
               label=f"largest pool scanned, $n_{{\\max}}$ = {params['n_max']}")
    ax.plot([], [], "--", color="0.4", lw=0.8, label="theorem's order, scaled to the largest-ε point")
    ax.plot([], [], "s", color="0.4", label=f"held-out ε at predicted n (filled: rate ≤ δ = {params['delta']:g})")
    ax.set_xlabel(r"$\log_2(1/\varepsilon)$ (every $z \in [-1, 1]^d$ within $\varepsilon$, max-norm)")
    ax.set_ylabel("pool size n")
    ax.set_title(f"multidimensional subset sum: pool size for failure rate ≤ {params['delta_fit']:g}")
    ax.legend(loc="upper left", fontsize=7.5)
    return fig


def _draw_dimension(ax, part: dict, params: dict, bits: np.ndarray, test_bits: float, color: str) -> None:
    """One dimension's measured n*(ε, d), its bounds and, where the record has them, its fitted line and
    held-out test (a part without ``rise`` was not tested: its prediction, if any, is a cross)."""
    d = part["d"]
    n_star = {float(e): n for e, n in part["n_star"].items()}
    ax.step(bits, [counting_samples(2.0**-b, d) for b in bits], ":", color=color, where="post",
            label=f"d={d}: counting bound $d \\log_2(1/ε)$")
    if not n_star:
        return
    ax.plot([math.log2(1 / e) for e in n_star], list(n_star.values()), "o", color=color,
            label=f"d={d}: measured $n^*(ε, d)$")
    widest = max(n_star)
    scale = n_star[widest] / theorem_order(widest, d)
    ax.plot(bits, [scale * theorem_order(2.0**-b, d) for b in bits], "--", color=color, lw=0.8, alpha=0.7)
    if "rise" in part:
        ax.plot(bits, part["rise"] * bits + part["base"], "-", color=color, lw=1,
                label=f"d={d}: n = {part['rise']:.2f} $\\log_2(1/ε)$ + {part['base']:.2f}")
        held = part["verdict"] == "holds"
        ax.plot([test_bits], [part["n_pred"]], "s", color=color, mfc=color if held else "none", ms=8)
        ax.annotate(f"{part['failures']}/{part['trials']} fail", (test_bits, part["n_pred"]),
                    textcoords="offset points", xytext=(8, -3), fontsize=7.5, color=color)
    elif "n_pred" in part:
        ax.plot([test_bits], [part["n_pred"]], "x", color=color, ms=8, mew=1.5,
                label=f"d={d}: predicted n = {part['n_pred']} > $n_{{\\max}}$, not tested")
