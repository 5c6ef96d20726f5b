"""Random subset sum (RSS): exact, batched solvers.

Objects. A *pool* is a vector ``x`` of ``n`` reals; its subset sums are the ``2^n`` values
``Σ_{i∈S} x_i`` for ``S ⊆ [n]``. For a target interval ``[lo, hi]`` the *worst-case error* of a pool is
``sup_{z∈[lo,hi]} min_S |z − Σ_S x|``; Lueker's theorem says it is ≤ ε with probability ≥ 1 − ε once
``n ≥ C log2(1/ε)`` for uniform pools.

Shapes. Pools are ``[..., n]`` tensors (any leading batch shape); results keep the batch shape.
Every function takes and returns torch tensors on the pool's device.

Backends. ``sorted_subset_sums``, ``worst_case_error`` and ``best_subsets`` take
``backend="auto"|"compiled"|"torch"``:

* ``"compiled"`` (CPU tensors only): the numba kernels of :mod:`lth.theory.subset_sum_merge` (sums
  generated sorted by merging, two-pointer search; parallel over pools);
* ``"torch"`` (any device): the device-generic torch code that a CUDA user runs (merge by sort,
  binary search); on CPU tensors it runs the very code of the GPU path, which is how the tests check it
  where no GPU exists;
* ``"auto"`` (default): ``"compiled"`` for CPU tensors, ``"torch"`` otherwise.

``covers_interval`` always runs the compiled kernel (its interval lists have data-dependent lengths).

Exactness. ``worst_case_error`` and ``best_subsets`` are exact up to float64 rounding;
``rounding_slack`` bounds that rounding so that ``worst_case_error + rounding_slack`` is a rigorous
upper bound on the true supremum.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from lth.theory.subset_sum_merge import cover_verdicts, merge_sorted_sums, nearest_subset_codes

from lth.theory.device import compiled_threads
from lth.theory.numerics import gamma

_BYTES_PER_SUM = 8
_CHUNK_BYTES = 256 * 2**20  # working-set size per batch of pools
_MAX_PARTIAL_SUMS = 2**24  # largest half enumerated by best_subsets (n up to ~44)

Sampler = Callable[[tuple[int, ...], torch.Generator], torch.Tensor]
BACKENDS = ("auto", "compiled", "torch")


def _backend(backend: str, device: torch.device) -> str:
    """Resolve ``auto|compiled|torch`` for tensors on ``device`` (see the module docstring)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "compiled" if device.type == "cpu" else "torch"
    if backend == "compiled" and device.type != "cpu":
        raise ValueError(f"the compiled backend runs on CPU tensors only, got {device}; use backend='torch'")
    return backend


def _memory_limit_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.5)
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(pages * 0.5)


def _require_fits(count: int, device: torch.device, what: str) -> None:
    need = count * _BYTES_PER_SUM * 2  # the merge holds the old and the new list
    limit = _memory_limit_bytes(device)
    if need > limit:
        raise MemoryError(f"{what} needs about {need / 2**30:.1f} GiB, more than the "
                          f"{limit / 2**30:.1f} GiB allowed on {device}; use fewer pools or smaller n")


def checked_pools(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``[..., n]`` itself once it is a valid batch of pools (n ≥ 1 finite samples each); else ValueError."""
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"pools must have shape [..., n] with n >= 1, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("pool contains non-finite values")
    return x


def _merge_sorted_torch(x: torch.Tensor) -> torch.Tensor:
    sums = torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device)
    for i in range(x.shape[1]):
        sums = torch.sort(torch.cat([sums, sums + x[:, i : i + 1]], dim=1), dim=1).values
    return sums


def sorted_subset_sums(x: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """All ``2^n`` subset sums of each pool, ascending.

    ``x``: ``[..., n]`` → ``[..., 2^n]``. Built by ``n`` merges ``L ← merge(L, L + x_i)``: O(2^n) work
    per pool with the compiled backend (a compiled merge, never a sort of 2^n unordered values); the
    torch backend sorts each concatenation. Raises ``MemoryError`` before allocating when the result
    would not fit.
    """
    x = checked_pools(x)
    backend = _backend(backend, x.device)
    n = x.shape[-1]
    batch = x.shape[:-1]
    count = math.prod(batch) * 2**n
    _require_fits(count, x.device, f"{count:,} subset sums")
    flat = x.reshape(-1, n)
    if backend == "compiled":
        with compiled_threads():
            sums = torch.from_numpy(merge_sorted_sums(flat.to(torch.float64).contiguous().numpy())).to(x.dtype)
    else:
        sums = _merge_sorted_torch(flat)
    return sums.reshape(*batch, 2**n)


def sup_distance(sums: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """``sup_{z∈[lo,hi]} min_k |z − sums_k|`` for ascending ``sums`` ``[B, m]`` → ``[B]``.

    Between consecutive sums the distance is a tent; its maximum over the part of the gap inside
    [lo, hi] is attained at the midpoint clipped to [lo, hi] (a clipped point outside the gap gives a
    negative value that never wins). Outside the range of sums the distance is maximal at an end.
    """
    left, right = sums[:, :-1], sums[:, 1:]
    point = ((left + right) / 2).clamp(lo, hi)
    gaps = torch.minimum(point - left, right - point)
    below = (sums[:, 0] - lo).clamp(min=0)
    above = (hi - sums[:, -1]).clamp(min=0)
    inner = gaps.max(dim=1).values if gaps.shape[1] else torch.zeros_like(below)
    return torch.maximum(torch.maximum(inner, below), above).clamp(min=0)


def worst_case_error(x: torch.Tensor, lo: float = -1.0, hi: float = 1.0, backend: str = "auto") -> torch.Tensor:
    """Exact ``sup_{z∈[lo,hi]} min_S |z − Σ_S x|`` for each pool, in float64.

    ``x``: ``[..., n]`` → ``[...]``. Pools are processed in chunks so that memory stays bounded.
    Add ``rounding_slack(x, lo, hi)`` for a rigorous upper bound. ``backend``: see the module docstring.
    """
    if not lo <= hi:
        raise ValueError(f"empty interval [{lo}, {hi}]")
    x = checked_pools(x).to(torch.float64)
    _backend(backend, x.device)  # a bad choice fails before any work
    n = x.shape[-1]
    flat = x.reshape(-1, n)
    per_chunk = max(1, _CHUNK_BYTES // (3 * _BYTES_PER_SUM * 2**n))
    out = [sup_distance(sorted_subset_sums(chunk, backend), lo, hi) for chunk in flat.split(per_chunk)]
    return torch.cat(out).reshape(x.shape[:-1])


def rounding_slack(x: torch.Tensor, lo: float = -1.0, hi: float = 1.0) -> torch.Tensor:
    """Upper bound on the float64 rounding error of ``worst_case_error`` / ``best_subsets`` errors.

    A subset sum accumulated in float64 is within ``γ_n·Σ|x_i|`` of the exact sum
    (``γ_k = k·u/(1 − k·u)``, ``u = 2^-53``); the midpoint, clip and difference add a few more roundings
    of quantities bounded by ``Σ|x| + max(|lo|, |hi|)``. ``x``: ``[..., n]`` → ``[...]``.
    """
    scale = x.to(torch.float64).abs().sum(-1) + max(abs(lo), abs(hi))
    return gamma(x.shape[-1] + 4) * scale


def covers_interval(x: torch.Tensor, eps: float, lo: float = -1.0, hi: float = 1.0) -> torch.Tensor:
    """Decide ``worst_case_error(x, lo, hi) <= eps`` for each pool without enumerating 2^n sums.

    ``x``: ``[..., n]`` → bool ``[...]``. Rigorous in one direction: ``True`` means every z in [lo, hi] is
    within ε of an exact subset sum (the neighbourhood radius is shrunk by the float64 rounding
    bound first); ``False`` means some z is farther than ε minus that rounding bound. Runs on CPU
    (the interval lists have data-dependent lengths) in a compiled kernel, parallel over pools: the
    covered set as sorted disjoint intervals, ``K ← K ∪ (K + x_i)`` by a linear merge over the entries
    in increasing ``|x_i|``, components that can no longer reach [lo, hi] dropped, and a stop as soon
    as one component, carried through the remaining entries, contains [lo, hi] (proofs/rss.md (b));
    O(n·(hi − lo + Σ|x|)/ε) per pool at worst.
    """
    if not 0 < eps:
        raise ValueError(f"eps must be positive, got {eps}")
    if not lo <= hi:
        raise ValueError(f"empty interval [{lo}, {hi}]")
    flat = checked_pools(x).to(torch.float64).reshape(-1, x.shape[-1]).cpu().numpy()
    # Smallest |x_i| first: the covered set stays short (few components) while it is fragmented, and
    # the kernel's stopping test fires once one component can absorb every larger entry.
    flat = np.take_along_axis(flat, np.argsort(np.abs(flat), axis=1, kind="stable"), axis=1)
    scale = np.abs(flat).sum(axis=1) + eps + max(abs(lo), abs(hi))
    radii = eps - gamma(flat.shape[1] + 2) * scale
    with compiled_threads():
        verdicts = cover_verdicts(flat, radii, float(lo), float(hi))
    return torch.from_numpy(verdicts).reshape(x.shape[:-1]).to(x.device)


@dataclass
class SubsetSolution:
    """Optimal subsets for a batch of targets.

    ``mask``: ``[..., T, n]`` bool (which pool entries are kept), ``sums``: ``[..., T]`` the kept sums
    (float64), ``error``: ``[..., T]`` ``|target − sum|``.
    """

    mask: torch.Tensor
    sums: torch.Tensor
    error: torch.Tensor


def _unsorted_sums(x: torch.Tensor) -> torch.Tensor:
    """[B, k] -> [B, 2^k] subset sums where column ``c`` is the sum over the set bits of ``c``."""
    sums = torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device)
    for i in range(x.shape[1]):
        sums = torch.cat([sums, sums + x[:, i : i + 1]], dim=1)
    return sums


def _split_point(n: int, targets: int) -> int:
    """Size of the small half: balance ``targets·2^a·log(2^b)`` queries against sorting ``2^b``."""
    def cost(a: int) -> float:
        b = n - a
        return targets * 2.0**a * (b + 1) + 2.0**b * (b + 1)

    feasible = [a for a in range(n + 1) if 2 ** (n - a) <= _MAX_PARTIAL_SUMS]
    if not feasible:
        raise MemoryError(f"n={n} is too large for meet-in-the-middle here")
    return min(feasible, key=cost)


def _best_codes(x: torch.Tensor, targets: torch.Tensor, split: int) -> torch.Tensor:
    """(torch backend) Meet in the middle on a chunk: ``x`` [P, n], ``targets`` [P, T] → subset codes [P, T] (int64)."""
    small = _unsorted_sums(x[:, :split])  # [P, p], column index = subset code of the first half
    big, big_codes = torch.sort(_unsorted_sums(x[:, split:]), dim=1, stable=True)  # [P, q] ascending
    queries = (targets[:, :, None] - small[:, None, :]).reshape(x.shape[0], -1)  # [P, T·p]
    right = torch.searchsorted(big, queries).clamp(max=big.shape[1] - 1)
    left = (right - 1).clamp(min=0)
    err_right = (queries - torch.gather(big, 1, right)).abs()
    err_left = (queries - torch.gather(big, 1, left)).abs()
    nearest = torch.where(err_left <= err_right, left, right)
    err = torch.minimum(err_left, err_right).reshape(*targets.shape, -1)  # [P, T, p]
    small_code = err.argmin(dim=2)  # [P, T]
    big_pos = torch.gather(nearest.reshape(*targets.shape, -1), 2, small_code[..., None])[..., 0]
    big_code = torch.gather(big_codes, 1, big_pos)
    return small_code | (big_code << split)


def best_subsets(x: torch.Tensor, targets: torch.Tensor, backend: str = "auto") -> SubsetSolution:
    """For each target, a subset of its pool whose computed float64 sum is nearest to it.

    Optimal over the computed sums, so within ``2·γ_n·Σ|x|`` of the real optimum (proofs/rss.md (d)).

    ``x``: ``[..., n]`` pools; ``targets``: ``[..., T]`` with the same leading shape (each row of targets
    shares its row's pool; use ``T = 1`` for one pool per target). Meet in the middle.

    * ``backend="compiled"`` (CPU; the default there), parallel over pools: both halves' ``2^{n/2}``
      sums are generated sorted (eight pools at a time, one per SIMD lane, by a bitonic merging
      network), and one two-pointer scan per target finds the nearest pair (32 scans in vector lanes
      at a time): ``O(n·2^{n/2})`` per pool and ``O(2^{n/2})`` per target, the cost of an independent pool
      per target. Among equal errors the first pair the scan meets wins (deterministic).
    * ``backend="torch"`` (any device; the default on CUDA): a small half (``2^a`` sums, unsorted)
      probes the sorted large half (``2^b``) by binary search, ``O(2^b·b + T·2^a·b)`` per pool with ``a`` chosen to balance the two; ties go to the
      smaller subset code.

    Halves of up to ``2^24`` sums, so ``n`` up to about 44–48.
    """
    x = checked_pools(x).to(torch.float64)
    backend = _backend(backend, x.device)
    targets = targets.to(device=x.device, dtype=torch.float64)
    if targets.shape[:-1] != x.shape[:-1]:
        raise ValueError(f"targets {tuple(targets.shape)} and pools {tuple(x.shape)} need equal leading shapes")
    if not torch.isfinite(targets).all():
        raise ValueError("targets contain non-finite values")
    n, count = x.shape[-1], targets.shape[-1]
    flat_x, flat_t = x.reshape(-1, n), targets.reshape(-1, count)
    if backend == "compiled":
        if 2 ** (n - n // 2) > _MAX_PARTIAL_SUMS:
            raise MemoryError(f"n={n} is too large for meet-in-the-middle here")
        with compiled_threads():
            codes = torch.from_numpy(nearest_subset_codes(flat_x.contiguous().numpy(), flat_t.contiguous().numpy()))
    else:
        split = _split_point(n, count)
        per_chunk = max(1, _CHUNK_BYTES // (4 * _BYTES_PER_SUM * (count * 2**split + 2 ** (n - split))))
        codes = torch.cat([_best_codes(cx, ct, split)
                           for cx, ct in zip(flat_x.split(per_chunk), flat_t.split(per_chunk))])
    bits = torch.arange(n, device=x.device)
    mask = ((codes[..., None] >> bits) & 1).bool()  # [P, T, n]
    sums = (mask * flat_x[:, None, :]).sum(-1)
    shape = targets.shape
    return SubsetSolution(mask.reshape(*shape, n), sums.reshape(shape), (flat_t - sums).abs().reshape(shape))


def sample_uniform(shape: tuple[int, ...], generator: torch.Generator, low: float = -1.0, high: float = 1.0,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """I.i.d. U[low, high] entries of ``shape`` on the generator's device."""
    u = torch.rand(shape, generator=generator, device=generator.device, dtype=dtype)
    return low + (high - low) * u


def sample_product(shape: tuple[int, ...], generator: torch.Generator,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """I.i.d. draws of Pensia et al.'s law D = ½δ0 + ½·Law(XY), X ~ U[0,1], Y ~ U[−1,1]."""
    keep = torch.rand(shape, generator=generator, device=generator.device) < 0.5
    x = torch.rand(shape, generator=generator, device=generator.device, dtype=dtype)
    y = sample_uniform(shape, generator, dtype=dtype)
    return torch.where(keep, x * y, torch.zeros((), dtype=dtype, device=generator.device))


POOL_LAWS: dict[str, Sampler] = {"uniform": sample_uniform, "product": sample_product}


def sample_pools(law: str | Sampler, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Pools from a named law (``uniform``, ``product``) or a user sampler ``f(shape, generator)``."""
    if callable(law):
        pools = law(shape, generator)
        if tuple(pools.shape) != tuple(shape):
            raise ValueError(f"sampler returned shape {tuple(pools.shape)}, expected {tuple(shape)}")
        return pools
    if law not in POOL_LAWS:
        raise ValueError(f"unknown pool law {law!r}; choose from {sorted(POOL_LAWS)} or pass a callable")
    return POOL_LAWS[law](shape, generator)
