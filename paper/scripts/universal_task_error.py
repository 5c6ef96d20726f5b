"""Task error against basis size for one fixed ticket, last layer fitted by least squares.

Each panel is one task; solid lines fit on the ticket, dashed on the exact basis (polynomial:
total degree k; Fourier: maximal frequency N). Training RMS, the quantity bounded by ‖a‖₁·ε in
universal.transfer; the shaded band is that allowed gap around the exact-basis fit.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record


@figure("universal_task_error", claims=("universal.transfer",), produced_by="lth verify universal.transfer")
def draw(results: Path):
    rows = load_claim_record(results, "universal.transfer")["details"]["rows"]
    tasks = list(dict.fromkeys(row["task"] for row in rows))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.3 * len(tasks), 3.4), constrained_layout=True)
    for ax, task in zip(axes, tasks):
        for color, kind in (("C0", "polynomial"), ("C1", "Fourier")):
            chosen = sorted((row for row in rows if row["task"] == task and row["ticket"] == kind),
                            key=lambda row: row["size"])
            if not chosen:
                continue
            size = [row["size"] for row in chosen]
            exact = [row["rms_exact"] for row in chosen]
            ax.plot(size, [row["rms_ticket"] for row in chosen], "o-", color=color, label=f"{kind} ticket")
            ax.plot(size, exact, "s--", mfc="none", color=color, label=f"{kind} exact basis")
            ax.fill_between(size, [max(e - row["bound_down"], 1e-12) for e, row in zip(exact, chosen)],
                            [e + row["bound_up"] for e, row in zip(exact, chosen)], color=color, alpha=0.12)
        ax.set(yscale="log", xlabel="degree k / max frequency N", title=task)
        ax.set_xticks(sorted({row["size"] for row in rows if row["task"] == task}))
    axes[0].set_ylabel("training RMS error")
    axes[0].legend(fontsize=7)
    return fig
