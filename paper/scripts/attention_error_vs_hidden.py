"""Certified error of the MHA ticket against the source's hidden dimension, and per-map errors
against Pensia et al.'s dense block for the same merged maps.

Reads ``slth.attention.width``: per draw and per m (units per input, hidden dimension n = m·d), the
rigorous certificate of the MHA's sup error and the largest searched error (left), and the rigorous
per-map errors max_h ‖E_h‖₂ of the score and value maps for the attention construction and the dense
block at the same m (right). The dotted line is ε.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record

CLAIM = "slth.attention.width"


@figure("attention_error_vs_hidden", claims=(CLAIM,), produced_by=f"lth verify {CLAIM}")
def draw(results: Path):
    record = load_claim_record(results, CLAIM)
    rows, dense = record["details"]["rows"], record["details"]["dense_rows"]
    draws = sorted({r["draw"] for r in rows})
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 3.6), constrained_layout=True)
    for d in draws:
        mine = [r for r in rows if r["draw"] == d]
        line, = left.semilogy([r["hidden"] for r in mine], [r["certified"] for r in mine], "o-", ms=3,
                              label=f"draw {d}")
        left.semilogy([r["hidden"] for r in mine], [r["empirical"] for r in mine], "x:", color=line.get_color(),
                      ms=4)
    left.axhline(record["params"]["eps"], color="k", ls=":", lw=0.8, label="ε")
    # one entry per draw (colour) and one per kind of error (line style), kept clear of the curves
    left.plot([], [], "o-", color="0.4", ms=3, label="certified")
    left.plot([], [], "x:", color="0.4", ms=4, label="searched")
    left.set_xlabel(r"source hidden dimension $n_K = n_V = m\,d$")
    left.set_ylabel(r"$\sup_{\mathrm{seq}}\ \max_i \|y_i - \tilde y_i\|_2$")
    left.set_title("MHA ticket, nested sources")
    left.legend(loc="lower left", handlelength=1.5)
    for key, marker in (("score_map_error", "o"), ("value_map_error", "s")):
        for source, style, name in ((rows, "-", "attention"), (dense, "--", "dense block")):
            units = sorted({r["units"] for r in source})
            worst = [max(r[key] for r in source if r["units"] == m) for m in units]
            right.semilogy(units, worst, marker + style, ms=3, label=f"{name}, {key.split('_')[0]} maps")
    right.set_xlabel("units per input m")
    right.set_ylabel(r"max over draws and heads of $\|E_h\|_2$")
    right.set_title("per-map error: attention vs ReLU pools")
    right.legend()
    return fig
