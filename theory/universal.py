"""Universal lottery tickets (Burkholz et al., ICLR 2022): pruned random blocks and their bases.

Mathematical objects.

* A *univariate piece* is a smooth function ``g`` on an interval ``[lo, hi]`` together with a bound on
  ``|g''|`` over any sub-interval: ``log((1+x)/2)`` on [0, 1], ``exp`` on the interval the exponent
  layer needs, ``sin(2πy)`` on [0, Y].
* A *pruned random block* realises a piecewise-linear interpolant of ``g`` with a three-layer random
  ReLU network in which every kept weight is a random draw (a strong lottery ticket, as in Burkholz et
  al. and their published demo, which also prunes its first layer from random weights and biases):

  - a random first layer ``σ(a_j x + b_j)``, ``j < N``, ``a ~ U[−1, 1]``, ``b ~ U[−s, s]``
    (``s = max(|lo|, |hi|) + 1``), whose kinks ``t_j = −b_j/a_j`` are random. It is pruned to ``K``
    units of weight ``a ≥ 1/2``: one active on the whole interval (kink ``≤ lo``) and, greedily, kinks
    ``lo < t_1 < … < t_{K−1} < hi`` with ``max|g''|·h²/8 ≤ eps_interp`` on every segment (Lemma R of
    proofs/universal.md: the default width makes such kinks exist with probability ``≥ 0.99``);
  - random hidden weights ``w ~ U[0, 1]`` and output weights ``v ~ U[−1, 1]`` on paths from each kept
    unit (or from the constant input: a hidden bias). Because ``w > 0`` and ``σ(·) ≥ 0`` a path computes
    ``v·σ(w·σ(a x + b)) = (v·w)·σ(a x + b)``, so pruning the paths of unit ``k`` down to a subset realises
    the coefficient ``Σ w_i v_i``: a random subset sum of products, aimed at ``c_k/a_k`` (``c_k`` the
    interpolant's slope change at ``t_k``), for all coefficients at once. Coefficients larger than
    ``c_max`` in magnitude are split into equal parts, each with its own pool.
* The *polynomial ticket* re-expresses ``b_r(x) = Π_i ((1 + x_i)/2)^{r_i} = exp(Σ_i r_i log((1+x_i)/2))``:
  one log block applied to every coordinate, an integer linear layer ``r``, one exp block.
* The *Fourier ticket* uses one sin block on ``[0, Y]`` applied to ``n·x + o_n + c`` for signed
  ``n ∈ {−N..N}^d∖{0}`` (one of each ``±n``), an integer offset ``o_n`` that keeps the phase in
  ``[0, Y]``, and shifts ``c ∈ {0, 1/4}`` (sine and cosine).

Certificates are in float64 and rigorous for the real function computed by the pruned network
with its float64 weights: per segment, ``|g − line| ≤ max|g''|·h²/8``, plus the realised block's
deviation from the interpolating line at the two segment ends (both are linear on the segment, so that
is exact), plus the shift of each kink ``−b/a`` by its float64 division, plus rounding slack counted
outward. Errors compose through the layers with Lipschitz constants on the actual intervals. The kinks'
existence is a probability statement over the first layer (Lemma R); the subset sums are certified on
the drawn instance only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from lth.theory.numerics import UNIT_ROUNDOFF, gamma, widen
from lth.theory.objects import Certificate, Witness
from lth.theory.subset_sum import best_subsets, sample_uniform
from lth.theory.fixed_size_subset_sum import best_sparse_subsets

Curvature = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_TWO_PI = 2 * math.pi


@dataclass(frozen=True)
class Piece:
    """A smooth univariate target on ``[lo, hi]``.

    ``value``: ``[...] -> [...]`` float64; ``curvature(a, b)``: ``[J], [J] -> [J]`` an upper bound on
    ``|g''|`` over each ``[a_j, b_j]``. ``value_ulps`` bounds the float64 error of ``value`` in units of
    ``u·max(|g|, 1)``.
    """

    name: str
    lo: float
    hi: float
    value: Callable[[torch.Tensor], torch.Tensor]
    curvature: Curvature
    value_ulps: float = 4.0


def log_piece() -> Piece:
    """``log((1+x)/2)`` on [0, 1]; ``|g''| = (1+x)^-2`` is decreasing, so its max is at the left end."""
    return Piece("log((1+x)/2)", 0.0, 1.0, lambda x: torch.log1p(x) - math.log(2),
                 lambda a, b: widen((1 + a) ** -2.0))


def exp_piece(lo: float, hi: float) -> Piece:
    """``exp`` on ``[lo, hi]``; ``|g''| = e^x`` is increasing, so its max is at the right end."""
    return Piece("exp", lo, hi, torch.exp, lambda a, b: widen(torch.exp(b)))


def _sin_curvature(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``|d²/dy² sin(2πy)| = 4π²|sin(2πy)|``: monotone between the extrema ``y = 1/4 + m/2``."""
    ends = torch.maximum(torch.sin(_TWO_PI * a).abs(), torch.sin(_TWO_PI * b).abs())
    has_extremum = torch.floor(2 * b - 0.5) >= torch.ceil(2 * a - 0.5)
    peak = torch.where(has_extremum, torch.ones_like(ends), (ends + 1e-12).clamp(max=1.0))
    return widen(4 * math.pi**2 * peak)


def sin_piece(hi: float = 1.0) -> Piece:
    """``sin(2πy)`` on ``[0, hi]``."""
    # fl(2π·y) is off by up to ~2u·2πy, which moves sin by as much: hence value_ulps grows with hi.
    return Piece("sin(2πy)", 0.0, hi, lambda y: torch.sin(_TWO_PI * y), _sin_curvature, value_ulps=8.0 + 16 * hi)


def bias_scale(piece: Piece) -> float:
    """``s = max(|lo|, |hi|) + 1``: first-layer biases are drawn from ``U[−s, s]``, so every kink cell of
    Lemma R (``[lo − 1/2, hi]`` at most) lies in ``[−s, s]``."""
    return max(abs(piece.lo), abs(piece.hi)) + 1.0


def grid_cells(piece: Piece, eps_interp: float) -> tuple[float, int]:
    """Lemma R's cell width ``w = min(h, 1)/2``, ``h = √(8ε/M)`` (``M`` the curvature bound over the whole
    interval), and the cell count ``C = ⌈(hi − lo)/w⌉ + 1`` (one more cell ``[lo − w, lo]``)."""
    whole = piece.curvature(torch.tensor([piece.lo], dtype=torch.float64), torch.tensor([piece.hi], dtype=torch.float64))
    h = math.sqrt(8 * eps_interp / float(whole))
    cell = min(h, 1.0) / 2
    return cell, math.ceil((piece.hi - piece.lo) / cell) + 1


def proven_width(piece: Piece, eps_interp: float, min_weight: float, delta: float) -> int:
    """Lemma R: a first layer of ``N ≥ log(C/δ)/q`` units, ``q = w(1 − a_min²)/(8s)``, holds a kink of weight
    ``≥ a_min`` in every cell with probability ``≥ 1 − δ``, so the greedy grid meets ``eps_interp``."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    if not 0 <= min_weight < 1:
        raise ValueError(f"min_weight must lie in [0, 1), got {min_weight}")
    cell, cells = grid_cells(piece, eps_interp)
    q = cell * (1 - min_weight**2) / (8 * bias_scale(piece))
    return math.ceil(math.log(cells / delta) / q)


def draw_first_layer(piece: Piece, width: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The random first layer ``σ(a_j x + b_j)``, ``j < width``: ``a ~ U[−1, 1]``, ``b ~ U[−s, s]``
    (:func:`bias_scale`), each ``[width]`` float64, drawn in that order."""
    weight = sample_uniform((width,), generator)
    bias = sample_uniform((width,), generator, -bias_scale(piece), bias_scale(piece))
    return weight, bias


def select_units(piece: Piece, eps_interp: float, weight: torch.Tensor, bias: torch.Tensor,
                 min_weight: float) -> torch.Tensor:
    """Prune the first layer: indices ``[K]`` of the kept units, among those with ``a ≥ min_weight``.

    Unit 0 is active on the whole interval (the largest kink ``t = fl(−b/a) ≤ lo``); then, from
    ``left = lo``, greedily the farthest kink ``t`` with ``M([left, t])·(t − left)²/8 ≤ eps_interp``, until
    ``hi`` is within reach. Where no kink is within reach the nearest one beyond is taken (the
    certificate then reports the larger error: a first layer too narrow fails, it is not patched).
    """
    candidate = weight >= min_weight
    kinks = -bias / weight
    below = (candidate & (kinks <= piece.lo)).nonzero()[:, 0]
    if below.numel() == 0:
        raise ValueError(f"the random first layer has no unit of weight >= {min_weight} active on all of "
                         f"[{piece.lo:g}, {piece.hi:g}]; draw a wider layer")
    chosen = [int(below[kinks[below].argmax()])]
    inner = (candidate & (kinks > piece.lo) & (kinks < piece.hi)).nonzero()[:, 0]
    order = inner[kinks[inner].argsort()]
    ts = kinks[order]  # [I] ascending
    left, start = piece.lo, 0
    while start < ts.shape[0]:
        if _segment_error(piece, left, torch.tensor([piece.hi], dtype=torch.float64, device=ts.device))[0] <= eps_interp:
            break
        ahead = ts[start:]
        fits = (_segment_error(piece, left, ahead) <= eps_interp).nonzero()[:, 0]
        step = int(fits[-1]) if fits.numel() else 0
        chosen.append(int(order[start + step]))
        left, start = float(ahead[step]), start + step + 1
    return torch.tensor(chosen, dtype=torch.long, device=weight.device)


def _segment_error(piece: Piece, left: float, right: torch.Tensor) -> torch.Tensor:
    """``M([left, t])·(t − left)²/8`` for each ``t`` in ``right`` ``[J]``."""
    return piece.curvature(torch.full_like(right, left), right) * (right - left) ** 2 / 8


@dataclass
class RandomBlock:
    """A pruned three-layer random ReLU block realising a piece (every kept weight is a random draw).

    First layer: ``layer_weight``, ``layer_bias`` ``[N]`` (the draws), ``units`` ``[K]`` the kept units
    (their kinks ``t_k = fl(−b_k/a_k)``, unit 0 active on all of ``[lo, hi]``). Feature 0 is the constant
    input, feature ``k+1`` is ``σ(a_k x + b_k)``. ``feature`` ``[P]`` says which feature each pool feeds;
    ``w`` ``[P, n]`` hidden weights ~ U[0, 1], ``v`` ``[P, n]`` output weights ~ U[−1, 1] (never
    modified); ``mask`` ``[P, n]`` the kept paths; ``targets`` ``[P]`` the parts the pools were asked to hit;
    ``eps_interp`` and ``min_weight`` as given to :func:`construct_block`.
    """

    piece: Piece
    layer_weight: torch.Tensor
    layer_bias: torch.Tensor
    units: torch.Tensor
    feature: torch.Tensor
    w: torch.Tensor
    v: torch.Tensor
    mask: torch.Tensor
    targets: torch.Tensor
    eps_interp: float
    min_weight: float

    @property
    def first_weight(self) -> torch.Tensor:
        """``[K]`` kept first-layer weights ``a_k``."""
        return self.layer_weight[self.units]

    @property
    def first_bias(self) -> torch.Tensor:
        """``[K]`` kept first-layer biases ``b_k``."""
        return self.layer_bias[self.units]

    @property
    def kinks(self) -> torch.Tensor:
        """``[K]`` float64 kinks ``t_k = fl(−b_k/a_k)`` of the kept units (``|t_k − (−b_k/a_k)| ≤ γ_1|t_k|``)."""
        return -self.first_bias / self.first_weight

    @property
    def knots(self) -> torch.Tensor:
        """Segment ends ``[S+1]``: ``lo``, the kinks strictly inside ``(lo, hi)`` in order, ``hi``."""
        kinks = self.kinks
        inside = kinks[(kinks > self.piece.lo) & (kinks < self.piece.hi)]
        ends = torch.tensor([self.piece.lo, self.piece.hi], dtype=torch.float64, device=kinks.device)
        return torch.cat([ends[:1], torch.unique(inside), ends[1:]])

    @property
    def num_knots(self) -> int:
        """Number of segments ``S``."""
        return self.knots.shape[0] - 1

    def coefficients(self) -> torch.Tensor:
        """Realised ``[β, c_0, …, c_{K−1}]`` ``[K+1]`` (``c_k`` multiplies ``σ(a_k x + b_k)``), summed in float64."""
        parts = (self.mask * self.w * self.v).sum(-1)
        return torch.zeros(self.units.shape[0] + 1, dtype=torch.float64, device=parts.device).index_add(
            0, self.feature, parts)

    def coefficient_slack(self) -> torch.Tensor:
        """``[K+1]`` bound on |exact real coefficient − ``coefficients()``|.

        One rounding per product, at most ``n − 1`` additions inside a part and at most ``P − 1`` when a
        coefficient's parts are merged: ``n + P`` roundings along any term's path, ``γ_{n+P+1}`` used.
        """
        rounds = self.w.shape[1] + self.w.shape[0] + 1
        parts = gamma(rounds) * (self.mask * (self.w * self.v).abs()).sum(-1)
        return torch.zeros(self.units.shape[0] + 1, dtype=torch.float64, device=parts.device).index_add(
            0, self.feature, parts)

    def slopes(self) -> torch.Tensor:
        """``[K]`` float64 slopes ``e_k = fl(c_k·a_k)``: ``c_k σ(a_k x + b_k) = c_k a_k (x − τ_k)^+`` for ``a_k > 0``."""
        return self.coefficients()[1:] * self.first_weight

    @property
    def kept_units(self) -> int:
        """First-layer units some kept path reads."""
        used = torch.zeros(self.units.shape[0] + 1, dtype=torch.bool, device=self.mask.device)
        used[self.feature[self.mask.any(-1)]] = True
        return int(used[1:].sum())

    @property
    def kept_paths(self) -> int:
        """Kept random path weights: ``w`` and ``v`` of each kept path."""
        return int(2 * self.mask.sum())

    @property
    def kept(self) -> int:
        """Kept random parameters: path weights plus a weight and a bias per kept first-layer unit."""
        return self.kept_paths + 2 * self.kept_units

    @property
    def total(self) -> int:
        """All random parameters drawn: ``2N`` first-layer weights and biases plus ``2·P·n`` path weights."""
        return 2 * self.layer_weight.numel() + 2 * self.w.numel()

    def knot_values(self) -> torch.Tensor:
        """``[S+1]`` ``β̃ + Σ_k e_k (t − t_k)^+`` at the segment ends, in float64 (kinks at their float64 values)."""
        reach = (self.knots[:, None] - self.kinks[None, :]).clamp(min=0)  # [S+1, K]
        return self.coefficients()[0] + reach @ self.slopes()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The pruned network ``β̃ + Σ_k c_k σ(a_k x + b_k)`` at ``x`` ``[...] -> [...]`` in float64.

        The kept paths of each unit are merged into ``c_k`` (``v·σ(w·z) = (v·w)·z`` for ``w, z ≥ 0``) and the
        network is evaluated piece by piece between its kinks (sorted): its value at the kink left of
        ``x`` plus the slope there times the distance. That is the path sum up to float64 rounding and the
        kinks' own rounding (``kink_shift``), at ``O(log K)`` per point instead of one term per unit.
        """
        flat = x.reshape(-1).to(torch.float64)
        beta = self.coefficients()[0]
        order = self.kinks.argsort()
        kinks, slopes = self.kinks[order], self.slopes()[order]
        at_kinks = beta + (kinks[:, None] - kinks[None, :]).clamp(min=0) @ slopes  # [K] the network at its kinks
        piece = torch.searchsorted(kinks, flat, right=True) - 1  # -1: left of every kink, all units off
        inside = piece.clamp(min=0)
        value = at_kinks[inside] + torch.cumsum(slopes, 0)[inside] * (flat - kinks[inside])
        return torch.where(piece >= 0, value, beta).reshape(x.shape)


def interpolant_coefficients(piece: Piece, kinks: torch.Tensor) -> torch.Tensor:
    """``[β, c_0, …, c_{K−1}]``: ``g``'s linear interpolant at ``lo, t_1, …, t_{K−1}, hi`` written as
    ``β + Σ_k c_k (x − t_k)^+`` (``t_0 ≤ lo``, so its term is linear on ``[lo, hi]``)."""
    ends = kinks.new_tensor([piece.lo, piece.hi])
    nodes = torch.cat([ends[:1], kinks[1:], ends[1:]])
    values = piece.value(nodes)
    slopes = (values[1:] - values[:-1]) / (nodes[1:] - nodes[:-1])
    beta = values[:1] - slopes[:1] * (piece.lo - kinks[:1])
    return torch.cat([beta, slopes[:1], slopes[1:] - slopes[:-1]])


SOLVERS = ("sparse", "dense")
MIN_WEIGHT = 0.5  # first-layer units with a smaller weight are pruned: c/a would need many parts
FIRST_LAYER_DELTA = 0.01  # default width: Lemma R's width for a failure probability of 1%


def construct_block(piece: Piece, eps_interp: float, pool_size: int, generator: torch.Generator,
                    c_max: float = 2.0, solver: str = "sparse", half_terms: int = 2, width: int | None = None,
                    min_weight: float = MIN_WEIGHT) -> RandomBlock:
    """Draw the random block of ``piece`` and prune both layers (greedy kinks, one batched subset-sum solve).

    ``width``: first-layer units (default :func:`proven_width` at ``δ = 0.01``). ``solver="sparse"``:
    :func:`best_sparse_subsets` (at most ``2·half_terms`` kept paths per pool); ``solver="dense"``:
    :func:`lth.theory.subset_sum.best_subsets` (nearest sum over all subsets).
    """
    if not 0 < eps_interp < 1:
        raise ValueError(f"eps_interp must lie in (0, 1), got {eps_interp}")
    if pool_size < 1:
        raise ValueError(f"pool_size must be >= 1, got {pool_size}")
    if not c_max > 0:
        raise ValueError(f"c_max must be positive, got {c_max}")
    if solver not in SOLVERS:
        raise ValueError(f"solver {solver!r} not in {SOLVERS}")
    width = proven_width(piece, eps_interp, min_weight, FIRST_LAYER_DELTA) if width is None else width
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    device = generator.device
    layer_weight, layer_bias = draw_first_layer(piece, width, generator)
    units = select_units(piece, eps_interp, layer_weight, layer_bias, min_weight)
    a = layer_weight[units]
    coefficients = interpolant_coefficients(piece, -layer_bias[units] / a)
    coefficients = torch.cat([coefficients[:1], coefficients[1:] / a])  # c_k/a_k on σ(a_k x + b_k)
    parts = torch.ceil(coefficients.abs() / c_max).clamp(min=1).long()
    feature = torch.repeat_interleave(torch.arange(coefficients.shape[0], device=device), parts)
    targets = (coefficients / parts)[feature]
    shape = (feature.shape[0], pool_size)
    w = torch.rand(shape, generator=generator, device=device, dtype=torch.float64)
    v = sample_uniform(shape, generator)
    products = w * v
    if solver == "dense":
        mask = best_subsets(products, targets[:, None]).mask[:, 0, :]
    else:
        mask = best_sparse_subsets(products, targets, half_terms)
    return RandomBlock(piece, layer_weight, layer_bias, units, feature, w, v, mask, targets, eps_interp, min_weight)


# What certify_block rests on besides float64 arithmetic (proofs/universal.md).
ASSUMPTIONS = ("the piece's curvature function bounds |g''| on every sub-interval",
               "the piece's value is accurate to value_ulps·u·max(|g|, 1)",
               "hidden weights w > 0 and kept first-layer weights a > 0 (checked)")


def certify_block(block: RandomBlock) -> Certificate:
    """Upper bound on ``sup_{x∈[lo,hi]} |R(x) − g(x)|``, ``R`` the pruned network in exact arithmetic on
    its float64 weights.

    ``R = β̃ + Σ_k c̃_k a_k (x − τ_k)^+`` (``τ_k = −b_k/a_k`` exactly); ``R̄`` puts the kinks at their float64
    values ``t_k``, so ``|R − R̄| ≤ Σ_k |c̃_k a_k|·γ_1|t_k|`` everywhere (``kink_shift``). ``R̄`` is linear
    between consecutive segment ends (every kink inside ``(lo, hi)`` is one), as is the line ``ℓ_j``
    through ``fl g`` at them, so ``|R̄ − ℓ_j|`` peaks at an end; ``|g − ℓ_j| ≤ max|g''|h²/8`` plus the
    float64 error of ``fl g``. ``parts``: per-segment ``interpolation``, ``knot_deviation``,
    ``kink_shift`` and ``slack``, each ``[S]``.
    """
    if not bool((block.first_weight > 0).all()):
        raise ValueError("hypothesis violated: a kept first-layer weight a_k <= 0")
    knots, piece, kinks = block.knots, block.piece, block.kinks
    coef, coef_slack = block.coefficients(), block.coefficient_slack()
    slopes = block.slopes()
    # |e_k − c̃_k a_k| ≤ a_k·slack_k + u|ĉ_k a_k| ≤ a_k·slack_k + γ_2|e_k|
    slope_slack = block.first_weight * coef_slack[1:] + gamma(2) * slopes.abs()
    reach = (knots[:, None] - kinks[None, :]).clamp(min=0)  # [S+1 ends, K kinks]: (t_j − t_k)^+
    realised = block.knot_values()
    values = piece.value(knots)
    terms = coef[0].abs() + reach @ slopes.abs()
    rounding = gamma(kinks.shape[0] + 4) * terms + coef_slack[0] + reach @ slope_slack
    deviation = (realised - values).abs() + rounding
    value_error = piece.value_ulps * UNIT_ROUNDOFF * values.abs().clamp(min=1)  # |fl g(t) − g(t)|
    h = knots[1:] - knots[:-1]
    interpolation = piece.curvature(knots[:-1], knots[1:]) * h**2 / 8
    knot_deviation = (torch.maximum(deviation[:-1], deviation[1:])
                      + torch.maximum(value_error[:-1], value_error[1:]))
    kink_shift = (gamma(1) * ((slopes.abs() + slope_slack) * kinks.abs()).sum()).expand_as(h)
    slack = gamma(4) * (interpolation + knot_deviation + kink_shift)
    per_segment = interpolation + knot_deviation + kink_shift + slack
    return Certificate(float(widen(per_segment.max())), "rigorous", f"[{piece.lo:g}, {piece.hi:g}]",
                       f"sup |block − {piece.name}|", ASSUMPTIONS,
                       {"interpolation": interpolation, "knot_deviation": knot_deviation,
                        "kink_shift": kink_shift, "slack": slack})


def sample_grid(lo: float, hi: float, points: int = 10_000, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[points]`` equispaced float64 points of ``[lo, hi]``, ends included."""
    return torch.linspace(lo, hi, points, dtype=torch.float64, device=device)


def search_block_error(block: RandomBlock, points: int = 10_000) -> Witness:
    """Worst grid point of ``|block(x) − g(x)|`` over an equispaced grid (a lower bound on the sup, not the sup)."""
    x = sample_grid(block.piece.lo, block.piece.hi, points, block.knots.device)
    gap = (block(x) - block.piece.value(x)).abs()
    top = int(gap.argmax())
    return Witness(x[top].cpu(), float(gap[top]))


# Polynomial ticket -------------------------------------------------------------------------------

def multi_indices(dim: int, degree: int) -> torch.Tensor:
    """All ``r ∈ ℕ^dim`` with ``1 ≤ |r| ≤ degree``, ``[M, dim]`` int64, ordered by total degree."""
    if dim < 1 or degree < 1:
        raise ValueError(f"need dim >= 1 and degree >= 1, got dim={dim}, degree={degree}")
    rows = []
    for total in range(1, degree + 1):  # a multiset of `total` coordinates is one monomial
        picks = torch.combinations(torch.arange(dim), total, with_replacement=True)  # [C, total]
        rows.append(torch.zeros(picks.shape[0], dim, dtype=torch.long).scatter_add_(1, picks, torch.ones_like(picks)))
    return torch.cat(rows)


def bound_exponent_interval(degree: int, margin: float) -> tuple[float, float]:
    """The interval the exp block must cover: ``[−degree·log 2 − margin, margin]``."""
    return -degree * math.log(2) - margin, margin


@dataclass
class PolyTicket:
    """``b̂_r(x) = Ê(Σ_i r_i L̂(x_i))`` for ``|r| ≤ degree``; ``margin`` is the exp block's overhang."""

    log_block: RandomBlock
    exp_block: RandomBlock
    degree: int
    margin: float

    @property
    def kept(self) -> int:
        return self.log_block.kept + self.exp_block.kept

    @property
    def total(self) -> int:
        return self.log_block.total + self.exp_block.total

    def kept_as_demo(self, r: torch.Tensor) -> int:
        """Kept parameters counted as the published demo counts them: every kept random parameter of both
        blocks (first-layer weights and biases, path weights) plus the exponent layer ``r`` ``[M, d]``,
        one weight per non-zero entry (ours is an exact integer layer; the demo prunes it from random pairs)."""
        return self.kept + int((r != 0).sum())


def construct_poly_ticket(degree: int, eps_log: float, eps_exp: float, pool_size: int,
                          generator: torch.Generator, margin: float = 0.01, **block_options) -> PolyTicket:
    """Prune random log and exp blocks for monomials of total degree ≤ ``degree``.

    ``block_options`` (``c_max``, ``solver``, ``half_terms``) go to :func:`construct_block`.
    """
    log_block = construct_block(log_piece(), eps_log, pool_size, generator, **block_options)
    exp_block = construct_block(exp_piece(*bound_exponent_interval(degree, margin)), eps_exp, pool_size,
                                generator, **block_options)
    return PolyTicket(log_block, exp_block, degree, margin)


def _unit_cube(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 2:
        raise ValueError(f"inputs must have shape [m, d], got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("inputs contain non-finite values")
    if x.min() < 0 or x.max() > 1:
        raise ValueError("inputs must lie in [0, 1]^d; rescale features by (x − min)/(max − min) first")
    return x.to(torch.float64)


def check_exponents(r: torch.Tensor, degree: int) -> None:
    """Refuse exponents ``r`` ``[M, d]`` outside the theorem's ``r ∈ ℕ^d``, ``|r| = Σ_i r_i ≤ degree``.

    A negative ``r_i`` makes ``Σ_i r_i log((1+x_i)/2)`` positive, outside the exp block's interval, and
    ``|r|`` is no longer ``Σ_i r_i`` (the certificate's error drift ``|r|·ε_L`` would be understated).
    """
    if r.ndim != 2:
        raise ValueError(f"exponents must have shape [M, d], got {tuple(r.shape)}")
    if r.is_floating_point() and not (torch.isfinite(r).all() and torch.equal(r, r.round())):
        raise ValueError("hypothesis violated: exponents r must be non-negative integers")
    if bool((r < 0).any()):
        row = r[(r < 0).any(-1)][0].tolist()
        raise ValueError(f"hypothesis violated: exponents r must be non-negative integers, got r = {row}")
    if r.numel() and int(r.sum(-1).max()) > degree:
        raise ValueError(f"the ticket serves total degree |r| <= {degree}, got {int(r.sum(-1).max())}")


def poly_features(ticket: PolyTicket, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Ticket basis ``b̂_r(x)``: ``x`` ``[m, d]`` in ``[0,1]^d``, ``r`` ``[M, d]`` → ``[m, M]``."""
    check_exponents(r, ticket.degree)
    logs = ticket.log_block(_unit_cube(x))  # [m, d]
    return ticket.exp_block(logs @ r.to(logs).T)


def exact_poly_features(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Exact basis ``Π_i ((1 + x_i)/2)^{r_i}``: ``[m, d]``, ``[M, d]`` → ``[m, M]``."""
    x = _unit_cube(x)
    return torch.prod(((1 + x[:, None, :]) / 2) ** r.to(x)[None], dim=-1)


def certify_poly_basis(ticket: PolyTicket, r: torch.Tensor, eps_log: float, eps_exp: float) -> Certificate:
    """Bound on ``sup_x |b̂_r − b_r|`` over ``[0,1]^d`` for every ``r`` ``[M, d]``, from certified block errors
    ``eps_log``, ``eps_exp``: ``value`` the largest, ``parts["per_basis"]`` ``[M]`` one per ``r``.

    ``|û − u| ≤ |r|·ε_L`` with ``u ≤ 0``, so ``|Ê(û) − e^u| ≤ ε_E + e^{|r|ε_L}·|r|·ε_L``, valid when ``û``
    stays in the exp block's interval, i.e. ``|r|·ε_L ≤ margin``; otherwise ``inf`` (no certificate).
    """
    check_exponents(r, ticket.degree)
    order = r.sum(-1).to(torch.float64)
    drift = order * eps_log
    lipschitz = torch.exp(drift)
    bound = widen(eps_exp + lipschitz * drift)
    inside = drift <= ticket.margin * (1 - 1e-9)  # strict, so float rounding of the interval ends cannot matter
    per_basis = torch.where(inside, bound, torch.full_like(bound, math.inf))
    return Certificate(float(per_basis.max()), "rigorous", f"[0,1]^{r.shape[1]}", "sup |b̂_r − b_r| over r",
                       ASSUMPTIONS + (f"block errors eps_log={eps_log:g}, eps_exp={eps_exp:g} are certified",),
                       {"per_basis": per_basis})


# Fourier ticket ----------------------------------------------------------------------------------

SHIFTS = (0.0, 0.25)  # sine and cosine phases, so least squares reaches every phase


def frequencies(dim: int, max_freq: int) -> torch.Tensor:
    """Signed ``n ∈ {−N..N}^dim ∖ {0}``, one of each pair ``±n``, as ``[F, dim]`` int64, ``F = ((2N+1)^dim − 1)/2``.

    The representative of ``±n`` is the one whose first non-zero coordinate is positive; ``−n`` adds
    nothing because ``sin(2π(−n·x + c))`` is a combination of ``sin(2π(n·x + c'))``, ``c' ∈ SHIFTS``.
    Signed frequencies are needed for ``d ≥ 2``: ``cos(2π(x_1 − x_2))`` is not in the span of
    ``n ∈ {0..N}^d``.
    """
    if dim < 1 or max_freq < 1:
        raise ValueError(f"need dim >= 1 and max_freq >= 1, got dim={dim}, max_freq={max_freq}")
    grid = torch.cartesian_prod(*[torch.arange(-max_freq, max_freq + 1)] * dim).reshape(-1, dim)
    nonzero = grid != 0
    leading = grid.gather(1, nonzero.to(torch.int8).argmax(1, keepdim=True))[:, 0]  # first non-zero entry
    return grid[leading > 0]


def bound_phase_interval(dim: int, max_freq: int) -> float:
    """Largest phase ``n·x + o_n + c`` over the cube (``o_n`` of :func:`phase_offsets`): ``dim·N + max(shift)``."""
    return dim * max_freq + max(SHIFTS)


def construct_fourier_ticket(dim: int, max_freq: int, eps_interp: float, pool_size: int,
                             generator: torch.Generator, **block_options) -> RandomBlock:
    """One pruned random sin block on ``[0, dim·N + 1/4]``, shared by every frequency."""
    return construct_block(sin_piece(bound_phase_interval(dim, max_freq)), eps_interp, pool_size, generator,
                           **block_options)


def phase_offsets(freqs: torch.Tensor) -> torch.Tensor:
    """``o_n = Σ_i max(−n_i, 0)`` ``[F]``: an integer (so ``sin(2π·)`` is unchanged) that moves
    ``n·x + o_n`` into ``[0, Σ_i |n_i|]`` for ``x ∈ [0,1]^d``, the sin block's interval."""
    return (-freqs).clamp(min=0).sum(-1)


def _phases(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    x = _unit_cube(x)
    base = x @ freqs.to(x).T + phase_offsets(freqs).to(x)  # [m, F], in [0, Σ|n_i|]
    return torch.cat([base + shift for shift in SHIFTS], dim=1)  # [m, 2F]


def fourier_features(block: RandomBlock, x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Ticket basis ``Ŝ(n·x + c)``: ``x`` ``[m, d]``, ``freqs`` ``[F, d]`` → ``[m, 2F]``."""
    phases = _phases(x, freqs)
    if phases.max() > block.piece.hi:
        raise ValueError(f"phases reach {float(phases.max()):.3f} beyond the sin block's {block.piece.hi}")
    return block(phases)


def frequency_columns(freqs: torch.Tensor, max_freq: int) -> torch.Tensor:
    """Columns of ``fourier_features(…, freqs)`` ``[m, 2F]`` that belong to frequencies in ``{−max_freq..max_freq}^d``."""
    inside = (freqs.abs().max(-1).values <= max_freq).nonzero()[:, 0]
    return torch.cat([inside + i * freqs.shape[0] for i in range(len(SHIFTS))])


def exact_fourier_features(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Exact ``sin(2π(n·x + c))`` (the integer offset changes nothing): ``[m, d]``, ``[F, d]`` → ``[m, 2F]``."""
    return torch.sin(_TWO_PI * _phases(x, freqs))


# Last-layer fits ----------------------------------------------------------------------------------

def fit_last_layer(features: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Least squares with a bias: ``features`` ``[m, M]``, ``y`` ``[m]`` → (coefficients ``[M+1]``, RMS)."""
    design = torch.cat([torch.ones_like(features[:, :1]), features], dim=1)
    driver = "gelsd" if design.device.type == "cpu" else None
    coef = torch.linalg.lstsq(design, y[:, None].to(design), driver=driver).solution[:, 0]
    return coef, rms(design @ coef - y)


def predict(features: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """``[m, M]``, ``[M+1]`` → ``[m]``."""
    return coef[0] + features @ coef[1:]


def rms(residual: torch.Tensor) -> float:
    """Root mean square of the entries of ``residual`` (any shape), as a float."""
    return float(residual.pow(2).mean().sqrt())


def bound_transfer_gap(coef: torch.Tensor, basis_error: torch.Tensor) -> float:
    """``Σ_j |a_j|·ε_j`` (bias excluded): how far the same last layer moves between the two bases."""
    return float((coef[1:].abs() * basis_error).sum())
