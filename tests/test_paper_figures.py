"""The paper's figures draw what their committed records hold (paper/scripts, on records/)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from lth.figures import all_figures  # noqa: E402
from lth.manuscript import RECORDS_DIR  # noqa: E402
from lth.store import select_claim_record  # noqa: E402


def test_the_multidim_figure_draws_every_dimension_of_its_record():
    """Each d of the committed rss.multidim record (d = 1, 2, 3, the last not tested: its predicted n is
    above the largest pool scanned) has its measured n*(ε, d) points and its counting bound drawn."""
    record = select_claim_record(RECORDS_DIR, "rss.multidim")["record"]
    parts = record["details"]["parts"]
    assert [part["d"] for part in parts] == list(record["params"]["dims"])
    fig = all_figures()["rss_multidim"].draw(RECORDS_DIR)
    try:
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        points = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()}
        for part in parts:
            d = part["d"]
            assert f"d={d}: counting bound $d \\log_2(1/ε)$" in labels, d
            xs, ys = points[f"d={d}: measured $n^*(ε, d)$"]
            assert ys == list(part["n_star"].values()), d
            assert xs == [math.log2(1 / float(e)) for e in part["n_star"]], d
            if "rise" not in part and "n_pred" in part:
                assert any(label.startswith(f"d={d}: predicted n = {part['n_pred']} >") for label in labels), d
    finally:
        plt.close(fig)
