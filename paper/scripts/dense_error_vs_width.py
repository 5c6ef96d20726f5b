"""Failure rate of the measured dense width rule against its constant C.

Reads ``slth.dense.rule``: per target, the failure rate (certified sup error above ε) over independent
draws of target and network, with exact 95% Clopper–Pearson intervals, at the judged constant
(``details.cells``, C = 3) and at the smaller constants of ``details.constants`` (reported, not
judged), all at the claim's last (ε, δ) case. The dotted line is δ.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record
from lth.verdict import clopper_pearson

CLAIM = "slth.dense.rule"


@figure("dense_error_vs_width", claims=(CLAIM,), produced_by=f"lth verify {CLAIM}")
def draw(results: Path):
    record = load_claim_record(results, CLAIM)
    eps, delta = record["params"]["cases"][-1]
    judged = [c for c in record["details"]["cells"] if c.get("eps") == eps and c.get("delta") == delta
              and "c" in c]
    rows = record["details"]["constants"] + judged
    fig, ax = plt.subplots(figsize=(6.2, 3.6), constrained_layout=True)
    for index, name in enumerate(dict.fromkeys(r["name"] for r in rows)):
        mine = sorted((r for r in rows if r["name"] == name), key=lambda r: r["c"])
        rates = [r["failures"] / r["draws"] for r in mine]
        intervals = [clopper_pearson(r["failures"], r["draws"]) for r in mine]
        ax.errorbar([r["c"] + 0.03 * index for r in mine], rates,
                    yerr=[[rate - lo for rate, (lo, _) in zip(rates, intervals)],
                          [hi - rate for rate, (_, hi) in zip(rates, intervals)]],
                    fmt="o-", capsize=3, label=name)
    ax.axhline(delta, color="k", ls=":", lw=0.8, label="δ")
    ax.set_xlabel(r"width constant $C$ (units per input $2\lceil C \ln(d_{\mathrm{in}} d_{\mathrm{out}} l"
                  r" / \min(\varepsilon, \delta))\rceil$)")
    ax.set_ylabel("failure rate (certified > ε) over draws")
    ax.set_title("Measured dense rule: failure rate vs C (95% Clopper–Pearson)")
    ax.legend()
    return fig
