r"""Strong lottery tickets at depth $L+1$ (after Burkholz, NeurIPS 2022): one extra layer instead of $L$.

The objects (proofs/slth_depth.md). An unbiased *target* $f(x) = W_L\varphi(\dots\varphi(W_1x))$,
$W_l\in\mathbb{R}^{d_l\times d_{l-1}}$, with activation $\varphi$ = ReLU or tanh (:data:`ACTIVATIONS`).

The *source network* has $L+1$ layers, no biases, i.i.d. uniform entries:

* layer 0, $A\in\mathbb{R}^{\rho_0d_0\times d_0}$, entries $U[-\lambda, \lambda]$: unit $k$ is meant to read
  input $\lfloor k/\rho_0\rfloor$ only (a *univariate* layer);
* layer 1, $M_1\in\mathbb{R}^{\rho_1d_1\times\rho_0d_0}$, entries $U[-1/\lambda, 1/\lambda]$: row $i\rho_1 + c$ is
  *copy* $c$ of target neuron $i$ of layer 1;
* layer $l = 2..L-1$, $M_l\in\mathbb{R}^{\rho_ld_l\times\rho_{l-1}d_{l-1}}$, entries $U[-1, 1]$: copies again;
* layer $L$, $M_L\in\mathbb{R}^{d_L\times\rho_{L-1}d_{L-1}}$, entries $U[-1, 1]$: the outputs (no copies).

$\varphi$ follows every layer but the last. $\lambda = 1$ for ReLU; for tanh a small $\lambda$ keeps the
univariate layer in tanh's linear regime, $|\tanh t - t|\le|t|^3/3$.

The *ticket*. Copy $(i, c)$ of layer 1 keeps, for every input $j$, a subset of the $\rho_0$ units of $j$
whose products $M_{(ic),k}a_k$ sum to $\approx w_{ij}$ (ReLU: one subset among units with $a_k > 0$ for
$x_j\ge0$ and one among $a_k<0$ for $x_j < 0$, as in Pensia et al.; tanh: one subset of all units). A
copy of layer $l\ge2$ (or an output) keeps, for every neuron $j$ of layer $l-1$, a subset of the
$\rho_{l-1}$ copies of $j$ whose weights sum to $\approx w_{ij}$: since every copy computes $\approx z_j$,
the target's layer is one source layer. Pools are searched by pool rule B of proofs/slth_dense.md
(:func:`search_blocks`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from lth.theory.certify import PerturbedLayer, frobenius_upper, relu_deviation_range, separable_error_range
from lth.theory.dense import DEFAULT_POOL_CAP, Domain, Target, compact_sequential, domain_samples
from lth.theory.dense_bounds import HALF_BELOW, UNIT_INTERVAL
from lth.theory.device import generator as make_generator
from lth.theory.lueker import bound_lueker_samples
from lth.theory.numerics import LIBM_MARGIN, TINY, gamma, interval_matvec, round_down, round_up, sum_upper, up
from lth.theory.objects import Certificate, Witness, ascend
from lth.theory.subset_sum import best_subsets, sample_uniform


@dataclass(frozen=True)
class Activation:
    """An activation of the class the construction needs (proofs/slth_depth.md, "The activation class").

    ``homogeneous``: $\\varphi(at) = a\\varphi(t)$ for $a > 0$ and $\\varphi(t) = 0$ for $t \\le 0$ (ReLU): the
    univariate layer is exact on each sign branch. Otherwise ``cubic`` $c$ with $|\\varphi(t) - t|\\le c|t|^3$
    for all real $t$ (tanh: $c = 1/3$), and $\\varphi$ is increasing with $0 < \\varphi' \\le 1$, $|\\varphi(t)|\\le 1$.
    Both are 1-Lipschitz with $|\\varphi(t)|\\le|t|$.
    """

    name: str
    homogeneous: bool
    cubic: float = 0.0

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return torch.relu(t) if self.homogeneous else torch.tanh(t)

    def module(self) -> torch.nn.Module:
        return torch.nn.ReLU() if self.homogeneous else torch.nn.Tanh()

    def output_bound(self, pre: float) -> float:
        """Bound on $|\\varphi(t)|$ given $|t| \\le$ ``pre``."""
        return pre if self.homogeneous else min(1.0, pre)


ACTIVATIONS = {"relu": Activation("relu", True), "tanh": Activation("tanh", False, 1.0 / 3.0)}


def activation(name: str) -> Activation:
    """The activation registered under ``name`` in :data:`ACTIVATIONS` (ValueError for another name)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} not in {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def evaluate_target(target: Target, act: Activation, x: torch.Tensor) -> torch.Tensor:
    """``x`` ``[B, d_0]`` → ``[B, d_L]``: the unbiased target with activation ``act``."""
    for i, w in enumerate(target.weights):
        x = x @ w.T.to(x)
        if i < target.depth - 1:
            x = act(x)
    return x


def _require_unbiased(target: Target) -> None:
    if target.has_bias:
        raise ValueError("the depth-(L+1) construction here is built for unbiased targets (proofs/slth_depth.md)")


def rows_per_layer(widths: list[int], copies: list[int]) -> list[int]:
    """Rows of source layers 1..L: $\\rho_ld_l$ copies for $l < L$, $d_L$ outputs."""
    depth = len(widths) - 1
    return [copies[l] * widths[l] if l < depth else widths[l] for l in range(1, depth + 1)]


@dataclass
class DepthNetwork:
    """``weights``: the $L+1$ matrices ``[A, M_1, …, M_L]`` (float64); ``copies`` $[\\rho_0, …, \\rho_{L-1}]$;
    ``scale`` $\\lambda$."""

    weights: list[torch.Tensor]
    copies: list[int]
    scale: float
    seed: int

    @property
    def parameters(self) -> int:
        return sum(m.numel() for m in self.weights)

    @property
    def widths(self) -> list[int]:
        """Units of each hidden layer, then the outputs."""
        return [m.shape[0] for m in self.weights]


def construct_depth_network(widths: list[int], copies: list[int], scale: float, seed: int,
                            device: torch.device | str = "cpu") -> DepthNetwork:
    """The $(L+1)$-layer source for target widths ``[d_0, …, d_L]``, from one seeded generator."""
    depth = len(widths) - 1
    if depth < 1 or len(copies) != depth or any(int(c) != c or c < 1 for c in copies):
        raise ValueError(f"one positive copy count per layer 0..L-1 is required, got {copies} for widths {widths}")
    if not (math.isfinite(scale) and 0 < scale <= 1):
        raise ValueError(f"scale λ must lie in (0, 1], got {scale}")
    gen = make_generator(seed, torch.device(device))
    rows = rows_per_layer(widths, copies)
    weights = [sample_uniform((copies[0] * widths[0], widths[0]), gen, -scale, scale),
               sample_uniform((rows[0], copies[0] * widths[0]), gen, -1 / scale, 1 / scale)]
    for l in range(2, depth + 1):
        weights.append(sample_uniform((rows[l - 1], copies[l - 1] * widths[l - 1]), gen))
    return DepthNetwork(weights, list(copies), float(scale), seed)


@dataclass
class DepthTicket:
    """Masks on a :class:`DepthNetwork` (``masks[l]`` bool, shaped like ``network.weights[l]``)."""

    network: DepthNetwork
    masks: list[torch.Tensor]
    act: Activation
    info: dict = field(default_factory=dict)

    @property
    def kept(self) -> int:
        return int(sum(int(m.sum()) for m in self.masks))

    @property
    def total(self) -> int:
        return self.network.parameters

    def masked_weights(self) -> list[torch.Tensor]:
        return [torch.where(m, w, torch.zeros((), dtype=w.dtype, device=w.device))
                for w, m in zip(self.network.weights, self.masks)]

    def sequential(self) -> torch.nn.Sequential:
        """The pruned network as ``torch.nn.Sequential`` of bias-free Linear layers and the activation.

        Hidden units that no later layer reads are left out: their outputs only ever meet pruned
        (zero) weights, so the function is the pruned network's, at a fraction of its width.
        """
        return compact_sequential(self.masked_weights(), self.masks, self.act.module)


def search_blocks(products: torch.Tensor, targets: torch.Tensor, usable: torch.Tensor, pool_cap: int,
                  tolerance: float) -> torch.Tensor:
    """Pool rule B (proofs/slth_dense.md): for every row and input ``j``, the usable units of ``j`` in index
    order, in consecutive blocks of ``pool_cap``; each block is solved exactly (``best_subsets``) and each
    weight keeps its best, until its error is ≤ ``tolerance``. The blocks depend on ``usable`` only
    (signs of layer-0 weights), never on the values searched.

    ``products`` ``[R, d_in, m]``, ``targets`` ``[R, d_in]``, ``usable`` ``[d_in, m]`` bool (the same units
    serve every row: rows are copies). Returns the chosen units ``[R, d_in, m]`` bool.
    """
    rows, d_in, m = products.shape
    chosen = torch.zeros_like(products, dtype=torch.bool)
    for j in range(d_in):
        units = usable[j].nonzero().flatten()
        pool, goal = products[:, j], targets[:, j]
        error = torch.full_like(goal, math.inf)
        best_block = torch.full((rows,), -1, dtype=torch.long, device=products.device)
        best_mask = torch.zeros(rows, pool_cap, dtype=torch.bool, device=products.device)
        starts = range(0, units.numel(), pool_cap)
        for start in starts:
            open_rows = (error > tolerance).nonzero().flatten()
            if open_rows.numel() == 0:
                break
            block = units[start:start + pool_cap]
            values = pool[:, block][open_rows]
            mask = best_subsets(values, goal[open_rows, None]).mask[:, 0, :]
            found = ((values * mask).sum(-1) - goal[open_rows]).abs()
            better = found < error[open_rows]
            improved = open_rows[better]
            error[improved], best_block[improved] = found[better], start
            best_mask[improved, :block.numel()] = mask[better]
        for start in starts:
            block = units[start:start + pool_cap]
            won = (best_block == start).nonzero().flatten()
            chosen[won[:, None], j, block[None]] = best_mask[won, :block.numel()]
    return chosen


def _first_layer_values(network: DepthNetwork, d0: int) -> torch.Tensor:
    """``a`` ``[d_0, ρ_0]``: ``a[j, t]`` = the entry of unit ``j·ρ_0 + t`` for its home input ``j``."""
    rho = network.copies[0]
    return network.weights[0].reshape(d0, rho, d0).diagonal(dim1=0, dim2=2).T


def construct_depth_ticket(target: Target, network: DepthNetwork, act: Activation, *,
                           pool_cap: int = DEFAULT_POOL_CAP, tolerance: list[float] | None = None) -> DepthTicket:
    """The proof's masks on ``network`` for the unbiased ``target`` (module docstring).

    ``tolerance[l-1]``: pool rule B stops searching a weight of layer ``l`` once its error is ≤ this
    (default 0: every block). Units and copies that no later layer uses are pruned with their inputs.
    """
    _require_unbiased(target)
    widths, depth = target.widths, target.depth
    if len(network.weights) != depth + 1 or len(network.copies) != depth:
        raise ValueError(f"source has {len(network.weights)} layers, the target needs {depth + 1}")
    rows = rows_per_layer(widths, network.copies)
    masks = [torch.zeros_like(m, dtype=torch.bool) for m in network.weights]
    for l in range(1, depth + 1):
        w = target.weights[l - 1].to(network.weights[l])
        m, d_in, rho = network.weights[l], widths[l - 1], network.copies[l - 1]
        if m.shape != (rows[l - 1], rho * d_in):
            raise ValueError(f"layer {l}: source shape {tuple(m.shape)} does not fit target layer {tuple(w.shape)}")
        repeat = network.copies[l] if l < depth else 1
        targets = w.repeat_interleave(repeat, dim=0)  # row i·ρ_l + c: copy c of neuron i
        tol = 0.0 if tolerance is None else tolerance[l - 1]
        if l == 1:
            a = _first_layer_values(network, d_in)
            products = m.reshape(rows[0], d_in, rho) * a[None]
            branches = (a > 0, a < 0) if act.homogeneous else (torch.ones_like(a, dtype=torch.bool),)
            chosen = torch.zeros_like(products, dtype=torch.bool)
            for usable in branches:
                chosen |= search_blocks(products, targets, usable, pool_cap, tol)
        else:
            usable = torch.ones(d_in, rho, dtype=torch.bool, device=m.device)
            chosen = search_blocks(m.reshape(rows[l - 1], d_in, rho), targets, usable, pool_cap, tol)
        masks[l] = chosen.reshape(m.shape)
    for l in range(depth, 1, -1):  # a copy no later row reads is not needed: prune its inputs
        masks[l - 1] &= masks[l].any(0)[:, None]
    used = masks[1].any(0)
    unit = torch.arange(used.numel(), device=used.device)
    masks[0][unit, unit // network.copies[0]] = used
    ticket = DepthTicket(network, masks, act)
    layers = realised_layers(target, ticket)
    ticket.info = {"max_weight_error": [float(torch.maximum(r.err_pos.abs(), r.err_neg.abs())[r.used].max())
                                        for r in layers]}
    return ticket


@dataclass
class RealisedLayer:
    """Source layer ``l ≥ 1`` of a ticket against target layer ``l`` (rows: copies or outputs).

    Pre-activation of row ``r`` minus the target's pre-activation of its neuron equals, exactly,
    layer 1: ``err_pos @ x⁺ − err_neg @ x⁻`` plus a remainder of modulus ≤ ``remainder @ |x|³``;
    layer ≥ 2: ``err_pos @ z + kept @ d`` (``z`` the target's activations, ``d`` the previous copies'
    deviations; ``err_neg`` = ``err_pos``). Stored errors are within ``slack`` of the true ones.
    ``neuron[r]``: the target neuron row ``r`` copies; ``used[r]``: whether a later layer reads row ``r``
    (every output row is used; an unused copy's deviation is multiplied by pruned weights only).
    """

    weight: torch.Tensor
    err_pos: torch.Tensor
    err_neg: torch.Tensor
    slack: torch.Tensor
    neuron: torch.Tensor
    used: torch.Tensor
    kept: torch.Tensor | None = None
    remainder: torch.Tensor | None = None


def realised_layers(target: Target, ticket: DepthTicket) -> list[RealisedLayer]:
    """The error matrices of every source layer, read from the masks and weights alone (a tampered mask
    shows up). Raises ``ValueError`` when a kept unit of layer 0 reads more than one input."""
    widths, depth, act = target.widths, target.depth, ticket.act
    weights = ticket.masked_weights()
    copies = ticket.network.copies
    out = []
    for l in range(1, depth + 1):
        w = target.weights[l - 1].to(weights[l])
        repeat = copies[l] if l < depth else 1
        neuron = torch.arange(w.shape[0], device=w.device).repeat_interleave(repeat)
        used = ticket.masks[l + 1].any(0) if l < depth else torch.ones_like(neuron, dtype=torch.bool)
        wide = w[neuron]
        if l == 1:
            first, second = weights[0], weights[1]
            if int(ticket.masks[0].sum(1).max()) > 1:
                raise ValueError("layer 0: a kept unit reads more than one input")
            a = first.sum(1)  # [h]: the single kept weight of each unit (0 if none)
            reads = first.abs().argmax(1)
            terms = int(torch.bincount(reads, minlength=widths[0]).max())

            def per_input(values: torch.Tensor) -> torch.Tensor:
                return torch.zeros(second.shape[0], widths[0], dtype=second.dtype,
                                   device=second.device).index_add_(1, reads, values)

            pos, neg = per_input(second * a.clamp(min=0)), per_input(second * a.clamp(max=0))
            slack = gamma(terms + 3) * (per_input((second * a).abs()) + wide.abs())
            remainder = None
            if act.homogeneous:
                err_pos, err_neg = pos - wide, neg - wide
            else:
                err_pos = err_neg = pos + neg - wide
                slack = slack * 2  # pos + neg adds one more rounding per entry
                cubes = per_input(second.abs() * a.abs() ** 3)
                remainder = round_up(sum_upper(cubes, terms + 4) * up(act.cubic))
            out.append(RealisedLayer(wide, err_pos, err_neg, slack, neuron, used, None, remainder))
        else:
            kept = weights[l]
            rho = copies[l - 1]
            sums = kept.reshape(kept.shape[0], widths[l - 1], rho).sum(-1)
            slack = gamma(rho + 2) * (kept.abs().reshape(kept.shape[0], widths[l - 1], rho).sum(-1) + wide.abs())
            err = sums - wide
            out.append(RealisedLayer(wide, err, err, slack, neuron, used, kept))
    return out


def _outward(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Widen an enclosure computed by a library function (tanh) by :data:`LIBM_MARGIN` and one ulp."""
    return (round_down(lo - lo.abs() * LIBM_MARGIN - TINY), round_up(hi + hi.abs() * LIBM_MARGIN + TINY))


def _activation_step(act: Activation, u_lo, u_hi, v_lo, v_hi, neuron):
    """Target activations ``z`` ⊇ φ([u]) per neuron, and copy deviations ``d`` ⊇ φ(u + v) − φ(u) per row.

    ReLU: 0 where both are inactive, ``v`` where both are active, else between min(v, 0) and max(v, 0).
    tanh: φ(u+v) − φ(u) = φ'(ξ)v with 0 < φ'(ξ) ≤ K, K the largest slope on the hull of u and u + v
    (tanh' = 1 − tanh² is largest where |t| is least).
    """
    ul, uh = u_lo[neuron], u_hi[neuron]
    if act.homogeneous:
        return u_lo.clamp(min=0), u_hi.clamp(min=0), *relu_deviation_range(ul, uh, v_lo, v_hi)
    t_lo, t_hi = round_down(ul + v_lo.clamp(max=0)), round_up(uh + v_hi.clamp(min=0))
    nearest = torch.clamp(torch.zeros_like(t_lo), t_lo, t_hi).abs()
    tanh_low = (torch.tanh(nearest) * (1 - LIBM_MARGIN) - TINY).clamp(min=0)
    slope = round_up(1 - round_down(tanh_low * tanh_low)).clamp(max=1.0)
    d_lo, d_hi = round_down(slope * v_lo.clamp(max=0)), round_up(slope * v_hi.clamp(min=0))
    z_lo, z_hi = _outward(torch.tanh(u_lo), torch.tanh(u_hi))
    return z_lo.clamp(min=-1.0), z_hi.clamp(max=1.0), d_lo, d_hi


# What certify_sup_error rests on besides float64 arithmetic (proofs/slth_depth.md).
ASSUMPTIONS = ("every kept unit of layer 0 reads one input (else the value is inf)",
               "tanh: |tanh t − t| ≤ |t|³/3 and 0 < tanh' ≤ 1; library tanh within LIBM_MARGIN relative",
               "the target is the unbiased one the ticket was built for, with the ticket's activation")


def certify_sup_error(target: Target, ticket: DepthTicket, domain: Domain) -> Certificate:
    """Rigorous float64 bound on $\\sup_{x\\in D}\\lVert f(x) - \\tilde g(x)\\rVert_2$ by interval propagation.

    A ball of radius $r$ is enclosed in the box $[-r, r]^{d_0}$ (the value bounds the sup over that box).
    Per layer: the target's pre-activations ``u`` (interval) and every row's deviation ``v`` from them
    (:class:`RealisedLayer`), then :func:`_activation_step`. ``parts``: the largest deviation per layer.
    """
    _require_unbiased(target)
    try:
        layers = realised_layers(target, ticket)
    except ValueError as exc:
        return Certificate(math.inf, "rigorous", domain.describe(), "l2", ASSUMPTIONS, {"reason": str(exc)})
    device = layers[0].weight.device
    d0 = target.widths[0]
    if domain.kind == "ball":
        lo = torch.full((d0,), -domain.radius, dtype=torch.float64, device=device)
        hi = -lo
    else:
        if len(domain.lo) != d0:
            raise ValueError(f"box has {len(domain.lo)} coordinates, the target has {d0} inputs")
        lo = torch.tensor(domain.lo, dtype=torch.float64, device=device)
        hi = torch.tensor(domain.hi, dtype=torch.float64, device=device)
    magnitude = torch.maximum(lo.abs(), hi.abs())
    first = layers[0]
    v_lo, v_hi = separable_error_range(PerturbedLayer(first.weight, first.err_pos, first.err_neg, first.slack,
                                                      first.slack), lo, hi)
    if first.remainder is not None:
        cube = round_up(round_up(magnitude * magnitude) * magnitude)
        spread = sum_upper(first.remainder @ cube, d0)
        v_lo, v_hi = round_down(v_lo - spread), round_up(v_hi + spread)
    u_lo, u_hi = interval_matvec(target.weights[0].to(lo), lo, hi)
    deviations = [float(torch.maximum(v_lo.abs(), v_hi.abs())[first.used].max())]
    for index in range(1, len(layers)):
        z_lo, z_hi, d_lo, d_hi = _activation_step(ticket.act, u_lo, u_hi, v_lo, v_hi, layers[index - 1].neuron)
        layer = layers[index]
        e_lo, e_hi = interval_matvec(layer.err_pos, z_lo, z_hi)
        k_lo, k_hi = interval_matvec(layer.kept, d_lo, d_hi)
        spread = sum_upper(layer.slack @ torch.maximum(z_lo.abs(), z_hi.abs()), z_lo.numel())
        v_lo = round_down(round_down(e_lo + k_lo) - spread)
        v_hi = round_up(round_up(e_hi + k_hi) + spread)
        u_lo, u_hi = interval_matvec(target.weights[index].to(lo), z_lo, z_hi)
        deviations.append(float(torch.maximum(v_lo.abs(), v_hi.abs())[layer.used].max()))
    worst = torch.maximum(v_lo.abs(), v_hi.abs())
    return Certificate(frobenius_upper(worst[None]), "rigorous", domain.describe() +
                       (" (via the enclosing box)" if domain.kind == "ball" else ""), "l2", ASSUMPTIONS,
                       {"deviation_after_layer": deviations})


def search_sup_error(target: Target, ticket: DepthTicket, domain: Domain, *, restarts: int = 32, steps: int = 100,
                     samples: int = 2048, seed: int = 0, lr: float = 0.05) -> Witness:
    """Empirical worst case of $\\lVert f(x) - \\tilde g(x)\\rVert_2$ on the domain (a lower bound on the sup):
    random points, then projected normalised-gradient ascent from the ``restarts`` best, evaluating the
    pruned ``torch.nn.Sequential`` itself in float64."""
    net = ticket.sequential()
    device = net[0].weight.device
    x, scale, project = domain_samples(domain, target.widths[0], samples, seed, device)

    on_device = Target([w.to(device) for w in target.weights], [None] * target.depth)

    def gap(points: torch.Tensor) -> torch.Tensor:
        return (evaluate_target(on_device, ticket.act, points) - net(points)).norm(dim=1)

    return ascend(gap, x, restarts=restarts, steps=steps, step=lr * scale, project=project)


# ---------------------------------------------------------------------------------------------------
# The proven widths (Theorem B of proofs/slth_depth.md)


@dataclass(frozen=True)
class DepthBound:
    """Theorem B's widths: ``copies`` $[\\rho_0, …, \\rho_{L-1}]$, per-weight ``accuracy``
    $[\\alpha_1, …, \\alpha_L]$, ``scale`` $\\lambda$, the ``pools`` $N$ of the union bound, the tanh
    remainder budget ``remainder`` $\\tau$ (0 for ReLU) and the activation bounds ``activation_bounds``
    $[R_0, …, R_{L-1}]$."""

    copies: list[int]
    accuracy: list[float]
    scale: float
    pools: int
    remainder: float
    activation_bounds: list[float]


def _pool_count(widths: list[int], copies: list[int], act: Activation) -> int:
    """Pools of the union bound: per row of layer 1, input and branch; per row of layer ≥ 2 and input."""
    rows = rows_per_layer(widths, copies)
    branches = 2 if act.homogeneous else 1
    return branches * rows[0] * widths[0] + sum(r * d for r, d in zip(rows[1:], widths[1:-1]))


def bound_proven_copies(widths: list[int], eps: float, delta: float, act: Activation,
                        row_sums: list[float]) -> DepthBound:
    r"""Theorem B: widths for which, with probability ≥ 1 − δ, every unbiased target with $|w_{ij}|\le1$ and
    $\lVert W_l\rVert_\infty\le\nu_l$ (``row_sums``, max absolute row sums) has a ticket within ε on the box
    $[-1, 1]^{d_0}$.

    Backwards from the output: layer $l$'s fresh error $d_{l-1}\alpha_lR_{l-1}$ is amplified by
    $G_l = \prod_{m>l}d_{m-1}\rho_{m-1}$ and gets the share $\varepsilon/(L\sqrt{d_L})$; $\rho_{l-1}$ is
    Theorem 1's (uniform law) or Corollary 3's (product law, $\rho_0$) least pool size at accuracy
    $\min(\alpha_l, \delta/N)$; tanh halves layer 1's share between $\alpha_1$ and the remainder $\tau$ and
    takes $\lambda = \sqrt{\tau/(c\,d_0\rho_0)}$. $N$ depends on the copies, so the widths are iterated to
    a fixed point (non-decreasing from all-ones).
    """
    depth = len(widths) - 1
    if depth < 1 or any(int(d) != d or d < 1 for d in widths) or len(row_sums) != depth:
        raise ValueError(f"widths {widths} and one row-sum bound per layer ({row_sums}) are required")
    if not (0 < eps < 1 and 0 < delta < 1):
        raise ValueError(f"eps and delta must lie in (0, 1), got {eps} and {delta}")
    bounds = [1.0]
    for nu in row_sums[:-1]:
        bounds.append(act.output_bound(nu * bounds[-1]))
    share = eps / (depth * math.sqrt(widths[-1]))
    copies = [1] * depth
    pools = _pool_count(widths, copies, act)
    for _ in range(100):
        gain, accuracy, new = 1.0, [0.0] * depth, [0] * depth
        for l in range(depth, 1, -1):
            accuracy[l - 1] = share / (gain * widths[l - 1] * bounds[l - 1])
            new[l - 1] = bound_lueker_samples(min(accuracy[l - 1], delta / pools, HALF_BELOW), "uniform")
            gain *= widths[l - 1] * new[l - 1]
        first_share = share if act.homogeneous else share / 2
        accuracy[0] = first_share / (gain * widths[0] * bounds[0])
        new[0] = bound_lueker_samples(min(accuracy[0], delta / pools, HALF_BELOW), "product", UNIT_INTERVAL)
        remainder = 0.0 if act.homogeneous else first_share / gain
        scale = 1.0 if act.homogeneous else math.sqrt(remainder / (act.cubic * widths[0] * new[0] * bounds[0] ** 3))
        new_pools = _pool_count(widths, new, act)
        if new == copies and new_pools == pools:
            return DepthBound(copies, accuracy, min(1.0, scale), pools, remainder, bounds)
        copies, pools = new, max(pools, new_pools)
    raise RuntimeError("Theorem B's widths did not reach a fixed point in 100 rounds")


def row_sum_bounds(target: Target) -> list[float]:
    """$\\lVert W_l\\rVert_\\infty$ of each layer, rounded up (the hypothesis ``row_sums`` of Theorem B)."""
    return [float(sum_upper(w.abs().sum(1), w.shape[1]).max()) for w in target.weights]


def build_depth_ticket(target: Target, eps: float, delta: float, act: Activation, *, seed: int,
                       device: torch.device | str = "cpu", copies: list[int] | None = None,
                       scale: float | None = None,
                       pool_cap: int = DEFAULT_POOL_CAP) -> tuple[DepthNetwork, DepthTicket, DepthBound]:
    """Source at Theorem B's widths and scale λ (or the given ``copies`` / ``scale``) and its ticket,
    searched until every weight is within Theorem B's $\alpha_l$."""
    _require_unbiased(target)
    bound = bound_proven_copies(target.widths, eps, delta, act, row_sum_bounds(target))
    network = construct_depth_network(target.widths, bound.copies if copies is None else copies,
                                      bound.scale if scale is None else scale, seed, device)
    on_device = Target([w.to(device) for w in target.weights], [None] * target.depth)
    ticket = construct_depth_ticket(on_device, network, act, pool_cap=pool_cap, tolerance=bound.accuracy)
    return network, ticket, bound
