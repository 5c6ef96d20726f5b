"""Basin log-volumes with confidence intervals: left, log V / n of the clean, poisoned and ticket minima
of ``basin.generalisation`` (mean over seeds, 95% t-interval); right, the estimator's error per
dimension on quadratic basins of ``basin.estimator`` against n (isotropic: bracket-limited; ill-
conditioned: the concentration gap, drawn as a dashed line).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record


@figure("basin_volumes", claims=("basin.generalisation", "basin.estimator"),
        produced_by="lth verify basin.generalisation basin.estimator")
def draw(results: Path):
    summary = load_claim_record(results, "basin.generalisation")["details"]["summary"]
    estimator = load_claim_record(results, "basin.estimator")["details"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    kinds = [k for k in ("clean", "poisoned", "ticket") if k in summary]
    means = [summary[k]["per_dimension"]["mean"] for k in kinds]
    errors = [[m - summary[k]["per_dimension"]["ci"][0] for k, m in zip(kinds, means)],
              [summary[k]["per_dimension"]["ci"][1] - m for k, m in zip(kinds, means)]]
    left.bar(kinds, means, yerr=errors, capsize=4, color=["C0", "C3", "C2"][:len(kinds)])
    left.set_ylabel("log V / n (95% t-interval over seeds)")
    left.set_title("Basin log-volume per coordinate", fontsize=9)
    for name, key, style in (("isotropic", "isotropic", "o-"), ("ill-conditioned", "ill_conditioned", "s-")):
        rows = estimator[key]
        right.plot([r["n"] for r in rows], [max(abs(r["error_per_dim"]), 1e-16) for r in rows], style, label=name)
    ill = estimator["ill_conditioned"]
    right.plot([r["n"] for r in ill], [r["predicted_gap"] / r["n"] for r in ill], "k--", label="concentration gap / n")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("n")
    right.set_ylabel("|log V̂ − log V| / n")
    right.set_title("Estimator on quadratic basins", fontsize=9)
    right.legend(fontsize=8)
    return fig
