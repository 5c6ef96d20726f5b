"""The LeNet-style CNN on digits as n grows (the rows of the paper's LeNet table, drawn as curves).

Per n (the same n in every layer): max per-weight error of the collapsed kernels (absolute and
relative to the layer's largest weight, on the normalised layers), certified sup output error
(float64 propagation bound over [0,1]^{1×8×8}), searched output error, and build time. Dotted grey:
the max relative weight errors published for the Julia+Gurobi direct approximation of LeNet-5's conv
weights on MNIST (a different task: weights approximated directly, not a pruned random CNN).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lth.figures import figure, load_claim_record

PUBLISHED = {15: 1.8e-2, 20: 7.3e-4, 25: 7.7e-5, 30: 7.7e-6}  # da Cunha, Natale & Viennot, ICLR 2022 (MNIST)


@figure("conv_lenet_table", claims=("slth.conv.network",), produced_by="lth verify slth.conv.network")
def draw(results: Path):
    rows = load_claim_record(results, "slth.conv.network")["details"]["table"]
    # One panel at print width: the numbers themselves are the paper's generated table, not an image.
    fig, ax = plt.subplots(figsize=(6.2, 3.6), constrained_layout=True)
    ns = [r["n"] for r in rows]
    for key, style, label in (("max_abs_weight_error", "o-", "max |ΔK| (normalised)"),
                              ("max_relative_weight_error", "s-", "max |ΔK| / max |K| per layer"),
                              ("certified", "^-", "certified sup output error"),
                              ("empirical", "x--", "searched output error")):
        ax.semilogy(ns, [max(r[key], 1e-17) for r in rows], style, label=label)
    ax.semilogy(list(PUBLISHED), list(PUBLISHED.values()), "k:", marker=".",
                label="published direct approx. (MNIST, rel. weight error)")
    ax.set_xlabel("n (random coefficients per weight)")
    ax.set_ylabel("error (weights: per entry; output: sup over the box)")
    ax.set_title("LeNet-style CNN on digits: pruned random CNN")
    ax.legend()
    return fig
