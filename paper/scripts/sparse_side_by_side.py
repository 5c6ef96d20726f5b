"""Pensia's dense construction beside strong tickets in Erdős–Rényi sparse sources, on one target.

Reads ``details.rows`` of ``slth.sparse.network``: for the same unbiased random target, ε and unit
ball, each construction at its proven width (Theorem P for the dense network, Theorem S for each
density p). Left: random weights of the source (present entries) and kept weights of the ticket.
Right: the sparse sources' units per input over Theorem P's (one point per block) beside
1/(p(1 − (1 − p)^d)) and the paper's 1/ln(1/(1 − p)). Widths are proven; counts and certified errors
are one draw (the certified errors are rigorous).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from lth.figures import figure, load_claim_record, parameter_bars

CLAIM = "slth.sparse.network"


@figure("sparse_side_by_side", claims=(CLAIM,), produced_by=f"lth verify {CLAIM}")
def draw(results: Path):
    details = load_claim_record(results, CLAIM)["details"]
    rows = details["rows"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 3.6), constrained_layout=True)
    parameter_bars(left, rows, [r["name"].split(" (")[0].replace(" p = ", "\np = ") for r in rows])
    sparse = rows[1:]
    for r in sparse:
        p = r["density"]
        right.plot([p] * len(r["width_ratio"]), r["width_ratio"], "o", color="C0")
        right.plot([p] * len(r["width_factor_expected"]), r["width_factor_expected"], "_", color="C1", ms=14)
        right.plot([p], [r["width_factor_paper"]], "x", color="C2")
    right.plot([], [], "o", color="C0", label=r"proven $m_i(p) / m_i(1)$")
    right.plot([], [], "_", color="C1", label=r"$1/(p(1-(1-p)^d))$")
    right.plot([], [], "x", color="C2", label=r"$1/\ln(1/(1-p))$ (paper)")
    right.set_xscale("log")
    right.set_yscale("log")
    for axis in (right.xaxis, right.yaxis):  # plain numbers, no crowded minor labels on the short log axes
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())
    right.set_xlabel("density p")
    right.set_ylabel("width over Theorem P's")
    right.legend()
    fig.suptitle(f"Target {'-'.join(map(str, details['widths']))}, ε = {rows[0]['eps']:g}: dense vs ER sources",
                 fontsize=9)
    return fig
