"""Strong lottery tickets for convolutional networks (da Cunha, Natale & Viennot, ICLR 2022).

Objects. A *target layer* is a kernel ``K`` ``[m, c, d, d]`` (torch's cross-correlation layout:
m output channels, c input channels, d×d window, stride 1, no bias) with padding ``valid`` or zero
``same`` (odd d), followed by a ReLU or not (a classifier head). A Linear layer ``[m, c·H·W]`` acting
on a flattened ``[c, H, W]`` map is the valid convolution with a full ``H×W`` window.

The *layer lemma* approximates ``K * X`` on ``X ∈ [0,1]^{c×D×D}`` by pruning two random layers
``U`` ``[m·n, c, d, d]`` and ``V`` ``[m, m·n, 1, 1]`` with i.i.d. U[−1,1] entries:
``g(X) = (V ⊙ T) * σ((U ⊙ S) * X)``. Hidden channels come in m blocks of n; ``T`` connects output o
to block o only, and ``S`` keeps only non-negative entries of U. On ``X ≥ 0`` the ReLU is then the
identity and ``g(X) = L * X`` with the *collapsed kernel*
``L[o,k,i,j] = Σ_{t∈block o} V[o,t]·U[t,k,i,j]·S[t,k,i,j]``. Each entry of K is matched by the best
subset of its pool ``{V[o,t]·U⁺[t,k,i,j] : t ∈ block o}`` (``choose_subsets``: the best over the computed
float64 sums by ``lth.theory.subset_sum.best_subsets`` when no pool has more than ``EXACT_WIDTH`` non-zero
products, blockwise otherwise; all entries in one batch). The single-kernel lemma is the case m = 1.

Certificates. The error ``E * X`` with ``E = L − K`` is linear, so its supremum over the box is exact:
at each output position, the sum of the positive (or of the negative) parts of the coefficients that
touch it; under zero padding border positions see fewer coefficients, so the maximum is taken over
positions (``certify_layer``). For a network of such layers a position-wise float64 propagation bound
is rigorous (``certify_network``). ``search_*`` runs projected gradient ascent over the box.

Supported: stride 1, dilation 1, no bias, padding ``valid`` or zero ``same`` with odd kernels, ReLU
between layers, an optional final layer without ReLU; no pooling. Inputs must lie in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from lth.theory.lueker import bound_lueker_samples
from lth.theory.numerics import TINY, gamma, sum_upper
from lth.theory.objects import Certificate, Witness
from lth.theory.subset_sum import best_subsets, sample_uniform

PADDINGS = ("valid", "same")


@dataclass(frozen=True)
class TargetLayer:
    """One target layer: ``weight`` ``[m, c, d, d]``, padding ``valid``/``same``, ReLU after it or not."""

    weight: torch.Tensor
    padding: str = "valid"
    relu: bool = True

    def __post_init__(self) -> None:
        w = self.weight
        if w.ndim != 4 or w.shape[2] != w.shape[3]:
            raise ValueError(f"a conv target needs a square kernel [m, c, d, d], got {tuple(w.shape)}")
        if not torch.isfinite(w).all():
            raise ValueError("target kernel contains non-finite weights")
        if self.padding not in PADDINGS:
            raise ValueError(f"padding {self.padding!r} is not supported; use one of {PADDINGS} (stride 1)")
        if self.padding == "same" and w.shape[2] % 2 == 0:
            raise ValueError(f"'same' padding needs an odd kernel size, got d={w.shape[2]}")

    @property
    def pad(self) -> int:
        return (self.weight.shape[2] - 1) // 2 if self.padding == "same" else 0

    def out_size(self, size: int) -> int:
        return size + 2 * self.pad - self.weight.shape[2] + 1


def conv(x: torch.Tensor, weight: torch.Tensor, pad: int) -> torch.Tensor:
    """Stride-1 zero-padded cross-correlation: ``x`` ``[B, c, D, D]``, ``weight`` ``[m, c, d, d]``."""
    return F.conv2d(x, weight.to(x.dtype), padding=pad)


def linear_as_conv(weight: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """A Linear weight ``[m, c·H·W]`` on a flattened ``[c, H, W]`` map as a kernel ``[m, c, H, W]``."""
    c, h, w = shape
    if h != w:
        raise ValueError(f"only square feature maps are supported, got {h}×{w}")
    if weight.ndim != 2 or weight.shape[1] != c * h * w:
        raise ValueError(f"Linear weight {tuple(weight.shape)} does not take the flattened map {shape}")
    return weight.reshape(weight.shape[0], c, h, w)


def norm_inf(weight: torch.Tensor) -> float:
    """``max_o Σ |K[o]|``: the operator norm of ``K *`` in the max-norm (attained inside the map)."""
    return float(weight.abs().sum(dim=(1, 2, 3)).max())


# ---------------------------------------------------------------------------------------------- lemma


@dataclass
class LayerTicket:
    """A pruned random pair of layers approximating one target layer.

    ``u`` ``[m·n, c, d, d]`` and ``v`` ``[m, m·n, 1, 1]`` are the random weights, ``s`` and ``t`` the
    boolean supermasks of the same shapes; ``collapsed`` ``[m, c, d, d]`` is ``L`` (float64).
    """

    u: torch.Tensor
    v: torch.Tensor
    s: torch.Tensor
    t: torch.Tensor
    target: TargetLayer
    collapsed: torch.Tensor

    @property
    def n(self) -> int:
        return self.u.shape[0] // self.v.shape[0]

    @property
    def kept(self) -> int:
        """Kept weights: unmasked entries of both random layers."""
        return int(self.s.sum() + self.t.sum())

    @property
    def total(self) -> int:
        """All weights of both random layers."""
        return self.u.numel() + self.v.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(V ⊙ T) * σ((U ⊙ S) * X)``, pre-activation of the target layer: ``[B, c, D, D]`` → ``[B, m, D', D']``."""
        hidden = torch.relu(conv(x, self.u * self.s, self.target.pad))
        return conv(hidden, self.v * self.t, 0)


def sample_random_pair(m: int, c: int, d: int, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """I.i.d. U[−1,1] weights ``U`` ``[m·n, c, d, d]`` and ``V`` ``[m, m·n, 1, 1]`` (float64)."""
    return (sample_uniform((m * n, c, d, d), generator),
            sample_uniform((m, m * n, 1, 1), generator))


def kernel_pools(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Pools ``[m, c, d, d, n]``: entry ``(o,k,i,j,t)`` is ``V[o, o·n+t]·U⁺[o·n+t, k, i, j]``.

    Negative U entries are pruned before any choice (they would switch the ReLU on), so they
    contribute 0.
    """
    m = v.shape[0]
    n = u.shape[0] // m
    block_u = u.clamp(min=0).reshape(m, n, *u.shape[1:])  # [m, n, c, d, d]
    block_v = v[:, :, 0, 0].reshape(m, m, n)[torch.arange(m), torch.arange(m)]  # [m, n] own block
    return (block_v[:, :, None, None, None] * block_u).permute(0, 2, 3, 4, 1)


def construct_layer(target: TargetLayer, n: int, generator: torch.Generator) -> LayerTicket:
    """Draw the random pair and choose supermasks by exact subset sums for every entry at once."""
    m, c, d, _ = target.weight.shape
    u, v = sample_random_pair(m, c, d, n, generator)
    return construct_supermasks(target, u, v)


def construct_supermasks(target: TargetLayer, u: torch.Tensor, v: torch.Tensor, tolerance: float = 0.0) -> LayerTicket:
    """Supermasks for given random weights ``u`` ``[m·n, c, d, d]``, ``v`` ``[m, m·n, 1, 1]``; wide pools
    stop searching once every entry is within ``tolerance`` (:func:`choose_subsets`)."""
    m = target.weight.shape[0]
    if v.shape[:2] != (m, u.shape[0]) or u.shape[0] % m or u.shape[1:] != target.weight.shape[1:]:
        raise ValueError(f"random weights {tuple(u.shape)}, {tuple(v.shape)} do not fit target "
                         f"{tuple(target.weight.shape)}")
    pools = kernel_pools(u, v)
    goal = target.weight.to(device=u.device, dtype=torch.float64)
    chosen = choose_subsets(pools.reshape(-1, pools.shape[-1]), goal.reshape(-1), tolerance).reshape(pools.shape)
    s = chosen.permute(0, 4, 1, 2, 3).reshape(u.shape) & (u >= 0)
    t = connect(s, m)
    return LayerTicket(u, v, s, t, target, collapse(u, v, s, t))


def connect(s: torch.Tensor, m: int) -> torch.Tensor:
    """Mask ``T`` ``[m, m·n, 1, 1]``: output o reads the hidden channels of its own block that keep a U entry."""
    blocks = torch.arange(s.shape[0], device=s.device) // (s.shape[0] // m)
    alive = s.flatten(1).any(1)
    return ((blocks[None, :] == torch.arange(m, device=s.device)[:, None]) & alive[None, :])[:, :, None, None]


EXACT_WIDTH = 40  # pools with at most this many non-zero products are solved exactly (2^20 per half)
BLOCK_WIDTH = 20  # wider pools are solved in value-independent blocks of this many non-zero products


def choose_subsets(pools: torch.Tensor, targets: torch.Tensor, tolerance: float = 0.0) -> torch.Tensor:
    """A subset of each pool for its target: ``pools`` ``[P, n]``, ``targets`` ``[P]`` → mask ``[P, n]``.

    About half of each pool is 0 (pruned negative U entries) and never helps, so the non-zero entries
    are moved to the front (stable: in channel order). If no pool of the batch has more than
    ``EXACT_WIDTH`` of them, the best subset over all is taken (``best_subsets`` costs ``2^{n/2}`` per
    pool; best over the computed float64 sums). Otherwise — the proven channel counts run to
    hundreds — every pool is split into consecutive blocks of ``BLOCK_WIDTH`` non-zero entries, chosen
    by the signs of ``U`` alone, never by the values; each block is solved exactly and each pool keeps
    its best block, stopping once every error is ≤ ``tolerance`` (a search within blocks: Lemma B's
    existence statement over the whole pool does not bound its failures).
    """
    nonzero = pools != 0
    order = torch.argsort((~nonzero).to(torch.int8), dim=1, stable=True)
    width = max(1, int(nonzero.sum(1).max()))
    step = width if width <= EXACT_WIDTH else BLOCK_WIDTH
    compact = torch.gather(pools, 1, order[:, :width])
    mask = torch.zeros_like(compact, dtype=torch.bool)
    error = torch.full_like(targets, math.inf)
    for start in range(0, width, step):
        open_pools = torch.nonzero(error > tolerance).flatten()
        if open_pools.numel() == 0:
            break
        block = compact[open_pools, start:start + step]
        picked = best_subsets(block, targets[open_pools, None]).mask[:, 0] & (block != 0)
        block_error = ((block * picked).sum(1) - targets[open_pools]).abs()
        better = block_error < error[open_pools]
        rows = open_pools[better]
        mask[rows] = False
        mask[rows, start:start + step] = picked[better]
        error[rows] = block_error[better]
    return torch.zeros_like(nonzero).scatter(1, order[:, :width], mask)


def collapse(u: torch.Tensor, v: torch.Tensor, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``L[o,k,i,j] = Σ_t V[o,t]T[o,t]·U[t,k,i,j]S[t,k,i,j]`` ``[m, c, d, d]``, float64.

    Equals the two-layer map on ``X ≥ 0`` only when every kept U entry is non-negative.
    """
    vt = (v * t)[:, :, 0, 0].to(torch.float64)
    us = (u * s).to(torch.float64)
    return torch.einsum("ot,tkij->okij", vt, us)


def flip_mask_entry(ticket: LayerTicket) -> LayerTicket:
    """A deliberately broken ticket: the kept-or-dropped U entry with the largest product flipped."""
    pools = kernel_pools(ticket.u, ticket.v).permute(0, 4, 1, 2, 3).reshape(ticket.u.shape)
    index = int(pools.abs().reshape(-1).argmax())
    s = ticket.s.clone().reshape(-1)
    s[index] = ~s[index]
    s = s.reshape(ticket.s.shape)
    t = connect(s, ticket.v.shape[0])
    return LayerTicket(ticket.u, ticket.v, s, t, ticket.target, collapse(ticket.u, ticket.v, s, t))


# ------------------------------------------------------------------------------------- certificates


def _ones(c: int, size: int, like: torch.Tensor) -> torch.Tensor:
    return torch.ones(1, c, size, size, dtype=torch.float64, device=like.device)


def sup_linear_error(error: torch.Tensor, pad: int, size: int, upper: torch.Tensor | None = None) -> torch.Tensor:
    """``sup_{0 ≤ X ≤ upper} |E * X|`` at every output position, exactly: ``[m, D', D']``.

    ``error`` ``[m, c, d, d]``; ``upper`` ``[c, D, D]`` (default all ones). A linear functional's sup
    over a box ``[0, u]`` is ``Σ pos(coef)·u`` and its inf ``−Σ neg(coef)·u``; convolving ``u`` with the
    positive and negative parts gives both at every position, borders included.
    """
    c = error.shape[1]
    box = _ones(c, size, error) if upper is None else upper[None].to(torch.float64)
    above = F.conv2d(box, error.clamp(min=0), padding=pad)[0]
    below = F.conv2d(box, (-error).clamp(min=0), padding=pad)[0]
    return torch.maximum(above, below)


# What the conv certificates rest on besides float64 arithmetic (proofs/slth_conv.md).
ASSUMPTIONS = ("inputs lie in [0, 1]", "every kept U entry is non-negative (checked), so the hidden ReLU is the "
               "identity on the input box", "stride 1, no bias, zero padding")


def require_nonnegative_kept(ticket: LayerTicket) -> None:
    """Refuse a ticket with a kept negative U entry: the hidden ReLU is then not the identity on X ≥ 0."""
    if bool((ticket.u[ticket.s] < 0).any()):
        raise ValueError("a kept U entry is negative: the ReLU is not the identity and the closed form "
                         "does not apply")


def collapsed_magnitude(ticket: LayerTicket) -> torch.Tensor:
    """``Σ_t |V T|·|U S| + |K|`` ``[m, c, d, d]``: what the float64 error of ``E = L − K`` is a multiple of
    (``L`` is a sum of ``n`` products, proofs/slth_conv.md); ``|L|`` alone can be far smaller."""
    vt = (ticket.v * ticket.t)[:, :, 0, 0].abs().to(torch.float64)
    return (torch.einsum("ot,tkij->okij", vt, (ticket.u * ticket.s).abs().to(torch.float64))
            + ticket.target.weight.to(torch.float64).abs())


def certify_layer(ticket: LayerTicket, size: int) -> Certificate:
    """Rigorous sup over ``X ∈ [0,1]^{c×size×size}`` of ``‖K * X − g(X)‖_max`` for a lemma ticket.

    Requires every kept U entry to be ≥ 0 (then ``g(X) = L * X`` exactly on ``X ≥ 0``). Rounding: L is
    a float64 sum of ≤ n products and E = L − K one more subtraction; the sup sums ≤ c·d² terms. All
    are bounded by ``γ_{n+c·d²+3}`` times the same sums taken over absolute values, plus ``2^-1000`` per
    operation for underflow. ``value`` = ``parts["exact"]`` (the exact sup of the float64 error kernel)
    + ``parts["rounding"]``; ``parts["per_entry_max"]`` is ``max |L − K|``.
    """
    require_nonnegative_kept(ticket)
    weight = ticket.target.weight.to(torch.float64)
    error = ticket.collapsed - weight
    pad = ticket.target.pad
    exact = sup_linear_error(error, pad, size)
    c, d = weight.shape[1], weight.shape[2]
    scale = F.conv2d(_ones(c, size, error), collapsed_magnitude(ticket), padding=pad)[0]
    terms = (ticket.n + 2) * c * d * d
    slack = gamma(ticket.n + c * d * d + 3) * float(scale.max()) * (1 + gamma(c * d * d + 1)) + terms * TINY
    exact_sup = float(exact.max())
    return Certificate(exact_sup + slack, "rigorous", f"[0,1]^(c×{size}×{size})", "max", ASSUMPTIONS,
                       {"exact": exact_sup, "rounding": slack, "per_entry_max": float(error.abs().max())})


def require_relu_between(specs: list[TargetLayer]) -> None:
    """Refuse a non-final layer without ReLU: the next layer would see negative inputs.

    Both the lemma (``g(X) = L * X`` needs ``X ≥ 0``: a kept U entry times a negative input switches
    the hidden ReLU off) and the propagation of :func:`certify_network` (``x' = K⁺ * x`` bounds the
    activations only when they are non-negative) rest on it.
    """
    for index, spec in enumerate(specs[:-1]):
        if not spec.relu:
            raise ValueError(f"hypothesis violated: layer {index} of {len(specs)} has no ReLU after it, so layer "
                             f"{index + 1} gets inputs outside [0, 1]; only the last layer may omit the ReLU")


def bound_network_error(layer_errors: list[float], norms: list[float]) -> float:
    """The theorem's propagation: ``e_{i+1} = ‖K_i‖·e_i + η_i·(1 + e_i)`` from ``e_0 = 0``.

    ``η_i`` is the lemma's sup error on the unit box and ``‖K_i‖`` the max-norm operator norm, ≤ 1 under
    the theorem's hypothesis; inputs to layer i lie in ``[0, 1 + e_i]``.
    """
    e = 0.0
    for eta, norm in zip(layer_errors, norms):
        e = norm * e + eta * (1 + e)
    return e


def certify_network(tickets: list["LayerTicket"], size: int) -> Certificate:
    """Rigorous ``sup_{X∈[0,1]^{c×D×D}} ‖f(X) − g(X)‖_max`` bound, position by position, float64.

    Tracks ``e`` (bound on ``|X_i − X̃_i|``) and ``x`` (bound on ``X_i``; ``X_i ≥ 0`` after a ReLU):
    ``e' = |K| * e + sup_{0≤X̃≤x+e} |E * X̃|`` and ``x' = K⁺ * x``; every float64 sum of non-negative
    terms is rounded up by ``(1 + γ_{k+1})``; the rounding of ``E = L − K`` is ``γ`` times
    :func:`collapsed_magnitude` convolved with ``x + e``. Refuses kept negative U entries.
    ``parts["after_layer"]``: the bound after each layer.
    """
    require_relu_between([ticket.target for ticket in tickets])
    spec = tickets[0].target
    e = torch.zeros(1, spec.weight.shape[1], size, size, dtype=torch.float64, device=spec.weight.device)
    x = torch.ones_like(e)
    history = []
    for ticket in tickets:
        require_nonnegative_kept(ticket)
        weight = ticket.target.weight.to(torch.float64)
        k = weight[0].numel() + 2
        pad = ticket.target.pad
        error = ticket.collapsed - weight
        slack = gamma(ticket.n + weight[0].numel() + 3) * F.conv2d(x + e, collapsed_magnitude(ticket),
                                                                    padding=pad) + (ticket.n + 3) * k * TINY
        propagated = sum_upper(F.conv2d(e, weight.abs(), padding=pad), k)
        fresh = sum_upper(sup_linear_error(error, pad, e.shape[-1], (x + e)[0])[None], k)
        e = sum_upper(propagated + fresh + slack, 3)
        x = sum_upper(F.conv2d(x, weight.clamp(min=0), padding=pad), k)
        history.append(float(e.max()))
    return Certificate(history[-1], "rigorous", f"[0,1]^(c×{size}×{size})", "max", ASSUMPTIONS,
                       {"after_layer": history})


# ------------------------------------------------------------------------------------------ network


@dataclass
class NetworkTicket:
    """Pruned random CNN: one ``LayerTicket`` per target layer, in order; ``scale`` multiplies the output."""

    layers: list[LayerTicket]
    scale: float = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, c, D, D]`` in [0, 1] → ``[B, m_l, D_l, D_l]``: X̃_{i+1} = σ(g_i(X̃_i)), no σ where the target has none."""
        require_unit_box(x)
        return self.scale * forward_layers([(t.forward, t.target.relu) for t in self.layers], x)

    @property
    def kept(self) -> int:
        return sum(t.kept for t in self.layers)

    @property
    def total(self) -> int:
        return sum(t.total for t in self.layers)


def forward_layers(steps, x: torch.Tensor) -> torch.Tensor:
    """Apply ``(layer, relu)`` steps in order to ``x`` ``[B, c, D, D]``."""
    for apply, relu in steps:
        x = apply(x)
        x = torch.relu(x) if relu else x
    return x


def target_forward(specs: list[TargetLayer], x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The target CNN ``X_{i+1} = σ(K_i * X_i)``: ``[B, c, D, D]`` → ``[B, m_l, D_l, D_l]``."""
    return scale * forward_layers([(lambda z, s=s: conv(z, s.weight, s.pad), s.relu) for s in specs], x)


def require_unit_box(x: torch.Tensor) -> None:
    """Inputs outside ``[0,1]`` break the lemma's hypothesis (the ReLU is no longer the identity)."""
    if not torch.isfinite(x).all():
        raise ValueError("inputs contain non-finite values")
    low, high = float(x.detach().min()), float(x.detach().max())
    if low < 0 or high > 1:
        raise ValueError(f"inputs must lie in [0, 1] (the lemma's domain); got values in [{low:.3g}, {high:.3g}]; "
                         "rescale the data to [0, 1]")


def check_layer_norms(specs: list[TargetLayer], rescale: bool) -> tuple[list[TargetLayer], float]:
    """Enforce ``‖K_i‖ ≤ 1`` (max-norm operator norm), or rescale each layer and return the factor.

    ReLU is positively homogeneous, so dividing layer i by ``s_i = max(1, ‖K_i‖)`` divides the network's
    output by ``Π s_i``; the returned factor multiplies it back.
    """
    norms = [norm_inf(s.weight) for s in specs]
    # A layer normalised in float64 may sum to 1 + a few ulps; the certificates use the actual |K|.
    too_big = [(i, v) for i, v in enumerate(norms) if v > 1 + 1e-12]
    if too_big and not rescale:
        listed = ", ".join(f"layer {i}: {v:.3g}" for i, v in too_big)
        raise ValueError(f"the theorem needs max_o Σ|K_i[o]| ≤ 1 for every layer ({listed}); "
                         "pass rescale=True (--rescale) to divide each layer by its norm")
    factors = [max(1.0, v) for v in norms]
    scaled = [TargetLayer(s.weight / f, s.padding, s.relu) for s, f in zip(specs, factors)]
    return scaled, math.prod(factors)


def construct_network(specs: list[TargetLayer], eps: float, size: int, generator: torch.Generator,
                      n_range: tuple[int, int] = (4, 32), progress: bool = False) -> NetworkTicket:
    """Prune a random CNN so that each layer's lemma error on the unit box is ≤ ε/(2l).

    For each layer the random pair is drawn once with ``n_max`` channels per block and the first n of
    each block are used, n growing from ``n_min`` until the certified lemma error is ≤ ε/(2l)
    (``construct_layer_to``), beyond ``n_max`` up to the proven count where a draw needs it. Raises
    ``RuntimeError`` only if the proven count fails too: Lemma B's bad event (probability ≤ ε/(2l)) or the
    blockwise solver missing subsets that exist (not bounded by Lemma B). Layers must satisfy
    ``‖K_i‖ ≤ 1`` (see ``check_layer_norms``).
    """
    if not 0 < eps < 1:
        raise ValueError(f"eps must lie in (0, 1), got {eps}")
    require_relu_between(specs)
    check_layer_norms(specs, rescale=False)
    per_layer = eps / (2 * len(specs))
    tickets = []
    for index, spec in enumerate(tqdm(specs, desc="layers", leave=False, disable=not progress)):
        ticket = construct_layer_to(spec, per_layer, size, generator, n_range)
        if ticket is None:
            raise RuntimeError(f"layer {index}: even the proven {bound_proven_channels(spec, per_layer)} channels "
                               f"per kernel do not certify the lemma error {per_layer:.3g} on this draw "
                               "(Lemma B's bad event, probability ≤ that error, or the blockwise subset "
                               "search missed subsets that exist); try another seed")
        tickets.append(ticket)
        size = spec.out_size(size)
    return NetworkTicket(tickets)


def estimate_layer_error(spec: TargetLayer, n: int, generator: torch.Generator, entries: int = 256) -> float:
    """Sampled estimate of the lemma's sup error on ``[0,1]^{c×D×D}`` for ``spec`` at ``n`` channels.

    Solves the subset sums of up to ``entries`` randomly chosen kernel entries (fresh random pools of
    n products ``V·U⁺``) and multiplies their mean |error| by ``c·d²``, the coefficients an interior
    output position sums. Cheap (one small batch) and not a bound: the certificate's max over outputs
    is usually larger, so a layer estimated above its tolerance will not reach it.
    """
    m, c, d, _ = spec.weight.shape
    flat = spec.weight.reshape(-1).to(device=generator.device, dtype=torch.float64)
    picked = torch.randperm(flat.numel(), generator=generator, device=generator.device)[:entries]
    u = sample_uniform((picked.numel(), n), generator).clamp(min=0)
    v = sample_uniform((picked.numel(), n), generator)
    pools = u * v
    mask = choose_subsets(pools, flat[picked])
    error = ((pools * mask).sum(1) - flat[picked]).abs()
    return float(error.mean()) * c * d * d


def first_channels(u: torch.Tensor, v: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n hidden channels of every block of a random pair: ``[m·n, c, d, d]``, ``[m, m·n, 1, 1]``.

    Pools for different n are then nested, so each entry's best subset error is non-increasing in n.
    """
    m = v.shape[0]
    width = u.shape[0] // m
    if not 1 <= n <= width:
        raise ValueError(f"n={n} outside 1..{width}")
    rows = (torch.arange(m, device=u.device)[:, None] * width + torch.arange(n, device=u.device)).reshape(-1)
    return u[rows], v[:, rows]


def bound_proven_channels(spec: TargetLayer, eta: float) -> int:
    """The layer lemma's proven channels per kernel for accuracy ``eta``: $n^\\star(\\delta')$ at
    $\\delta' = \\eta/(m c d^2)$ (Lemma B, union bound over the $mcd^2$ entries; proofs/slth_conv.md)."""
    m, c, d, _ = spec.weight.shape
    return bound_lueker_samples(eta / (m * c * d * d), "product", (-1.0, 1.0))


def construct_layer_to(spec: TargetLayer, eta: float, size: int, generator: torch.Generator,
                       n_range: tuple[int, int]) -> LayerTicket | None:
    """The smallest n in ``n_range`` whose certified lemma error on ``[0,1]^{c×size×size}`` is ≤ η; where
    the draw needs more, n grows up to the proven count :func:`bound_proven_channels`.

    One random pair is drawn with ``n_max`` channels per block; candidate n uses the first n of each
    block (nested pools), growing one at a time: the cost of a try grows geometrically with n, so
    the scan costs a few times the final try. If no n in the range certifies, a second pair is
    drawn with the proven count per block and n doubles from ``2·n_max`` up to it (a wider random
    network, not a second chance at the same one). Returns None only if even the proven count does
    not certify: Lemma B's bad event (probability ≤ η) or the blockwise search of ``choose_subsets``
    missing subsets of the whole pool that exist (Lemma B bounds existence, not this search).
    """
    m, c, d, _ = spec.weight.shape
    n_min, n_max = n_range
    tolerance = eta / (c * d * d)
    u, v = sample_random_pair(m, c, d, n_max, generator)
    for n in range(n_min, n_max + 1):
        ticket = construct_supermasks(spec, *first_channels(u, v, n), tolerance)
        if certify_layer(ticket, size).value <= eta:
            return ticket
    proven = bound_proven_channels(spec, eta)
    if proven <= n_max:
        return None
    u, v = sample_random_pair(m, c, d, proven, generator)
    n = n_max
    while n < proven:
        n = min(2 * n, proven)
        ticket = construct_supermasks(spec, *first_channels(u, v, n), tolerance)
        if certify_layer(ticket, size).value <= eta:
            return ticket
    return None


def flatten_specs(layers: list[tuple[str, torch.Tensor, str]], input_shape: tuple[int, int, int]) -> list[TargetLayer]:
    """Target specs from ``(kind, weight, padding)`` with kind ``conv`` (4-D) or ``linear`` (2-D).

    The map is flattened (torch's channel-major order) before the first Linear; every layer but the
    last is followed by a ReLU.
    """
    specs = []
    c, size = input_shape[0], input_shape[1]
    for index, (kind, weight, padding) in enumerate(layers):
        last = index == len(layers) - 1
        if kind == "conv":
            if weight.ndim != 4:
                raise ValueError(f"layer {index}: a conv weight must be 4-D, got {tuple(weight.shape)}")
            spec = TargetLayer(weight, padding, relu=not last)
        elif kind == "linear":
            spec = TargetLayer(linear_as_conv(weight, (c, size, size)), "valid", relu=not last)
        else:
            raise ValueError(f"layer {index}: unsupported layer kind {kind!r} (conv, linear)")
        if spec.weight.shape[1] != c:
            raise ValueError(f"layer {index}: expects {spec.weight.shape[1]} input channels, gets {c}")
        specs.append(spec)
        c, size = spec.weight.shape[0], spec.out_size(size)
        if size < 1:
            raise ValueError(f"layer {index}: the kernel is larger than its {size}-pixel input")
    return specs


@dataclass
class TicketReport:
    """What ``construct_cnn_ticket`` returns, in the network's units: the ticket, its float64 certificate
    (``parts["normalised"]``: the value for the normalised layers), the theorem's recursion bound and
    the worst input a search found; ``layer_errors`` are the lemma certificates of the normalised layers."""

    ticket: NetworkTicket
    eps: float
    certificate: Certificate
    theorem_bound: float
    witness: Witness
    layer_errors: list[float]
    channels: list[int]
    target_size: int


def construct_cnn_ticket(layers: list[tuple[str, torch.Tensor, str]], input_shape: tuple[int, int, int],
                         eps: float, generator: torch.Generator, *, rescale: bool = False,
                         n_range: tuple[int, int] = (4, 32), restarts: int = 16, steps: int = 60,
                         progress: bool = False) -> TicketReport:
    """Ticket + certificate for a user CNN given as ``(kind, weight, padding)`` layers.

    ``input_shape`` ``(c, D, D)``; inputs must lie in [0, 1]. ``eps`` is the target sup error over the
    input box in the network's own units; with ``rescale`` the layers are normalised and the
    construction aims at ``eps / factor`` (which must lie in (0, 1)). The certificate, the theorem's
    bound and the searched error are in the network's units. Weights become float64 on the
    generator's device.
    """
    specs = flatten_specs([(k, w.to(generator.device, torch.float64), p) for k, w, p in layers], input_shape)
    specs, factor = check_layer_norms(specs, rescale)
    if not 0 < eps / factor < 1:
        raise ValueError(f"eps / rescaling factor = {eps:g} / {factor:.6g} must lie in (0, 1)")
    ticket = construct_network(specs, eps / factor, input_shape[1], generator, n_range, progress)
    ticket.scale = factor
    normalised = certify_network(ticket.layers, input_shape[1])
    certificate = replace(normalised, value=factor * normalised.value,
                          parts={**normalised.parts, "normalised": normalised.value})
    errors = []
    size = input_shape[1]
    for layer in ticket.layers:
        errors.append(certify_layer(layer, size).value)
        size = layer.target.out_size(size)
    norms = [norm_inf(s.weight) for s in specs]
    witness = search_max_error(lambda x: target_forward(specs, x, factor), ticket.forward, input_shape,
                               generator, restarts, steps)
    return TicketReport(ticket, eps, certificate, factor * bound_network_error(errors, norms), witness,
                        errors, [t.n for t in ticket.layers], sum(s.weight.numel() for s in specs))


# ------------------------------------------------------------------------------------------- search


def search_max_error(target, approx, shape: tuple[int, int, int], generator: torch.Generator,
                     restarts: int = 16, steps: int = 60, lr: float = 0.1) -> Witness:
    """Empirical ``max ‖target(X) − approx(X)‖_max`` over ``X ∈ [0,1]^shape`` by projected signed-gradient
    ascent from ``restarts`` random starts (a lower bound on the supremum). Both maps take ``[B, *shape]``.
    Returns the worst input found ``[*shape]`` (CPU) and its error.
    """
    x = torch.rand((restarts, *shape), generator=generator, device=generator.device, dtype=torch.float64)
    best = Witness(x[0].clone(), 0.0)

    def keep_worst(points: torch.Tensor, gap: torch.Tensor) -> Witness:
        top = int(gap.argmax())
        return Witness(points[top].detach().clone(), float(gap[top])) if float(gap[top]) > best.error else best

    for step in range(steps + 1):
        x.requires_grad_(True)
        gap = (target(x) - approx(x)).abs().flatten(1).max(dim=1).values  # [restarts]
        best = keep_worst(x, gap.detach())
        if step == steps:
            break
        (grad,) = torch.autograd.grad(gap.sum(), x)
        x = (x.detach() + lr * grad.sign()).clamp(0, 1)
    corners = (x.detach() > 0.5).to(torch.float64)  # linear pieces peak at vertices
    with torch.no_grad():
        best = keep_worst(corners, (target(corners) - approx(corners)).abs().flatten(1).max(dim=1).values)
    return Witness(best.x.cpu(), best.error)


# ----------------------------------------------------------------------------- the ticket as a module


def ticket_modules(ticket: NetworkTicket) -> list[dict]:
    """Plain module list of the pruned CNN: Conv2d (no bias), ReLU, the rescaling 1×1 Conv2d, Flatten."""
    modules = []
    for layer in ticket.layers:
        hidden, c, d, _ = layer.u.shape
        m = layer.v.shape[0]
        modules += [{"kind": "Conv2d", "in": c, "out": hidden, "kernel": d, "padding": layer.target.pad},
                    {"kind": "ReLU"}, {"kind": "Conv2d", "in": hidden, "out": m, "kernel": 1, "padding": 0}]
        if layer.target.relu:
            modules.append({"kind": "ReLU"})
    m = ticket.layers[-1].v.shape[0]
    modules += [{"kind": "Conv2d", "in": m, "out": m, "kernel": 1, "padding": 0}, {"kind": "Flatten"}]
    return modules


def build_modules(modules: list[dict]) -> torch.nn.Sequential:
    """``torch.nn.Sequential`` (float64) from a ``ticket_modules`` list."""
    built = []
    for spec in modules:
        if spec["kind"] == "Conv2d":
            built.append(torch.nn.Conv2d(spec["in"], spec["out"], spec["kernel"], padding=spec["padding"],
                                         bias=False, dtype=torch.float64))
        else:
            built.append(getattr(torch.nn, spec["kind"])())
    return torch.nn.Sequential(*built)


def ticket_sequential(ticket: NetworkTicket) -> torch.nn.Sequential:
    """The ticket as a plain float64 ``torch.nn.Sequential`` (CPU): pruned random convolutions, ReLUs, and a
    final diagonal 1×1 convolution multiplying by the rescaling factor; output ``[B, m_l·D_l·D_l]``."""
    modules = ticket_modules(ticket)
    sequential = build_modules(modules)
    convs = [module for module in sequential if isinstance(module, torch.nn.Conv2d)]
    with torch.no_grad():
        for i, layer in enumerate(ticket.layers):
            convs[2 * i].weight.copy_((layer.u * layer.s).cpu())
            convs[2 * i + 1].weight.copy_((layer.v * layer.t).cpu())
        m = ticket.layers[-1].v.shape[0]
        convs[-1].weight.copy_(ticket.scale * torch.eye(m, dtype=torch.float64)[:, :, None, None])
    return sequential
