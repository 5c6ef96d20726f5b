"""Random subset sum variants: fixed-size k-sums (rss.fixed_size) and d-dimensional cube covers
(rss.multidim) against brute force, and the claims."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lth.claims.rss_variants import counting_samples
from lth.registry import run_claim
from lth.theory.fixed_size_subset_sum import (best_fixed_size_subsets, best_sparse_subsets, fixed_size_worst_case_error,
                                          sorted_k_sums)
from lth.theory.multidim_subset_sum import COVERED, FAILS, UNDECIDED, cube_cover, prefix_cover
from lth.theory.multidim_subset_sum import counting_samples as cube_counting_samples
from lth.theory.subset_sum import worst_case_error

finite = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False, width=64)
pool_arrays = arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(2, 9)), elements=finite)


def k_sums(row: np.ndarray, k: int) -> np.ndarray:
    return np.array([row[list(c)].sum() for c in itertools.combinations(range(len(row)), k)])


@given(pool_arrays, st.integers(1, 4), st.floats(-2.0, 2.0))
def test_the_fixed_size_solver_finds_the_nearest_sum_of_exactly_k_entries(x, k, target):
    k = min(k, x.shape[1])
    pools = torch.from_numpy(x)
    targets = torch.full((x.shape[0],), target, dtype=torch.float64)
    mask = best_fixed_size_subsets(pools, targets, k)
    assert torch.all(mask.sum(-1) == k)
    got = ((mask * pools).sum(-1) - targets).abs()
    for row in range(x.shape[0]):
        assert float(got[row]) <= np.abs(k_sums(x[row], k) - target).min() + 1e-12


@given(pool_arrays, st.integers(1, 3), st.floats(-1.5, 0.0), st.floats(0.0, 1.5))
def test_the_fixed_size_worst_case_error_matches_a_dense_grid_of_targets(x, k, lo, hi):
    k = min(k, x.shape[1])
    exact = fixed_size_worst_case_error(torch.from_numpy(x), k, lo, hi).numpy()
    grid = np.linspace(lo, hi, 4001)
    for row in range(x.shape[0]):
        dist = np.abs(grid[:, None] - k_sums(x[row], k)[None, :]).min(axis=1)
        assert dist.max() - 1e-12 <= exact[row] <= dist.max() + (hi - lo) / 4000 + 1e-12


@given(pool_arrays)
def test_sorted_k_sums_are_the_ascending_k_sums(x):
    k = max(1, x.shape[1] // 2)
    np.testing.assert_allclose(sorted_k_sums(torch.from_numpy(x), k).numpy(),
                               np.stack([np.sort(k_sums(row, k)) for row in x]), rtol=0, atol=1e-12)


def test_the_sparse_solver_keeps_its_meaning_for_odd_pools_and_uses_the_last_entry():
    x = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.77]], dtype=torch.float64)
    mask = best_sparse_subsets(x, torch.tensor([0.77], dtype=torch.float64), 1)
    assert mask[0].tolist() == [False, False, False, False, True]


@given(st.integers(1, 3), st.sampled_from([0.2, 0.1, 0.05]), st.integers(0, 2**31 - 1))
def test_a_pool_below_the_counting_bound_never_covers_the_interval(k, eps, seed):
    n = counting_samples(k, eps, -1.0, 1.0) - 1
    if n < k:
        return
    gen = torch.Generator().manual_seed(seed)
    pools = torch.rand((20, n), generator=gen, dtype=torch.float64) * 2 - 1
    assert torch.all(fixed_size_worst_case_error(pools, k) > eps)


@pytest.mark.claim("rss.fixed_size")
def test_the_fixed_size_claim_holds_at_a_small_scale():
    record = run_claim("rss.fixed_size", ks=(3,), trials=100, test_trials=300, eps_fit=(0.2, 0.1))
    assert record.verdict == "holds", record.reason
    assert record.certified.value <= record.bound.value


@pytest.mark.claim("rss.fixed_size")
def test_the_fixed_size_claim_fails_when_the_predicted_pool_is_cut_down():
    record = run_claim("rss.fixed_size", ks=(3,), trials=100, test_trials=300, eps_fit=(0.2, 0.1),
                       faults={"n_offset": -1000})
    assert record.verdict == "fails", record.reason


vector_pools = arrays(np.float64, st.tuples(st.integers(1, 2), st.integers(1, 7), st.integers(1, 3)), elements=finite)


def all_sums(pool: np.ndarray) -> np.ndarray:
    """``[n, d]`` → ``[2^n, d]`` every subset sum, by enumeration."""
    n = pool.shape[0]
    codes = np.arange(2**n)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(np.float64) @ pool


def cube_points(d: int, per_axis: int) -> np.ndarray:
    axis = np.linspace(-1.0, 1.0, per_axis)
    return np.stack(np.meshgrid(*[axis] * d, indexing="ij"), -1).reshape(-1, d)


@given(vector_pools, st.floats(0.3, 0.95))
def test_a_certified_cube_cover_leaves_no_brute_force_point_farther_than_eps(x, eps):
    cover = cube_cover(torch.from_numpy(x), eps)
    points = cube_points(x.shape[2], 41 if x.shape[2] < 3 else 13)
    for p in range(x.shape[0]):
        if cover.verdict[p] == COVERED:
            dist = np.abs(points[:, None, :] - all_sums(x[p])[None]).max(-1).min(1)
            assert dist.max() <= eps + 1e-12


@given(vector_pools, st.floats(0.3, 0.95))
def test_a_failed_cube_cover_names_a_cube_point_farther_than_eps_from_every_sum(x, eps):
    cover = cube_cover(torch.from_numpy(x), eps)
    for p in range(x.shape[0]):
        if cover.verdict[p] == FAILS:
            witness = cover.witness[p].numpy()
            assert np.all(np.abs(witness) <= 1)
            assert np.abs(all_sums(x[p]) - witness).max(-1).min() > eps


@given(arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 9)), elements=finite), st.floats(0.05, 0.95))
def test_in_one_dimension_the_cube_cover_agrees_with_the_exact_worst_case_error(x, eps):
    exact = worst_case_error(torch.from_numpy(x)).numpy()
    verdict = cube_cover(torch.from_numpy(x)[:, :, None], eps).verdict.numpy()
    for p in range(x.shape[0]):
        if verdict[p] == UNDECIDED:  # only within the finest cells' half-side (ε/2^9 at depth 8) of ε
            assert abs(exact[p] - eps) <= eps / 2**9 + 1e-9
        elif abs(exact[p] - eps) > 1e-9:
            assert (verdict[p] == COVERED) == (exact[p] <= eps)


@given(arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(2, 8), st.integers(1, 2)), elements=finite),
       st.floats(0.3, 0.9))
def test_prefix_covers_are_the_covers_of_each_prefix_and_never_lost(x, eps):
    pools = torch.from_numpy(x)
    sizes = list(range(1, x.shape[1] + 1))
    direct = torch.stack([cube_cover(pools[:, :n], eps).covered for n in sizes], dim=1)
    assert torch.equal(prefix_cover(pools, eps, sizes), torch.cummax(direct.int(), dim=1).values.bool())


@given(st.integers(1, 3), st.sampled_from([0.5, 0.3, 0.2]), st.integers(0, 2**31 - 1))
def test_a_pool_below_the_cube_counting_bound_never_covers_the_cube(d, eps, seed):
    n = cube_counting_samples(eps, d) - 1
    if n < 1:
        return
    gen = torch.Generator().manual_seed(seed)
    pools = torch.rand((10, n, d), generator=gen, dtype=torch.float64) * 2 - 1
    assert not torch.any(cube_cover(pools, eps).covered)


@pytest.mark.claim("rss.multidim")
def test_the_multidimensional_claim_holds_at_a_small_scale():
    record = run_claim("rss.multidim", dims=(1, 2), eps_fit=(0.5, 0.35), eps_test=0.3, trials=100, test_trials=150)
    assert record.verdict == "holds", record.reason
    assert record.certified.value <= record.bound.value


@pytest.mark.claim("rss.multidim")
def test_the_multidimensional_claim_fails_when_the_predicted_pool_is_cut_down():
    record = run_claim("rss.multidim", dims=(1, 2), eps_fit=(0.5, 0.35), eps_test=0.3, trials=100, test_trials=150,
                       faults={"n_offset": -1000})
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("rss.multidim")
def test_a_dimension_left_untested_is_named_in_the_reason_beside_the_tested_ones():
    """The full record's d = 3 (predicted n above n_max) was missing from its reason: only d = 1, 2 showed."""
    record = run_claim("rss.multidim", dims=(1, 3), eps_fit=(0.5, 0.35), eps_test=0.3, trials=100, test_trials=150,
                       n_max=12)
    assert record.verdict == "inconclusive", record.reason
    tested, untested = record.reason.split("; ")
    assert tested.startswith("d=1: n*=") and untested == "d=3: no n <= 12 reached eps=[0.5, 0.35]"


@given(size=st.integers(1, 9), k=st.integers(0, 9))
def test_k_subsets_are_the_lexicographic_combinations(size, k):
    from lth.theory.fixed_size_subset_sum import _combinations

    k = min(k, size)
    expected = torch.combinations(torch.arange(size), k) if k else torch.zeros(1, 0, dtype=torch.long)
    assert torch.equal(_combinations(size, k, torch.device("cpu")), expected)


def test_sixteen_choose_eight_fits_in_bounded_memory():
    from lth.theory.fixed_size_subset_sum import _combinations

    combos = _combinations(16, 8, torch.device("cpu"))
    assert combos.shape == (12_870, 8) and bool((combos[:, 1:] > combos[:, :-1]).all())
