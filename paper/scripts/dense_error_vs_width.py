"""Certified and searched sup error of Pensia et al.'s dense ticket against the random network's width.

Reads ``details.sweep.width_rows`` of ``slth.dense.network``: one random target with ‖W_i‖₂ = 1, the
width constant C varied (hence the fan-out per input). Certified: rigorous float64 bound on the sup
over the unit ball; empirical: sampling + projected gradient ascent (a lower bound on the sup);
union: the proof's per-weight union bound at the realised errors.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record

CLAIM = "slth.dense.network"


@figure("dense_error_vs_width", claims=(CLAIM,), produced_by=f"lth verify {CLAIM}")
def draw(results: Path):
    record = load_claim_record(results, CLAIM)
    sweep = record["details"]["sweep"]
    rows = sweep["width_rows"]
    params = [r["random_parameters"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    ax.semilogy(params, [r["union_bound"] for r in rows], "s:", color="C2", label="per-weight union bound")
    ax.semilogy(params, [r["certified"] for r in rows], "o-", color="C0", label="certified (float64, rigorous)")
    ax.semilogy(params, [r["empirical"] for r in rows], "x--", color="C1", label="empirical (search, lower bound)")
    for r, p in zip(rows, params):
        ax.annotate(f"C={r['c']:.2g}", (p, r["certified"]), fontsize=7, textcoords="offset points", xytext=(4, 4))
    ax.axhline(record["params"]["eps"], color="k", ls=":", lw=0.8, label="ε")
    widths = "-".join(str(w) for w in sweep["widths"])
    ax.set_xlabel(f"random-network parameters (target {widths}, {sweep['target_parameters']} parameters)")
    ax.set_ylabel("sup over the unit ball of ‖f − g̃‖₂")
    ax.set_title("Dense strong ticket: error vs width", fontsize=9)
    ax.legend(fontsize=7)
    return fig
