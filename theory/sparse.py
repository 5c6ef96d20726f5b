r"""Strong lottery tickets inside an Erdős–Rényi sparse random network (after Gadhikar, Mukherjee &
Burkholz 2023), built on Pensia et al.'s two-layer blocks (proofs/slth_sparse.md).

The objects. The *source network* has the $2l$ layers of :mod:`lth.theory.dense` (block $i$:
$M_{2i-1}\in\mathbb{R}^{h_i\times d_{i-1}}$, $M_{2i}\in\mathbb{R}^{d_i\times h_i}$, $h_i = m_id_{i-1}$, values
i.i.d. U[−1, 1]), but each entry *exists* only with probability $p_1$ (odd layers) or $p_2$ (even
layers), independently of everything else: ``present[i]`` is a bool tensor shaped like
``values[i]``, and only present entries are random weights of the source (the others are 0).

The ticket. Unit $k$ has a *home* input $\lfloor k/m\rfloor$ and reads the first input, in cyclic
order from its home, to which it has an edge (rule A: the assignment looks at the masks only, never
at values). For every target weight $(r, j)$ and branch the pool is the units assigned to $j$ whose
edge to output $r$ exists; the masks are then Pensia's: each pool's nearest subset sum by
value-independent blocks of ``pool_cap`` units (pool rule B of proofs/slth_dense.md). The result is
a :class:`lth.theory.dense.DenseTicket` on the masked values, so ``certify_sup_error`` and
``search_sup_error`` of :mod:`lth.theory.dense` apply unchanged.

The proven width. Given the masks, the active units of a pool have i.i.d. product-law values; their
number $K$ is a sum of independent Bernoulli variables, so a pool fails with probability at most
$\mathbb{E}\,F_3(K)$ with $F_3$ Corollary 3 of proofs/rss.md (:func:`bound_pool_failure`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy.stats import binom

from lth.theory.dense import DenseTicket, RandomNetwork, Target, solve_pools, realised_layers
from lth.theory.dense_bounds import HALF_BELOW, UNIT_INTERVAL, bound_pool_count, bound_weight_accuracy
from lth.theory.device import generator as make_generator
from lth.theory.lueker import bound_failure_probability
from lth.theory.subset_sum import sample_uniform

DEFAULT_POOL_CAP = 20  # units per value-independent block (meet in the middle: ~2^10 sums per half)
TAIL_FRACTION = 1e-3  # F_3 is tabulated until it falls below this fraction of δ' (the rest uses that value)
SUM_MARGIN = 1e-9  # relative margin on E F_3(K) for the rounding of pmf values and their sum


def _check_density(value: float, name: str) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{name} must lie in (0, 1], got {value}")


@dataclass
class SparseNetwork:
    """The ER source: ``values[i]`` float64 U[−1, 1] and ``present[i]`` bool, both shaped like layer ``i``
    of the dense source (``[h_i, d_{i−1}]`` then ``[d_i, h_i]``); ``densities`` = $(p_1, p_2)$."""

    values: list[torch.Tensor]
    present: list[torch.Tensor]
    units_per_input: list[int]
    densities: tuple[float, float]
    seed: int

    @property
    def parameters(self) -> int:
        """Random weights the source has: its present entries."""
        return int(sum(int(p.sum()) for p in self.present))

    @property
    def dense_parameters(self) -> int:
        """Entries of the dense network of the same shape (present or not)."""
        return sum(v.numel() for v in self.values)

    @property
    def hidden_units(self) -> list[int]:
        return [v.shape[0] for v in self.values[0::2]]

    def masked(self) -> list[torch.Tensor]:
        """Values with absent entries set to 0: the weights the sparse network computes with."""
        return [torch.where(p, v, torch.zeros((), dtype=v.dtype, device=v.device))
                for v, p in zip(self.values, self.present)]


def construct_sparse_network(widths: list[int], units_per_input: list[int], densities: tuple[float, float],
                             seed: int, device: torch.device | str = "cpu") -> SparseNetwork:
    """The ER source for augmented widths ``[d_0, …, d_l]``: per block, the values of both layers, then
    their masks (entry present iff a U[0, 1) draw is below the layer's density), from one seeded generator."""
    if len(units_per_input) != len(widths) - 1 or any(m < 1 for m in units_per_input):
        raise ValueError(f"one positive units-per-input count per target layer is required, got {units_per_input}")
    for name, p in zip(("p1", "p2"), densities):
        _check_density(p, name)
    gen = make_generator(seed, torch.device(device))
    values, present = [], []
    for d_in, d_out, m in zip(widths[:-1], widths[1:], units_per_input):
        block = [sample_uniform((m * d_in, d_in), gen), sample_uniform((d_out, m * d_in), gen)]
        values += block
        present += [torch.rand(v.shape, generator=gen, device=v.device, dtype=torch.float64) < p
                    for v, p in zip(block, densities)]
    return SparseNetwork(values, present, list(units_per_input), tuple(densities), seed)


def assign_units(present: torch.Tensor, units_per_input: int) -> torch.Tensor:
    """Rule A: the input each hidden unit reads, ``[h]`` long (−1 for a unit without any edge).

    ``present`` ``[h, d_in]``: unit ``k`` (home ``⌊k/m⌋``) reads the first input ``home + t mod d_in``,
    ``t = 0, 1, …``, to which it has an edge. Depends on the mask only.
    """
    h, d_in = present.shape
    home = torch.arange(h, device=present.device) // units_per_input
    order = (home[:, None] + torch.arange(d_in, device=present.device)[None]) % d_in  # [h, d_in]
    cyclic = present.gather(1, order)
    first = cyclic.to(torch.int8).argmax(1)  # the first True (argmax returns the first maximum)
    return torch.where(cyclic.any(1), (home + first) % d_in, torch.full_like(home, -1))


def _slots(assigned: torch.Tensor, d_in: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The units assigned to each input in index order: ``slots`` ``[d_in, n]`` unit indices and
    ``filled`` ``[d_in, n]`` bool (``n`` the largest count; empty slots hold unit 0 and are not filled)."""
    valid = assigned >= 0
    counts = torch.bincount(assigned[valid], minlength=d_in)
    width = int(counts.max()) if valid.any() else 0
    units = torch.nonzero(valid).flatten()
    inputs = assigned[units]
    order = torch.argsort(inputs, stable=True)
    units, inputs = units[order], inputs[order]
    position = torch.arange(units.numel(), device=assigned.device) - (torch.cumsum(counts, 0) - counts)[inputs]
    slots = torch.zeros(d_in, width, dtype=torch.long, device=assigned.device)
    filled = torch.zeros(d_in, width, dtype=torch.bool, device=assigned.device)
    slots[inputs, position] = units
    filled[inputs, position] = True
    return slots, filled


def _block_search(products: torch.Tensor, targets: torch.Tensor, usable: torch.Tensor, pool_cap: int,
                  tolerance: float) -> torch.Tensor:
    """Pool rule B per weight: each weight's usable units, in index order, in consecutive blocks of
    ``pool_cap``; every block is solved exactly and each weight keeps its best, until its error is
    ≤ ``tolerance`` (every weight gets its first block, as in :mod:`lth.theory.dense`: the certificate, not
    α_i, is what a user gets). ``products``, ``usable`` ``[d_out, d_in, n]``; ``targets`` ``[d_out, d_in]``.
    Returns the chosen units ``[d_out, d_in, n]`` bool."""
    rank = usable.long().cumsum(-1) - 1
    blocks = math.ceil(int(usable.sum(-1).max()) / pool_cap) if usable.any() else 0
    chosen = torch.zeros_like(usable)
    error = torch.full_like(targets, math.inf)
    for b in range(blocks):
        open_weights = error > tolerance
        if not open_weights.any():
            break
        candidate = solve_pools(products, targets, usable & (rank // pool_cap == b) & open_weights[..., None])
        candidate_error = ((products * candidate).sum(-1) - targets).abs()
        better = candidate_error < error
        chosen[better], error = candidate[better], torch.where(better, candidate_error, error)
    return chosen


def construct_sparse_ticket(target: Target, source: SparseNetwork, *, signed_input: bool = True,
                            pool_cap: int = DEFAULT_POOL_CAP,
                            tolerance: list[float] | None = None) -> DenseTicket:
    """The masks of rule A and pool rule B on ``source`` for ``target`` (proofs/slth_sparse.md).

    ``tolerance[i]``: block ``i`` stops searching a weight once its error is ≤ this (default 0: all
    blocks). The ticket's random network holds the masked values; its ``units_per_input`` is, per
    block, the most units assigned to one input (what the certificate's rounding slack must cover).
    """
    matrices = target.augmented()
    if len(source.values) != 2 * len(matrices):
        raise ValueError(f"source has {len(source.values)} layers, target needs {2 * len(matrices)}")
    masks, signed_all, slot_widths = [], [], []
    for i, w in enumerate(matrices):
        v1, v2 = source.values[2 * i], source.values[2 * i + 1]
        d_out, d_in = w.shape
        if v1.shape != (source.units_per_input[i] * d_in, d_in) or v2.shape != (d_out, v1.shape[0]):
            raise ValueError(f"block {i + 1}: source shapes {tuple(v1.shape)}, {tuple(v2.shape)} do not fit "
                             f"target layer {d_out}x{d_in}")
        w = w.to(v1.device)
        signed = torch.zeros(d_in, dtype=torch.bool, device=v1.device)
        if i == 0 and signed_input:
            signed[: d_in - (1 if target.has_bias else 0)] = True
        assigned = assign_units(source.present[2 * i], source.units_per_input[i])
        a = v1.gather(1, assigned.clamp(min=0)[:, None])[:, 0]  # [h] the value of each unit's edge
        slots, filled = _slots(assigned, d_in)
        active = source.present[2 * i + 1][:, slots] & filled[None]  # [d_out, d_in, n]
        products = torch.where(active, v2[:, slots] * a[slots][None], torch.zeros((), dtype=v2.dtype,
                                                                                  device=v2.device))
        chosen = torch.zeros_like(active)
        for branch in (a[slots] > 0, (a[slots] < 0) & signed[:, None]):
            chosen |= _block_search(products, w, active & branch[None], pool_cap,
                                    0.0 if tolerance is None else tolerance[i])
        mask2 = torch.zeros_like(v2, dtype=torch.bool)
        r, j, s = chosen.nonzero(as_tuple=True)
        mask2[r, slots[j, s]] = True
        mask1 = torch.zeros_like(v1, dtype=torch.bool)
        used = mask2.any(0) & (assigned >= 0)
        mask1[used.nonzero().flatten(), assigned[used]] = True
        masks += [mask1, mask2]
        signed_all.append(signed)
        slot_widths.append(max(1, slots.shape[1]))
    ticket = DenseTicket(RandomNetwork(source.masked(), slot_widths, source.seed), masks, signed_all,
                         target.has_bias)
    layers = realised_layers(target, ticket)
    ticket.info = {"max_weight_error": [float(torch.maximum(layer.err_pos.abs(), layer.err_neg.abs()).max())
                                        for layer in layers]}
    return ticket


def phantom_edges(ticket: DenseTicket, source: SparseNetwork) -> int:
    """Kept entries of the ticket that the source does not have (0 for a subnetwork of the source)."""
    return int(sum(int((m & ~p).sum()) for m, p in zip(ticket.masks, source.present)))


# ---------------------------------------------------------------------------------------------------
# The proven width (Theorem S of proofs/slth_sparse.md)


def bound_active_probabilities(d_in: int, densities: tuple[float, float]) -> list[float]:
    r"""$\pi_t = p_2p_1(1-p_1)^t$, $t = 0..d_{in}-1$: the probability that a unit whose home is $t$ inputs
    before $j$ (cyclically) is assigned to $j$ by rule A and has an edge to a given output."""
    p1, p2 = densities
    _check_density(p1, "p1")
    _check_density(p2, "p2")
    return [p2 * p1 * (1 - p1) ** t for t in range(d_in)]


def bound_active_pmf(units_per_input: int, d_in: int, densities: tuple[float, float], size: int) -> np.ndarray:
    r"""$P(K = k)$ for $k$ < ``size``: $K = \sum_t \mathrm{Bin}(m, \pi_t)$, the active units of one pool
    (independent binomials: the units are independent). Truncated convolution, float64."""
    pmf = np.zeros(size)
    pmf[0] = 1.0
    support = np.arange(min(units_per_input, size - 1) + 1)
    for pi in bound_active_probabilities(d_in, densities):
        if pi > 0:
            pmf = np.convolve(pmf, binom.pmf(support, units_per_input, pi))[:size]
    return pmf


@lru_cache(maxsize=64)
def _corollary3_table(accuracy: float) -> tuple[float, ...]:
    """$F_3(k, a)$ for $k = 0, 1, …$ until it is ≤ ``TAIL_FRACTION``·a (Corollary 3, non-increasing in k)."""
    values, k = [], 0
    while True:
        values.append(bound_failure_probability(k, accuracy, "product", UNIT_INTERVAL))
        if values[-1] <= TAIL_FRACTION * accuracy:
            return tuple(values)
        k += 1


def bound_pool_failure(units_per_input: int, d_in: int, densities: tuple[float, float], accuracy: float) -> float:
    r"""Upper bound on P(a pool does not ``accuracy``-cover [−1, 1]): $\mathbb{E}\,F_3(K, a)$.

    $F_3$ is tabulated for $k < k_1$ and $F_3(K)\le F_3(k_1)$ for $K\ge k_1$ (non-increasing), so
    $\sum_{k<k_1}P(K=k)F_3(k) + P(K\ge k_1)F_3(k_1)$, raised by :data:`SUM_MARGIN`.
    """
    table = _corollary3_table(accuracy)
    pmf = bound_active_pmf(units_per_input, d_in, densities, len(table) - 1)
    head = float(np.dot(pmf, table[:-1]))
    tail = max(0.0, 1.0 - float(pmf.sum()))
    return min(1.0, (head + tail * table[-1]) * (1 + SUM_MARGIN))


def bound_proven_sparse_units_per_input(widths: list[int], eps: float, delta: float,
                                        densities: tuple[float, float], signed_input: bool = True) -> list[int]:
    r"""Theorem S's $m_i$: the least $m$ with $\mathbb{E}\,F_3(K_m, \delta'_i) \le \delta'_i$, where
    $\delta'_i = \min(\alpha_i, \delta/N, \tfrac12^-)$ as in Theorem P. At $p_1 = p_2 = 1$, $K = m$ and
    this is Theorem P's $m_i$ (``bound_proven_units_per_input``)."""
    share = delta / bound_pool_count(widths, signed_input)
    out = []
    for d_in, alpha in zip(widths[:-1], bound_weight_accuracy(widths, eps, signed_input)):
        accuracy = min(alpha, share, HALF_BELOW)

        def fails(m: int) -> bool:
            return bound_pool_failure(m, d_in, densities, accuracy) > accuracy

        high = len(_corollary3_table(accuracy))
        while fails(high):  # G(m) is non-increasing in m: adding units only adds Bernoulli terms to K
            high *= 2
        low = 0
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if fails(mid) else (low, mid)
        out.append(high)
    return out


def bound_width_factor(d_in: int, densities: tuple[float, float]) -> float:
    r"""$1/(p_2(1-(1-p_1)^{d_{in}}))$: the ratio of units per input at equal expected active units
    ($\mathbb{E}K = m\sum_t\pi_t$), the leading factor of Theorem S's width over Theorem P's."""
    return 1.0 / sum(bound_active_probabilities(d_in, densities))


def build_sparse_ticket(target: Target, eps: float, delta: float, densities: tuple[float, float], *, seed: int,
                        device: torch.device | str = "cpu", units_per_input: list[int] | None = None,
                        pool_cap: int = DEFAULT_POOL_CAP) -> tuple[SparseNetwork, DenseTicket]:
    """ER source at Theorem S's width (or ``units_per_input``) and its ticket for the unbiased ``target``,
    searched until every weight is within Theorem P's α_i (signed inputs, unit ball)."""
    widths = [w.shape[1] for w in target.augmented()] + [target.widths[-1]]
    if units_per_input is None:
        units_per_input = bound_proven_sparse_units_per_input(widths, eps, delta, densities)
    source = construct_sparse_network(widths, units_per_input, densities, seed, device)
    dev_target = Target([w.to(device) for w in target.weights],
                        [None if b is None else b.to(device) for b in target.biases])
    return source, construct_sparse_ticket(dev_target, source, pool_cap=pool_cap,
                                           tolerance=bound_weight_accuracy(widths, eps))
