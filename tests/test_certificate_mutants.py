"""Pins of certificate contracts that the oracle suite alone lets mutants slip through (make mutants).

The oracles (tests/test_oracles.py) check certificate ≥ true supremum. A mutant that shrinks a
rounding margin only a little survives them, because float64 rounding rarely reaches its worst
case. Where the code documents its margin, these tests pin it on inputs whose arithmetic is exact.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from theory.numerics import gamma
from theory.subset_sum import covers_interval, rounding_slack, worst_case_error

# Pools of multiples of 2^-12 in [-1, 1]: every subset sum, shift and merge end is exact in float64.
dyadic_pools = arrays(np.float64, st.integers(1, 6), elements=st.integers(-4096, 4096).map(lambda k: k / 4096))
intervals = st.sampled_from([(-1.0, 1.0), (-0.5, 0.5), (0.25, 0.75), (-2.0, 0.5)])


def exact_sup(x: np.ndarray, lo: float, hi: float) -> float:
    """Worst-case error of a dyadic pool (exact: its float64 sums are exact, so worst_case_error is)."""
    return float(worst_case_error(torch.tensor(x), lo, hi))


@given(x=dyadic_pools, interval=intervals, theta=st.floats(0.0, 0.9))
def test_covers_interval_shrinks_the_radius_by_the_documented_rounding_bound(x, interval, theta):
    """``r = ε − γ_{n+2}(Σ|x| + ε + max(|lo|, |hi|))`` (proofs/rss.md (c)): below it, False."""
    lo, hi = interval
    exact = exact_sup(x, lo, hi)
    scale = float(np.abs(x).sum()) + exact + max(abs(lo), abs(hi))
    eps = exact + theta * gamma(len(x) + 2) * scale
    assume(eps > 0)
    assert not bool(covers_interval(torch.tensor(x), eps, lo, hi))


@given(x=dyadic_pools, interval=intervals)
def test_covers_interval_accepts_just_above_the_documented_shrink(x, interval):
    lo, hi = interval
    exact = exact_sup(x, lo, hi)
    scale = float(np.abs(x).sum()) + 2 * exact + 1e-9 + max(abs(lo), abs(hi))
    eps = exact + 1.2 * gamma(len(x) + 2) * scale + 1e-300
    assert bool(covers_interval(torch.tensor(x), eps, lo, hi))


@given(x=dyadic_pools)
def test_the_default_interval_is_minus_one_to_one(x):
    pool = torch.tensor(x)
    eps = exact_sup(x, -1.0, 1.0) * 1.01 + 1e-3
    assert bool(covers_interval(pool, eps)) == bool(covers_interval(pool, eps, -1.0, 1.0))
    assert float(worst_case_error(pool)) == float(worst_case_error(pool, -1.0, 1.0))
    assert float(rounding_slack(pool)) == float(rounding_slack(pool, -1.0, 1.0))


@given(batch=arrays(np.float64, st.tuples(st.integers(2, 4), st.integers(1, 5)), elements=st.floats(-1, 1)),
       eps=st.sampled_from([0.05, 0.2, 0.5]))
def test_batched_and_float32_pools_get_the_verdicts_of_one_pool_at_a_time(batch, eps):
    pools = torch.tensor(batch)
    one_by_one = [bool(covers_interval(p, eps)) for p in pools]
    assert covers_interval(pools, eps).tolist() == one_by_one
    assert covers_interval(pools[None], eps).shape == (1, len(batch))
    slack = rounding_slack(pools)
    assert slack.shape == (len(batch),)
    assert all(float(s) == float(rounding_slack(p)) for s, p in zip(slack, pools))
    single = pools.to(torch.float32)
    exact32 = [Fraction(exact_sup(p.to(torch.float64).numpy(), -1.0, 1.0)) for p in single]
    for p, e in zip(single, exact32):
        assert not bool(covers_interval(p, eps)) or e <= Fraction(eps)


@pytest.mark.parametrize("eps", [0.0, -0.1])
def test_a_non_positive_eps_is_refused_by_name(eps):
    with pytest.raises(ValueError, match="eps"):
        covers_interval(torch.tensor([0.5]), eps)


def test_an_empty_interval_is_refused_and_a_point_is_accepted():
    with pytest.raises(ValueError, match="interval"):
        covers_interval(torch.tensor([0.5]), 0.1, 0.3, 0.2)
    with pytest.raises(ValueError, match="interval"):
        worst_case_error(torch.tensor([0.5]), 0.3, 0.2)
    assert bool(covers_interval(torch.tensor([0.5]), 0.1, 0.5, 0.5))
    assert float(worst_case_error(torch.tensor([0.5]), 0.5, 0.5)) == 0.0
