"""Certified and searched sup error of the CNN supermask lemmas against the hidden channels n.

Reads the ``sweep`` rows of ``slth.conv.kernel`` and ``slth.conv.layer`` (nested pools: the first n
channels of one random pair drawn at the largest n). Certified: exact sup over the input box plus a
float64 rounding bound; empirical: projected gradient ascent (a lower bound on the sup).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record

CLAIMS = ("slth.conv.kernel", "slth.conv.layer")


@figure("conv_error_vs_channels", claims=CLAIMS, produced_by="lth verify slth.conv.kernel slth.conv.layer")
def draw(results: Path):
    fig, ax = plt.subplots(figsize=(6.2, 3.6), constrained_layout=True)
    for color, claim_id in zip(("C0", "C1"), CLAIMS):
        record = load_claim_record(results, claim_id)
        rows = record["details"]["sweep"]
        ns = [r["n"] for r in rows]
        shape = "×".join(str(s) for s in rows[0]["shape"])
        ax.semilogy(ns, [r["certified"] for r in rows], "o-", color=color,
                    label=f"{claim_id} certified (K {shape}, D={rows[0]['D']}, {rows[0]['padding']})")
        ax.semilogy(ns, [r["empirical"] for r in rows], "x--", color=color, label=f"{claim_id} empirical (search)")
        ax.axhline(record["details"]["eps"], color=color, ls=":", lw=0.8)
    ax.set_xlabel("hidden channels n per kernel")
    ax.set_ylabel(r"max-norm error, sup over $[0,1]^{c\times D\times D}$")
    ax.set_title("CNN supermask lemmas: error vs channels (dotted: ε of each check)")
    ax.legend()
    return fig
