"""Pensia's depth-2L construction beside Burkholz's depth-(L+1) construction (ReLU and tanh), on one target.

Reads ``details.rows`` of ``slth.depth.network``: for the same unbiased random target, ε and unit ball,
each construction at its proven widths (Theorem P, Theorem B). Left: random weights of the source and
kept weights of the ticket, with each source's depth. Right: the certified sup error (rigorous) and the
largest error the search found (a lower bound), against ε. Widths are proven; counts and errors are one
draw.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record, parameter_bars

CLAIM = "slth.depth.network"


@figure("depth_side_by_side", claims=(CLAIM,), produced_by=f"lth verify {CLAIM}")
def draw(results: Path):
    details = load_claim_record(results, CLAIM)["details"]
    rows = details["rows"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 3.6), constrained_layout=True)
    x = list(range(len(rows)))
    labels = [f"{r['name'].split(' (')[0]}\n{r['activation']}, depth {r['depth']}".replace(" ", "\n", 1) for r in rows]
    parameter_bars(left, rows, labels)
    right.plot(x, [r["certified"] for r in rows], "o", label="certified sup error")
    right.plot(x, [r["empirical"] for r in rows], "x", label="largest error found")
    right.axhline(rows[0]["eps"], color="k", ls=":", lw=0.8, label="ε")
    right.set_yscale("log")
    right.set_xticks(x, labels)
    right.set_ylabel("sup error on the unit ball")
    right.legend()
    fig.suptitle(f"Target {'-'.join(map(str, details['widths']))}, ε = {rows[0]['eps']:g}: depth 2L vs L+1",
                 fontsize=9)
    return fig
