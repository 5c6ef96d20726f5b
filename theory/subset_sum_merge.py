"""Compiled (numba) kernels for random subset sum on CPU: sorted sums by merging, two-pointer search,
interval covers.

Objects. A pool ``x`` ``[n]`` has ``2^n`` subset sums; ``code`` bit ``i`` says whether ``x_i`` is kept.

* :func:`merge_sorted_sums` — all ``2^n`` sums ascending, built by ``n`` merges
  ``L ← merge(L, L + x_i)`` of two sorted runs (no sort; ``O(2^n)`` per pool), each run from both ends.
* :func:`nearest_subset_codes` — for each target the code of a nearest subset sum: the pool is split
  into halves whose ``2^a`` and ``2^b`` sums are generated *sorted*, level by level (``L ∪ (L + x_i)``)
  for eight pools at once, one per SIMD lane, by a bitonic merging network (a linear merge is
  latency-bound: each step's loads wait on the previous comparison, about 3 cycles an output; the
  network does ``log2`` more comparisons but eight at a time and with no dependency between them);
  then one two-pointer scan per target finds ``min |L_i + R_j − t|`` in ``O(2^a + 2^b)``, four scans
  interleaved, and the winning half-sums' codes are recovered by rebuilding them. One independent
  pool per target costs ``O(n·2^{n/2})``, with no binary search.
* :func:`cover_verdicts` — whether the radius-``r`` neighbourhoods of a pool's sums cover ``[lo, hi]``:
  the covered set as sorted disjoint intervals, ``K ← K ∪ (K + x_i)`` by a linear merge of two sorted
  interval lists, components that can no longer reach ``[lo, hi]`` dropped, stopped early once one
  component carried through the remaining entries contains ``[lo, hi]`` (proofs/rss.md, (b)). A long
  list's merge runs as eight runs in lockstep, one per vector lane (the loop is latency-bound), with the
  same components.

All three take float64 numpy arrays and run in parallel over pools (numba ``prange``). Every sum is
a left-to-right float64 sum of at most ``n`` pool entries, which is what the rounding analysis of
proofs/rss.md (c) assumes; rounding is monotone, so the two-pointer argument holds for the computed
sums exactly.

numba caches the compiled kernels beside this file (``cache=True``) under the module's name,
``lth.theory.subset_sum_merge``; a cache written when the module was the top-level ``theory.subset_sum_merge``
cannot be loaded by an installed or console-script run, and numba reuses a cache until this file's time
stamp or size changes, so these lines were added with the rename.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_POOLS_PER_TASK = 64  # pools handled by one parallel task, which allocates its scratch buffers once
# Index type of the merge and scan loops. numba wraps a negative signed index around (an arithmetic
# shift, a mask and an add on every load); with unsigned indices it emits none, which shortens the
# loops' dependency chains and frees registers (measured: merges ~15 %, scans ~20 % fewer CPU-s).
_U = np.uint64


@numba.njit(cache=True)
def _merge_step(src, dst, m, shift):
    """``dst[:2m]`` ← stable merge of ``src[:m]`` and ``src[:m] + shift`` (both ascending).

    The merge runs from both ends at once (the front takes the plain run on ties, the back takes the
    shifted run on ties, so together they produce exactly the stable merge): two independent
    dependency chains per iteration instead of one. After ``k < m`` front steps ``i + j = k``, and
    likewise at the back, so no index leaves ``[0, m)`` and no bounds test is needed. Indices are
    unsigned (:data:`_U`), so numba emits no negative-index wraparound on the dependency chains.
    """
    last = _U(m) - _U(1)
    i, j, i_back, j_back = _U(0), _U(0), last, last
    top = _U(2) * last + _U(1)
    for k in range(_U(m)):
        a = src[i]
        b = src[j] + shift
        front_plain = a <= b
        dst[k] = a if front_plain else b
        a_back = src[i_back]
        b_back = src[j_back] + shift
        back_shifted = b_back >= a_back
        dst[top - k] = b_back if back_shifted else a_back
        i += _U(front_plain)  # explicit integer steps keep the loop branch-free and fast
        j += _U(not front_plain)
        i_back -= _U(not back_shifted)
        j_back -= _U(back_shifted)


@numba.njit(cache=True)
def _sorted_sums_into(x, out, scratch):
    """Ascending sums of pool ``x`` ``[k]`` into ``out[:2^k]`` via ``scratch``; the buffers alternate so
    that the last merge lands in ``out``."""
    k = x.shape[0]
    a, b = (out, scratch) if k % 2 == 0 else (scratch, out)
    a[0] = 0.0
    m = 1
    for i in range(k):
        _merge_step(a, b, m, x[i])
        a, b = b, a
        m *= 2


@numba.njit(cache=True, parallel=True)
def _sorted_sums_in_parallel(x, out):
    pools, size = out.shape
    tasks = (pools + _POOLS_PER_TASK - 1) // _POOLS_PER_TASK
    for task in numba.prange(tasks):
        scratch = np.empty(size)
        for p in range(task * _POOLS_PER_TASK, min(pools, (task + 1) * _POOLS_PER_TASK)):
            _sorted_sums_into(x[p], out[p], scratch)


def merge_sorted_sums(x: np.ndarray) -> np.ndarray:
    """``x`` ``[B, n]`` float64 → ``[B, 2^n]`` ascending subset sums of each pool.

    The result (and a single pool's scratch) is allocated by numpy, not inside the compiled code: an
    array of 2^24 sums allocated there took as long as the merges themselves (88 against 150 M sums
    per CPU-second, measured at n = 22 and 24). One pool is one long merge and runs serially (a parallel
    region's idle workers would only add overhead); a batch runs in parallel over pools.
    """
    pools, n = x.shape
    out = np.empty((pools, 1 << n))
    if pools == 1:
        _sorted_sums_into(x[0], out[0], np.empty(1 << max(n - 1, 0)))
    else:
        _sorted_sums_in_parallel(x, out)
    return out


@numba.njit(cache=True)
def _merge_pair_step(src_0, shifted_0, dst_0, src_1, shifted_1, dst_1, m):
    """Two pools' merge steps in lockstep: ``dst_s[:2m]`` ← stable merge of ``src_s[:m]`` and
    ``shifted_s[:m] = src_s[:m] + x`` (both ascending), each run from both ends as in :func:`_merge_step`.

    Four independent dependency chains per iteration (two pools, two ends) keep the core busy while
    each chain waits on its loads; the shifted run is precomputed (a vectorised pass), so no addition
    sits on a chain. The values are the additions of :func:`_merge_step`, bit for bit.
    """
    last = _U(m) - _U(1)
    i_0, j_0, i_back_0, j_back_0 = _U(0), _U(0), last, last
    i_1, j_1, i_back_1, j_back_1 = _U(0), _U(0), last, last
    top = _U(2) * last + _U(1)
    for k in range(_U(m)):
        a, b = src_0[i_0], shifted_0[j_0]
        front_0 = a <= b
        dst_0[k] = a if front_0 else b
        a, b = src_0[i_back_0], shifted_0[j_back_0]
        back_0 = b >= a
        dst_0[top - k] = b if back_0 else a
        a, b = src_1[i_1], shifted_1[j_1]
        front_1 = a <= b
        dst_1[k] = a if front_1 else b
        a, b = src_1[i_back_1], shifted_1[j_back_1]
        back_1 = b >= a
        dst_1[top - k] = b if back_1 else a
        i_0 += _U(front_0)
        j_0 += _U(not front_0)
        i_back_0 -= _U(not back_0)
        j_back_0 -= _U(back_0)
        i_1 += _U(front_1)
        j_1 += _U(not front_1)
        i_back_1 -= _U(not back_1)
        j_back_1 -= _U(back_1)


@numba.njit(cache=True)
def _sorted_sums_pair(x_0, x_1, out_0, out_1, scratch):
    """Ascending sums of two pools ``x_0``, ``x_1`` ``[k]`` into ``out_0[:2^k]``, ``out_1[:2^k]``.

    ``scratch`` ``[4, ≥ 2^(k−1)]`` holds the previous level and its shift for both pools; every sum is
    ``previous + x_i`` with the entries taken in increasing index order, as in :func:`_sorted_sums_into`.
    """
    k = x_0.shape[0]
    prev_0, prev_1, shifted_0, shifted_1 = scratch[0], scratch[1], scratch[2], scratch[3]
    # the levels alternate between out and prev so that the last one lands in out
    a_0, a_1, b_0, b_1 = (out_0, out_1, prev_0, prev_1) if k % 2 == 0 else (prev_0, prev_1, out_0, out_1)
    a_0[0] = 0.0
    a_1[0] = 0.0
    m = 1
    for i in range(k):
        shift_0, shift_1 = x_0[i], x_1[i]
        for c in range(m):
            shifted_0[c] = a_0[c] + shift_0
            shifted_1[c] = a_1[c] + shift_1
        _merge_pair_step(a_0, shifted_0, b_0, a_1, shifted_1, b_1, m)
        a_0, a_1, b_0, b_1 = b_0, b_1, a_0, a_1
        m *= 2


_LANES = 8  # pools whose half-sums are sorted together: one float64 per lane of a 512-bit vector
_V_LANES = ir.VectorType(ir.DoubleType(), _LANES)
_I64 = ir.IntType(64)


@intrinsic
def _half_cleaners(typingctx, rows, first, unit, passes):
    """Compare-exchange ``2^passes`` rows of ``_LANES`` lanes in registers (``1 ≤ passes ≤ 4``).

    ``rows`` is a flat float64 array of rows of ``_LANES`` lanes; the rows taken are ``first + c·unit``
    (element offsets, ``c = 0..2^passes − 1``); the stages are the bitonic half-cleaners of strides
    ``2^(passes−1)·unit, …, unit``: in each, row ``c`` takes the lane-wise minimum and row ``c + d`` the maximum
    (``c & d = 0``). One pass of ``passes`` stages loads and stores each row once, so a stage costs a
    quarter of the memory traffic it would alone (a vector minimum and maximum per pair). The values
    are only moved, never computed. LLVM IR, because numba does not vectorise these strided rows.
    """
    sig = types.void(rows, first, unit, passes)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        first_, unit_, passes_ = args[1], args[2], args[3]
        end = builder.append_basic_block("half_cleaners_end")
        switch = builder.switch(passes_, end)
        for count in (1, 2, 3, 4):
            block = builder.append_basic_block(f"half_cleaners_{count}")
            switch.add_case(ir.Constant(passes_.type, count), block)
            builder.position_at_end(block)
            pointers = [builder.bitcast(builder.gep(data, [builder.add(first_, builder.mul(unit_, ir.Constant(_I64, c)))]),
                                        _V_LANES.as_pointer()) for c in range(1 << count)]
            values = [builder.load(pointer, align=8) for pointer in pointers]
            for d in (1 << s for s in range(count - 1, -1, -1)):
                for c in range(1 << count):
                    if c & d == 0:  # a < b ? a : b and a > b ? a : b are single instructions (vminpd, vmaxpd)
                        low, high = values[c], values[c + d]
                        values[c] = builder.select(builder.fcmp_ordered("<", low, high), low, high)
                        values[c + d] = builder.select(builder.fcmp_ordered(">", low, high), low, high)
            for pointer, value in zip(pointers, values):
                builder.store(value, pointer, align=8)
            builder.branch(end)
        builder.position_at_end(end)
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True)
def _sort_bitonic_rows(rows, size):
    """Sort each lane of ``rows[:size·_LANES]`` (``size`` a power of two) ascending, given that each lane is
    ascending on rows ``[0, size/2)`` and descending on ``[size/2, size)``: Batcher's bitonic merge, half
    cleaners of strides ``size/2, …, 1``, up to four in one pass (:func:`_half_cleaners`)."""
    stride = size // 2
    while stride >= 1:
        passes = 4 if stride >= 8 else (3 if stride >= 4 else (2 if stride >= 2 else 1))
        unit = stride >> (passes - 1)
        for block in range(0, size, 2 * stride):
            for offset in range(unit):
                _half_cleaners(rows, (block + offset) * _LANES, unit * _LANES, passes)
        stride = unit // 2


@numba.njit(cache=True)
def _sorted_sums_lanes(x, rows):
    """Ascending subset sums of ``_LANES`` pools at once: ``x`` ``[k, _LANES]`` (entry ``i`` of pool ``l`` at
    ``x[i, l]``) → ``rows[:2^k·_LANES]``, row ``r`` lane ``l`` the ``r``-th smallest sum of pool ``l``.

    Level ``i`` appends ``rows + x_i`` in reverse order (descending) to the ascending ``rows`` and sorts
    the bitonic result (:func:`_sort_bitonic_rows`): the sums ``L ∪ (L + x_i)`` of the merge of
    :func:`_sorted_sums_into`, sorted by a network that vectorises across pools instead of a merge
    whose every step waits on the last. Each sum is computed once, ``previous + x_i`` with the entries in
    increasing index order, so the values are bitwise those of the merge; the sorted lanes are the
    same bits too, as sums are never NaN or −0.0 (``0.0 + x`` and exact cancellations give +0.0), so
    equal values are equal bit patterns.
    """
    rows[:_LANES] = 0.0
    m = 1
    for i in range(x.shape[0]):
        for r in range(m):
            top = (2 * m - 1 - r) * _LANES
            for lane in range(_LANES):
                rows[top + lane] = rows[r * _LANES + lane] + x[i, lane]
        _sort_bitonic_rows(rows, 2 * m)
        m *= 2


_SCAN_GROUPS = 4  # vectors of _LANES scans run in lockstep by _lockstep_scans
_SCAN_LANES = _SCAN_GROUPS * _LANES  # scans per call of _lockstep_scans (and pools whose sums are held at once)
_V_INDEX = ir.VectorType(_I64, _LANES)


def _vector(builder, array, group, vector_type):
    """Lanes ``[group·_LANES, (group + 1)·_LANES)`` of a contiguous array (data pointer ``array``), loaded."""
    pointer = builder.gep(array, [ir.Constant(_I64, group * _LANES)])
    return builder.load(builder.bitcast(pointer, vector_type.as_pointer()), align=8)


def _lanes_load(builder, data, offsets):
    """``data[offsets[l]]`` for each lane: scalar loads inserted into a vector (AVX-512 gathers are
    microcoded on this processor: measured 1.4× slower than the scalar scans, against 0.56× for this)."""
    vector = ir.Constant(_V_LANES, ir.Undefined)
    for lane in range(_LANES):
        index = ir.Constant(ir.IntType(32), lane)
        value = builder.load(builder.gep(data, [builder.extract_element(offsets, index)]), align=8)
        vector = builder.insert_element(vector, value, index)
    return vector


@intrinsic
def _lockstep_scans(typingctx, left, right, start_i, start_j, targets, steps, width, best_i, best_j):
    """:func:`_four_scans` for :data:`_SCAN_LANES` scans, as vectors of :data:`_LANES` lanes.

    The same scan per lane, step for step (the same sums, comparisons and first-best rule), with each
    lane's indices and best pair in vector registers: the scalar scans are latency-bound (a step's
    loads wait on the last comparison) and four of them fill the general registers; here
    :data:`_SCAN_GROUPS` vectors of eight scans overlap their chains. LLVM IR, as numba has no vector
    types.
    """
    sig = types.void(left, right, start_i, start_j, targets, steps, width, best_i, best_j)

    def codegen(context, builder, signature, args):
        left_, right_, start_i_, start_j_, targets_, best_i_, best_j_ = [
            context.make_array(kind)(context, builder, value).data
            for kind, value in zip(signature.args, args) if isinstance(kind, types.Array)]
        steps_ = args[5]
        entry = builder.basic_block
        first = [(_vector(builder, start_i_, g, _V_INDEX), _vector(builder, start_j_, g, _V_INDEX),
                  ir.Constant(_V_LANES, [math.inf] * _LANES)) for g in range(_SCAN_GROUPS)]
        goals = [_vector(builder, targets_, g, _V_LANES) for g in range(_SCAN_GROUPS)]
        loop, done = builder.append_basic_block("scans"), builder.append_basic_block("scans_done")
        builder.cbranch(builder.icmp_signed(">", steps_, ir.Constant(_I64, 0)), loop, done)
        builder.position_at_end(loop)
        step = builder.phi(_I64)
        step.add_incoming(ir.Constant(_I64, 0), entry)
        state = []  # per group: i, j, best error, best i, best j
        for i, j, error in first:
            phis = [builder.phi(value.type) for value in (i, j, error, i, j)]
            for phi, value in zip(phis, (i, j, error, i, j)):
                phi.add_incoming(value, entry)
            state.append(phis)
        fabs = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V_LANES, [_V_LANES]), "llvm.fabs.v8f64")
        move = builder.insert_element(ir.Constant(_V_INDEX, ir.Undefined), args[6], ir.Constant(ir.IntType(32), 0))
        move = builder.shuffle_vector(move, ir.Constant(_V_INDEX, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), _LANES), [0] * _LANES))  # one row
        after = []
        for (i, j, error, best_i, best_j), goal in zip(state, goals):
            total = builder.fadd(_lanes_load(builder, left_, i), _lanes_load(builder, right_, j))
            distance = builder.call(fabs, [builder.fsub(total, goal)])
            better = builder.fcmp_ordered("<", distance, error)
            up = builder.fcmp_ordered("<=", total, goal)
            after.append((builder.select(up, builder.add(i, move), i), builder.select(up, j, builder.sub(j, move)),
                          builder.select(better, distance, error), builder.select(better, i, best_i),
                          builder.select(better, j, best_j)))
        next_step = builder.add(step, ir.Constant(_I64, 1))
        step.add_incoming(next_step, loop)
        for phis, values in zip(state, after):
            for phi, value in zip(phis, values):
                phi.add_incoming(value, loop)
        builder.cbranch(builder.icmp_signed("<", next_step, steps_), loop, done)
        builder.position_at_end(done)
        results = []
        for g in range(_SCAN_GROUPS):
            for out, k in ((best_i_, 3), (best_j_, 4)):
                result = builder.phi(_V_INDEX)
                result.add_incoming(first[g][k - 3], entry)
                result.add_incoming(after[g][k], loop)
                results.append((out, g, result))
        for out, g, result in results:
            pointer = builder.gep(out, [ir.Constant(_I64, g * _LANES)])
            builder.store(result, builder.bitcast(pointer, _V_INDEX.as_pointer()), align=8)
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True)
def _four_scans(left, right, start_i, start_j, targets, steps, width, best_i, best_j):
    """Four independent two-pointer scans interleaved in one loop (proofs/rss.md (d)).

    ``left``: flat float64 rows of ``width`` lanes, each scanned lane's half-sums ascending on rows
    ``0..p − 1`` with a ``+inf`` sentinel row ``p``; ``right``: a ``−inf`` sentinel row 0, then ascending half-sums
    on rows ``1..q``. Scan ``s`` starts at the element offsets ``start_i[s]`` (its lane's row 0 of ``left``) and
    ``start_j[s]`` (its lane's row ``q`` of ``right``) toward ``targets[s]``: it moves ``i`` up a row when
    ``L_i + R_j ≤ t`` and ``j`` down a row otherwise, and writes into ``best_i[s]``, ``best_j[s]`` the offsets of
    the smallest ``|L_i + R_j − t|`` it visits (the first among equal errors). A scan ends after at most
    ``p + q − 1`` moves, at ``i = p`` or ``j = 0``; every scan runs exactly ``steps = p + q − 1`` steps, because
    past its end the sentinels keep it inside its lane at an infinite error (``i = p`` reads ``+inf``, so
    only ``j`` moves, and not below 1 since ``i + (q − j)`` cannot exceed ``p + q − 1``; symmetrically at
    ``j = 0``). No step tests for the end.

    Register pressure decides the speed (four scans' indices, best pairs and row pointers did not
    fit the 16 general registers, and the spills sat on the loops' chains): the indices are unsigned
    element offsets into the flat arrays, and the best pair is updated in a branch, which is rarely
    taken (a new best error is a record of the visited errors) and so predicted well. Full batches
    of :data:`_SCAN_LANES` scans run in :func:`_lockstep_scans` instead; this serves the rest.
    """
    t_0, t_1, t_2, t_3 = targets[0], targets[1], targets[2], targets[3]
    i_0, i_1, i_2, i_3 = _U(start_i[0]), _U(start_i[1]), _U(start_i[2]), _U(start_i[3])
    j_0, j_1, j_2, j_3 = _U(start_j[0]), _U(start_j[1]), _U(start_j[2]), _U(start_j[3])
    e_0, e_1, e_2, e_3 = math.inf, math.inf, math.inf, math.inf
    bi_0, bi_1, bi_2, bi_3 = i_0, i_1, i_2, i_3
    bj_0, bj_1, bj_2, bj_3 = j_0, j_1, j_2, j_3
    row, zero = _U(width), _U(0)
    for _ in range(steps):
        s_0 = left[i_0] + right[j_0]
        s_1 = left[i_1] + right[j_1]
        s_2 = left[i_2] + right[j_2]
        s_3 = left[i_3] + right[j_3]
        d_0, d_1, d_2, d_3 = abs(s_0 - t_0), abs(s_1 - t_1), abs(s_2 - t_2), abs(s_3 - t_3)
        if d_0 < e_0:
            e_0, bi_0, bj_0 = d_0, i_0, j_0
        if d_1 < e_1:
            e_1, bi_1, bj_1 = d_1, i_1, j_1
        if d_2 < e_2:
            e_2, bi_2, bj_2 = d_2, i_2, j_2
        if d_3 < e_3:
            e_3, bi_3, bj_3 = d_3, i_3, j_3
        # s ≤ t is the sign of the computed s − t (rounding is monotone): on an exact hit, moving on
        # loses nothing, 0 is already the optimum
        up_0, up_1, up_2, up_3 = s_0 <= t_0, s_1 <= t_1, s_2 <= t_2, s_3 <= t_3
        i_0 += row if up_0 else zero  # selects of registers (cmov) keep the chains branch-free and short
        i_1 += row if up_1 else zero
        i_2 += row if up_2 else zero
        i_3 += row if up_3 else zero
        j_0 -= zero if up_0 else row
        j_1 -= zero if up_1 else row
        j_2 -= zero if up_2 else row
        j_3 -= zero if up_3 else row
    best_i[0], best_i[1], best_i[2], best_i[3] = np.int64(bi_0), np.int64(bi_1), np.int64(bi_2), np.int64(bi_3)
    best_j[0], best_j[1], best_j[2], best_j[3] = np.int64(bj_0), np.int64(bj_1), np.int64(bj_2), np.int64(bj_3)


@numba.njit(cache=True)
def _code_of_sum(x, value, scratch):
    """Code of a subset of ``x`` ``[k]`` whose float64 sum is exactly ``value`` (a sum the merge produced).

    Sums are rebuilt in code order, ``s[c | 2^i] = s[c] + x_i`` for ``c < 2^i`` (a vectorised loop):
    entries are added in increasing index order, exactly as in the merge, so the computed values are
    bitwise the same.
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


_MERGED_UP_TO = 2  # a group of at most this many pools is merged pool by pool (_sorted_sums_group)


@numba.njit(cache=True)
def _sorted_sums_group(entries, rows, size, width, merged):
    """The sorted sums of a group of ``size`` pools, ``entries`` ``[k, ≥ size]`` (entry ``i`` of pool ``l`` at
    ``[i, l]``) → ``rows``: row ``r`` lane ``l`` at ``r·width + l``.

    With ``width = _LANES`` and more than :data:`_MERGED_UP_TO` pools, the sorting network of
    :func:`_sorted_sums_lanes`. It costs the same for one pool as for eight, so a smaller group (a call
    with one target) is merged instead, two pools in lockstep (:func:`_sorted_sums_pair`, into
    ``merged`` ``[6, ≥ 2^k]``, the last pool twice if alone), and copied into its lanes, which gives the
    same bits; lanes from ``size`` on are then left unset.
    """
    if width == _LANES and size > _MERGED_UP_TO:
        _sorted_sums_lanes(entries, rows)
        return
    _sorted_sums_pair(entries[:, 0], entries[:, min(1, size - 1)], merged[4], merged[5], merged[:4])
    for lane in range(size):
        for r in range(1 << entries.shape[0]):
            rows[r * width + lane] = merged[4 + lane, r]


SUMS, SCANS, CODES = 1, 2, 3  # stages of _codes_for_pools: the profile runs it up to each in turn


@numba.njit(cache=True)
def _codes_for_pools(x, targets, codes, start, stop, last_stage):
    """Nearest-subset codes for pools ``start ≤ p < stop`` into ``codes`` (see :func:`nearest_subset_codes`).

    Blocks of :data:`_SCAN_GROUPS` groups of ``width`` pools (a short last group repeats its last pool):
    each group's sorted half-sums, rows of ``width`` lanes (:func:`_sorted_sums_group`); then the
    scans of the block's jobs (job ``k``: target ``k % T`` of the block's pool ``k // T``) in batches of
    :data:`_SCAN_LANES` (:func:`_lockstep_scans`), the rest four at a time (:func:`_four_scans`, a short
    last batch repeating its last job); then the codes. ``width`` is :data:`_LANES`, or 1 for a call of
    at most :data:`_MERGED_UP_TO` pools (each pool's sums contiguous, as a lone scan reads them best:
    measured at n = 24, 97 µs a call against 300 µs with eight-lane rows).
    ``last_stage`` < ``CODES`` stops after generating the sums (``SUMS``) or after the scans (``SCANS``),
    leaving ``codes`` unset: :func:`profile_nearest_subset_codes` times the stages by differences.
    """
    n, count = x.shape[1], targets.shape[1]
    a = n // 2
    p, q = 1 << a, 1 << (n - a)
    width = _LANES if stop - start > _MERGED_UP_TO else 1
    groups = min(_SCAN_GROUPS, (stop - start + width - 1) // width)
    left_rows, right_rows = (p + 1) * width, (q + 1) * width  # one group's sums and sentinel row
    left = np.empty(groups * left_rows)  # group g, lane l: the sorted sums of a first half, then +inf
    right = np.empty(groups * right_rows)  # −inf, then the sorted sums of the second half
    for g in range(groups):
        left[g * left_rows + p * width:(g + 1) * left_rows] = math.inf
        right[g * right_rows:g * right_rows + width] = -math.inf
    entries = np.empty((n, width))  # entry i of the group's pool l at [i, l]
    scratch, merged = np.empty(q), np.empty((6, q))
    start_i, start_j = np.empty(_SCAN_LANES, dtype=np.int64), np.empty(_SCAN_LANES, dtype=np.int64)
    best_i, best_j = np.empty(_SCAN_LANES, dtype=np.int64), np.empty(_SCAN_LANES, dtype=np.int64)
    goals = np.empty(_SCAN_LANES)
    for block in range(start, stop, groups * width):
        size = min(groups * width, stop - block)
        for g in range(0, (size + width - 1) // width):
            group_size = min(width, size - g * width)
            for lane in range(width):
                entries[:, lane] = x[block + g * width + min(lane, group_size - 1)]
            _sorted_sums_group(entries[:a], left[g * left_rows:], group_size, width, merged)
            _sorted_sums_group(entries[a:], right[g * right_rows + width:], group_size, width, merged)
        if last_stage == SUMS:
            continue
        jobs, first = size * count, 0
        while first < jobs:
            batch = _SCAN_LANES if jobs - first >= _SCAN_LANES else 4
            for s in range(batch):
                job = min(first + s, jobs - 1)  # a short last batch repeats its last job
                pool = job // count
                group, lane = pool // width, pool % width
                start_i[s] = group * left_rows + lane
                start_j[s] = group * right_rows + q * width + lane
                goals[s] = targets[block + pool, job % count]
            if batch == _SCAN_LANES:
                _lockstep_scans(left, right, start_i, start_j, goals, p + q - 1, width, best_i, best_j)
            else:
                _four_scans(left, right, start_i, start_j, goals, p + q - 1, width, best_i, best_j)
            if last_stage == CODES:
                for s in range(min(batch, jobs - first)):
                    pool, target = block + (first + s) // count, (first + s) % count
                    codes[pool, target] = _code_of_sum(x[pool, :a], left[best_i[s]], scratch) | \
                        (_code_of_sum(x[pool, a:], right[best_j[s]], scratch) << a)
            first += batch


@numba.njit(cache=True, parallel=True)
def _codes_in_parallel(x, targets, codes, last_stage):
    pools = x.shape[0]
    tasks = (pools + _POOLS_PER_TASK - 1) // _POOLS_PER_TASK
    for task in numba.prange(tasks):
        _codes_for_pools(x, targets, codes, task * _POOLS_PER_TASK, min(pools, (task + 1) * _POOLS_PER_TASK),
                         last_stage)


def nearest_subset_codes(x: np.ndarray, targets: np.ndarray, last_stage: int = CODES) -> np.ndarray:
    """``x`` ``[P, n]``, ``targets`` ``[P, T]`` float64 → ``[P, T]`` int64 codes of nearest subset sums.

    Halves ``x[:a]`` and ``x[a:]`` (``a = n // 2``) give ascending sums ``L`` (``2^a``) and ``R`` (``2^b``),
    generated sorted eight pools at a time (:func:`_sorted_sums_lanes`); a two-pointer scan per
    target (:func:`_four_scans`, proofs/rss.md (d)) finds ``min |L_i + R_j − t|`` in ``O(2^a + 2^b)``,
    four scans interleaved. The codes of the winning half-sums are recovered afterwards, so the sorting
    moves values only. Batches of more than one task run in parallel; a small batch (one target at a time)
    runs serially, without the cost of waking the worker threads. ``last_stage`` is for profiling only
    (see :func:`_codes_for_pools`).

    Speed (issue 31; n = 21, one target a pool, CPU time on this 2-core AMD EPYC with AVX-512): about
    4.5 µs a pool for the sorted half-sums, 2.4 µs for the scan, 0.7 µs for the codes (7.4 and 4.4 µs
    before for the first two, measured side by side). The sorting network is bound by the vector
    minimum and maximum (a 512-bit one a cycle here; about 2.85 cycles a compare-exchange of eight
    lanes against a floor of 2), the vector scans by instruction count (about 2 cycles a lane-step:
    two scalar loads with their index extracts and inserts; the hardware gathers are slower). So the
    per-weight workload of 397,000 pools costs about 3 CPU-s with the glue: 1.5 s on two free cores,
    not the issue's 1 s, which needs about 5 µs a pool, i.e. four cores, or a GPU (``backend="torch"``).
    """
    codes = np.empty(targets.shape, dtype=np.int64)
    if x.shape[0] <= _POOLS_PER_TASK:
        _codes_for_pools(x, targets, codes, 0, x.shape[0], last_stage)
    else:
        _codes_in_parallel(x, targets, codes, last_stage)
    return codes


def profile_nearest_subset_codes(x: np.ndarray, targets: np.ndarray, repeat: int = 3) -> dict[str, dict[str, float]]:
    """Seconds that :func:`nearest_subset_codes` spends generating the sorted half-sums (``sums``),
    scanning (``scan``) and recovering the codes (``codes``), each the difference between the best of
    ``repeat`` runs that stop after successive stages; ``total`` is the full run. Returned as wall time
    (``"wall"``) and as CPU time summed over threads (``"cpu"``, the steadier figure on a loaded machine).
    """
    best = {"wall": {}, "cpu": {}}
    for stage in (SUMS, SCANS, CODES):
        nearest_subset_codes(x[:2], targets[:2], stage)  # compiled outside the timing
        wall, cpu = math.inf, math.inf
        for _ in range(repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            nearest_subset_codes(x, targets, stage)
            wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
        best["wall"][stage], best["cpu"][stage] = wall, cpu
    return {clock: {"sums": t[SUMS], "scan": max(t[SCANS] - t[SUMS], 0.0), "codes": max(t[CODES] - t[SCANS], 0.0),
                    "total": t[CODES]} for clock, t in best.items()}


@numba.njit(cache=True, inline="always")  # called once per pool or step: no call overhead
def _reaches(x):
    """``[2, n + 1]``: row 0 ``Σ_{j ≥ t} max(x_j, 0)`` (how far the entries from ``t`` on can move a sum up),
    row 1 ``Σ_{j ≥ t} min(x_j, 0)``, for ``t = 0..n``."""
    n = x.shape[0]
    reach = np.zeros((2, n + 1))
    for t in range(n - 1, -1, -1):
        reach[0, t] = reach[0, t + 1] + max(x[t], 0.0)
        reach[1, t] = reach[1, t + 1] + min(x[t], 0.0)
    return reach


@numba.njit(cache=True, inline="always")  # called once per pool or step: no call overhead
def _shift_ready(scratch, parity, size, shift):
    """Prepare one merge step of a pool's interval list: grow ``scratch`` if the new list and a sentinel
    slot may not fit, put ``+inf`` sentinels after the current list (rows ``2·parity``, ``2·parity + 1``) so
    that an exhausted list is never chosen again, and write its shifted starts into row 4. Returns
    ``scratch`` (grown or not)."""
    if 2 * size + 1 > scratch.shape[1]:
        grown = np.empty((5, 2 * scratch.shape[1] + 1))
        grown[2 * parity, :size] = scratch[2 * parity, :size]
        grown[2 * parity + 1, :size] = scratch[2 * parity + 1, :size]
        scratch = grown
    starts, ends, shifted = scratch[2 * parity], scratch[2 * parity + 1], scratch[4]
    starts[size] = math.inf
    ends[size] = math.inf
    for c in range(size + 1):
        shifted[c] = starts[c] + shift
    return scratch


@numba.njit(cache=True)
def _coalesce(scratch, parity, shift, low, high, state, count):
    """``count`` steps of one pool's merge of its list and the list shifted by ``shift``, coalescing
    overlaps; ``state`` = ``(i, j, kept, cur_start, cur_end)`` before and (returned) after.

    The loop has no data-dependent branch: its choices are unpredictable (about one misprediction per
    element cost ~8 ns an element), so it selects an index and an offset rather than a loaded value (a
    select between two loads is compiled as a branch), writes every candidate component and advances
    the output count only when the component is complete and inside the window ``[low, high]``, and
    reads sentinels (``+inf`` starts) instead of testing for the end of a list. The values are the same
    additions as a plain merge: ``starts[j] + shift`` (row 4) and ``x + 0.0 = x``.
    """
    starts, ends, shifted = scratch[2 * parity], scratch[2 * parity + 1], scratch[4]
    new_starts, new_ends = scratch[2 - 2 * parity], scratch[3 - 2 * parity]
    i, j, kept, cur_start, cur_end = state
    for _ in range(count):
        take_plain = starts[i] <= shifted[j]
        k = i if take_plain else j
        offset = 0.0 if take_plain else shift
        s = starts[k] + offset
        e = ends[k] + offset
        i += np.int64(take_plain)
        j += np.int64(not take_plain)
        overlap = s <= cur_end
        new_starts[kept] = cur_start  # kept only if the count advances past it
        new_ends[kept] = cur_end
        kept += np.int64((not overlap) and cur_end >= low and cur_start <= high)
        cur_start = cur_start if overlap else s
        cur_end = max(cur_end, e) if overlap else e
    return i, j, kept, cur_start, cur_end


_RUNS = _LANES  # runs of one long merge in lockstep, one per vector lane (_coalesce_runs)


def _splat(builder, value, vector_type):
    vector = builder.insert_element(ir.Constant(vector_type, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(vector, ir.Constant(vector_type, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), _LANES), [0] * _LANES))


@intrinsic
def _coalesce_runs(typingctx, starts, ends, shifted, new_starts, new_ends, shift, low, high, first_i, steps,
                   state_i, state_f):
    """:func:`_coalesce` for :data:`_RUNS` runs of one merge at once, run ``r`` in vector lane ``r``.

    Run ``r`` starts at ``i = first_i[r]``, ``j = r·steps − i`` (where the merge stands after ``r·steps`` steps),
    writes its components from index ``r·steps`` on, starts from the open component ``(−inf, −inf)``, and
    takes ``steps`` steps; only run 0 applies the window ``[low, high]``. Writes the runs' states into
    ``state_i`` ``[3, _RUNS]`` (rows ``i, j, kept``) and ``state_f`` ``[2, _RUNS]`` (``cur_start, cur_end``). Each lane does what
    :func:`_coalesce` does, the same comparisons and additions (``starts[i] + 0.0``, ``ends[j] + shift``,
    ``shifted[j]`` read where :func:`_coalesce` adds ``starts[j] + shift``, the same value); the loads
    and the component stores are scalar, as in :func:`_lockstep_scans`. LLVM IR, as numba has no vector types.
    """
    sig = types.void(starts, ends, shifted, new_starts, new_ends, shift, low, high, first_i, steps, state_i, state_f)

    def codegen(context, builder, signature, args):
        arrays = [context.make_array(kind)(context, builder, value).data
                  for kind, value in zip(signature.args, args) if isinstance(kind, types.Array)]
        starts_, ends_, shifted_, new_starts_, new_ends_, first_i_, state_i_, state_f_ = arrays
        shift_, low_, high_, steps_ = args[5], args[6], args[7], args[9]
        lane = ir.Constant(_V_INDEX, list(range(_LANES)))
        one = ir.Constant(_V_INDEX, [1] * _LANES)
        zero = ir.Constant(_V_LANES, [0.0] * _LANES)
        minus_inf = ir.Constant(_V_LANES, [-math.inf] * _LANES)
        low_v = builder.insert_element(minus_inf, low_, ir.Constant(ir.IntType(32), 0))
        high_v = builder.insert_element(ir.Constant(_V_LANES, [math.inf] * _LANES), high_, ir.Constant(ir.IntType(32), 0))
        shift_v = _splat(builder, shift_, _V_LANES)
        first_kept = builder.mul(lane, _splat(builder, steps_, _V_INDEX))
        i0 = _vector(builder, first_i_, 0, _V_INDEX)
        first = (i0, builder.sub(first_kept, i0), first_kept, minus_inf, minus_inf)
        entry = builder.basic_block
        loop, done = builder.append_basic_block("runs"), builder.append_basic_block("runs_done")
        builder.cbranch(builder.icmp_signed(">", steps_, ir.Constant(_I64, 0)), loop, done)
        builder.position_at_end(loop)
        step = builder.phi(_I64)
        step.add_incoming(ir.Constant(_I64, 0), entry)
        phis = [builder.phi(value.type) for value in first]
        for phi, value in zip(phis, first):
            phi.add_incoming(value, entry)
        i, j, kept, cur_start, cur_end = phis
        plain, other = _lanes_load(builder, starts_, i), _lanes_load(builder, shifted_, j)
        take_plain = builder.fcmp_ordered("<=", plain, other)
        s = builder.select(take_plain, builder.fadd(plain, zero), other)
        e = builder.select(take_plain, builder.fadd(_lanes_load(builder, ends_, i), zero),
                           builder.fadd(_lanes_load(builder, ends_, j), shift_v))
        overlap = builder.fcmp_ordered("<=", s, cur_end)
        for r in range(_LANES):  # every candidate component is written; kept moves past it if complete
            index = ir.Constant(ir.IntType(32), r)
            slot = builder.extract_element(kept, index)
            builder.store(builder.extract_element(cur_start, index), builder.gep(new_starts_, [slot]), align=8)
            builder.store(builder.extract_element(cur_end, index), builder.gep(new_ends_, [slot]), align=8)
        inside = builder.and_(builder.fcmp_ordered(">=", cur_end, low_v), builder.fcmp_ordered("<=", cur_start, high_v))
        advance = builder.and_(builder.not_(overlap), inside)
        longer = builder.fcmp_ordered(">", e, cur_end)
        after = (builder.select(take_plain, builder.add(i, one), i), builder.select(take_plain, j, builder.add(j, one)),
                 builder.select(advance, builder.add(kept, one), kept), builder.select(overlap, cur_start, s),
                 builder.select(overlap, builder.select(longer, e, cur_end), e))
        next_step = builder.add(step, ir.Constant(_I64, 1))
        step.add_incoming(next_step, loop)
        for phi, value in zip(phis, after):
            phi.add_incoming(value, loop)
        builder.cbranch(builder.icmp_signed("<", next_step, steps_), loop, done)
        builder.position_at_end(done)
        results = []
        for start, end in zip(first, after):
            result = builder.phi(start.type)
            result.add_incoming(start, entry)
            result.add_incoming(end, loop)
            results.append(result)
        for row, result in enumerate(results):
            out, kind = (state_i_, _V_INDEX) if row < 3 else (state_f_, _V_LANES)
            pointer = builder.gep(out, [ir.Constant(_I64, (row % 3) * _LANES)])
            builder.store(result, builder.bitcast(pointer, kind.as_pointer()), align=8)
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True)
def _coalesce_in_runs(scratch, parity, shift, low, high, size, state_i, state_f):
    """The ``2·size`` steps of one merge as :data:`_RUNS` runs in lockstep (see :func:`_merge_step_coalesced`):
    run ``r`` starts where the merge stands after ``r·d`` steps (``d = ⌊2·size/_RUNS⌋``, :func:`_merge_split`)
    and takes ``d`` steps, the last run also the remaining ``2·size − _RUNS·d``; run ``r`` writes its
    components from index ``r·d`` on, and only the first applies the window ``[low, high]``. The runs'
    states ``(i, j, kept)`` and ``(cur_start, cur_end)`` go to ``state_i`` ``[3, _RUNS]``, ``state_f`` ``[2, _RUNS]``.
    The same operations as :func:`_coalesce`, with each run's loads and comparisons overlapping the
    others' dependency chains (measured per merged element: 4.6 ns one run, 2.3 ns three runs in
    scalar registers, which is as many as fit; eight in vector lanes: see :func:`_coalesce_runs`)."""
    starts, ends, shifted = scratch[2 * parity], scratch[2 * parity + 1], scratch[4]
    new_starts, new_ends = scratch[2 - 2 * parity], scratch[3 - 2 * parity]
    d = (2 * size) // _RUNS
    first_i = np.empty(_RUNS, dtype=np.int64)
    for r in range(_RUNS):
        first_i[r] = _merge_split(starts, shifted, size, r * d)
    _coalesce_runs(starts, ends, shifted, new_starts, new_ends, shift, low, high, first_i, d, state_i, state_f)
    last = _RUNS - 1
    i, j, kept, cur_start, cur_end = _coalesce(scratch, parity, shift, -math.inf, math.inf,
                                               (state_i[0, last], state_i[1, last], state_i[2, last],
                                                state_f[0, last], state_f[1, last]), 2 * size - _RUNS * d)
    state_i[0, last], state_i[1, last], state_i[2, last] = i, j, kept
    state_f[0, last], state_f[1, last] = cur_start, cur_end


@numba.njit(cache=True, inline="always")  # called once per pool or step: no call overhead
def _step_verdict(x, t, scratch, parity, state, low, high, lo, hi):
    """Close step ``t`` of a pool's merge (its last component, if inside the window) and decide:
    returns ``(verdict, size)`` with verdict 0 (no component can reach ``[lo, hi]``: not covered),
    1 (covered, by :func:`_covered_from`), or −1 (undecided: go on with the new list of ``size``
    components, which lies in the rows of parity ``1 − parity``)."""
    _, _, kept, cur_start, cur_end = state
    new_starts, new_ends = scratch[2 - 2 * parity], scratch[3 - 2 * parity]
    if cur_end >= low and cur_start <= high:
        new_starts[kept] = cur_start
        new_ends[kept] = cur_end
        kept += 1
    if kept == 0:  # nothing can reach [lo, hi] any more
        return 0, 0
    if _covered_from(x, t + 1, new_starts, new_ends, kept, lo, hi):
        return 1, kept
    return -1, kept


@numba.njit(cache=True)
def _longest_length(starts, ends, size):
    """``max_c ends[c] − starts[c]`` over ``c < size``, as four independent maxima (a single one waits on
    the last comparison: 0.62 ns a component; LLVM does not vectorise this reduction)."""
    m_0, m_1, m_2, m_3 = 0.0, 0.0, 0.0, 0.0
    quarter = size // 4
    for c in range(_U(quarter)):
        m_0 = max(m_0, ends[c] - starts[c])
        m_1 = max(m_1, ends[c + _U(quarter)] - starts[c + _U(quarter)])
        m_2 = max(m_2, ends[c + _U(2 * quarter)] - starts[c + _U(2 * quarter)])
        m_3 = max(m_3, ends[c + _U(3 * quarter)] - starts[c + _U(3 * quarter)])
    for c in range(4 * quarter, size):
        m_0 = max(m_0, ends[c] - starts[c])
    return max(max(m_0, m_1), max(m_2, m_3))


@numba.njit(cache=True)
def _covered_from(x, t, starts, ends, size, lo, hi):
    """Sufficient test that ``K_n ⊇ [lo, hi]`` given the components of ``K_t``.

    ``K`` only grows, so a component containing ``[lo, hi]`` decides at once; otherwise the longest
    component ``I`` (the first of the longest) is carried through ``x[t:]`` for as long as ``I ∪ (I + x_j)``
    stays one interval (overlap tested on the computed ends, as the merge does), which lies in ``K_n``
    (proofs/rss.md (b)). The components are sorted and disjoint, so only the last one starting at or
    below ``lo`` can contain ``[lo, hi]`` (found by bisection); the longest is found by a vectorised
    maximum, then its first index (measured: 1 ns a component in one branchy pass before).
    """
    below, above = 0, size  # the last component with start ≤ lo is below − 1
    while below < above:
        middle = (below + above) // 2
        if starts[middle] <= lo:
            below = middle + 1
        else:
            above = middle
    if below > 0 and ends[below - 1] >= hi:
        return True
    length = _longest_length(starts, ends, size)
    longest = 0
    while ends[longest] - starts[longest] != length:
        longest += 1
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


_PAIRED_FROM = 256  # lists of at least this many components are merged as _RUNS runs in lockstep


@numba.njit(cache=True)
def _merge_split(starts, shifted, size, steps):
    """Where the merge of ``starts[:size]`` and ``shifted[:size]`` (plain first on ties) stands after ``steps``
    of its ``2·size`` steps: the ``i`` (and ``j = steps − i``) with ``starts[i − 1] ≤ shifted[j]`` and
    ``shifted[j − 1] < starts[i]``, by binary search on the monotone ``starts[i] ≤ shifted[steps − 1 − i]``."""
    low, high = max(0, steps - size), min(steps, size)
    while low < high:
        mid = (low + high) // 2
        if starts[mid] <= shifted[steps - 1 - mid]:
            low = mid + 1
        else:
            high = mid
    return low


@numba.njit(cache=True)
def _merge_step_coalesced(scratch, parity, size, shift, low, high):
    """One step ``K ← K ∪ (K + shift)`` of a pool's interval list (rows ``2·parity``, ``2·parity + 1`` of
    ``scratch``, ``size`` components, row 4 its shifted starts) into the other two rows, components
    outside ``[low, high]`` dropped; returns the state ``(i, j, kept, cur_start, cur_end)`` after it.

    The merge is latency-bound (each element's choice waits on the previous one's loads), so a long
    list is merged as :data:`_RUNS` runs in lockstep (:func:`_coalesce_in_runs`), each from where the
    merge stands after its share of the steps (:func:`_merge_split`); the later runs keep all their
    components (window off). Their components are then coalesced onto the first run's open component,
    in order, with the window applied. This gives the components of the plain merge exactly:
    coalescing a sorted sequence from a running component absorbs a run of elements iff it absorbs
    their coalesced union (a run whose first start is at most the running end is absorbed whole, its
    end the maximum of theirs), and from the first element it does not absorb on, both proceed alike;
    ends are maxima of the same computed values, and the window is applied to the same completed
    components in the same order. Within a run, each completed component starts above the end of the
    one before (that is why it was completed), and the open component above the last completed one:
    so once a run's component is not absorbed, none of its later ones is, and they are moved down
    as they are; those inside the window are a range (sorted disjoint components: ends ≥ ``low`` from
    some index on, starts ≤ ``high`` up to some index), copied in one vectorised loop.
    """
    if size < _PAIRED_FROM:
        return _coalesce(scratch, parity, shift, low, high, (0, 0, 0, -math.inf, -math.inf), 2 * size)
    state_i, state_f = np.empty((3, _RUNS), dtype=np.int64), np.empty((2, _RUNS))
    _coalesce_in_runs(scratch, parity, shift, low, high, size, state_i, state_f)
    new_starts, new_ends = scratch[2 - 2 * parity], scratch[3 - 2 * parity]
    kept, cur_start, cur_end = state_i[2, 0], state_f[0, 0], state_f[1, 0]
    d = (2 * size) // _RUNS
    # each later run's completed components (from index r·d on), then its open one; every run completes
    # fewer components than its steps, so kept stays at most the index read: writes never overtake reads
    for r in range(1, _RUNS):
        c, end = r * d, state_i[2, r]
        while c < end and new_starts[c] <= cur_end:  # absorbed into the running component
            cur_end = max(cur_end, new_ends[c])
            c += 1
        if c == end and state_f[0, r] <= cur_end:  # the whole run, open component included
            cur_end = max(cur_end, state_f[1, r])
            continue
        new_starts[kept] = cur_start  # the running component is complete
        new_ends[kept] = cur_end
        kept += np.int64(cur_end >= low and cur_start <= high)
        while c < end and new_ends[c] < low:  # the run's components inside the window are a range
            c += 1
        while end > c and new_starts[end - 1] > high:
            end -= 1
        for k in range(end - c):  # a copy (vectorised): kept ≤ c
            new_starts[kept + k] = new_starts[c + k]
            new_ends[kept + k] = new_ends[c + k]
        kept += end - c
        cur_start, cur_end = state_f[0, r], state_f[1, r]
    return 0, 0, kept, cur_start, cur_end


_PROFILE_BUCKETS = 64  # log2 list lengths counted by cover_merge_profile


@numba.njit(cache=True)
def _cover_one(x, radius, lo, hi, scratch, merged):
    """Whether the radius-neighbourhoods of the subset sums of ``x`` ``[n]`` cover ``[lo, hi]``.

    ``scratch`` ``[5, capacity]`` holds the interval list (rows ``2·parity``, ``2·parity + 1``: starts, ends),
    its successor (the other two rows) and the shifted starts (row 4); it is grown by doubling when a
    list outgrows it and returned with the verdict, so that one thread reuses it from pool to pool (a
    fresh allocation per pool cost a page fault per touched page). ``merged``, unless empty, counts the
    elements each step merges (``2·size``) at index ``⌊log2 size⌋`` (:func:`cover_merge_profile`).
    """
    n = x.shape[0]
    reach = _reaches(x)
    scratch[0, 0], scratch[1, 0] = -radius, radius
    size, parity = 1, 0
    for t in range(n):
        low, high = lo - reach[0, t + 1], hi - reach[1, t + 1]
        scratch = _shift_ready(scratch, parity, size, x[t])
        if merged.shape[0]:
            merged[int(math.log2(size))] += 2 * size
        state = _merge_step_coalesced(scratch, parity, size, x[t], low, high)
        verdict, size = _step_verdict(x, t, scratch, parity, state, low, high, lo, hi)
        if verdict >= 0:
            return verdict == 1, scratch
        parity = 1 - parity
    return False, scratch


@numba.njit(cache=True, parallel=True)
def _cover_pools(x, radii, lo, hi, merged):
    pools = x.shape[0]
    out = np.zeros(pools, dtype=np.bool_)
    profiled = merged.shape[0] == pools and pools > 0
    tasks = (pools + _POOLS_PER_TASK - 1) // _POOLS_PER_TASK
    for task in numba.prange(tasks):
        scratch = np.empty((5, 1025))  # grown on demand; most pools stop long before the bound of (b)
        unprofiled = np.empty(0)
        for p in range(task * _POOLS_PER_TASK, min(pools, (task + 1) * _POOLS_PER_TASK)):
            if radii[p] > 0:
                out[p], scratch = _cover_one(x[p], radii[p], lo, hi, scratch, merged[p] if profiled else unprofiled)
    return out


def cover_verdicts(x: np.ndarray, radii: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``x`` ``[P, n]``, ``radii`` ``[P]`` → bool ``[P]``: does pool ``p`` radius-cover ``[lo, hi]``.

    Speed (issue 31; uniform pools of n = 48 on ``[−1, 1]`` at radius 1e−5, the regime of
    ``rss.lueker --scale full``): about 300,000 interval-list elements merged a pool, 57 % of them in lists of 2^14 to
    2^15 components, whose five scratch rows (about 2.6 MB) exceed this processor's 1 MB L2; about
    2.6 CPU ns an element, 0.78 ms a pool (0.75–0.78 of the time of the previous kernel, three runs in
    scalar registers, measured side by side; the eight runs in vector lanes take 1.8 ns an element,
    the stitch and the stopping test the rest). A layout that keeps each component's
    start and end together, and no separate shifted row, would halve the streams the merge reads.
    """
    return _cover_pools(x, radii, lo, hi, np.empty((0, _PROFILE_BUCKETS)))


def cover_merge_profile(x: np.ndarray, radii: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Where :func:`cover_verdicts` spends its work: ``[P, 64]``, entry ``[p, k]`` the interval-list elements
    pool ``p`` merges in steps whose list has ``2^k ≤ size < 2^(k+1)`` components (the same run, counted)."""
    merged = np.zeros((x.shape[0], _PROFILE_BUCKETS))
    _cover_pools(x, radii, lo, hi, merged)
    return merged
