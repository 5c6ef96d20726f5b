"""Fixed-size random subset sum: n*(k, ε) against ε per subset size k, with the paper-form fit and the
counting bound.

Points are the measured n*(k, ε) on the fit grid (the least n whose Clopper–Pearson upper bound on the
failure rate is ≤ ε); the solid curve is Natale et al.'s form n·H2(k/n) = c·log2(k/ε) with the stored
c (the least c covering every fit point); the square is the held-out ε at the predicted n (filled when
the test's whole interval is ≤ ε, annotated with the failures); the dotted steps are the counting
lower bound C(n, k)·2ε ≥ hi − lo that no pool can beat.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lth.claims.rss_variants import counting_samples, entropy_samples
from lth.figures import figure, load_claim_record


@figure("rss_fixed_size", claims=("rss.fixed_size",), produced_by="lth verify rss.fixed_size")
def draw(results: Path):
    record = load_claim_record(results, "rss.fixed_size")
    params = record["params"]
    parts = [part for part in record["details"]["parts"] if "c" in part]
    fig, ax = plt.subplots(figsize=(6.2, 4.0), constrained_layout=True)
    eps_all = [*params["eps_fit"], params["eps_test"]]
    grid = np.geomspace(min(eps_all) * 0.8, max(eps_all) * 1.2, 60)
    for color, part in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], parts):
        k = part["k"]
        n_star = {float(e): n for e, n in part["n_star"].items()}
        ax.plot(list(n_star), list(n_star.values()), "o", color=color, label=f"k={k}: measured $n^*(k, ε)$")
        ax.plot(grid, [entropy_samples(k, e, part["c"]) for e in grid], "-", color=color, lw=1,
                label=f"k={k}: $n H_2(k/n)$ = {part['c']:.2f} $\\log_2(k/ε)$")
        ax.step(grid, [counting_samples(k, e, params["lo"], params["hi"]) for e in grid], ":", color=color,
                where="mid", label=f"k={k}: counting bound")
        held = part["verdict"] == "holds"
        ax.plot([params["eps_test"]], [part["n_pred"]], "s", color=color, mfc=color if held else "none", ms=8)
        ax.annotate(f"{part['failures']}/{part['trials']} fail", (params["eps_test"], part["n_pred"]),
                    textcoords="offset points", xytext=(6, -10), fontsize=7.5, color=color)
    ax.plot([], [], "s", color="0.4", label="held-out ε at predicted n (filled: holds)")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel(r"$\varepsilon$ (targets $z \in [lo, hi]$ within $\varepsilon$ of a $k$-sum)")
    ax.set_ylabel("pool size n")
    ax.set_title("fixed-size subset sum: pool size for failure rate ≤ ε")
    ax.legend(loc="upper left")
    return fig
