"""rss.product as stated: the check runs on [-1/2, 1/2] (Corollary 2), and its proven counts sit below
Corollary 3's count for [-1, 1] (proofs/rss.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lth.claims.rss import ProductParams
from lth.theory.device import generator
from lth.theory.lueker import bound_failure_probability, bound_lueker_samples, bound_target_interval
from lth.theory.subset_sum import covers_interval, sample_pools

PROOF = Path(__file__).resolve().parents[1] / "proofs" / "rss.md"
WHOLE = (-1.0, 1.0)


def test_the_product_check_counts_failures_on_the_interval_of_corollary_2():
    assert (ProductParams.lo, ProductParams.hi) == bound_target_interval("product") == (-0.5, 0.5)


@given(eps=st.floats(1e-5, 0.45))
def test_the_half_interval_count_never_exceeds_the_whole_interval_count(eps):
    """Corollary 3's bound adds a range term to Corollary 2's bound on n − n1 ≤ n samples."""
    half = bound_lueker_samples(eps, "product")
    assert half <= bound_lueker_samples(eps, "product", WHOLE)
    assert bound_failure_probability(half, eps, "product", WHOLE) >= bound_failure_probability(half, eps, "product")


def proof_table_counts(law_label: str) -> list[int]:
    """The three proven counts (ε = 1e-2, 1e-3, 1e-5) in the proof's summary row whose label starts so."""
    row = next(line for line in PROOF.read_text().splitlines() if line.startswith(f"| {law_label}"))
    return [int(v) for v in re.findall(r"\| (\d+) ", row + " ")[-3:]]


def test_the_proof_summary_table_states_both_intervals_with_the_library_counts():
    text = PROOF.read_text()
    eps = (1e-2, 1e-3, 1e-5)
    half = proof_table_counts(r"$\frac12\delta_0+\frac12\mathrm{Law}(XY)$ (Corollary 2)")
    whole = proof_table_counts("product law (Corollary 3)")
    assert half == [bound_lueker_samples(e, "product") for e in eps]
    assert whole == [bound_lueker_samples(e, "product", WHOLE) for e in eps]
    assert "registered check `rss.product` counts\nfailures on Corollary 2's own interval" in text


@pytest.mark.parametrize("interval", [None, WHOLE])
def test_pools_of_the_proven_size_cover_their_interval_at_a_large_eps(interval):
    """At ε = 0.2 the proof asks for 120 ([-1/2, 1/2]) and 183 ([-1, 1]) samples; 200 pools of that size
    must essentially all cover (the bound allows 20 % failures; seeing more than 30 % would refute it)."""
    eps = 0.2
    lo, hi = interval or bound_target_interval("product")
    n = bound_lueker_samples(eps, "product", interval)
    pools = sample_pools("product", (200, n), generator(0, torch.device("cpu")))
    assert int((~covers_interval(pools, eps, lo, hi)).sum()) <= 60
