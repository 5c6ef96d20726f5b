r"""Strong lottery tickets from hyperbolically distributed weights by binary decomposition (after Orseau,
Hutter & Rivasplata 2020, "Logarithmic pruning is all you need"; proofs/slth_hyperbolic.md).

The source network has the $2l$ layers of :mod:`lth.theory.dense` (block $i$: $M_{2i-1}\in\mathbb{R}^{h_i\times
d_{i-1}}$, $M_{2i}\in\mathbb{R}^{d_i\times h_i}$, $h_i = m_id_{i-1}$), but its entries are drawn from the
*hyperbolic law* $H[\lambda, \mu]$: a uniform sign times a magnitude of density $\propto 1/|w|$ on
$[\lambda, \mu]$ (so $\ln|w|$ is uniform: every scale is equally likely). First layers use
$H[\tfrac12, 1]$, the second layer of block $i$ uses $H[2^{-K_i}, \tfrac32]$ with $K_i$ the number of
binary digits the block's per-weight accuracy needs (:func:`bits_for`).

The ticket keeps Pensia's structure (unit $k$ reads input $\lfloor k/m_i\rfloor$ with weight $a_k$; the
products $b_{rk}a_k$ of units with $a_k > 0$ carry $x_j^+$, those with $a_k < 0$ carry $x_j^-$), so it is
a :class:`lth.theory.dense.DenseTicket` and ``certify_sup_error`` / ``search_sup_error`` of :mod:`lth.theory.dense`
apply unchanged. Only the choice of units differs: rule H, a *binary decomposition* of each target weight.
A residual $r$ with $2^{-k-1} < |r| \le 2^{-k}$ (cell $k$) takes, among the unused units of the branch whose
product lies in the *bucket* $\mathrm{sign}(r)\,[2^{-k-1}, \tfrac34 2^{-k}]$, the one nearest to $r$; then
$|r - b a| \le |r|/2$, the next residual lies in a later cell, and at most $K_i$ units per weight and
branch reach $|r| \le 2^{-K_i} \le \alpha_i$. Buckets of different cells are disjoint, so one shared pool
of $m_i$ units per input serves every digit ("batch sampling"), and with the hyperbolic law each bucket
is hit by a unit with the same probability $q_i$ (:func:`bound_bucket_probability`): Theorem H's width is
$m_i = O(K_i\log(K_iN/\delta))$ units per input, a logarithmic factor per target weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lth.theory.dense import DenseTicket, RandomNetwork, Target, block_masks, block_products, realised_layers
from lth.theory.dense_bounds import bound_pool_count, bound_weight_accuracy
from lth.theory.device import generator as make_generator

FIRST_LAYER_RANGE = (0.5, 1.0)  # magnitudes of the a_k: a narrow range makes ln|b a| flat over the buckets
SECOND_LAYER_TOP = 1.5  # largest |b|: with |a| ≥ ½, every bucket up to ¾ lies in the flat part of ln|b a|
BUCKET_TOP = 0.75  # bucket of cell k: [2^{-k-1}, ¾·2^{-k}], inside |r|·[½, 3/2] for every r of the cell


@dataclass(frozen=True)
class HyperbolicLaw:
    r"""$H[\lambda, \mu]$: sign ±1 with probability ½ each, independent of a magnitude with $\ln|w|\sim
    U[\ln\lambda, \ln\mu]$ (density $1/(|w|\ln(\mu/\lambda))$ on $[\lambda, \mu]$)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high or not math.isfinite(self.high):
            raise ValueError(f"a hyperbolic law needs 0 < low <= high < inf, got [{self.low}, {self.high}]")

    @property
    def log_width(self) -> float:
        return math.log(self.high / self.low)

    def sample(self, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
        """I.i.d. draws, float64, of ``shape`` on the generator's device (magnitudes first, then signs)."""
        u = torch.rand(shape, generator=gen, device=gen.device, dtype=torch.float64)
        magnitude = torch.exp(math.log(self.low) + self.log_width * u).clamp(self.low, self.high)
        sign = torch.rand(shape, generator=gen, device=gen.device, dtype=torch.float64) < 0.5
        return torch.where(sign, -magnitude, magnitude)


def bits_for(accuracy: float) -> int:
    """$K$: the least integer with $2^{-K} \\le$ ``accuracy`` (exact: powers of two are float64 numbers)."""
    if not 0 < accuracy < 1:
        raise ValueError(f"accuracy must lie in (0, 1), got {accuracy}")
    bits = 0
    while math.ldexp(1.0, -bits) > accuracy:
        bits += 1
    return bits


def second_layer_law(bits: int) -> HyperbolicLaw:
    """$H[2^{-K}, 3/2]$: the second-layer law of a block whose weights need ``bits`` binary digits."""
    return HyperbolicLaw(math.ldexp(1.0, -bits), SECOND_LAYER_TOP)


FIRST_LAYER_LAW = HyperbolicLaw(*FIRST_LAYER_RANGE)


def construct_hyperbolic_network(widths: list[int], units_per_input: list[int], bits: list[int], seed: int,
                                 device: torch.device | str = "cpu") -> RandomNetwork:
    """The $2l$-layer source for augmented widths ``[d_0, …, d_l]``: block ``i`` draws ``[m_i d_{i−1}, d_{i−1}]``
    from $H[\\tfrac12, 1]$ and ``[d_i, m_i d_{i−1}]`` from $H[2^{-K_i}, \\tfrac32]$, ``K_i = bits[i]``, from one
    seeded generator (same seed and device, same weights)."""
    if not (len(units_per_input) == len(bits) == len(widths) - 1):
        raise ValueError("one units-per-input count and one bit count per target layer are required")
    if any(m < 1 for m in units_per_input) or any(k < 1 for k in bits):
        raise ValueError(f"units per input and bits must be positive, got {units_per_input} and {bits}")
    gen = make_generator(seed, torch.device(device))
    weights = []
    for d_in, d_out, m, k in zip(widths[:-1], widths[1:], units_per_input, bits):
        weights.append(FIRST_LAYER_LAW.sample((m * d_in, d_in), gen))
        weights.append(second_layer_law(k).sample((d_out, m * d_in), gen))
    return RandomNetwork(weights, list(units_per_input), seed)


# ---------------------------------------------------------------------------------------------------
# Rule H: binary decomposition of every weight


def cell_index(residual: torch.Tensor) -> torch.Tensor:
    """$k$ with $2^{-k-1} < |r| \\le 2^{-k}$, per entry of ``residual`` (any shape, non-zero, float64), exactly:
    ``frexp`` gives $|r| = f2^e$, $f\\in[\\tfrac12, 1)$, so $k = -e$, or $1 - e$ when $|r| = 2^{e-1}$."""
    mantissa, exponent = torch.frexp(residual.abs())
    return -exponent.long() + (mantissa == 0.5).long()


def bucket_bounds(cell: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The bucket $[2^{-k-1}, \\tfrac34 2^{-k}]$ of each cell (exact powers of two times ¾)."""
    one = torch.ones_like(cell, dtype=torch.float64)
    return torch.ldexp(one, -cell - 1), BUCKET_TOP * torch.ldexp(one, -cell)


def binary_decomposition(products: torch.Tensor, targets: torch.Tensor, usable: torch.Tensor,
                         tolerance: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Rule H for every weight of one branch at once.

    ``products`` ``[d_out, d_in, m]`` the $b_{rk}a_k$; ``targets`` ``[d_out, d_in]``; ``usable`` ``[d_in, m]``
    the units of the branch. While $|r| >$ ``tolerance``, a weight takes, among its unused usable units
    whose product lies in $\\mathrm{sign}(r)$ times its cell's bucket, the one nearest to $r$; a weight whose
    bucket is empty stops. Returns the chosen units ``[d_out, d_in, m]`` bool and the final residuals
    $r = w - \\sum b a$ ``[d_out, d_in]`` (float64; the certificate recomputes the errors from the masks).
    """
    residual = targets.clone()
    chosen = torch.zeros_like(products, dtype=torch.bool)
    # every step moves a weight to a later cell and cells above log2(1/tolerance) are closed, so a weight
    # of |w| ≤ 2^c takes at most c + bits_for(tolerance) + 1 steps
    top = max(0, math.ceil(math.log2(max(float(targets.abs().max()), 1.0))))
    for _ in range(top + bits_for(tolerance) + 1):
        open_weights = residual.abs() > tolerance
        if not open_weights.any():
            break
        low, high = bucket_bounds(cell_index(torch.where(open_weights, residual, torch.ones_like(residual))))
        aligned = products * torch.sign(residual)[..., None]  # in the bucket iff low ≤ aligned ≤ high
        candidate = (usable[None] & ~chosen & open_weights[..., None]
                     & (aligned >= low[..., None]) & (aligned <= high[..., None]))
        gap = torch.where(candidate, (residual[..., None] - products).abs(),
                          torch.full_like(products, math.inf))
        best = gap.argmin(-1, keepdim=True)
        take = candidate.any(-1)
        if not take.any():
            break
        chosen.scatter_(-1, best, take[..., None] | chosen.gather(-1, best))
        residual = torch.where(take, residual - products.gather(-1, best)[..., 0], residual)
    return chosen, residual


def construct_hyperbolic_ticket(target: Target, net: RandomNetwork, tolerance: list[float], *,
                                signed_input: bool = True) -> DenseTicket:
    """Rule H's masks on ``net`` for ``target``: per block, unit ``k`` keeps its entry for input ``⌊k/m⌋``,
    and each weight's branches are decomposed until their residual is ≤ ``tolerance[i]`` (Theorem H's
    $\\alpha_i$). ``ticket.info``: the largest realised per-weight error of each block and the number of
    weight branches whose bucket ran empty before the tolerance (0 on Theorem H's good event)."""
    matrices = target.augmented()
    if len(net.weights) != 2 * len(matrices) or len(tolerance) != len(matrices):
        raise ValueError(f"network has {len(net.weights)} layers and {len(tolerance)} tolerances, target needs "
                         f"{2 * len(matrices)} and {len(matrices)}")
    masks, signed_all, unfinished = [], [], []
    for i, w in enumerate(matrices):
        w, signed, a, products = block_products(w, net, i, signed_input and i == 0, target.has_bias)
        chosen = torch.zeros_like(products, dtype=torch.bool)
        left = 0
        every = torch.ones_like(signed)
        for usable, needed in ((a > 0, every), ((a < 0) & signed[:, None], signed)):
            branch, residual = binary_decomposition(products, w, usable, tolerance[i])
            chosen |= branch
            left += int(((residual.abs() > tolerance[i]) & needed[None]).sum())
        masks += block_masks(chosen)
        signed_all.append(signed)
        unfinished.append(left)
    ticket = DenseTicket(net, masks, signed_all, target.has_bias)
    layers = realised_layers(target, ticket)
    ticket.info = {"max_weight_error": [float(torch.maximum(layer.err_pos.abs(), layer.err_neg.abs()).max())
                                        for layer in layers],
                   "unfinished_branches": unfinished}
    return ticket


# ---------------------------------------------------------------------------------------------------
# The proven width (Theorem H of proofs/slth_hyperbolic.md)


def bound_bucket_probability(bits: int) -> float:
    r"""$q = \ln\tfrac32 / (4\ln(\tfrac32 2^{K}))$: the probability that one unit of an input serves a given
    branch and signed bucket (sign of $a$: ½; sign of $b$: ½; $\ln|ba|$ has density $1/\ln(\tfrac32 2^K)$
    on $[-K\ln2, \ln\tfrac34]$, which holds every bucket, each of log-length $\ln\tfrac32$)."""
    if bits < 1:
        raise ValueError(f"bits must be positive, got {bits}")
    return math.log(1.5) / (4 * (bits * math.log(2) + math.log(1.5)))


def bound_hyperbolic_pool_failure(units: int, bits: int) -> float:
    """$2K(1-q)^m$: union bound on P(some of the 2K signed buckets of one weight branch is empty)."""
    return 2 * bits * math.exp(units * math.log1p(-bound_bucket_probability(bits)))


def bound_proven_hyperbolic_units_per_input(widths: list[int], eps: float, delta: float,
                                            signed_input: bool = True) -> list[int]:
    r"""Theorem H's $m_i$: the least $m$ with $2K_i(1-q_i)^m \le \delta/N$, $K_i$ = ``bits_for(α_i)``, α_i and
    $N$ those of Theorem P (``bound_weight_accuracy``, ``bound_pool_count``)."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    share = delta / bound_pool_count(widths, signed_input)
    out = []
    for alpha in bound_weight_accuracy(widths, eps, signed_input):
        bits = bits_for(alpha)
        m = max(1, math.ceil(math.log(share / (2 * bits)) / math.log1p(-bound_bucket_probability(bits))))
        while m > 1 and bound_hyperbolic_pool_failure(m - 1, bits) <= share:  # the closed form rounds
            m -= 1
        while bound_hyperbolic_pool_failure(m, bits) > share:
            m += 1
        out.append(m)
    return out


def block_bits(widths: list[int], eps: float, signed_input: bool = True) -> list[int]:
    """$K_i$ of every block: the binary digits its per-weight accuracy α_i needs."""
    return [bits_for(alpha) for alpha in bound_weight_accuracy(widths, eps, signed_input)]


def build_hyperbolic_ticket(target: Target, eps: float, delta: float, *, seed: int,
                            device: torch.device | str = "cpu",
                            units_per_input: list[int] | None = None) -> tuple[RandomNetwork, DenseTicket]:
    """Hyperbolic source at Theorem H's width (or ``units_per_input``) and rule H's ticket for the unbiased
    ``target`` (signed inputs, unit ball), every weight decomposed until it is within Theorem P's α_i."""
    widths = [w.shape[1] for w in target.augmented()] + [target.widths[-1]]
    if units_per_input is None:
        units_per_input = bound_proven_hyperbolic_units_per_input(widths, eps, delta)
    net = construct_hyperbolic_network(widths, units_per_input, block_bits(widths, eps), seed, device)
    dev_target = Target([w.to(device) for w in target.weights],
                        [None if b is None else b.to(device) for b in target.biases])
    return net, construct_hyperbolic_ticket(dev_target, net, bound_weight_accuracy(widths, eps))
