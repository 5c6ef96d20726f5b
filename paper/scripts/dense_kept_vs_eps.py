"""Kept parameters of Pensia et al.'s dense ticket against log(1/ε).

Reads ``details.sweep.eps_rows`` of ``slth.dense.network``: one random target, the random network at
the theorem's widths for each ε (fan-out 2⌈C ln(d_in d_out l/ε)⌉), the number of kept weights, and
the certified sup error (rigorous float64 bound over the unit ball).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record

CLAIM = "slth.dense.network"


@figure("dense_kept_vs_eps", claims=(CLAIM,), produced_by=f"lth verify {CLAIM}")
def draw(results: Path):
    sweep = load_claim_record(results, CLAIM)["details"]["sweep"]
    rows = sweep["eps_rows"]
    x = [r["log_inv_eps"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8), constrained_layout=True)
    left.plot(x, [r["kept_parameters"] for r in rows], "o-", label="kept")
    left.plot(x, [r["random_parameters"] for r in rows], "s--", label="random network")
    left.axhline(sweep["target_parameters"], color="k", ls=":", lw=0.8, label="target")
    left.set_yscale("log")
    left.set_xlabel("ln(1/ε)")
    left.set_ylabel("parameters")
    left.legend(fontsize=7)
    right.semilogy(x, [r["certified"] for r in rows], "o-", label="certified sup error")
    right.semilogy(x, [r["eps"] for r in rows], "k:", label="ε")
    right.set_xlabel("ln(1/ε)")
    right.set_ylabel("sup error over the unit ball")
    right.legend(fontsize=7)
    fig.suptitle(f"Dense strong ticket, target {'-'.join(map(str, sweep['widths']))}", fontsize=9)
    return fig
