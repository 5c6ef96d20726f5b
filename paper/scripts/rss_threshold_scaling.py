"""n*(ε) against log2(1/ε): the measured thresholds, the fitted line, the held-out tests and the proof.

Points are the measured n*(ε) on the fit grid, the solid line the stored least-squares fit
n = C·log2(1/ε) + c0, squares the held-out ε at the predicted n (filled when the test's whole
confidence interval is ≤ ε). The green steps are the sample count proved in proofs/rss.md
(``lth.theory.lueker.bound_lueker_samples``, closed form) for the measured interval (Theorem 1,
Corollary 3), or for the law's component interval (Corollary 2) where the proof does not reach it;
the dotted steps are the counting lower bound that no pool can beat.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lth.paper.scripts.rss_records import PRODUCED_BY, RSS_CLAIMS, TITLES, load_rss_records, measured_interval
from lth.figures import figure
from lth.theory.lueker import bound_counting_samples, bound_lueker_samples, bound_target_interval


def proven_interval(law: str, measured: tuple[float, float]) -> tuple[float, float]:
    """The measured interval when the proof covers it, else the law's component interval."""
    try:
        bound_lueker_samples(0.25 * bound_target_interval(law)[1], law, measured)
    except ValueError:
        return bound_target_interval(law)
    return measured


@figure("rss_threshold_scaling", claims=RSS_CLAIMS, produced_by=PRODUCED_BY)
def draw(results: Path):
    records = load_rss_records(results)
    fig, axes = plt.subplots(1, len(records), figsize=(6.2, 4.2), constrained_layout=True)
    for ax, record in zip(axes, records):
        details, law = record["details"], record["params"]["law"]
        n_star = {float(eps): n for eps, n in details["scan"]["n_star"].items()}
        tests = details.get("tests", [])
        eps_all = sorted(set(n_star) | {t["eps"] for t in tests}, reverse=True)
        bits = np.linspace(0.0, math.log2(1 / min(eps_all)) + 0.5, 200)
        ax.plot([math.log2(1 / e) for e in n_star], list(n_star.values()), "o", color="C0",
                label="measured $n^*(ε)$ (fit grid)")
        if "C" in details:
            spread = "" if details.get("C_se") is None else f"(±{details['C_se']:.2f})"
            ax.plot(bits, details["C"] * bits + details["c0"], "-", color="C0",
                    label=f"fit n = {details['C']:.2f}{spread} $\\log_2(1/ε)$ + {details['c0']:.2f}")
        for i, t in enumerate(tests):
            held = t["verdict"] == "holds"
            ax.plot([math.log2(1 / t["eps"])], [t["n_pred"]], "s", color="C3", mfc="C3" if held else "none", ms=8)
            # failures/trials, alternately above-left and below-right: neighbouring tests sit close
            ax.annotate(f"{t['failures']}/{t['trials']}", (math.log2(1 / t["eps"]), t["n_pred"]),
                        textcoords="offset points", xytext=(-8, 8) if i % 2 == 0 else (8, -12),
                        ha="right" if i % 2 == 0 else "left", fontsize=7.5, color="C3")
        ax.plot([], [], "s", color="C3", label="held-out ε at predicted n\n(filled: holds)")
        m_lo, m_hi = measured_interval(record["params"])
        interval = proven_interval(law, (m_lo, m_hi))
        top = bound_target_interval(law)[1]
        eps_grid = 2.0 ** -bits[bits > math.log2(1 / top) + 1e-9]
        ax.step(np.log2(1 / eps_grid), [bound_lueker_samples(e, law, interval) for e in eps_grid], "-", color="C2",
                lw=1.2, where="post", label=f"proved sufficient n\n(targets in [{interval[0]:g}, {interval[1]:g}])")
        ax.step(bits, [bound_counting_samples(2.0 ** -b, m_lo, m_hi) for b in bits], ":", color="k", where="post",
                label="counting lower bound, any pool")
        ax.set_xlabel(r"$\log_2(1/\varepsilon)$")
        ax.set_ylabel("pool size n")
        ax.set_title(f"{TITLES[law]}\nmeasured on [{m_lo:g}, {m_hi:g}]")
        ax.legend(loc="upper left")
    return fig
