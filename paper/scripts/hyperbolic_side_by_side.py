"""Pensia's construction beside the hyperbolic (binary-decomposition) construction, on one target.

Reads ``details.rows`` and ``details.proven_widths`` of ``slth.hyperbolic.network``. Left: random weights
of each source at its proven width and kept weights of its ticket (one draw; the certified errors behind
them are rigorous). Right: the ratio of random weights, hyperbolic over Pensia, at the proven widths over a grid of ε
(closed forms at the check's δ) and at the least grid width certified ≤ ε (``measured_widths``: one draw
per width, Pensia with pool rule "largest"); below 1 the hyperbolic construction is the smaller.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record, parameter_bars

CLAIM = "slth.hyperbolic.network"


@figure("hyperbolic_side_by_side", claims=(CLAIM,), produced_by=f"lth verify {CLAIM}")
def draw(results: Path):
    details = load_claim_record(results, CLAIM)["details"]
    rows, proven = details["rows"], details["proven_widths"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 3.6), constrained_layout=True)
    parameter_bars(left, rows, [r["name"].split(" (")[0] for r in rows])
    right.plot([r["eps"] for r in proven], [r["random_ratio"] for r in proven], "o-", label="proven widths (H / P)")
    measured = [r for r in details.get("measured_widths", []) if r["fewer_random"] is not None]
    right.plot([r["eps"] for r in measured],
               [r["hyperbolic"]["random_parameters"] / r["pensia"]["random_parameters"] for r in measured], "s",
               color="C1", label="least certified grid width,\none draw (H / P)")
    right.axhline(1.0, color="k", ls=":", lw=0.8)
    right.set_xscale("log")
    right.invert_xaxis()
    right.set_yscale("log")
    right.set_xlabel("ε")
    right.set_ylabel("random weights, ratio")
    right.legend()
    fig.suptitle(f"Target {'-'.join(map(str, details['widths']))}, ε = {rows[0]['eps']:g}: "
                 "U[−1, 1] subset sums vs binary digits")
    return fig
