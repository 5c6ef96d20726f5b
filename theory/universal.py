"""Universal lottery tickets (Burkholz et al., ICLR 2022): pruned random blocks and their bases.

Mathematical objects.

* A *univariate piece* is a smooth function ``g`` on an interval ``[lo, hi]`` together with a bound on
  ``|g''|`` over any sub-interval: ``log((1+x)/2)`` on [0, 1], ``exp`` on the interval the exponent
  layer needs, ``sin(2πy)`` on [0, Y].
* A *pruned random block* realises the piecewise-linear interpolant of ``g`` on knots
  ``lo = t_0 < … < t_K = hi``,
  ``ĝ(x) = β + Σ_{k<K} c_k σ(x − t_k)`` (``β = g(t_0)``, ``c_0`` the first slope, ``c_k`` the slope changes),
  with a two-layer random ReLU network: a fixed knot layer ``z_k = x − t_k`` (the grid of biases),
  random hidden weights ``w ~ U[0, 1]`` and random output weights ``v ~ U[−1, 1]``. Because ``w > 0``,
  a path computes ``v·σ(w·z_k) = (v·w)·σ(z_k)``, so pruning the paths of knot ``k`` down to a subset ``S``
  realises the coefficient ``Σ_{i∈S} w_i v_i``: a random subset sum of products, solved by
  :func:`theory.subset_sum.best_subsets` for all coefficients at once. Coefficients larger than
  ``c_max`` in magnitude are split into equal parts, each with its own pool. The constant ``β`` uses
  the same paths with input 1. Random weights are never trained: kept weights are the draws.
* The *polynomial ticket* re-expresses ``b_r(x) = Π_i ((1 + x_i)/2)^{r_i} = exp(Σ_i r_i log((1+x_i)/2))``:
  one log block applied to every coordinate, an integer linear layer ``r``, one exp block.
* The *Fourier ticket* uses one sin block on ``[0, Y]`` applied to ``n·x + o_n + c`` for signed
  ``n ∈ {−N..N}^d∖{0}`` (one of each ``±n``), an integer offset ``o_n`` that keeps the phase in
  ``[0, Y]``, and shifts ``c ∈ {0, 1/4}`` (sine and cosine).

Certificates are in float64 and rigorous for the real function computed by the pruned network
with its float64 weights: per segment, ``|g − line| ≤ max|g''|·h²/8``, plus the realised block's
deviation from the interpolating line at the two knots (both are linear on the segment, so that is
exact), plus rounding slack counted outward. Errors compose through the layers with Lipschitz
constants on the actual intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from theory.numerics import UNIT_ROUNDOFF, gamma, widen
from theory.objects import Certificate, Witness
from theory.subset_sum import best_subsets, sample_uniform
from theory.fixed_size_subset_sum import best_sparse_subsets

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


def construct_knots(piece: Piece, eps_interp: float, max_knots: int = 100_000) -> torch.Tensor:
    """Knots ``[K+1]`` with ``max|g''|·h²/8 ≤ eps_interp`` on every segment (greedy, adaptive to ``g''``)."""
    if not 0 < eps_interp < 1:
        raise ValueError(f"eps_interp must lie in (0, 1), got {eps_interp}")
    knots = [piece.lo]
    step = piece.hi - piece.lo
    while knots[-1] < piece.hi:
        if len(knots) > max_knots:
            raise ValueError(f"{piece.name} needs more than {max_knots} knots for eps_interp={eps_interp}")
        left = knots[-1]
        step = min(2 * step, piece.hi - left)
        while True:
            a, b = torch.tensor([left], dtype=torch.float64), torch.tensor([left + step], dtype=torch.float64)
            if float(piece.curvature(a, b)) * step**2 / 8 <= eps_interp:
                break
            step *= 0.95
        knots.append(piece.hi if left + step >= piece.hi else left + step)
    return torch.tensor(knots, dtype=torch.float64)


@dataclass
class RandomBlock:
    """A pruned two-layer random ReLU block realising a piece.

    ``knots`` ``[K+1]``; feature 0 is the constant input, feature ``k+1`` is ``σ(x − t_k)`` for ``k < K``.
    ``feature`` ``[P]`` says which feature each pool feeds; ``w`` ``[P, n]`` hidden weights ~ U[0, 1],
    ``v`` ``[P, n]`` output weights ~ U[−1, 1] (the random draws, never modified); ``mask`` ``[P, n]``
    the kept paths; ``targets`` ``[P]`` the coefficient parts the pools were asked to hit.
    """

    piece: Piece
    knots: torch.Tensor
    feature: torch.Tensor
    w: torch.Tensor
    v: torch.Tensor
    mask: torch.Tensor
    targets: torch.Tensor

    @property
    def num_knots(self) -> int:
        return self.knots.shape[0] - 1

    def coefficients(self) -> torch.Tensor:
        """Realised ``[β, c_0, …, c_{K−1}]`` ``[K+1]``, summed in float64 (see ``coefficient_slack``)."""
        parts = (self.mask * self.w * self.v).sum(-1)
        return torch.zeros(self.num_knots + 1, dtype=torch.float64, device=parts.device).index_add(
            0, self.feature, parts)

    def coefficient_slack(self) -> torch.Tensor:
        """``[K+1]`` bound on |exact real coefficient − ``coefficients()``| (products and sums rounded).

        One rounding per product, at most ``n − 1`` per part sum and ``P − 1`` when parts are added.
        """
        rounds = self.w.shape[1] + self.w.shape[0] + 1
        parts = gamma(rounds) * (self.mask * (self.w * self.v).abs()).sum(-1)
        return torch.zeros(self.num_knots + 1, dtype=torch.float64, device=parts.device).index_add(
            0, self.feature, parts)

    @property
    def kept(self) -> int:
        """Kept random weights (``w`` and ``v`` of each kept path) plus the knot biases still in use."""
        used = torch.zeros(self.num_knots + 1, dtype=torch.bool, device=self.mask.device)
        used[self.feature[self.mask.any(-1)]] = True
        return int(2 * self.mask.sum()) + int(used[1:].sum())

    @property
    def kept_paths(self) -> int:
        """Kept random path weights only: ``w`` and ``v`` of each kept path."""
        return int(2 * self.mask.sum())

    @property
    def knot_layer(self) -> int:
        """The knot layer ``z_k = x − t_k`` counted as the published demo counts its first layer: a weight
        and a bias for every knot some kept path reads (the demo prunes both from random weights)."""
        used = torch.zeros(self.num_knots + 1, dtype=torch.bool, device=self.mask.device)
        used[self.feature[self.mask.any(-1)]] = True
        return 2 * int(used[1:].sum())

    @property
    def total(self) -> int:
        """All weights of the random block before pruning: ``2·P·n`` path weights plus ``K`` knot biases."""
        return 2 * self.w.numel() + self.num_knots

    def knot_values(self) -> torch.Tensor:
        """``[K+1]`` the pruned network at its knots, ``β̃ + Σ_k c̃_k (t_j − t_k)^+``, in float64."""
        coef = self.coefficients()
        reach = (self.knots[:, None] - self.knots[None, :-1]).clamp(min=0)  # [K+1, K]
        return coef[0] + reach @ coef[1:]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The pruned network ``Σ_kept v·σ(w·z)`` (``z = x − t_k`` or 1) at ``x`` ``[...] -> [...]``.

        Evaluated segment-wise (the network is linear between knots): its value at the knot left of
        ``x`` plus the slope ``Σ_{t_k ≤ x} c̃_k`` times the distance, which equals the path sum up to
        float64 rounding and costs ``O(log K)`` per point instead of one term per kept path.
        """
        flat = x.reshape(-1).to(torch.float64)
        coef = self.coefficients()
        slopes = torch.cumsum(coef[1:], 0)  # [K]: slope right of each knot
        segment = torch.searchsorted(self.knots[:-1], flat, right=True) - 1  # -1 left of the first knot
        inside = segment.clamp(min=0)
        value = self.knot_values()[inside] + slopes[inside] * (flat - self.knots[inside])
        return torch.where(segment >= 0, value, coef[0]).reshape(x.shape)


def interpolant_coefficients(knots: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``[β, c_0, …, c_{K−1}]`` of the linear interpolant through ``(knots, values)`` (both ``[K+1]``)."""
    slopes = (values[1:] - values[:-1]) / (knots[1:] - knots[:-1])
    return torch.cat([values[:1], slopes[:1], slopes[1:] - slopes[:-1]])


SOLVERS = ("sparse", "dense")


def construct_block(piece: Piece, eps_interp: float, pool_size: int, generator: torch.Generator,
                    c_max: float = 2.0, solver: str = "sparse", half_terms: int = 2) -> RandomBlock:
    """Draw the random block of ``piece`` and prune it to its interpolant (one batched subset-sum solve).

    ``solver="sparse"``: :func:`best_sparse_subsets` (at most ``2·half_terms`` kept paths per pool);
    ``solver="dense"``: :func:`theory.subset_sum.best_subsets` (nearest sum over all subsets).
    """
    if pool_size < 1:
        raise ValueError(f"pool_size must be >= 1, got {pool_size}")
    if not c_max > 0:
        raise ValueError(f"c_max must be positive, got {c_max}")
    if solver not in SOLVERS:
        raise ValueError(f"solver {solver!r} not in {SOLVERS}")
    device = generator.device
    knots = construct_knots(piece, eps_interp).to(device)
    coefficients = interpolant_coefficients(knots, piece.value(knots))
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
    return RandomBlock(piece, knots, feature, w, v, mask, targets)


# What certify_block rests on besides float64 arithmetic (proofs/universal.md).
ASSUMPTIONS = ("the piece's curvature function bounds |g''| on every sub-interval",
               "the piece's value is accurate to value_ulps·u·max(|g|, 1)", "hidden weights w > 0")


def certify_block(block: RandomBlock) -> Certificate:
    """Upper bound on ``sup_{x∈[lo,hi]} |block(x) − g(x)|`` in exact arithmetic on the float64 weights.

    On segment ``j`` both the realised block ``R`` and the line ``ℓ_j`` through ``(t_j, fl g(t_j))``,
    ``(t_{j+1}, fl g(t_{j+1}))`` are linear, so ``|R − ℓ_j|`` peaks at a knot; ``|g − ℓ_j| ≤ max|g''|h²/8``
    plus the float64 error of the knot values. ``R(t_j)`` is evaluated in float64 and its rounding and
    the coefficients' rounding are added as slack. ``parts``: the per-segment terms ``[K]``
    ``interpolation``, ``knot_deviation`` and ``slack``.
    """
    knots, piece = block.knots, block.piece
    coef, coef_slack = block.coefficients(), block.coefficient_slack()
    reach = (knots[:, None] - knots[None, :-1]).clamp(min=0)  # [K+1 points, K knots]: (t_j − t_k)^+
    realised = block.knot_values()
    values = piece.value(knots)
    terms = coef[0].abs() + reach @ coef[1:].abs()
    rounding = gamma(block.num_knots + 4) * terms + coef_slack[0] + reach @ coef_slack[1:]
    deviation = (realised - values).abs() + rounding
    value_error = piece.value_ulps * UNIT_ROUNDOFF * values.abs().clamp(min=1)  # |fl g(t) − g(t)|
    h = knots[1:] - knots[:-1]
    interpolation = piece.curvature(knots[:-1], knots[1:]) * h**2 / 8
    knot_deviation = (torch.maximum(deviation[:-1], deviation[1:])
                      + torch.maximum(value_error[:-1], value_error[1:]))
    slack = gamma(4) * (interpolation + knot_deviation)
    per_segment = interpolation + knot_deviation + slack
    return Certificate(float(widen(per_segment.max())), "rigorous", f"[{piece.lo:g}, {piece.hi:g}]",
                       f"sup |block − {piece.name}|", ASSUMPTIONS,
                       {"interpolation": interpolation, "knot_deviation": knot_deviation, "slack": slack})


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
        """Kept parameters counted as the published demo counts them: both blocks' kept paths and knot
        layers, and the exponent layer ``r`` ``[M, d]`` (one weight per non-zero entry)."""
        blocks = (self.log_block, self.exp_block)
        return sum(b.kept_paths + b.knot_layer for b in blocks) + int((r != 0).sum())


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
    return float(residual.pow(2).mean().sqrt())


def bound_transfer_gap(coef: torch.Tensor, basis_error: torch.Tensor) -> float:
    """``Σ_j |a_j|·ε_j`` (bias excluded): how far the same last layer moves between the two bases."""
    return float((coef[1:].abs() * basis_error).sum())
