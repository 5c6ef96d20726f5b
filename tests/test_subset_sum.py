"""Properties of the random-subset-sum engine against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from lth.theory.subset_sum import (best_subsets, covers_interval, rounding_slack, sample_pools, sample_product,
                               sample_uniform, sorted_subset_sums, worst_case_error)

seeds = st.integers(0, 2**31 - 1)


def pools(seed: int, shape: tuple[int, ...], law: str = "uniform", device: str = "cpu") -> torch.Tensor:
    gen = torch.Generator(device=device).manual_seed(seed)
    return sample_pools(law, shape, gen)


def brute_sums(x: torch.Tensor) -> np.ndarray:
    """All subset sums of one pool [n] by exhaustive enumeration, with their masks [2^n, n]."""
    n = x.shape[0]
    masks = np.array(list(itertools.product([0, 1], repeat=n)), dtype=bool)
    return masks @ x.numpy(), masks


@given(seeds, st.integers(1, 10), st.integers(1, 4))
def test_merged_sums_equal_the_sorted_brute_force_sums(seed, n, batch):
    x = pools(seed, (batch, n))
    merged = sorted_subset_sums(x)
    for row in range(batch):
        expected = np.sort(brute_sums(x[row])[0])
        np.testing.assert_allclose(merged[row].numpy(), expected, rtol=0, atol=1e-12)
        assert np.all(np.diff(merged[row].numpy()) >= 0)


@given(seeds, st.integers(1, 14), st.integers(1, 6), st.sampled_from(["uniform", "product"]))
def test_best_subsets_equal_exhaustive_search_and_masks_reproduce_the_sums(seed, n, targets, law):
    x = pools(seed, (2, n), law)
    z = pools(seed + 1, (2, targets)) * 1.2
    solution = best_subsets(x, z)
    for row in range(2):
        sums, _ = brute_sums(x[row])
        optimum = np.abs(sums[None, :] - z[row].numpy()[:, None]).min(axis=1)
        np.testing.assert_allclose(solution.error[row].numpy(), optimum, rtol=0, atol=1e-12)
        reproduced = (solution.mask[row].double() * x[row]).sum(-1)
        np.testing.assert_allclose(solution.sums[row].numpy(), reproduced.numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(solution.error[row].numpy(), (z[row] - reproduced).abs().numpy(), atol=1e-12)


def test_best_subsets_shares_one_pool_across_a_row_of_many_targets_at_large_n():
    x = pools(3, (1, 30))
    z = pools(4, (1, 50))
    solution = best_subsets(x, z)
    assert solution.mask.shape == (1, 50, 30)
    assert float(solution.error.max()) < 1e-6  # 2^30 sums on [-1, 1]: gaps are ~1e-8


@given(seeds, st.integers(1, 9), st.floats(-1.5, 0.0), st.floats(0.0, 1.5))
def test_worst_case_error_matches_a_dense_grid_and_is_never_below_it(seed, n, lo, hi):
    x = pools(seed, (1, n))
    exact = float(worst_case_error(x, lo, hi)[0])
    sums = np.sort(brute_sums(x[0])[0])
    grid = np.linspace(lo, hi, 20001)
    idx = np.clip(np.searchsorted(sums, grid), 1, len(sums) - 1)
    dist = np.minimum(np.abs(grid - sums[idx - 1]), np.abs(grid - sums[idx]))
    dist = np.where(idx == 0, np.abs(grid - sums[0]), dist)
    spacing = (hi - lo) / 20000
    assert exact >= dist.max() - 1e-12
    assert exact <= dist.max() + spacing / 2 + 1e-12


@given(seeds, st.integers(1, 12))
def test_adding_a_sample_never_increases_the_worst_case_error(seed, n):
    x = pools(seed, (3, n + 1))
    before = worst_case_error(x[:, :n])
    after = worst_case_error(x)
    assert torch.all(after <= before + 1e-15)


@given(seeds, st.integers(1, 11), st.sampled_from([0.3, 0.1, 0.03, 0.01]), st.sampled_from(["uniform", "product"]))
def test_interval_cover_decides_exactly_whether_the_worst_case_error_is_below_eps(seed, n, eps, law):
    x = pools(seed, (40, n), law)
    error = worst_case_error(x)
    decided = covers_interval(x, eps)
    margin = rounding_slack(x) * 4
    clear = (error - eps).abs() > margin
    assert torch.equal(decided[clear], (error <= eps)[clear])


def test_product_law_has_an_atom_at_zero_of_mass_one_half_and_stays_in_the_unit_interval():
    gen = torch.Generator().manual_seed(0)
    draws = sample_product((200000,), gen)
    assert abs(float((draws == 0).double().mean()) - 0.5) < 0.01
    assert float(draws.abs().max()) <= 1.0


def test_a_user_sampler_is_accepted_and_a_wrong_shape_is_refused():
    gen = torch.Generator().manual_seed(0)
    x = sample_pools(lambda shape, g: sample_uniform(shape, g, -0.5, 0.5), (4, 6), gen)
    assert x.shape == (4, 6) and float(x.abs().max()) <= 0.5
    with pytest.raises(ValueError, match="shape"):
        sample_pools(lambda shape, g: torch.zeros(3), (4, 6), gen)
    with pytest.raises(ValueError, match="unknown pool law"):
        sample_pools("cauchy", (4, 6), gen)


def test_sizes_that_cannot_fit_in_memory_are_refused_before_allocating():
    with pytest.raises(MemoryError, match="GiB"):
        sorted_subset_sums(torch.zeros(4, 60, dtype=torch.float64))


def test_non_finite_pools_are_refused():
    with pytest.raises(ValueError, match="non-finite"):
        worst_case_error(torch.tensor([[0.5, float("nan")]]))


@given(seeds, st.integers(1, 12))
def test_cpu_and_device_results_agree(device, seed, n):
    x = pools(seed, (3, n))
    z = pools(seed + 7, (3, 5))
    on_device = best_subsets(x.to(device), z.to(device))
    on_cpu = best_subsets(x, z)
    torch.testing.assert_close(on_device.error.cpu(), on_cpu.error, rtol=0, atol=1e-12)
    torch.testing.assert_close(sorted_subset_sums(x.to(device)).cpu(), sorted_subset_sums(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(worst_case_error(x.to(device)).cpu(), worst_case_error(x), rtol=0, atol=1e-12)


finite = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, width=64)


@given(arrays(np.float64, array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9), elements=finite))
def test_compiled_merge_equals_the_sorted_sums_of_drawn_arrays_with_ties_and_zeros(x):
    merged = sorted_subset_sums(torch.from_numpy(x))
    for row in range(x.shape[0]):
        expected = np.sort(brute_sums(torch.from_numpy(x[row]))[0])
        np.testing.assert_allclose(merged[row].numpy(), expected, rtol=0, atol=1e-12)


@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 12)), elements=finite),
       st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=1, max_size=4))
def test_two_pointer_search_finds_the_exact_optimum_for_drawn_pools_and_targets(x, z):
    targets = torch.tensor(z, dtype=torch.float64).expand(x.shape[0], len(z)).contiguous()
    solution = best_subsets(torch.from_numpy(x), targets)
    for row in range(x.shape[0]):
        sums, _ = brute_sums(torch.from_numpy(x[row]))
        optimum = np.abs(sums[None, :] - np.array(z)[:, None]).min(axis=1)
        np.testing.assert_allclose(solution.error[row].numpy(), optimum, rtol=0, atol=1e-12)
        reproduced = (solution.mask[row].double() * torch.from_numpy(x[row])).sum(-1)
        np.testing.assert_allclose(solution.sums[row].numpy(), reproduced.numpy(), rtol=0, atol=1e-12)


@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 10)), elements=finite),
       st.sampled_from([0.3, 0.1, 0.03]), st.floats(-1.5, 0.5), st.floats(0.0, 1.5))
def test_compiled_cover_agrees_with_the_exact_worst_case_error_on_drawn_pools(x, eps, lo, width):
    pools_ = torch.from_numpy(x)
    hi = lo + width
    error = worst_case_error(pools_, lo, hi)
    decided = covers_interval(pools_, eps, lo, hi)
    clear = (error - eps).abs() > rounding_slack(pools_, lo, hi) * 4
    assert torch.equal(decided[clear], (error <= eps)[clear])


def test_a_pool_whose_intervals_are_all_pruned_is_reported_as_not_covering():
    # regression (issue 11): every component was dropped and the old code raised IndexError
    pool = torch.tensor([[-0.5, -0.5]], dtype=torch.float64)
    assert not bool(covers_interval(pool, 0.1, 0.2, 1.0)[0])
    assert float(worst_case_error(pool, 0.2, 1.0)[0]) > 0.1


@given(seeds, st.integers(12, 18), st.sampled_from([0.03, 0.01, 0.003]), st.sampled_from(["uniform", "product"]))
def test_interval_cover_stopped_early_agrees_with_the_exact_worst_case_on_long_pools(seed, n, eps, law):
    # long pools cover [-1, 1] before their last entries: the kernel's stopping test decides them
    x = pools(seed, (20, n), law)
    error = worst_case_error(x)
    decided = covers_interval(x, eps)
    clear = (error - eps).abs() > rounding_slack(x) * 4
    assert torch.equal(decided[clear], (error <= eps)[clear])


def oracle_errors(x: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``min_S |t − Σ_S x|`` for each target of one pool ``x`` [n], over all 2^n sums listed in code order."""
    sums = np.zeros(1)
    for entry in x:
        sums = np.concatenate([sums, sums + entry])
    return np.array([np.abs(sums - t).min() for t in targets])


@pytest.mark.parametrize("n", range(1, 25))
def test_best_subsets_reach_the_exhaustive_optimum_for_every_n_up_to_24_with_ties_and_duplicates(n):
    rng = np.random.default_rng(n)
    uniform = rng.uniform(-1, 1, n)
    product = np.where(rng.random(n) < 0.5, 0.0, rng.random(n) * rng.uniform(-1, 1, n))
    # dyadic entries with repeats: every sum is exact, many sums coincide, and targets at odd multiples
    # of 1/16 lie halfway between two sums (tied optima)
    dyadic = rng.choice([-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0], n)
    dyadic[rng.integers(0, n, n // 2)] = dyadic[0]
    x = np.stack([uniform, product, dyadic])
    targets = np.stack([rng.uniform(-1.2, 1.2, 3), rng.uniform(-1.2, 1.2, 3), [0.125 / 2, 0.25 * 3, -9.0]])
    solution = best_subsets(torch.from_numpy(x), torch.from_numpy(targets))
    for row in range(3):
        optimum = oracle_errors(x[row], targets[row])
        # optimal over the computed sums, so within 2·γ_n·Σ|x| of the real optimum (proofs/rss.md (d));
        # dyadic pools have exact sums, so there the optimum is met exactly
        slack = 0.0 if row == 2 else float(2 * rounding_slack(torch.from_numpy(x[row]), -1.2, 1.2))
        np.testing.assert_allclose(solution.error[row].numpy(), optimum, rtol=0, atol=slack)
        kept = solution.mask[row].double().numpy() @ x[row]
        np.testing.assert_allclose(solution.sums[row].numpy(), kept, rtol=0, atol=slack)
