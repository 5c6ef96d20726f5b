"""Task error against basis size for one fixed ticket, last layer fitted by least squares.

Each panel is one task; solid lines fit on the ticket, dashed on the exact basis (polynomial:
total degree k; Fourier: maximal frequency N). Training RMS, the quantity bounded by ‖a‖₁·ε in
universal.transfer; the shaded band is that allowed gap around the exact-basis fit.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record

# A task's stored name as a panel title: formulas typeset as math text, not raw ASCII.
TASK_TITLES = {"exp(-|x|^2)": r"$\exp(-\|x\|^2)$"}


def task_title(task: str) -> str:
    """The panel title of a task of ``universal.transfer`` (its stored name unless it is a formula)."""
    return TASK_TITLES.get(task, task)


@figure("universal_task_error", claims=("universal.transfer",), produced_by="lth verify universal.transfer")
def draw(results: Path):
    rows = load_claim_record(results, "universal.transfer")["details"]["rows"]
    tasks = list(dict.fromkeys(row["task"] for row in rows))
    columns = 2 if len(tasks) > 2 else len(tasks)  # a grid: four panels in a row are too narrow
    fig, axes = plt.subplots(-(-len(tasks) // columns), columns, figsize=(6.2, 4.2), constrained_layout=True,
                             squeeze=False)
    axes = axes.ravel()
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
        ax.set(yscale="log", xlabel="degree $k$ / max frequency $N$", title=task_title(task))
        ax.set_xticks(sorted({row["size"] for row in rows if row["task"] == task}))
    for ax in axes[::columns]:
        ax.set_ylabel("training RMS error")
    for ax in axes[len(tasks):]:
        ax.set_visible(False)
    axes[0].legend()
    return fig
