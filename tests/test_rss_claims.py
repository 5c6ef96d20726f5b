"""The registered RSS checks hold at quick scale and fail on deliberately broken instances."""

from __future__ import annotations

import pytest

from lth.registry import run_claim


@pytest.mark.claim("rss.lueker")
def test_lueker_check_fails_when_the_predicted_n_is_cut_short():
    record = run_claim("rss.lueker", eps_fit=(0.2, 0.1, 0.05), eps_test=(0.02,), test_trials=1500, faults={"n_offset": -4})
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("rss.product")
def test_product_check_fails_when_the_predicted_n_is_cut_short():
    record = run_claim("rss.product", eps_fit=(0.2, 0.1), eps_test=(0.05,), test_trials=800, faults={"n_offset": -16})
    assert record.verdict == "fails", record.reason
