"""Basis error against kept random parameters: our certified and sampled errors beside the anchor.

Left: the polynomial basis ((1+x)/2)^r, r = 1..4 on [0, 1], through the ticket (log block, integer
layer, exp block) at several interpolation tolerances (the quick-scale ticket and its sweep); kept
parameters are those of both blocks. Right: sin(2πx) on [0, 1] alone, sparse solver at several
tolerances, plus squares for the dense solver (lth.theory.subset_sum.best_subsets, which keeps about half
of each pool) at the quick tolerance. Filled: certified sup error
(rigorous over the whole interval); hollow: sampled on a 10,000-point grid; crosses: the published
demo's sampled numbers (Burkholz et al., "On the Existence of Universal Lottery Tickets", ICLR 2022,
UniversalLT subsetsum.py).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from lth.figures import figure, load_claim_record


@figure("universal_basis_error", claims=("universal.poly.ticket", "universal.fourier.ticket"),
        produced_by="lth verify universal.poly.ticket universal.fourier.ticket")
def draw(results: Path):
    poly = load_claim_record(results, "universal.poly.ticket")["details"]
    fourier = load_claim_record(results, "universal.fourier.ticket")["details"]
    anchor = poly["anchor"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 4.2), constrained_layout=True)

    points = [{"kept": poly["kept"], "certified": poly["univariate"]["certified"],
               "sampled": poly["univariate"]["sampled"]}] + poly["sweep"]
    points.sort(key=lambda point: point["kept"])
    orders = poly["univariate"]["r"]
    kept = [point["kept"] for point in points]
    for i, r in enumerate(orders):
        left.plot(kept, [point["certified"][i] for point in points], "o-", color=f"C{i}")
        left.plot(kept, [point["sampled"][i] for point in points], "o--", mfc="none", color=f"C{i}")
    crosses = [left.plot([anchor["poly_kept"]], [err], "x", ms=8, mew=2, color=f"C{i}")[0]
               for i, err in enumerate(anchor["poly_sampled"])]
    # One legend entry per order r (its colour), then the three kinds of mark; the anchor entry shows
    # its crosses in their colours. Below the axes, so no curve is hidden.
    handles = [Line2D([], [], color=f"C{i}", marker="o", label=f"r = {r}") for i, r in enumerate(orders)]
    handles += [Line2D([], [], color="0.3", marker="o", label="certified (whole interval)"),
                Line2D([], [], color="0.3", marker="o", mfc="none", ls="--", label="sampled (10,000-point grid)")]
    labels = [h.get_label() for h in handles] + [f"anchor, sampled (~{anchor['poly_kept']:,} kept of "
                                                 f"{anchor['poly_total']:,})"]
    left.set(xscale="log", yscale="log", xlabel="kept random parameters (log, exp)",
             ylabel="sup error of $((1+x)/2)^r$ on $[0, 1]$", title="polynomial basis")
    left.legend([*handles, tuple(crosses)], labels, handler_map={tuple: HandlerTuple(ndivide=None)},
                loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)

    # In the order of the interpolation tolerance (the unit ticket is factor 1), coarse to fine: the
    # line follows the sweep, not the kept count (which is not monotone in the tolerance).
    sines = sorted([{"factor": 1.0, **fourier["unit_sin"]}] + fourier["sweep"], key=lambda point: -point["factor"])
    right.plot([p["kept"] for p in sines], [p["certified"] for p in sines], "o-", color="C0", label="certified")
    right.plot([p["kept"] for p in sines], [p["sampled"] for p in sines], "o--", mfc="none", color="C0",
               label="sampled (10,000-point grid)")
    dense = fourier.get("dense", [])
    pools = ", ".join(str(p["pool_size"]) for p in dense)
    right.plot([p["kept"] for p in dense], [p["certified"] for p in dense], "s", color="C3",
               label=f"certified, dense solver\n(best_subsets, pools {pools})")
    right.plot([anchor["sin_kept"]], [anchor["sin_sampled"]], "kx", ms=9, mew=2,
               label=f"anchor, sampled ({anchor['sin_kept']} kept of {anchor['sin_total']:,})")
    right.set(xscale="log", yscale="log", xlabel="kept random parameters", ylabel=r"sup error of $\sin(2\pi x)$ on $[0, 1]$",
              title="Fourier piece")
    right.xaxis.set_minor_formatter(NullFormatter())  # the minor labels of a short log axis overlap
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
    return fig
