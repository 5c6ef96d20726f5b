"""The fixed tickets' last-layer fits of three targets, along the diagonal x_1 = … = x_d of the cube.

Black: the target; blue: polynomial ticket (degree k), orange: Fourier ticket (frequency N); dashed
lines the same fits on the exact bases (they coincide with the ticket fits to within ‖a‖₁·ε).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record
from lth.paper.scripts.universal_task_error import task_title


@figure("universal_approximations", claims=("universal.transfer",), produced_by="lth verify universal.transfer")
def draw(results: Path):
    slices = load_claim_record(results, "universal.transfer")["details"]["slices"]
    fig, axes = plt.subplots(1, len(slices), figsize=(6.2, 3.0), sharey=True, constrained_layout=True)
    for ax, row in zip(axes, slices):
        s = row["s"]
        ax.plot(s, row["target"], "k-", lw=2.5, alpha=0.5, label="target")
        ax.plot(s, row["polynomial_ticket"], "-", color="C0", label="polynomial ticket")
        ax.plot(s, row["polynomial_exact"], "--", color="C0", lw=0.8, label="polynomial exact basis")
        ax.plot(s, row["fourier_ticket"], "-", color="C1", label="Fourier ticket")
        ax.plot(s, row["fourier_exact"], "--", color="C1", lw=0.8, label="Fourier exact basis")
        ax.set(title=task_title(row["task"]), xlabel=r"$s$, at $x = (s, \dots, s)$")
    axes[0].set_ylabel("target and fitted value")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    return fig
