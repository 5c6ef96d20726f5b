"""Shared reading of the stored RSS check records for the rss_* figures (no figure of its own)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lth.figures import load_claim_record
from lth.verdict import clopper_pearson

RSS_CLAIMS = ("rss.lueker", "rss.product")
PRODUCED_BY = "lth verify rss.lueker rss.product"
TITLES = {"uniform": "uniform pools, U[−1, 1]", "product": "product pools, ½δ₀ + ½·Law(XY)"}


def load_rss_records(results: Path) -> list[dict]:
    """The stored records of both RSS checks, in the order of ``RSS_CLAIMS``."""
    return [load_claim_record(results, claim_id) for claim_id in RSS_CLAIMS]


def measured_interval(params: dict) -> tuple[float, float]:
    """The target interval a stored check measured on: its ``lo``/``hi`` parameters, else ``[-1, 1]``."""
    return params.get("lo", -1.0), params.get("hi", 1.0)


def failure_table(scan: dict, confidence: float) -> dict[float, dict[str, np.ndarray]]:
    """Per ε of the scan: n [N], failure rate [N] and its Clopper–Pearson bounds [N] at ``confidence``."""
    ns = np.array([row["n"] for row in scan["rows"]])
    table = {}
    for j, eps in enumerate(scan["eps"]):
        failures = [row["failures"][j] for row in scan["rows"]]
        bounds = np.array([clopper_pearson(k, scan["trials"], confidence) for k in failures])
        table[eps] = {"n": ns, "rate": np.array(failures) / scan["trials"], "lower": bounds[:, 0],
                      "upper": bounds[:, 1]}
    return table
