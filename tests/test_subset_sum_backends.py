"""The two backends of the subset-sum engine against each other and an exhaustive oracle.

The torch backend is the code a CUDA user runs; here it runs on CPU tensors (``backend="torch"``), so
it is tested on every machine, not only where a GPU is present. Pools are drawn by hypothesis from a
mixture of arbitrary floats and a few dyadic values (duplicated entries, zeros, tied sums): dyadic
sums are exact in float64, so on such pools every backend must match the oracle exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lth.theory.numerics import gamma
from lth.theory.subset_sum import BACKENDS, best_subsets, sorted_subset_sums, worst_case_error

DYADIC = [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]
entries = st.one_of(st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, width=64), st.sampled_from(DYADIC))


def drawn_pools(max_n: int) -> st.SearchStrategy[np.ndarray]:
    return arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, max_n)), elements=entries)


def oracle_sums(x: np.ndarray) -> np.ndarray:
    """All 2^n subset sums of one pool ``x`` [n], by enumerating the 0/1 vectors: [2^n]."""
    codes = np.arange(2 ** x.shape[0])
    masks = (codes[:, None] >> np.arange(x.shape[0])) & 1
    return masks.astype(np.float64) @ x


def oracle_sup_distance(sums: np.ndarray, lo: float, hi: float) -> float:
    """``sup_{z∈[lo,hi]} min_k |z − s_k|`` by brute force over candidate points.

    The distance is maximal at ``lo``, ``hi`` or a midpoint of two consecutive sums inside [lo, hi];
    each candidate's distance is a minimum over *all* sums (no use of sortedness beyond the midpoints).
    """
    ordered = np.sort(sums)
    mids = (ordered[:-1] + ordered[1:]) / 2
    points = np.concatenate([[lo, hi], mids[(mids >= lo) & (mids <= hi)]])
    return float(np.abs(points[:, None] - sums[None, :]).min(axis=1).max())


def tolerance(x: np.ndarray) -> float:
    """Two computed sums of the same subset differ by at most 2·γ_n·Σ|x| (proofs/rss.md (c))."""
    return 2 * gamma(x.shape[-1] + 4) * (np.abs(x).sum() + 3.0)


def is_dyadic(x: np.ndarray) -> bool:
    return bool(np.isin(x, DYADIC).all())


@given(drawn_pools(10))
def test_sorted_sums_are_the_same_on_both_backends_and_equal_the_oracle(x):
    pools = torch.from_numpy(x)
    compiled = sorted_subset_sums(pools, backend="compiled")
    on_torch = sorted_subset_sums(pools, backend="torch")
    # the same additions in the same order: the sorted multisets agree bit for bit
    assert torch.equal(compiled, on_torch)
    for row in range(x.shape[0]):
        expected = np.sort(oracle_sums(x[row]))
        np.testing.assert_allclose(compiled[row].numpy(), expected, rtol=0, atol=tolerance(x[row]) / 2)


@given(drawn_pools(9), st.floats(-2.5, 0.5), st.floats(0.0, 2.0))
def test_worst_case_error_is_the_same_on_both_backends_and_equals_the_oracle(x, lo, width):
    hi = lo + width
    pools = torch.from_numpy(x)
    compiled = worst_case_error(pools, lo, hi, backend="compiled")
    on_torch = worst_case_error(pools, lo, hi, backend="torch")
    assert torch.equal(compiled, on_torch)
    for row in range(x.shape[0]):
        expected = oracle_sup_distance(oracle_sums(x[row]), lo, hi)
        assert abs(float(compiled[row]) - expected) <= (0.0 if is_dyadic(x[row]) else tolerance(x[row]))


@given(drawn_pools(12), st.lists(st.one_of(st.floats(-3.0, 3.0), st.sampled_from([-0.125, 0.375, 1.125])),
                                 min_size=1, max_size=4))
def test_best_subsets_reach_the_oracle_optimum_on_both_backends(x, z):
    pools = torch.from_numpy(x)
    targets = torch.tensor(z, dtype=torch.float64).expand(x.shape[0], len(z)).contiguous()
    for backend in ("compiled", "torch"):
        solution = best_subsets(pools, targets, backend=backend)
        assert solution.mask.shape == (*targets.shape, x.shape[1])
        for row in range(x.shape[0]):
            optimum = np.abs(oracle_sums(x[row])[None, :] - np.array(z)[:, None]).min(axis=1)
            exact = is_dyadic(x[row])  # tied targets (odd multiples of 1/8) have two optimal sums
            np.testing.assert_allclose(solution.error[row].numpy(), optimum, rtol=0,
                                       atol=0.0 if exact else tolerance(x[row]))
            kept = solution.mask[row].double().numpy() @ x[row]
            np.testing.assert_allclose(solution.sums[row].numpy(), kept, rtol=0, atol=tolerance(x[row]) / 2)


def test_the_backend_choice_is_checked_before_any_work():
    x = torch.zeros(2, 3, dtype=torch.float64)
    assert BACKENDS == ("auto", "compiled", "torch")
    for call in (lambda: sorted_subset_sums(x, backend="gpu"), lambda: worst_case_error(x, backend="numba"),
                 lambda: best_subsets(x, torch.zeros(2, 1), backend="")):
        with pytest.raises(ValueError, match="unknown backend"):
            call()


def test_auto_picks_the_compiled_backend_on_cpu_tensors():
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(3, 9, generator=gen, dtype=torch.float64) - 0.5
    z = torch.rand(3, 2, generator=gen, dtype=torch.float64) - 0.5
    assert torch.equal(best_subsets(x, z).mask, best_subsets(x, z, backend="compiled").mask)


def test_the_compiled_kernels_leave_torchs_thread_count_alone():
    """numba's OpenMP pool sets the process's OpenMP thread count: a one-thread run must stay one-thread."""
    import os
    import subprocess
    import sys

    script = ("import torch\n"
              "from lth.theory.subset_sum import best_subsets, covers_interval, sorted_subset_sums\n"
              "from lth.theory.multidim_subset_sum import cube_cover\n"
              "x = torch.rand(100, 21, dtype=torch.float64)\n"
              "counts = [torch.get_num_threads()]\n"
              "best_subsets(x, torch.rand(100, 1, dtype=torch.float64)); counts.append(torch.get_num_threads())\n"
              "covers_interval(x, 0.01, -1.0, 1.0); counts.append(torch.get_num_threads())\n"
              "sorted_subset_sums(x[:2]); counts.append(torch.get_num_threads())\n"
              "cube_cover(torch.rand(4, 10, 2, dtype=torch.float64) * 2 - 1, 0.2); counts.append(torch.get_num_threads())\n"
              "print(counts)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["[1,", "1,", "1,", "1,", "1]"], run.stdout
