"""The residual source (identity skips kept, Theorem R) beside Pensia's construction on the flattened target.

Reads ``details.rows`` of ``slth.residual.block``: for one random residual target, ε and the unit ball, the
residual source at Theorem R's proven widths and Pensia's network at Theorem P's width for the same function
written as a plain MLP by x = σ(x) − σ(−x). Left: random weights of each source and kept weights of each ticket,
with its depth. Right: the residual ticket's certified deviation after each block (rigorous, Lemma R2's ball
recursion) and its certified and found sup errors, with Pensia's certified error, against ε. Widths are
proven; counts and errors are one draw.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record, parameter_bars

CLAIM = "slth.residual.block"


@figure("residual_side_by_side", claims=(CLAIM,), produced_by=f"lth verify {CLAIM}")
def draw(results: Path):
    details = load_claim_record(results, CLAIM)["details"]
    rows = details["rows"]
    residual = rows[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 3.8), constrained_layout=True)
    labels = [f"{'skips kept' if r['construction'] == 'residual' else 'Pensia, flattened'}\ndepth {r['depth']}"
              for r in rows]
    parameter_bars(left, rows, labels)
    blocks = list(range(1, len(residual["deviation_after_block"]) + 1))
    right.plot(blocks, residual["deviation_after_block"], "o-", label="residual: certified deviation after block")
    right.plot(blocks[-1], residual["empirical"], "x", label="residual: largest error found")
    for row in rows[1:]:
        right.plot(blocks[-1], row["certified"], "s", label="Pensia on the flattened MLP: certified")
    right.axhline(residual["eps"], color="k", ls=":", lw=0.8, label="ε")
    right.set_yscale("log")
    right.set_ylim(top=30 * residual["eps"])  # room for the legend above the ε line
    right.set_xticks(blocks)
    right.set_xlabel("block k")
    right.set_ylabel("sup error on the unit ball")
    right.legend(loc="upper left")
    fig.suptitle(f"{details['blocks']} residual blocks, d = {details['width']}, hidden {details['hidden']}, "
                 f"ε = {residual['eps']:g}: skips kept vs x = σ(x) − σ(−x)")
    return fig
