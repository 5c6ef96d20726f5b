"""Compiled (numba) kernels for random subset sum on CPU: sorted sums by merging, two-pointer search,
interval covers.

Objects. A pool ``x`` ``[n]`` has ``2^n`` subset sums; ``code`` bit ``i`` says whether ``x_i`` is kept.

* :func:`merge_sorted_sums` — all ``2^n`` sums ascending, built by ``n`` merges
  ``L ← merge(L, L + x_i)`` of two sorted runs (no sort; ``O(2^n)`` per pool, memory-bound).
* :func:`nearest_subset_codes` — for each target the code of a nearest subset sum: the pool is split
  into halves whose ``2^a`` and ``2^b`` sums are generated *already sorted* (with their codes) by the
  same merge, then one two-pointer scan per target finds ``min |L_i + R_j − t|`` in ``O(2^a + 2^b)``.
  One independent pool per target costs ``O(2^{n/2})``, with no sort and no binary search.
* :func:`cover_verdicts` — whether the radius-``r`` neighbourhoods of a pool's sums cover ``[lo, hi]``:
  the covered set as sorted disjoint intervals, ``K ← K ∪ (K + x_i)`` by a linear merge of two sorted
  interval lists, components that can no longer reach ``[lo, hi]`` dropped, stopped early once one
  component carried through the remaining entries contains ``[lo, hi]`` (proofs/rss.md, (b)).

All three take float64 numpy arrays and run in parallel over pools (numba ``prange``). Every sum is
a left-to-right float64 sum of at most ``n`` pool entries, which is what the rounding analysis of
proofs/rss.md (c) assumes; rounding is monotone, so the two-pointer argument holds for the computed
sums exactly.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_POOLS_PER_TASK = 64  # pools handled by one parallel task, which allocates its scratch buffers once


@numba.njit(cache=True)
def _merge_step(src, src_codes, dst, dst_codes, m, shift, bit):
    """``dst[:2m]`` ← stable merge of ``src[:m]`` and ``src[:m] + shift`` (both ascending), codes alongside.

    The merge runs from both ends at once (the front takes the plain run on ties, the back takes the
    shifted run on ties, so together they produce exactly the stable merge): two independent
    dependency chains per iteration instead of one. After ``k < m`` front steps ``i + j = k``, and
    likewise at the back, so no index leaves ``[0, m)`` and no bounds test is needed. ``None`` codes
    compile to a values-only merge.
    """
    i = 0
    j = 0
    i_back = m - 1
    j_back = m - 1
    for k in range(m):
        a = src[i]
        b = src[j] + shift
        front_plain = a <= b
        dst[k] = a if front_plain else b
        a_back = src[i_back]
        b_back = src[j_back] + shift
        back_shifted = b_back >= a_back
        dst[2 * m - 1 - k] = b_back if back_shifted else a_back
        if src_codes is not None:
            dst_codes[k] = src_codes[i] if front_plain else src_codes[j] | bit
            dst_codes[2 * m - 1 - k] = src_codes[j_back] | bit if back_shifted else src_codes[i_back]
        i += np.int64(front_plain)  # explicit integer steps keep the loop branch-free and fast
        j += np.int64(not front_plain)
        i_back -= np.int64(not back_shifted)
        j_back -= np.int64(back_shifted)


@numba.njit(cache=True)
def _sorted_sums_into(x, out, out_codes, scratch, scratch_codes):
    """Ascending sums of pool ``x`` ``[k]`` into ``out[:2^k]`` (codes into ``out_codes`` unless ``None``),
    via ``scratch``; the buffers alternate so that the last merge lands in ``out``."""
    k = x.shape[0]
    if k % 2 == 0:
        a, a_codes, b, b_codes = out, out_codes, scratch, scratch_codes
    else:
        a, a_codes, b, b_codes = scratch, scratch_codes, out, out_codes
    a[0] = 0.0
    if out_codes is not None:
        a_codes[0] = 0
    m = 1
    for i in range(k):
        _merge_step(a, a_codes, b, b_codes, m, x[i], np.int64(1) << i)
        a, a_codes, b, b_codes = b, b_codes, a, a_codes
        m *= 2


@numba.njit(cache=True, parallel=True)
def merge_sorted_sums(x):
    """``x`` ``[B, n]`` float64 → ``[B, 2^n]`` ascending subset sums of each pool."""
    pools, n = x.shape
    size = 1 << n
    out = np.empty((pools, size))
    if pools == 1:  # one long merge: no parallel region (its idle workers would only add overhead)
        _sorted_sums_into(x[0], out[0], None, np.empty(size), None)
        return out
    tasks = (pools + _POOLS_PER_TASK - 1) // _POOLS_PER_TASK
    for task in numba.prange(tasks):
        scratch = np.empty(size)
        for p in range(task * _POOLS_PER_TASK, min(pools, (task + 1) * _POOLS_PER_TASK)):
            _sorted_sums_into(x[p], out[p], None, scratch, None)
    return out


@numba.njit(cache=True)
def _two_scans(left_1, right_1, target_1, left_2, right_2, target_2):
    """Two independent two-pointer scans interleaved in one loop (two dependency chains at a time).

    Scan ``s`` over ascending ``left_s`` ``[p]`` and ``right_s`` ``[q]`` starts at ``(0, q − 1)``, moves ``i``
    up when ``L_i + R_j ≤ t`` and ``j`` down otherwise, and returns the pair ``(i, j)`` of the smallest
    ``|L_i + R_j − t|`` it visits (the first among equal errors). A finished scan stands still.
    """
    p_size = left_1.shape[0]
    q_size = right_1.shape[0]
    i_1, j_1, i_2, j_2 = 0, q_size - 1, 0, q_size - 1
    best_1, best_2 = math.inf, math.inf
    bi_1, bj_1, bi_2, bj_2 = 0, 0, 0, 0
    while (i_1 < p_size and j_1 >= 0) or (i_2 < p_size and j_2 >= 0):
        live_1 = i_1 < p_size and j_1 >= 0
        live_2 = i_2 < p_size and j_2 >= 0
        diff_1 = left_1[min(i_1, p_size - 1)] + right_1[max(j_1, 0)] - target_1
        diff_2 = left_2[min(i_2, p_size - 1)] + right_2[max(j_2, 0)] - target_2
        better_1 = live_1 and abs(diff_1) < best_1
        better_2 = live_2 and abs(diff_2) < best_2
        best_1 = abs(diff_1) if better_1 else best_1
        best_2 = abs(diff_2) if better_2 else best_2
        bi_1 = i_1 if better_1 else bi_1
        bj_1 = j_1 if better_1 else bj_1
        bi_2 = i_2 if better_2 else bi_2
        bj_2 = j_2 if better_2 else bj_2
        up_1 = diff_1 <= 0  # on an exact hit, moving on loses nothing: 0 is already the optimum
        up_2 = diff_2 <= 0
        i_1 += np.int64(live_1 and up_1)  # explicit integer steps keep the loop branch-free
        j_1 -= np.int64(live_1 and not up_1)
        i_2 += np.int64(live_2 and up_2)
        j_2 -= np.int64(live_2 and not up_2)
    return bi_1, bj_1, bi_2, bj_2


@numba.njit(cache=True)
def _code_of_sum(x, value, scratch):
    """Code of a subset of ``x`` ``[k]`` whose float64 sum is exactly ``value`` (a sum the merge produced).

    Sums are rebuilt in code order, ``s[c | 2^i] = s[c] + x_i`` for ``c < 2^i``: entries are added in
    increasing index order, exactly as in the merge, so the computed values are bitwise the same.
    """
    scratch[0] = 0.0
    m = 1
    for i in range(x.shape[0]):
        for c in range(m):
            scratch[m + c] = scratch[c] + x[i]
        m *= 2
    for c in range(m):
        if scratch[c] == value:
            return c
    return -1  # unreachable: value is one of the sums


@numba.njit(cache=True)
def _codes_for_pools(x, targets, codes, start, stop):
    """Nearest-subset codes for pools ``start ≤ p < stop`` into ``codes`` (see :func:`nearest_subset_codes`)."""
    n = x.shape[1]
    a = n // 2
    left = np.empty((2, 1 << a))
    right = np.empty((2, 1 << (n - a)))
    scratch = np.empty(1 << (n - a))
    for p in range(start, stop, 2):
        q = min(p + 1, stop - 1)  # an odd last pool is scanned twice
        for s, pool in enumerate((p, q)):
            _sorted_sums_into(x[pool, :a], left[s], None, scratch, None)
            _sorted_sums_into(x[pool, a:], right[s], None, scratch, None)
        for t in range(targets.shape[1]):
            i_p, j_p, i_q, j_q = _two_scans(left[0], right[0], targets[p, t], left[1], right[1], targets[q, t])
            for pool, s, i, j in ((p, 0, i_p, j_p), (q, 1, i_q, j_q)):
                codes[pool, t] = _code_of_sum(x[pool, :a], left[s, i], scratch) | \
                    (_code_of_sum(x[pool, a:], right[s, j], scratch) << a)


@numba.njit(cache=True, parallel=True)
def _codes_in_parallel(x, targets, codes):
    pools = x.shape[0]
    tasks = (pools + _POOLS_PER_TASK - 1) // _POOLS_PER_TASK
    for task in numba.prange(tasks):
        _codes_for_pools(x, targets, codes, task * _POOLS_PER_TASK, min(pools, (task + 1) * _POOLS_PER_TASK))


def nearest_subset_codes(x: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``x`` ``[P, n]``, ``targets`` ``[P, T]`` float64 → ``[P, T]`` int64 codes of nearest subset sums.

    Halves ``x[:a]`` and ``x[a:]`` (``a = n // 2``) give ascending sums ``L`` (``2^a``) and ``R`` (``2^b``),
    generated sorted by merging; a two-pointer scan per target (:func:`_two_scans`, proofs/rss.md (d))
    finds ``min |L_i + R_j − t|`` in ``O(2^a + 2^b)``. Pools are taken two at a time so that two scans
    run interleaved. The codes of the winning half-sums are recovered afterwards, so the merges move
    values only. Batches of more than one task run in parallel; a small batch (one target at a time)
    runs serially, without the cost of waking the worker threads.
    """
    codes = np.empty(targets.shape, dtype=np.int64)
    if x.shape[0] <= _POOLS_PER_TASK:
        _codes_for_pools(x, targets, codes, 0, x.shape[0])
    else:
        _codes_in_parallel(x, targets, codes)
    return codes


@numba.njit(cache=True)
def _cover_one(x, radius, lo, hi, scratch):
    """Whether the radius-neighbourhoods of the subset sums of ``x`` ``[n]`` cover ``[lo, hi]``.

    ``scratch`` ``[4, capacity]`` holds the two interval lists (starts, ends) and their successors; it
    is grown by doubling when a list outgrows it and returned with the verdict, so that one thread
    reuses it from pool to pool (a fresh allocation per pool cost a page fault per touched page).
    """
    n = x.shape[0]
    reach_up = np.zeros(n + 1)  # reach_up[t] = Σ_{j ≥ t} max(x_j, 0): how far later entries can move a sum up
    reach_down = np.zeros(n + 1)  # Σ_{j ≥ t} min(x_j, 0)
    for t in range(n - 1, -1, -1):
        reach_up[t] = reach_up[t + 1] + max(x[t], 0.0)
        reach_down[t] = reach_down[t + 1] + min(x[t], 0.0)
    starts, ends, new_starts, new_ends = scratch[0], scratch[1], scratch[2], scratch[3]
    starts[0] = -radius
    ends[0] = radius
    size = 1
    for t in range(n):
        shift = x[t]
        if 2 * size > scratch.shape[1]:
            grown = np.empty((4, 2 * scratch.shape[1]))
            grown[0, :size] = starts[:size]
            grown[1, :size] = ends[:size]
            scratch = grown
            starts, ends, new_starts, new_ends = scratch[0], scratch[1], scratch[2], scratch[3]
        low = lo - reach_up[t + 1]
        high = hi - reach_down[t + 1]
        i = 0
        j = 0
        kept = 0
        cur_start = 0.0
        cur_end = 0.0
        open_ = False
        while i < size or j < size:  # merge the list and its shift by left end, coalescing overlaps
            if j >= size or (i < size and starts[i] <= starts[j] + shift):
                s = starts[i]
                e = ends[i]
                i += 1
            else:
                s = starts[j] + shift
                e = ends[j] + shift
                j += 1
            if open_ and s <= cur_end:
                if e > cur_end:
                    cur_end = e
                continue
            if open_ and cur_end >= low and cur_start <= high:
                new_starts[kept] = cur_start
                new_ends[kept] = cur_end
                kept += 1
            cur_start = s
            cur_end = e
            open_ = True
        if open_ and cur_end >= low and cur_start <= high:
            new_starts[kept] = cur_start
            new_ends[kept] = cur_end
            kept += 1
        if kept == 0:  # nothing can reach [lo, hi] any more
            return False, scratch
        starts, new_starts = new_starts, starts
        ends, new_ends = new_ends, ends
        size = kept
        if _covered_from(x, t + 1, starts, ends, size, lo, hi):
            return True, scratch
    return False, scratch


@numba.njit(cache=True)
def _covered_from(x, t, starts, ends, size, lo, hi):
    """Sufficient test that ``K_n ⊇ [lo, hi]`` given the components of ``K_t``.

    ``K`` only grows, so a component containing ``[lo, hi]`` decides at once; otherwise the longest
    component ``I`` is carried through ``x[t:]`` for as long as ``I ∪ (I + x_j)`` stays one interval
    (overlap tested on the computed ends, as the merge does), which lies in ``K_n`` (proofs/rss.md (b)).
    """
    longest = 0
    for c in range(size):
        if starts[c] <= lo and ends[c] >= hi:
            return True
        if ends[c] - starts[c] > ends[longest] - starts[longest]:
            longest = c
    a = starts[longest]
    b = ends[longest]
    for j in range(t, x.shape[0]):
        if x[j] >= 0:
            if a + x[j] > b:
                return False
            b = b + x[j]
        else:
            if b + x[j] < a:
                return False
            a = a + x[j]
        if a <= lo and b >= hi:
            return True
    return False


@numba.njit(cache=True, parallel=True)
def cover_verdicts(x, radii, lo, hi):
    """``x`` ``[P, n]``, ``radii`` ``[P]`` → bool ``[P]``: does pool ``p`` radius-cover ``[lo, hi]``."""
    pools = x.shape[0]
    out = np.zeros(pools, dtype=np.bool_)
    tasks = (pools + _POOLS_PER_TASK - 1) // _POOLS_PER_TASK
    for task in numba.prange(tasks):
        scratch = np.empty((4, 1024))  # grown on demand; most pools stop long before the bound of (b)
        for p in range(task * _POOLS_PER_TASK, min(pools, (task + 1) * _POOLS_PER_TASK)):
            if radii[p] > 0:
                out[p], scratch = _cover_one(x[p], radii[p], lo, hi, scratch)
    return out
