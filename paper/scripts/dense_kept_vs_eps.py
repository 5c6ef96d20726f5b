"""Kept parameters of the measured dense rule against log(1/ε).

Reads ``details.eps_sweep`` of ``slth.dense.rule``: one random target, the random network at the
rule's width for each ε with δ = ε (fan-out 2⌈C ln(d_in d_out l/ε)⌉, C = 3), the number of kept
weights, and the certified sup error (rigorous float64 bound over the unit ball). One draw per ε:
reported, not judged (the claim judges failure rates over many draws).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record

CLAIM = "slth.dense.rule"


@figure("dense_kept_vs_eps", claims=(CLAIM,), produced_by=f"lth verify {CLAIM}")
def draw(results: Path):
    sweep = load_claim_record(results, CLAIM)["details"]["eps_sweep"]
    rows = sweep["rows"]
    x = [r["log_inv_eps"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 3.4), constrained_layout=True)
    left.plot(x, [r["kept_parameters"] for r in rows], "o-", label="kept")
    left.plot(x, [r["random_parameters"] for r in rows], "s--", label="random network")
    left.axhline(sweep["target_parameters"], color="k", ls=":", lw=0.8, label="target")
    left.set_yscale("log")
    left.set_xlabel(r"$\ln(1/\varepsilon)$")
    left.set_ylabel("parameters")
    left.legend()
    right.semilogy(x, [r["certified"] for r in rows], "o-", label="certified sup error (one draw)")
    right.semilogy(x, [r["eps"] for r in rows], "k:", label="ε")
    right.set_xlabel(r"$\ln(1/\varepsilon)$")
    right.set_ylabel("sup error over the unit ball")
    right.legend()
    fig.suptitle(f"Measured dense rule, target {'-'.join(map(str, sweep['widths']))}")
    return fig
