"""Multidimensional random subset sum: n*(ε, d) against log2(1/ε) per dimension d, with the bounds.

Points are the measured n*(ε, d) (nested pools of i.i.d. U[−1, 1]^d vectors; the least n whose
Clopper–Pearson upper bound on the rate of pools not certified to ε-cover the cube in the max-norm is ≤ δ_fit);
the solid line is the prediction line (least-squares slope raised to d when flatter, through the
highest fit point); the square is the held-out ε at the predicted n (filled when the whole interval of
the failure rate is ≤ δ); dotted steps are the counting bound d·log2(1/ε) (necessary for any pool);
the dashed curve is Becchetti et al.'s order d³·log2(1/ε)·(log2(1/ε) + log2 d) scaled to meet the
largest-ε point (the paper gives no constant), to show the shape of the sufficient bound.
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
    parts = [part for part in record["details"]["parts"] if "rise" in part]
    fig, ax = plt.subplots(figsize=(6.2, 4.2), constrained_layout=True)
    eps_all = [*params["eps_fit"], params["eps_test"]]
    bits = np.linspace(math.log2(1 / max(eps_all)) - 0.2, math.log2(1 / min(eps_all)) + 0.3, 100)
    for color, part in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], parts):
        d = part["d"]
        n_star = {float(e): n for e, n in part["n_star"].items()}
        ax.plot([math.log2(1 / e) for e in n_star], list(n_star.values()), "o", color=color,
                label=f"d={d}: measured $n^*(ε, d)$")
        ax.plot(bits, part["rise"] * bits + part["base"], "-", color=color, lw=1,
                label=f"d={d}: n = {part['rise']:.2f} $\\log_2(1/ε)$ + {part['base']:.2f}")
        ax.step(bits, [counting_samples(2.0**-b, d) for b in bits], ":", color=color, where="post",
                label=f"d={d}: counting bound $d \\log_2(1/ε)$")
        widest = max(n_star)
        scale = n_star[widest] / theorem_order(widest, d)
        ax.plot(bits, [scale * theorem_order(2.0**-b, d) for b in bits], "--", color=color, lw=0.8, alpha=0.7)
        held = part["verdict"] == "holds"
        test_bits = math.log2(1 / params["eps_test"])
        ax.plot([test_bits], [part["n_pred"]], "s", color=color, mfc=color if held else "none", ms=8)
        ax.annotate(f"{part['failures']}/{part['trials']} fail", (test_bits, part["n_pred"]),
                    textcoords="offset points", xytext=(8, -3), fontsize=7.5, color=color)
    ax.plot([], [], "--", color="0.4", lw=0.8, label="theorem's order, scaled to the largest-ε point")
    ax.plot([], [], "s", color="0.4", label=f"held-out ε at predicted n (filled: rate ≤ δ = {params['delta']:g})")
    ax.set_xlabel(r"$\log_2(1/\varepsilon)$ (every $z \in [-1, 1]^d$ within $\varepsilon$, max-norm)")
    ax.set_ylabel("pool size n")
    ax.set_title(f"multidimensional subset sum: pool size for failure rate ≤ {params['delta_fit']:g}")
    ax.legend(loc="upper left")
    return fig
