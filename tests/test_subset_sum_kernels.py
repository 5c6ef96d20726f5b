"""The compiled nearest-subset kernel (``nearest_subset_codes``) against an exhaustive oracle, bit for bit.

The kernel's half-sums are left-to-right float64 sums in increasing index order (proofs/rss.md (c)), so
the oracle lists the same values by a different route (every code's sum, built by concatenation in
numpy) and forms *every* pair ``|fl(L_c + R_c') − t|``; the kernel's pair must attain that minimum
exactly — no tolerance, whatever the entries. Pools mix arbitrary floats with a few dyadic values
(duplicated entries, zeros, tied sums; targets at dyadic midpoints are tied between two sums).
"""

from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lth.theory.subset_sum_merge import nearest_subset_codes

DYADIC = [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]
entries = st.one_of(st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, width=64), st.sampled_from(DYADIC))
targets_ = st.one_of(st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False, width=64),
                     st.integers(-64, 64).map(lambda k: k / 16))  # dyadic: often halfway between two sums


def code_order_sums(x: np.ndarray) -> np.ndarray:
    """``[2^k]`` sums of ``x`` ``[k]``, column ``c`` the sum over the set bits of ``c``, added in index order."""
    sums = np.zeros(1)
    for entry in x:
        sums = np.concatenate([sums, sums + entry])
    return sums


def assert_exact_optimum(x: np.ndarray, targets: np.ndarray, codes: np.ndarray) -> None:
    """Each code's pair error equals the minimum over all ``2^n`` pairs of half-sums, exactly."""
    a = x.shape[1] // 2
    for pool in range(x.shape[0]):
        left, right = code_order_sums(x[pool, :a]), code_order_sums(x[pool, a:])
        for t, code in zip(targets[pool], codes[pool]):
            assert 0 <= code < 2 ** x.shape[1]
            errors = np.abs((left[:, None] + right[None, :]) - t)  # [2^a, 2^b], the kernel's float ops
            chosen = errors[code & ((1 << a) - 1), code >> a]
            assert chosen == errors.min(), (pool, t, code, chosen, errors.min())


def pools_and_targets(n: st.SearchStrategy[int], max_pools: int) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    def build(shape):
        pools, n_, count = shape
        return st.tuples(arrays(np.float64, (pools, n_), elements=entries),
                         arrays(np.float64, (pools, count), elements=targets_))
    return st.tuples(st.integers(1, max_pools), n, st.integers(1, 3)).flatmap(build)


@given(pools_and_targets(st.integers(1, 14), 9))
def test_nearest_codes_attain_the_exhaustive_optimum_for_small_pools(drawn):
    x, targets = drawn
    assert_exact_optimum(x, targets, nearest_subset_codes(x, targets))


@settings(max_examples=12, deadline=None)
@given(pools_and_targets(st.integers(15, 24), 2))
def test_nearest_codes_attain_the_exhaustive_optimum_for_drawn_pools_up_to_n_24(drawn):
    x, targets = drawn
    assert_exact_optimum(x, targets, nearest_subset_codes(x, targets))


def test_the_parallel_path_attains_the_exhaustive_optimum_with_duplicated_entries():
    # more pools than one task holds: the batch runs in parallel tasks, with a short last group of four
    rng = np.random.default_rng(7)
    x = rng.choice([-0.5, -0.25, 0.0, 0.25, 0.75, rng.uniform(-1, 1)], (131, 13))
    targets = rng.choice(np.arange(-32, 33) / 16, (131, 2))
    assert_exact_optimum(x, targets, nearest_subset_codes(x, targets))


def tie_workload() -> list[tuple[np.ndarray, np.ndarray]]:
    """Dyadic pools with repeated entries and dyadic targets (many exact ties), and uniform pools, n = 1..24."""
    rng = np.random.default_rng(31)
    pools = []
    for n in range(1, 25):
        dyadic = rng.choice([-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0], (6, n))
        dyadic[:, rng.integers(0, n, n // 2)] = dyadic[:, :1]
        pools.append((dyadic, rng.choice(np.arange(-24, 25) / 16, (6, 3))))
        pools.append((rng.uniform(-1, 1, (6, n)), rng.uniform(-1.2, 1.2, (6, 3))))
    return pools


# sha256 of the codes of tie_workload() as returned by the kernel of commit 95e9952 (before the kernels
# were tuned for issue 31): among tied optima the kernel still returns the same subsets
TIE_DIGEST = "63dcac2e4a2974a66bd509fa2440e777e725cc597f9b630e6aa9492dabfa0e28"


def test_ties_are_broken_as_before_the_kernels_were_tuned():
    digest = hashlib.sha256()
    for x, targets in tie_workload():
        digest.update(nearest_subset_codes(np.ascontiguousarray(x), np.ascontiguousarray(targets)).tobytes())
    assert digest.hexdigest() == TIE_DIGEST


interval_lists = st.integers(256, 700).flatmap(lambda size: st.tuples(
    arrays(np.float64, size, elements=st.one_of(st.floats(1e-6, 0.1), st.sampled_from([0.0625, 0.125]))),  # gaps
    arrays(np.float64, size, elements=st.one_of(st.floats(1e-6, 0.1), st.sampled_from([0.0625, 0.125])))))  # lengths


@given(interval_lists, st.one_of(st.floats(-3.0, 3.0), st.sampled_from([0.0, 0.125, -0.25, 1.0])),
       st.floats(-5.0, 5.0), st.floats(0.0, 10.0))
def test_a_merge_run_as_three_runs_in_lockstep_gives_the_components_of_the_plain_merge_bit_for_bit(lists, shift, low, width):
    # the cover kernel merges a long list K with K + x as eight runs in lockstep (vector lanes) and
    # coalesces the later runs onto the first: the kept components must be those of one sequential pass
    from lth.theory.subset_sum_merge import _PAIRED_FROM, _coalesce, _merge_step_coalesced, _shift_ready

    gaps, lengths = lists
    size = gaps.shape[0]
    assert size >= _PAIRED_FROM
    starts = np.cumsum(gaps) + np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    scratch = np.zeros((5, 2 * size + 1))
    scratch[0, :size], scratch[1, :size] = starts, starts + lengths
    scratch = _shift_ready(scratch, 0, size, shift)
    plain = scratch.copy()
    high = low + width
    state = _coalesce(plain, 0, shift, low, high, (0, 0, 0, -np.inf, -np.inf), 2 * size)
    paired = _merge_step_coalesced(scratch, 0, size, shift, low, high)
    kept = state[2]
    assert paired[2] == kept and paired[3:] == state[3:]
    assert plain[2, :kept].tobytes() == scratch[2, :kept].tobytes()
    assert plain[3, :kept].tobytes() == scratch[3, :kept].tobytes()


def test_lockstep_scans_and_the_sorting_network_break_ties_as_the_merged_pool_by_pool_path():
    # a batch of many pools runs the eight-lane sorting network and the vector scans (32 jobs a batch);
    # one pool per call runs the pool-by-pool merge and the scalar scans: among tied optima both return
    # the same codes (the digest above pins the scalar path), and both attain the exhaustive optimum
    for x, targets in tie_workload():
        x, targets = np.tile(x, (7, 1)), np.tile(targets, (7, 1))  # 42 pools: a full block and a short one
        batched = nearest_subset_codes(x, targets)
        single = np.concatenate([nearest_subset_codes(x[k:k + 1], targets[k:k + 1]) for k in range(x.shape[0])])
        assert np.array_equal(batched, single), x.shape
        if x.shape[1] <= 14:
            assert_exact_optimum(x, targets, batched)


# Kernel mutation testing (benchmarks/kernel_mutants.py) found the cover kernel's window and overlap
# tests unpinned where intervals only touch: e.g. a completed component whose end equals the window's
# low end `lo − Σ_{j>t} max(x_j, 0)` (dropped if `>=` became `>`). On dyadic pools every sum, interval end
# and window end is exact in float64, so the kernel's verdict must be the exact verdict for closed
# intervals, touching ones included.
def closed_cover(x: np.ndarray, radius: float, lo: float, hi: float) -> bool:
    """Exact: do the closed intervals ``[s − r, s + r]`` over the sums ``s`` of ``x`` cover ``[lo, hi]``?"""
    sums = np.unique(code_order_sums(x))
    inside = (sums[:-1] + sums[1:]) / 2  # the farthest points from the sums lie at ends or midpoints
    candidates = np.concatenate([[lo, hi], inside[(inside >= lo) & (inside <= hi)]])
    right = np.searchsorted(sums, candidates).clip(1, len(sums) - 1)  # nearest sum: right[k] − 1 or right[k]
    nearest = np.minimum(np.abs(candidates - sums[right - 1]), np.abs(candidates - sums[right]))
    return bool(np.minimum(nearest, np.abs(candidates - sums[0])).max() <= radius)


@st.composite
def touching_covers(draw):
    """A dyadic pool (entries k/8, |x| ≤ 2), a radius k/32 (components touch at r = 1/16 and its multiples
    for sums 1/8 apart) and an interval whose ends sit on interval ends ``s ± r`` or the window's."""
    n = draw(st.integers(1, 10))
    x = np.array(draw(st.lists(st.integers(-16, 16), min_size=n, max_size=n)), dtype=np.float64) / 8
    radius = draw(st.integers(1, 12)) / 32
    sums = np.unique(code_order_sums(x))
    ends = np.concatenate([sums - radius, sums + radius, [sums[0] - 1.0, sums[-1] + 1.0]])
    lo = draw(st.sampled_from(sorted(ends.tolist())))
    hi = draw(st.one_of(st.just(lo), st.sampled_from(sorted(e for e in ends.tolist() if e >= lo))))
    return x, radius, lo, hi


@settings(max_examples=150, deadline=None)
@given(touching_covers())
@example((np.array([0.125]), 1 / 16, -1 / 16, 3 / 16))  # [−r, r] and [x − r, x + r] touch inside [lo, hi]
def test_the_cover_verdict_is_the_exact_closed_cover_where_intervals_touch_on_dyadic_pools(case):
    from lth.theory.subset_sum_merge import cover_verdicts

    x, radius, lo, hi = case
    pools = np.stack([x, x[::-1]])  # the same sums in another merge order
    verdicts = cover_verdicts(pools, np.full(2, radius), lo, hi)
    assert verdicts.tolist() == [closed_cover(x, radius, lo, hi)] * 2, (x, radius, lo, hi)
