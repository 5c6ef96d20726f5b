r"""Strong lottery tickets for residual blocks (after Burkholz, ICML 2022): the skip kept, the branch pruned.

The objects (proofs/slth_residual.md). A *target* of $K$ residual blocks on $\mathbb{R}^d$, ReLU $\sigma$,
no biases, identity skips:
$$x_k = x_{k-1} + V_k\,\sigma(U_kx_{k-1}),\qquad U_k\in\mathbb{R}^{h_k\times d},\ V_k\in\mathbb{R}^{d\times h_k},$$
$f(x) = x_K$, $x_0 = x$. A block whose branch changes the width would need a projection skip; it is refused
(:class:`ResidualTarget` takes identity skips only).

The *source* has the same skeleton: block $k$ keeps the parameter-free identity skip and its branch is
Pensia's $2\cdot2$-layer random network for the two-layer branch target $[U_k, V_k]$
(:class:`lth.theory.dense.RandomNetwork`: $A_{k1}$ ``[m_{k1}d, d]``, $B_{k1}$ ``[h_k, m_{k1}d]``,
$A_{k2}$ ``[m_{k2}h_k, h_k]``, $B_{k2}$ ``[d, m_{k2}h_k]``, i.i.d. $U[-1, 1]$, ReLU after all but the last):
$\tilde x_k = \tilde x_{k-1} + G_k(\tilde x_{k-1})$. The *ticket* prunes each branch with Pensia's masks
(:func:`lth.theory.dense.construct_ticket`, pool rule B: every target layer by two random layers, each
weight a subset sum of products $b_{rk}a_k$); the skip carries $x$ unpruned.

The same target is a plain ReLU MLP by $x = \sigma(x) - \sigma(-x)$ (:func:`flatten`), which is how Pensia's
construction, which has no skips, meets it: the side-by-side count of proofs/slth_residual.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from lth.theory.certify import PerturbedLayer, frobenius_upper, layer_error_norm, relu_deviation_range, \
    separable_error_range, spectral_norm_upper
from lth.theory.dense import (DEFAULT_POOL_CAP, NORM_TOLERANCE, DenseTicket, Domain, RandomNetwork, Target,
                              compact_sequential, construct_ticket, domain_samples, random_target, realised_layers,
                              spectral_norms)
from lth.theory.dense_bounds import bound_proven_units_per_input, bound_weight_accuracy
from lth.theory.device import generator as make_generator
from lth.theory.numerics import interval_matvec, round_down, round_up, up
from lth.theory.objects import Certificate, Witness, ascend
from lth.theory.subset_sum import sample_uniform


@dataclass
class ResidualTarget:
    """``blocks[k]``: the branch of block ``k`` as an unbiased two-layer :class:`Target` ``[U_k, V_k]``
    (``U_k`` ``[h_k, d]``, ``V_k`` ``[d, h_k]``, float64); the skip is the identity."""

    blocks: list[Target]

    def __post_init__(self) -> None:
        if not self.blocks:
            raise ValueError("a residual target needs at least one block")
        d = self.blocks[0].widths[0]
        for k, block in enumerate(self.blocks):
            if block.depth != 2 or block.has_bias:
                raise ValueError(f"block {k + 1}: the branch must be an unbiased two-layer ReLU network "
                                 f"V σ(U x) (got depth {block.depth}, biases {block.has_bias})")
            if block.widths[0] != d or block.widths[-1] != d:
                raise ValueError(f"block {k + 1}: branch maps {block.widths[0]} → {block.widths[-1]} coordinates, "
                                 f"the identity skip needs {d} → {d} (a projection skip is outside the statement)")

    @property
    def width(self) -> int:
        return self.blocks[0].widths[0]

    @property
    def parameters(self) -> int:
        return sum(block.parameters for block in self.blocks)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, d]`` → ``[B, d]``: $x_K$."""
        for block in self.blocks:
            x = x + block(x)
        return x

    def to(self, device: torch.device | str) -> ResidualTarget:
        return ResidualTarget([Target([w.to(device) for w in b.weights], [None, None]) for b in self.blocks])


def random_residual_target(width: int, hidden: list[int], generator: torch.Generator,
                           branch_norm: float = 1.0) -> ResidualTarget:
    """Block ``k``: Gaussian ``U_k`` ``[hidden[k], width]`` rescaled to $\\lVert U_k\\rVert_2 = 1$ and ``V_k``
    to $\\lVert V_k\\rVert_2$ = ``branch_norm`` (Theorem R's hypotheses need both ≤ 1)."""
    if not 0 < branch_norm <= 1:
        raise ValueError(f"branch_norm must lie in (0, 1], got {branch_norm}")
    blocks = []
    for h in hidden:
        block = random_target([width, h, width], generator)
        blocks.append(Target([block.weights[0], block.weights[1] * branch_norm], [None, None]))
    return ResidualTarget(blocks)


def check_residual_norms(target: ResidualTarget) -> None:
    """Refuse a target outside Theorem R: every $\\lVert U_k\\rVert_2, \\lVert V_k\\rVert_2 \\le 1$."""
    for k, block in enumerate(target.blocks):
        norms = spectral_norms(block)
        if max(norms) > 1 + NORM_TOLERANCE:
            raise ValueError(f"hypothesis violated: block {k + 1} has ‖U‖₂ = {norms[0]:.4g}, ‖V‖₂ = {norms[1]:.4g}; "
                             "Theorem R needs both ≤ 1 (proofs/slth_residual.md)")


@dataclass
class ResidualNetwork:
    """``branches[k]``: the random four-layer branch of block ``k`` (``weights`` ``[A_k1, B_k1, A_k2, B_k2]``);
    the skips have no parameters."""

    branches: list[RandomNetwork]
    seed: int

    @property
    def parameters(self) -> int:
        return sum(branch.parameters for branch in self.branches)

    @property
    def depth(self) -> int:
        """Random layers on the longest path (four per block)."""
        return 4 * len(self.branches)


def construct_residual_network(width: int, hidden: list[int], units_per_input: list[list[int]], seed: int,
                               device: torch.device | str = "cpu") -> ResidualNetwork:
    """The source for a target of ``len(hidden)`` blocks: branch ``k`` has ``units_per_input[k]`` =
    ``[m_k1, m_k2]`` units per input of its two pruned blocks; all weights from one seeded generator."""
    if len(units_per_input) != len(hidden) or any(len(m) != 2 or min(m) < 1 for m in units_per_input):
        raise ValueError(f"two positive units-per-input counts per block are required, got {units_per_input}")
    gen = make_generator(seed, torch.device(device))
    branches = []
    for h, (m1, m2) in zip(hidden, units_per_input):
        shapes = [(m1 * width, width), (h, m1 * width), (m2 * h, h), (width, m2 * h)]
        branches.append(RandomNetwork([sample_uniform(s, gen) for s in shapes], [m1, m2], seed))
    return ResidualNetwork(branches, seed)


class _Residual(torch.nn.Module):
    """``x + branch(x)`` for a ``torch.nn.Sequential`` branch."""

    def __init__(self, branch: torch.nn.Module):
        super().__init__()
        self.branch = branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


@dataclass
class ResidualTicket:
    """Pensia's masks on every branch (``branches[k]`` a :class:`DenseTicket` on ``network.branches[k]``)."""

    network: ResidualNetwork
    branches: list[DenseTicket]
    info: dict = field(default_factory=dict)

    @property
    def kept(self) -> int:
        return sum(branch.kept for branch in self.branches)

    @property
    def total(self) -> int:
        return self.network.parameters

    def module(self) -> torch.nn.Sequential:
        """The pruned source as plain torch modules: per block ``x + Sequential(Linear, ReLU, …)(x)``.

        Hidden units that no later layer of their branch reads are left out: their outputs only ever meet
        pruned (zero) weights, so the function is the pruned network's, at a fraction of its width.
        """
        return torch.nn.Sequential(*(_Residual(_compact(branch)) for branch in self.branches))


def _compact(branch: DenseTicket) -> torch.nn.Sequential:
    """A branch's masked layers, float64, without the hidden units no later layer reads (see ``module``)."""
    return compact_sequential(branch.masked_weights(), branch.masks)


def construct_residual_ticket(target: ResidualTarget, network: ResidualNetwork, *, pool_cap: int = DEFAULT_POOL_CAP,
                              tolerance: list[list[float]] | None = None) -> ResidualTicket:
    """Pensia's masks (pool rule B) on each branch for ``target``'s block; ``tolerance[k]`` the per-weight
    accuracies at which rule B stops searching in branch ``k`` (default 0: every block of units)."""
    if len(network.branches) != len(target.blocks):
        raise ValueError(f"source has {len(network.branches)} blocks, the target {len(target.blocks)}")
    device = network.branches[0].weights[0].device
    branches = [construct_ticket(block, net, pool_cap=pool_cap, pool_rule="blocks",
                                 pool_tolerance=None if tolerance is None else tolerance[k])
                for k, (block, net) in enumerate(zip(target.to(device).blocks, network.branches))]
    return ResidualTicket(network, branches, {"max_weight_error": [b.info["max_weight_error"] for b in branches]})


# ---------------------------------------------------------------------------------------------------
# The certificate


# What certify_sup_error rests on besides float64 arithmetic (proofs/slth_residual.md).
ASSUMPTIONS = ("every kept first-layer unit of a branch block reads one input (else the value is inf)",
               "the target is the residual target the ticket was built for; identity skips, ReLU")


def _ball_step(layers: list[PerturbedLayer], radius: float, deviation: float) -> tuple[float, float]:
    """One block of Lemma R2's norm recursion: $(r, \\Delta)$ → $(r', \\Delta')$ with
    $r' = r + \\omega_2\\omega_1r$, $\\Delta' = \\Delta + \\Delta_2$,
    $\\Delta_1 = \\omega_1\\Delta + \\eta_1(r+\\Delta)$, $\\Delta_2 = \\omega_2\\Delta_1 + \\eta_2(\\omega_1r + \\Delta_1)$
    (each operation rounded up; ``layers``: the branch's two :class:`PerturbedLayer`)."""
    first, second = layers
    w1, w2 = spectral_norm_upper(first.weight), spectral_norm_upper(second.weight)
    eta1, eta2 = layer_error_norm(first, False), layer_error_norm(second, True)
    inner = up(w1 * radius)
    d1 = up(up(w1 * deviation) + up(eta1 * up(radius + deviation)))
    d2 = up(up(w2 * d1) + up(eta2 * up(inner + d1)))
    return up(radius + up(w2 * inner)), up(deviation + d2)


def _box_step(layers: list[PerturbedLayer], z_lo, z_hi, d_lo, d_hi):
    """One block of the interval propagation: target state ``z`` and deviation ``d`` (``[d]`` each) of the
    block's input → those of its output. Branch layer ``i`` adds ``W_i d + E⁺y⁺ − E⁻y⁻`` (``y = z + d``, the
    source's input) to the deviation of its pre-activation; the skip adds ``z`` and ``d`` themselves."""
    first, second = layers
    y_lo, y_hi = round_down(z_lo + d_lo), round_up(z_hi + d_hi)
    u_lo, u_hi = interval_matvec(first.weight, z_lo, z_hi)
    wd_lo, wd_hi = interval_matvec(first.weight, d_lo, d_hi)
    e_lo, e_hi = separable_error_range(first, y_lo, y_hi)
    c_lo, c_hi = relu_deviation_range(u_lo, u_hi, round_down(wd_lo + e_lo), round_up(wd_hi + e_hi))
    h_lo, h_hi = u_lo.clamp(min=0), u_hi.clamp(min=0)
    y_lo, y_hi = round_down(h_lo + c_lo).clamp(min=0), round_up(h_hi + c_hi).clamp(min=0)
    u_lo, u_hi = interval_matvec(second.weight, h_lo, h_hi)
    wd_lo, wd_hi = interval_matvec(second.weight, c_lo, c_hi)
    e_lo, e_hi = separable_error_range(second, y_lo, y_hi)
    return (round_down(z_lo + u_lo), round_up(z_hi + u_hi),
            round_down(d_lo + round_down(wd_lo + e_lo)), round_up(d_hi + round_up(wd_hi + e_hi)))


def certify_sup_error(target: ResidualTarget, ticket: ResidualTicket, domain: Domain) -> Certificate:
    """Rigorous float64 bound on $\\sup_{x\\in D}\\lVert f(x) - \\tilde g(x)\\rVert_2$, the smaller of two:

    * the norm recursion of Lemma R1 over the ball of radius $r$ (a box through the ball of radius
      $\\lVert\\max(|lo|, |hi|)\\rVert_2$ around it) with the realised error norms $\\eta$ and weight norms $\\omega$;
    * interval propagation of the target's state and the deviation through every block (:func:`_box_step`;
      a ball through its enclosing box $[-r, r]^d$).

    ``parts``: both bounds and the ball recursion's deviation after each block. ``value`` is ``inf`` when a
    branch's masks are not of the proof's form.
    """
    d = target.width
    try:
        blocks = [realised_layers(block, branch) for block, branch in
                  zip(target.to(ticket.network.branches[0].weights[0].device).blocks, ticket.branches)]
    except ValueError as exc:
        return Certificate(math.inf, "rigorous", domain.describe(), "l2", ASSUMPTIONS, {"reason": str(exc)})
    device = blocks[0][0].weight.device
    if domain.kind == "ball":
        lo = torch.full((d,), -domain.radius, dtype=torch.float64, device=device)
        hi = -lo
        radius = float(domain.radius)
    else:
        if len(domain.lo) != d:
            raise ValueError(f"box has {len(domain.lo)} coordinates, the target has {d} inputs")
        lo = torch.tensor(domain.lo, dtype=torch.float64, device=device)
        hi = torch.tensor(domain.hi, dtype=torch.float64, device=device)
        if not bool((lo <= hi).all()):
            raise ValueError("box has lo > hi in some coordinate")
        radius = frobenius_upper(torch.maximum(lo.abs(), hi.abs())[None])
    r, deviation, after = radius, 0.0, []
    z_lo, z_hi, d_lo, d_hi = lo, hi, torch.zeros_like(lo), torch.zeros_like(hi)
    for layers in blocks:
        r, deviation = _ball_step(layers, r, deviation)
        after.append(deviation)
        z_lo, z_hi, d_lo, d_hi = _box_step(layers, z_lo, z_hi, d_lo, d_hi)
    box = frobenius_upper(torch.maximum(d_lo.abs(), d_hi.abs())[None])
    return Certificate(min(deviation, box), "rigorous", domain.describe(), "l2", ASSUMPTIONS,
                       {"ball_bound": deviation, "box_bound": box, "deviation_after_block": after})


def search_sup_error(target: ResidualTarget, ticket: ResidualTicket, domain: Domain, *, restarts: int = 32,
                     steps: int = 100, samples: int = 2048, seed: int = 0, lr: float = 0.05) -> Witness:
    """Empirical worst case of $\\lVert f(x) - \\tilde g(x)\\rVert_2$ on the domain (a lower bound on the sup):
    ``samples`` random points (ball: half on the sphere; box: uniform), then projected normalised-gradient
    ascent (:func:`lth.theory.objects.ascend`) from the ``restarts`` best, evaluating the pruned
    :meth:`ResidualTicket.module` itself in float64. Returns the worst input ``[d]`` and its error."""
    net = ticket.module()
    device = ticket.network.branches[0].weights[0].device
    x, scale, project = domain_samples(domain, target.width, samples, seed, device)

    on_device = target.to(device)

    def gap(points: torch.Tensor) -> torch.Tensor:
        return (on_device(points) - net(points)).norm(dim=1)

    return ascend(gap, x, restarts=restarts, steps=steps, step=lr * scale, project=project)


# ---------------------------------------------------------------------------------------------------
# The proven widths (Theorem R of proofs/slth_residual.md)


@dataclass(frozen=True)
class ResidualBound:
    """Theorem R's constants: the branch gain bound ``beta`` $\\ge\\max_k\\lVert V_k\\rVert_2\\lVert U_k\\rVert_2$,
    ``lipschitz`` $L = 1 + \\beta$, the per-branch accuracy ``branch_eps`` $\\varepsilon_b = \\varepsilon/(2KL^K)$
    and failure probability ``branch_delta`` $\\delta/K$, and per block Theorem P's ``units_per_input``
    $[m_{k1}, m_{k2}]$ and per-weight ``accuracy`` $[\\alpha_{k1}, \\alpha_{k2}]$ at $(\\varepsilon_b, \\delta/K)$."""

    beta: float
    lipschitz: float
    branch_eps: float
    branch_delta: float
    units_per_input: list[list[int]]
    accuracy: list[list[float]]


def branch_gain(target: ResidualTarget) -> float:
    """Rigorous $\\beta\\ge\\max_k\\lVert V_k\\rVert_2\\lVert U_k\\rVert_2$ (spectral norms bounded from above)."""
    return max(up(spectral_norm_upper(b.weights[1]) * spectral_norm_upper(b.weights[0])) for b in target.blocks)


def bound_proven_units(target: ResidualTarget, eps: float, delta: float) -> ResidualBound:
    r"""Theorem R: per branch, Theorem P's proven widths at accuracy $\varepsilon_b = \varepsilon/(2KL^K)$ and
    failure probability $\delta/K$, $L = 1+\beta$. Refuses targets outside the hypotheses (ValueError)."""
    if not (0 < eps < 1 and 0 < delta < 1):
        raise ValueError(f"eps and delta must lie in (0, 1), got {eps} and {delta}")
    check_residual_norms(target)
    blocks = len(target.blocks)
    beta = branch_gain(target)
    lipschitz = 1.0 + beta
    branch_eps = eps / (2 * blocks * lipschitz**blocks)
    branch_delta = delta / blocks
    widths = [b.widths for b in target.blocks]
    return ResidualBound(beta, lipschitz, branch_eps, branch_delta,
                         [bound_proven_units_per_input(w, branch_eps, branch_delta) for w in widths],
                         [bound_weight_accuracy(w, branch_eps) for w in widths])


def build_residual_ticket(target: ResidualTarget, eps: float, delta: float, *, seed: int,
                          device: torch.device | str = "cpu", units_per_input: list[list[int]] | None = None,
                          pool_cap: int = DEFAULT_POOL_CAP) -> tuple[ResidualNetwork, ResidualTicket, ResidualBound]:
    """Source at Theorem R's widths (or the given ``units_per_input``) and its ticket, each weight searched
    until it is within Theorem R's $\\alpha_{ki}$."""
    bound = bound_proven_units(target, eps, delta)
    hidden = [b.widths[1] for b in target.blocks]
    network = construct_residual_network(target.width, hidden, bound.units_per_input if units_per_input is None
                                         else units_per_input, seed, device)
    ticket = construct_residual_ticket(target, network, pool_cap=pool_cap, tolerance=bound.accuracy)
    return network, ticket, bound


# ---------------------------------------------------------------------------------------------------
# The same target without skips: Pensia's construction meets it through x = σ(x) − σ(−x)


def flatten(target: ResidualTarget) -> Target:
    r"""The residual target as an unbiased ReLU MLP of depth $K+1$ (the same function):
    $P_k = [U_k; I; -I]$ ``[h_k + 2d, d]`` and $Q_k = [V_k, I, -I]$ ``[d, h_k + 2d]`` give
    $x_k = Q_k\sigma(P_kx_{k-1})$, so the layers are $P_1$, $P_{k+1}Q_k$ ($k < K$) and $Q_K$."""
    d = target.width
    eye = torch.eye(d, dtype=torch.float64, device=target.blocks[0].weights[0].device)
    ups = [torch.cat([b.weights[0], eye, -eye]) for b in target.blocks]
    downs = [torch.cat([b.weights[1], eye, -eye], dim=1) for b in target.blocks]
    layers = [ups[0]] + [u @ q for u, q in zip(ups[1:], downs[:-1])] + [downs[-1]]
    return Target(layers, [None] * len(layers))
