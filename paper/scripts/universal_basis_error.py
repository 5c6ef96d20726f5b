"""Basis error against kept random parameters: our certified and sampled errors beside the anchor.

Left: the polynomial basis ((1+x)/2)^r, r = 1..4 on [0, 1], through the ticket (log block, integer
layer, exp block) at several interpolation tolerances (the quick-scale ticket and its sweep); kept
parameters are those of both blocks. Right: sin(2πx) on [0, 1] alone, sparse solver at several
tolerances, plus squares for the dense solver (theory.subset_sum.best_subsets, which keeps about half
of each pool) at the quick tolerance. Filled: certified sup error
(rigorous over the whole interval); hollow: sampled on a 10,000-point grid; crosses: the published
demo's sampled numbers (Burkholz et al., "On the Existence of Universal Lottery Tickets", ICLR 2022,
UniversalLT subsetsum.py).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record


@figure("universal_basis_error", claims=("universal.poly.ticket", "universal.fourier.ticket"),
        produced_by="lth verify universal.poly.ticket universal.fourier.ticket")
def draw(results: Path):
    poly = load_claim_record(results, "universal.poly.ticket")["details"]
    fourier = load_claim_record(results, "universal.fourier.ticket")["details"]
    anchor = poly["anchor"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)

    points = [{"kept": poly["kept"], "certified": poly["univariate"]["certified"],
               "sampled": poly["univariate"]["sampled"]}] + poly["sweep"]
    points.sort(key=lambda point: point["kept"])
    orders = poly["univariate"]["r"]
    for i, r in enumerate(orders):
        kept = [point["kept"] for point in points]
        left.plot(kept, [point["certified"][i] for point in points], "o-", color=f"C{i}", label=f"r = {r} certified")
        left.plot(kept, [point["sampled"][i] for point in points], "o--", mfc="none", color=f"C{i}",
                  label=f"r = {r} sampled")
    for i, (r, err) in enumerate(zip(anchor["poly_r"], anchor["poly_sampled"])):
        left.plot([anchor["poly_kept"]], [err], "x", ms=9, mew=2, color=f"C{i}")
    left.plot([], [], "kx", label=f"anchor, sampled (~{anchor['poly_kept']} kept of {anchor['poly_total']:,})")
    left.set(xscale="log", yscale="log", xlabel="kept random parameters (log and exp blocks)",
             ylabel="sup error of ((1+x)/2)^r on [0, 1]", title="polynomial basis")
    left.legend(fontsize=7, ncol=2)

    sines = sorted([fourier["unit_sin"]] + fourier["sweep"], key=lambda point: point["kept"])
    right.plot([p["kept"] for p in sines], [p["certified"] for p in sines], "o-", color="C0", label="certified")
    right.plot([p["kept"] for p in sines], [p["sampled"] for p in sines], "o--", mfc="none", color="C0",
               label="sampled (10,000-point grid)")
    dense = fourier.get("dense", [])
    pools = ", ".join(str(p["pool_size"]) for p in dense)
    right.plot([p["kept"] for p in dense], [p["certified"] for p in dense], "s", color="C3",
               label=f"certified, dense solver (best_subsets, pools {pools})")
    right.plot([anchor["sin_kept"]], [anchor["sin_sampled"]], "kx", ms=9, mew=2,
               label=f"anchor, sampled ({anchor['sin_kept']} kept of {anchor['sin_total']:,})")
    right.set(xscale="log", yscale="log", xlabel="kept random parameters", ylabel="sup error of sin(2πx) on [0, 1]",
              title="Fourier piece")
    right.legend(fontsize=7, loc="lower left")
    return fig
