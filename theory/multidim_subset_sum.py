"""Multidimensional random subset sum: does every point of the cube [−1, 1]^d lie within ε (ℓ∞) of a
subset sum of a pool of d-dimensional vectors?

Objects. A *pool* is ``x`` ``[n, d]`` (n vectors in R^d); its subset sums are ``Σ_{i∈S} x_i`` for the
``2^n`` sets ``S ⊆ [n]``. The pool *ε-covers the cube* when
``E(x) = sup_{z∈[−1,1]^d} min_S ‖z − Σ_S x‖_∞ ≤ ε``. Becchetti et al. (arXiv 2207.13944) bound the pool
size that makes this likely; proofs/rss.md#rss.multidim.

Decision. The exact supremum is hard for d ≥ 2, so :func:`cube_cover` *certifies* it on a dyadic grid
(the covering lemma of proofs/rss.md#rss.multidim): a cell of half-side ``s`` with centre ``c`` is covered
when some sum lies within ``ε − s`` of ``c``; the pool fails when some centre is farther than ``ε`` from
every sum (that centre is a point of the cube: a witness); a cell in between is split into its ``2^d``
halves, down to ``max_depth`` levels. Sums that cannot come within ε of the cube are pruned while they
are generated (per coordinate, from the reach of the entries still to add), and the rest are bucketed
so that a centre only looks at sums in the buckets its ε-box meets.

Rounding. Cell centres are dyadic (exact in float64); every subset sum is a left-to-right float64 sum,
within ``γ_n·Σ_i|x_{ik}|`` of the exact sum in coordinate ``k`` (proofs/rss.md (c)); both thresholds move
by :func:`cover_slack`, so "covered" and "fails" are certificates about the exact sums. Runs on CPU
(compiled, parallel over pools); tensors in, tensors out.

numba caches the compiled kernels beside this file (``cache=True``) under the module's name,
``lth.theory.multidim_subset_sum``; a cache written when the module was the top-level ``theory.multidim_subset_sum``
cannot be loaded by an installed or console-script run, and numba reuses a cache until this file's time
stamp or size changes, so these lines were added with the rename.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import torch

from lth.theory.device import compiled_threads
from lth.theory.numerics import gamma

COVERED, FAILS, UNDECIDED = 1, 0, -1
_POOLS_PER_TASK = 8  # pools per parallel task, which allocates its scratch list once
_INDEX_MARGIN = 1e-9  # bucket-index slack, far above the ~1e-13 rounding of the index arithmetic


def _pools(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 3 or x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"pools must have shape [P, n, d] with n, d >= 1, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("pool contains non-finite values")
    return x


def cover_slack(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Bound on the float64 error of every computed ℓ∞ distance from a cell centre to a subset sum.

    ``x`` ``[P, n, d]`` → ``[P]``: ``γ_{n+2}·(max_k Σ_i |x_ik| + 1 + ε)`` — the sum's error
    ``γ_n·Σ_i|x_ik|``, one rounded subtraction and the rounded thresholds (proofs/rss.md#rss.multidim, Rounding).
    """
    return gamma(x.shape[1] + 2) * (x.to(torch.float64).abs().sum(1).amax(-1) + 1 + eps)


def grid_cells(eps: float) -> int:
    """Cells per axis of the first grid: the least power of two ``m`` with cell side ``2/m ≤ ε``."""
    return 2 ** max(0, math.ceil(math.log2(2 / eps)))


@numba.njit(cache=True)
def _relevant_sums(x, reach, buffer):
    """Subset sums of ``x`` ``[n, d]`` that can lie in ``[−reach, reach]^d``: the first ``m`` rows of
    ``buffer`` ``[≥ 2^n, d]``, ``m`` returned.

    Built by doubling, ``L ← L ∪ (L + x_t)`` (the shifted copy written after the list, then both compacted
    forward in place); after step ``t`` a partial sum is kept only if, in every coordinate, the entries
    still to come can move it into ``[−reach, reach]`` (exact pruning).
    """
    n, d = x.shape
    up = np.zeros((n + 1, d))  # up[t, k] = Σ_{j ≥ t} max(x_jk, 0)
    down = np.zeros((n + 1, d))
    for t in range(n - 1, -1, -1):
        for k in range(d):
            up[t, k] = up[t + 1, k] + max(x[t, k], 0.0)
            down[t, k] = down[t + 1, k] + min(x[t, k], 0.0)
    buffer[0, :] = 0.0
    m = 1
    for t in range(n):
        for r in range(m):
            for k in range(d):
                buffer[m + r, k] = buffer[r, k] + x[t, k]
        kept = 0
        for r in range(2 * m):
            ok = True
            for k in range(d):
                v = buffer[r, k]
                ok = ok and v + down[t + 1, k] <= reach and v + up[t + 1, k] >= -reach
            if ok:
                for k in range(d):
                    buffer[kept, k] = buffer[r, k]
                kept += 1
        m = kept
    return m


@numba.njit(cache=True)
def _nearest(centre, sums, order, starts, side, count, origin, reach, enough):
    """ℓ∞ distance from ``centre`` ``[d]`` to the nearest bucketed sum within ``reach`` (``inf`` if none),
    stopping early once a sum within ``enough`` is found."""
    d = centre.shape[0]
    lo = np.empty(d, dtype=np.int64)
    hi = np.empty(d, dtype=np.int64)
    for k in range(d):
        lo[k] = max(0, int(math.floor((centre[k] - reach - origin) / side - _INDEX_MARGIN)))
        hi[k] = min(count - 1, int(math.floor((centre[k] + reach - origin) / side + _INDEX_MARGIN)))
        if lo[k] > hi[k]:
            return math.inf
    best = math.inf
    idx = lo.copy()
    while True:
        bucket = 0
        for k in range(d - 1, -1, -1):
            bucket = bucket * count + idx[k]
        for p in range(starts[bucket], starts[bucket + 1]):
            s = order[p]
            dist = 0.0
            for k in range(d):
                dist = max(dist, abs(centre[k] - sums[s, k]))
            if dist < best:
                best = dist
                if best <= enough:
                    return best
        k = 0
        while k < d and idx[k] == hi[k]:
            idx[k] = lo[k]
            k += 1
        if k == d:
            return best
        idx[k] += 1


@numba.njit(cache=True)
def _cover_one(x, eps, slack, cells, max_depth, witness, buffer):
    """Decision for one pool (COVERED, FAILS or UNDECIDED) and the number of cells examined;
    on FAILS the centre farther than ε from every sum is written to ``witness``. ``buffer``: scratch
    ``[≥ 2^n, d]``."""
    d = x.shape[1]
    reach = 1.0 + eps + slack
    sums = buffer[:_relevant_sums(x, reach, buffer)]
    side = eps + slack  # bucket side ≥ the search radius: a centre's ε-box meets ≤ 3 buckets per axis
    count = int(math.floor(2 * reach / side)) + 1
    origin = -reach
    keys = np.empty(sums.shape[0], dtype=np.int64)
    starts = np.zeros(count**d + 1, dtype=np.int64)
    for s in range(sums.shape[0]):
        key = 0
        for k in range(d - 1, -1, -1):
            key = key * count + min(count - 1, max(0, int(math.floor((sums[s, k] - origin) / side))))
        keys[s] = key
        starts[key + 1] += 1
    for b in range(count**d):
        starts[b + 1] += starts[b]
    order = np.empty(sums.shape[0], dtype=np.int64)
    fill = starts[:-1].copy()
    for s in range(sums.shape[0]):
        order[fill[keys[s]]] = s
        fill[keys[s]] += 1

    half0 = 1.0 / cells  # half-side of a first-grid cell (dyadic: centres are exact)
    stack_size = max_depth * 2**d + 1
    centres = np.empty((stack_size, d))
    halves = np.empty(stack_size)
    depths = np.empty(stack_size, dtype=np.int64)
    undecided = False
    examined = 0
    for cell in range(cells**d):
        rest = cell
        for k in range(d):
            centres[0, k] = -1.0 + (2 * (rest % cells) + 1) * half0
            rest //= cells
        halves[0] = half0
        depths[0] = 0
        top = 1
        while top > 0:
            top -= 1
            centre = centres[top].copy()
            half = halves[top]
            depth = depths[top]
            examined += 1
            enough = eps - half - slack
            dist = _nearest(centre, sums, order, starts, side, count, origin, eps + slack, enough)
            if dist <= enough:
                continue
            if dist > eps + slack:
                witness[:] = centre
                return FAILS, examined
            if depth == max_depth:
                undecided = True
                continue
            for child in range(2**d):
                for k in range(d):
                    step = half / 2 if (child >> k) & 1 else -half / 2
                    centres[top, k] = centre[k] + step
                halves[top] = half / 2
                depths[top] = depth + 1
                top += 1
    return (UNDECIDED if undecided else COVERED), examined


@numba.njit(cache=True, parallel=True)
def _cover_many(x, eps, slack, cells, max_depth):
    pools, n, d = x.shape
    verdicts = np.empty(pools, dtype=np.int64)
    examined = np.empty(pools, dtype=np.int64)
    witnesses = np.full((pools, d), np.nan)
    tasks = (pools + _POOLS_PER_TASK - 1) // _POOLS_PER_TASK
    for task in numba.prange(tasks):
        buffer = np.empty((2**n, d))  # one scratch list per task: allocating 2^n rows per pool costs more
        for p in range(task * _POOLS_PER_TASK, min(pools, (task + 1) * _POOLS_PER_TASK)):
            verdicts[p], examined[p] = _cover_one(x[p], eps, slack[p], cells, max_depth, witnesses[p], buffer)
    return verdicts, examined, witnesses


@dataclass
class CubeCover:
    """Per-pool decision of ``E(x) ≤ ε`` on the cube [−1, 1]^d (ℓ∞).

    ``verdict`` ``[P]`` int64: ``COVERED`` (1, certified: every z is within ε of an exact subset sum),
    ``FAILS`` (0, certified: ``witness`` ``[P, d]`` is a point of the cube farther than ε from every exact
    subset sum; NaN rows otherwise) or ``UNDECIDED`` (−1: some cell stayed within the grid's resolution
    after ``max_depth`` splits). ``cells`` ``[P]``: cells examined (cost).
    """

    verdict: torch.Tensor
    witness: torch.Tensor
    cells: torch.Tensor

    @property
    def covered(self) -> torch.Tensor:
        """``[P]`` bool: certified covered."""
        return self.verdict == COVERED


def cube_cover(x: torch.Tensor, eps: float, max_depth: int = 8) -> CubeCover:
    """Certify, per pool ``x`` ``[P, n, d]``, whether every z ∈ [−1, 1]^d is within ε (ℓ∞) of a subset sum.

    Cost: the relevant sums (at most ``2^n`` per pool) plus one bucket lookup per examined cell; the first
    grid has ``grid_cells(eps)^d`` cells of side ≤ ε.
    """
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps}")
    if not 0 <= max_depth <= 40:
        raise ValueError(f"max_depth must be in [0, 40] (dyadic centres stay exact), got {max_depth}")
    x = _pools(x).to(torch.float64)
    if x.shape[1] > 30:
        raise MemoryError(f"n={x.shape[1]} vectors: up to 2^n subset sums per pool is too many here")
    slack = cover_slack(x, eps)
    with compiled_threads():
        verdicts, examined, witnesses = _cover_many(x.cpu().contiguous().numpy(), float(eps), slack.numpy(),
                                                    grid_cells(eps), int(max_depth))
    return CubeCover(torch.from_numpy(verdicts), torch.from_numpy(witnesses), torch.from_numpy(examined))


def prefix_cover(x: torch.Tensor, eps: float, sizes: list[int], max_depth: int = 8,
                 stop_at: int = -1) -> torch.Tensor:
    """Certified covers of the prefix pools ``x[:, :n]`` for each ``n`` in ascending ``sizes``: ``[P, m]`` bool.

    Covering is monotone along prefixes (every subset sum of ``x[:, :n]`` is one of ``x[:, :n']`` for
    ``n ≤ n'``), so a pool certified at one size is covered at every larger size and is not examined
    again; only the pools still uncovered (failed or undecided) are certified at the next size. The scan
    ends after the first size at which at most ``stop_at`` pools are uncovered (``m`` ≤ ``len(sizes)``
    columns then; ``-1``: all sizes).
    """
    if list(sizes) != sorted(sizes) or not sizes or sizes[0] < 1 or sizes[-1] > x.shape[1]:
        raise ValueError(f"sizes must ascend within [1, {x.shape[1]}], got {sizes}")
    covered = torch.zeros(x.shape[0], len(sizes), dtype=torch.bool)
    open_ = torch.ones(x.shape[0], dtype=torch.bool)
    for j, n in enumerate(sizes):
        rows = open_.nonzero()[:, 0]
        if len(rows):
            open_[rows[cube_cover(x[rows, :n], eps, max_depth).covered]] = False
        covered[:, j] = ~open_
        if int(open_.sum()) <= stop_at:
            return covered[:, : j + 1]
    return covered


def counting_samples(eps: float, d: int) -> int:
    """Least n with ``2^n·(2ε)^d ≥ 2^d``, i.e. ``n ≥ d·log2(1/ε)``: necessary for any pool to ε-cover the cube
    (the ``2^n`` ℓ∞-balls of radius ε, each of volume ``(2ε)^d``, must cover volume ``2^d``)."""
    n = 0
    while 2**n * (2 * eps) ** d < 2**d:
        n += 1
    return n
