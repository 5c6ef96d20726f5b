"""Random fixed-size subset sum: sums of exactly (or at most) k pool entries.

Objects. A pool ``x`` ``[n]``; its *k-sums* are ``Σ_{i∈S} x_i`` over the ``C(n, k)`` subsets with ``|S| = k``.
Natale et al. (NeurIPS 2024, "On the sparsity of the strong lottery ticket hypothesis") bound how large
``n`` must be for k-sums of i.i.d. samples to approximate targets; proofs/rss.md#rss.fixed_size.

* :func:`sorted_k_sums` / :func:`fixed_size_worst_case_error` — all k-sums ascending, and the exact
  ``sup_{z∈[lo,hi]} min_{|S|=k} |z − Σ_S x|`` from them (the supremum formula of proofs/rss.md (a)).
* :func:`best_sized_subsets` — the one meet-in-the-middle solver for size-restricted subsets: the pool
  is cut into two halves, each *family* allows a set of index tuples in each half, and every target
  gets the nearest sum over all families. :func:`best_fixed_size_subsets` (exactly ``k``) and
  :func:`best_sparse_subsets` (at most ``h`` per half, the sparse regime of theory/universal.py) are
  families of it.

Shapes: pools ``[P, n]``, targets ``[P]``; masks ``[P, n]`` bool. Runs on the pool's device (torch).
"""

from __future__ import annotations

import math

import torch

from lth.theory.subset_sum import checked_pools, sup_distance

_CHUNK_SUMS = 2**24  # k-sums held at once by fixed_size_worst_case_error


def _combinations(size: int, k: int, device: torch.device) -> torch.Tensor:
    """``[C(size, k), k]`` index tuples in lexicographic order (one row ``[]`` of width 0 when ``k = 0``).

    Grown one position at a time (each tuple extended by every larger index), so memory stays at
    ``C(size, r)·size`` per step; ``torch.combinations`` materialises far more (3.4 GB for 16 choose 8).
    """
    if k == 0:
        return torch.zeros(1, 0, dtype=torch.long, device=device)
    indices = torch.arange(size, device=device)
    combos = indices[:, None]
    for _ in range(k - 1):
        rows, cols = (indices[None, :] > combos[:, -1:]).nonzero(as_tuple=True)
        combos = torch.cat([combos[rows], indices[cols, None]], dim=1)
    return combos


def _padded_combinations(size: int, most: int, device: torch.device) -> torch.Tensor:
    """``[C, most]`` index sets of at most ``most`` of ``range(size)``, padded with ``size`` (a zero entry)."""
    rows = [torch.full((1, most), size, dtype=torch.long, device=device)]
    for r in range(1, most + 1):
        combos = _combinations(size, r, device)
        pad = torch.full((combos.shape[0], most - r), size, dtype=torch.long, device=device)
        rows.append(torch.cat([combos, pad], dim=1))
    return torch.cat(rows)


def sorted_k_sums(x: torch.Tensor, k: int) -> torch.Tensor:
    """``[P, n]`` → ``[P, C(n, k)]`` ascending sums of exactly ``k`` entries (each a left-to-right sum)."""
    x = checked_pools(x)
    if not 1 <= k <= x.shape[-1]:
        raise ValueError(f"k must be in [1, n={x.shape[-1]}], got {k}")
    combos = _combinations(x.shape[-1], k, x.device)
    return torch.sort(x[:, combos].sum(-1), dim=1).values


def fixed_size_worst_case_error(x: torch.Tensor, k: int, lo: float = -1.0, hi: float = 1.0) -> torch.Tensor:
    """Exact ``sup_{z∈[lo,hi]} min_{|S|=k} |z − Σ_S x|`` per pool, ``[P, n]`` → ``[P]`` (float64).

    Add ``rounding_slack(x, lo, hi)`` (theory/subset_sum.py) for a rigorous upper bound: each k-sum is
    a float64 sum of ``k ≤ n`` entries, within the bound of proofs/rss.md (c).
    """
    if not lo <= hi:
        raise ValueError(f"empty interval [{lo}, {hi}]")
    x = checked_pools(x).to(torch.float64)
    per_chunk = max(1, _CHUNK_SUMS // math.comb(x.shape[-1], k))
    return torch.cat([sup_distance(sorted_k_sums(chunk, k), lo, hi) for chunk in x.split(per_chunk)])


Family = tuple[torch.Tensor, torch.Tensor]  # allowed index tuples in the first and the second half


def best_sized_subsets(x: torch.Tensor, targets: torch.Tensor, families: list[Family]) -> torch.Tensor:
    """Nearest sum to each target over the subsets the families allow; ``x`` ``[P, N]``, ``targets`` ``[P]``
    → mask ``[P, N]``.

    The pool is cut at ``h = N // 2``. A family ``(A, B)`` holds index tuples ``A`` ``[Ca, a]`` into the first
    half and ``B`` ``[Cb, b]`` into the second (the index ``h`` of a half means "no entry", a padded zero),
    and allows every ``S = A_r ∪ (h + B_s)``. Per family all first-half sums probe the sorted
    second-half sums by binary search (exhaustive over the family); the best family wins, ties to
    the earlier family and the smaller row.
    """
    count, size = x.shape
    half = size // 2
    halves = (torch.cat([x[:, :half], x.new_zeros(count, 1)], dim=1),
              torch.cat([x[:, half:], x.new_zeros(count, 1)], dim=1))
    rows = torch.arange(count, device=x.device)
    best_err = torch.full((count,), math.inf, dtype=x.dtype, device=x.device)
    best_first = torch.zeros(count, dtype=torch.long, device=x.device)
    best_second = torch.zeros(count, dtype=torch.long, device=x.device)
    best_family = torch.zeros(count, dtype=torch.long, device=x.device)
    for f, (first_idx, second_idx) in enumerate(families):
        first = halves[0][:, first_idx].sum(-1)  # [P, Ca]
        second, order = torch.sort(halves[1][:, second_idx].sum(-1), dim=1, stable=True)  # [P, Cb]
        queries = targets[:, None] - first
        right = torch.searchsorted(second, queries).clamp(max=second.shape[1] - 1)
        left = (right - 1).clamp(min=0)
        err_left = (queries - second.gather(1, left)).abs()
        err_right = (queries - second.gather(1, right)).abs()
        nearest = torch.where(err_left <= err_right, left, right)
        errors = torch.minimum(err_left, err_right)  # [P, Ca]
        pick_first = errors.argmin(dim=1)  # first among equal errors
        err = errors.gather(1, pick_first[:, None])[:, 0]
        pick_second = order.gather(1, nearest.gather(1, pick_first[:, None]))[:, 0]
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_first = torch.where(better, pick_first, best_first)
        best_second = torch.where(better, pick_second, best_second)
        best_family = torch.where(better, torch.full_like(best_family, f), best_family)
    mask = torch.zeros(count, size + 1, dtype=torch.bool, device=x.device)  # column `size`: padding
    for f, (first_idx, second_idx) in enumerate(families):
        chosen = best_family == f
        picked_first = first_idx[best_first[chosen]]  # [p, a]; `half` is padding
        picked_second = second_idx[best_second[chosen]]
        r = rows[chosen][:, None]
        mask[r, torch.where(picked_first < half, picked_first, size)] = True
        mask[r, torch.where(picked_second < size - half, picked_second + half, size)] = True
    return mask[:, :size]


def best_fixed_size_subsets(x: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """Nearest sum of exactly ``k`` entries: one family per split ``k = a + (k − a)`` between the halves."""
    size = x.shape[1]
    half = size // 2
    if not 1 <= k <= size:
        raise ValueError(f"k must be in [1, {size}], got {k}")
    families = [(_combinations(half, a, x.device), _combinations(size - half, k - a, x.device))
                for a in range(max(0, k - (size - half)), min(k, half) + 1)]
    return best_sized_subsets(x, targets, families)


def best_sparse_subsets(x: torch.Tensor, targets: torch.Tensor, half_terms: int = 2) -> torch.Tensor:
    """Nearest subset sum using at most ``half_terms`` entries from each half of each pool.

    ``x`` ``[P, N]``, ``targets`` ``[P]`` → mask ``[P, N]``; exhaustive over that family. This is the sparse
    regime of the published universal-ticket demo (large pools, few kept entries): at most
    ``2·half_terms`` kept paths per coefficient where ``best_subsets`` keeps about half the pool.
    """
    size = x.shape[1]
    half = size // 2
    if half < half_terms:
        raise ValueError(f"pools of {size} cannot supply {half_terms} entries per half")
    family = (_padded_combinations(half, half_terms, x.device),
              _padded_combinations(size - half, half_terms, x.device))
    return best_sized_subsets(x, targets, [family])
