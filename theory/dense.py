r"""Strong lottery tickets in dense ReLU networks: Pensia et al.'s subset-sum construction.

The objects (proofs/slth_dense.md). A *target* $f(x) = W_l\sigma(\dots\sigma(W_1x + b_1)\dots) + b_l$
with $W_i \in \mathbb{R}^{d_i\times d_{i-1}}$. Biases are carried by a constant input coordinate: the
*augmented* target maps $\hat x = (x, 1)$ through $\hat W_i = \begin{pmatrix}W_i & b_i\\ 0 & 1\end{pmatrix}$
(the last layer without the constant row), an unbiased ReLU network with $\hat f(\hat x) = f(x)$.

The *random network* has $2l$ layers with i.i.d. U[−1, 1] entries: block $i$ is
$M_{2i-1} \in \mathbb{R}^{h_i\times d_{i-1}}$, $M_{2i}\in\mathbb{R}^{d_i\times h_i}$ with
$h_i = m_i d_{i-1}$ ($m_i$ hidden units per input coordinate, ``units_per_input``).

The *ticket* keeps, in $M_{2i-1}$, one entry per hidden unit (unit $k$ reads input $j = \lfloor k/m_i\rfloor$
with weight $a_k$), and in $M_{2i}$ the entries chosen by ``best_subsets`` so that for every target
weight $w_{rj}$: $\sum_{k\in S^+_{rj}} b_{rk}a_k \approx w_{rj}$ over units with $a_k > 0$ (these carry
$x_j \ge 0$) and $\sum_{k\in S^-_{rj}} b_{rk}a_k \approx w_{rj}$ over units with $a_k < 0$ (these carry
$x_j < 0$, only needed for coordinates that can be negative). The block then maps
$y \mapsto (W + E^+)y^+ - (W + E^-)y^-$ exactly, with realised error matrices $E^\pm$.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from lth.theory.certify import PerturbedLayer, certify_ball, certify_box
from lth.theory.device import generator as make_generator
from lth.theory.numerics import gamma, up
from lth.theory.objects import Certificate, Witness, ascend
from lth.theory.subset_sum import best_subsets, sample_uniform

DEFAULT_C = 3.0  # hidden units per input = 2·ceil(C·ln(d_in·d_out·l/min(ε, δ))); measured (slth.dense.rule), proofs/slth_dense.md
DEFAULT_POOL_CAP = 20  # largest subset-sum pool per weight and branch (meet in the middle: ~2^10 sums)
NORM_TOLERANCE = 1e-9  # ‖W_i‖ ≤ 1 + this counts as ‖W_i‖ ≤ 1 (normalised matrices round a little)


@dataclass
class Target:
    """A ReLU MLP: ``weights[i]`` ``[d_i, d_{i-1}]``, ``biases[i]`` ``[d_i]`` or None (float64)."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor | None]

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("a target needs at least one layer")
        if len(self.biases) != len(self.weights):
            raise ValueError("one bias entry (tensor or None) per layer is required")
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2:
                raise ValueError(f"layer {i + 1}: weight must be a matrix, got shape {tuple(w.shape)}")
            if i and w.shape[1] != self.weights[i - 1].shape[0]:
                raise ValueError(f"layer {i + 1}: input width {w.shape[1]} != output width of layer {i} "
                                 f"({self.weights[i - 1].shape[0]})")
            if b is not None and tuple(b.shape) != (w.shape[0],):
                raise ValueError(f"layer {i + 1}: bias shape {tuple(b.shape)} != ({w.shape[0]},)")
            for name, t in (("weight", w), ("bias", b)):
                if t is not None and not torch.isfinite(t).all():
                    raise ValueError(f"layer {i + 1}: {name} has non-finite entries (NaN or inf)")

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def widths(self) -> list[int]:
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    @property
    def has_bias(self) -> bool:
        return any(b is not None for b in self.biases)

    @property
    def parameters(self) -> int:
        return sum(w.numel() + (0 if b is None else b.numel()) for w, b in zip(self.weights, self.biases))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, d_0]`` → ``[B, d_l]``."""
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w.T
            if b is not None:
                x = x + b
            if i < self.depth - 1:
                x = torch.relu(x)
        return x

    def augmented(self) -> list[torch.Tensor]:
        """The unbiased matrices $\\hat W_i$ acting on $(x, 1)$; unchanged when there are no biases."""
        if not self.has_bias:
            return [w.to(torch.float64) for w in self.weights]
        out = []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            w = w.to(torch.float64)
            bias = torch.zeros(w.shape[0], dtype=torch.float64, device=w.device) if b is None else b.to(w)
            block = torch.cat([w, bias[:, None]], dim=1)
            if i < self.depth - 1:
                carry = torch.zeros(1, block.shape[1], dtype=torch.float64, device=w.device)
                carry[0, -1] = 1.0
                block = torch.cat([block, carry], dim=0)
            out.append(block)
        return out


def spectral_norms(target: Target) -> list[float]:
    """Numerical ‖W_i‖₂ of each layer (for the hypothesis check; certificates use rigorous bounds)."""
    return [float(torch.linalg.matrix_norm(w, ord=2)) for w in target.weights]


def check_norms(target: Target) -> None:
    """Raise when a layer violates the theorem's hypothesis ‖W_i‖₂ ≤ 1, suggesting ``--rescale``."""
    bad = [(i + 1, n) for i, n in enumerate(spectral_norms(target)) if n > 1 + NORM_TOLERANCE]
    if bad:
        listing = ", ".join(f"layer {i}: ‖W‖₂ = {n:.4g}" for i, n in bad)
        raise ValueError(f"the theorem needs ‖W_i‖₂ ≤ 1 ({listing}); rescale the layers (lth ticket "
                         "--rescale divides each W_i by its norm and undoes the scaling at the output)")


def rescale(target: Target) -> tuple[Target, float]:
    """Divide each ``W_i`` with ‖W_i‖₂ > 1 by its norm; biases by the running product of factors.

    ReLU is positively homogeneous, so the rescaled network computes ``c·f(x)`` with ``c`` the
    product of all factors; returns ``(rescaled target, c)``; ``output / c`` undoes it.
    """
    factor, weights, biases = 1.0, [], []
    for w, b, norm in zip(target.weights, target.biases, spectral_norms(target)):
        s = 1.0 / norm if norm > 1 else 1.0
        factor *= s
        weights.append(w * s)
        biases.append(None if b is None else b * factor)
    return Target(weights, biases), factor


def bound_units_per_input(d_in: int, d_out: int, depth: int, eps: float, delta: float, c: float = DEFAULT_C) -> int:
    """Hidden units per input coordinate: $m = 2\\lceil C\\ln(d_{in}d_{out}l/\\min(\\varepsilon,\\delta))\\rceil$.

    The theorem's width $h = C\\,d_{in}\\log(d_{in}d_{out}l/\\min(\\varepsilon,\\delta))$ split evenly
    over inputs; the factor 2 gives about $\\lceil C\\ln(\\dots)\\rceil$ units of each sign.
    """
    _check_eps(eps, "eps")
    _check_eps(delta, "delta")
    return 2 * math.ceil(c * math.log(d_in * d_out * depth / min(eps, delta)))


def _check_eps(value: float, name: str) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{name} must lie in (0, 1), got {value}")


@dataclass
class RandomNetwork:
    """``weights``: ``[M_1, M_2, ..., M_2l]`` float64, i.i.d. U[−1, 1]; ``units_per_input[i]`` units per input."""

    weights: list[torch.Tensor]
    units_per_input: list[int]
    seed: int

    @property
    def parameters(self) -> int:
        return sum(m.numel() for m in self.weights)


def construct_random_network(widths: list[int], units_per_input: list[int], seed: int,
                             device: torch.device | str = "cpu") -> RandomNetwork:
    """The 2l-layer random network for augmented widths ``[d_0, ..., d_l]``.

    Block ``i`` has ``units_per_input[i]·d_{i−1}`` hidden units. Drawn from one seeded generator, so the
    same seed gives the same weights on the same device.
    """
    if len(units_per_input) != len(widths) - 1:
        raise ValueError("one units-per-input count per target layer is required")
    if any(m < 1 for m in units_per_input):
        raise ValueError(f"units per input must be positive, got {units_per_input}")
    gen = make_generator(seed, torch.device(device))
    weights = []
    for d_in, d_out, m in zip(widths[:-1], widths[1:], units_per_input):
        weights.append(sample_uniform((m * d_in, d_in), gen))
        weights.append(sample_uniform((d_out, m * d_in), gen))
    return RandomNetwork(weights, list(units_per_input), seed)


def _rank(values: torch.Tensor) -> torch.Tensor:
    """Rank of each entry along the last axis in descending order (0 = largest)."""
    return torch.argsort(torch.argsort(values, dim=-1, descending=True, stable=True), dim=-1)


def _pool_units(pools: torch.Tensor, usable: torch.Tensor, pool_cap: int) -> torch.Tensor:
    """Which usable units form the pool of each weight: ``[d_out, d_in, m]`` bool.

    Up to ``pool_cap`` units per weight: the largest products of each sign, half of each where
    possible (a pool whose products nearly all share one sign cannot hit small targets of the other).
    """
    positive = usable[None] & (pools > 0)
    negative = usable[None] & ~(pools > 0)
    magnitude = pools.abs()
    rank_pos = _rank(torch.where(positive, magnitude, -1.0))
    rank_neg = _rank(torch.where(negative, magnitude, -1.0))
    half = pool_cap // 2
    quota_pos = torch.maximum(torch.full_like(rank_pos[..., 0], half), pool_cap - negative.sum(-1))
    quota_neg = torch.maximum(torch.full_like(rank_neg[..., 0], pool_cap - half), pool_cap - positive.sum(-1))
    return (positive & (rank_pos < quota_pos[..., None])) | (negative & (rank_neg < quota_neg[..., None]))


POOL_RULES = ("largest", "blocks")


def _pool_blocks(usable: torch.Tensor, pool_cap: int) -> list[torch.Tensor]:
    """Disjoint pools of each input's usable units in index order: ``[d_in, m]`` bool per block.

    Block ``b`` holds the usable units of rank ``b·pool_cap … (b+1)·pool_cap − 1`` among those of its
    input. The choice looks at the signs of the first-layer weights only, never at the products, so
    given those signs each block's products are i.i.d. (proofs/slth_dense.md, pool rule B).
    """
    rank = usable.long().cumsum(1) - 1
    blocks = math.ceil(int(usable.sum(1).max()) / pool_cap) if usable.any() else 0
    return [usable & (rank // pool_cap == b) for b in range(blocks)]


def solve_pools(pools: torch.Tensor, targets: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """Best subsets of the ``selected`` units of each weight's pool.

    ``pools`` ``[d_out, d_in, m]``, ``targets`` ``[d_out, d_in]``, ``selected`` ``[d_out, d_in, m]`` bool.
    Weights are grouped by their pool size, and each group is one batched ``best_subsets`` call on
    pools without padding. Returns the chosen units ``[d_out, d_in, m]`` bool.
    """
    d_out, d_in, m = pools.shape
    flat_pools, flat_selected = pools.reshape(-1, m), selected.reshape(-1, m)
    counts = flat_selected.sum(1)
    order = torch.argsort((~flat_selected).to(torch.int8), dim=1, stable=True)  # pool units first
    chosen = torch.zeros_like(flat_selected)
    for count in torch.unique(counts).tolist():
        if count == 0:
            continue
        rows = torch.nonzero(counts == count).flatten()
        units = order[rows, :count]
        solution = best_subsets(torch.gather(flat_pools[rows], 1, units), targets.reshape(-1, 1)[rows])
        chosen[rows] = chosen[rows].scatter(1, units, solution.mask[:, 0, :])
    return chosen.reshape(d_out, d_in, m)


def branch_masks(pools: torch.Tensor, targets: torch.Tensor, usable: torch.Tensor, pool_cap: int,
                  rule: str = "largest", tolerance: float = 0.0) -> torch.Tensor:
    """Best subsets of each weight's pool of at most ``pool_cap`` units (``best_subsets`` costs about
    $2^{n/2}$ per pool, hence the cap).

    ``pools`` ``[d_out, d_in, m]`` products $b_{rk}a_k$; ``targets`` ``[d_out, d_in]``; ``usable``
    ``[d_in, m]`` the units that may serve the branch. ``rule``: ``"largest"`` takes each weight's
    largest products of each sign (:func:`_pool_units`; good when $m$ is near the pool cap, but at
    large $m$ the products are all near ±1 and their subset sums cluster near integers);
    ``"blocks"`` solves every disjoint block of :func:`_pool_blocks` and keeps each weight's best
    (value-independent pools, the proof's rule B: a search within blocks, whose failures Theorem P,
    an existence statement over the whole pool, does not bound); a weight whose error is already
    ≤ ``tolerance`` is not re-solved (the next blocks cannot be needed for it). Returns the chosen units
    ``[d_out, d_in, m]`` bool.
    """
    if rule not in POOL_RULES:
        raise ValueError(f"pool rule {rule!r} not in {POOL_RULES}")
    if rule == "largest":
        return solve_pools(pools, targets, _pool_units(pools, usable, pool_cap))
    chosen = torch.zeros_like(pools, dtype=torch.bool)
    error = torch.full_like(targets, math.inf)
    for block in _pool_blocks(usable, pool_cap):
        open_weights = error > tolerance
        if not open_weights.any():
            break
        candidate = solve_pools(pools, targets, block[None] & open_weights[..., None])
        candidate_error = ((pools * candidate).sum(-1) - targets).abs()
        better = candidate_error < error
        chosen[better], error = candidate[better], torch.where(better, candidate_error, error)
    return chosen


def _retry_tail(pools: torch.Tensor, targets: torch.Tensor, usable: torch.Tensor, chosen: torch.Tensor,
                retry_cap: int, fraction: float) -> torch.Tensor:
    """Re-solve the weights with the largest errors with larger pools; keep whichever subset is better.

    ``pools`` ``[d_out, d_in, m]``, ``targets`` ``[d_out, d_in]``, ``usable`` ``[d_in, m]``, ``chosen`` the
    first pass ``[d_out, d_in, m]``. Returns the improved masks (same shape).
    """
    d_out, d_in, m = pools.shape
    error = ((pools * chosen).sum(-1) - targets).abs().flatten()
    count = max(1, math.ceil(fraction * error.numel()))
    tail = error.topk(min(count, error.numel())).indices
    rows, cols = tail // d_in, tail % d_in
    # each tail weight becomes its own "input" of a one-row problem, so branch_masks batches them
    retried = branch_masks(pools[rows, cols][None], targets[rows, cols][None], usable[cols], retry_cap)[0]
    better = ((pools[rows, cols] * retried).sum(-1) - targets[rows, cols]).abs() < error[tail]
    improved = chosen.clone()
    improved[rows[better], cols[better]] = retried[better]
    return improved


@dataclass
class DenseTicket:
    """Masks on a random network and what they realise.

    ``masks[i]`` is a bool tensor shaped like ``random.weights[i]``; ``signed[i]`` ``[d_{i−1}]`` says
    which inputs of block ``i`` can be negative (only those get a negative branch).
    ``output_scale`` multiplies the network's output (1 unless the target was rescaled).
    ``has_bias``: the first layer reads $(x, 1)$; its constant column becomes a bias.
    """

    random: RandomNetwork
    masks: list[torch.Tensor]
    signed: list[torch.Tensor]
    has_bias: bool
    output_scale: float = 1.0
    info: dict = field(default_factory=dict)

    @property
    def kept(self) -> int:
        """Unmasked random weights."""
        return int(sum(int(m.sum()) for m in self.masks))

    @property
    def total(self) -> int:
        """All random weights before pruning."""
        return self.random.parameters

    def masked_weights(self) -> list[torch.Tensor]:
        """Random weights with pruned entries set to zero (kept ones bit for bit)."""
        return [torch.where(m, w, torch.zeros((), dtype=w.dtype, device=w.device))
                for w, m in zip(self.random.weights, self.masks)]

    def sequential(self) -> torch.nn.Sequential:
        """The pruned network as a plain ``torch.nn.Sequential`` of Linear and ReLU (float64).

        With biases, the first Linear takes ``x`` and its bias is the kept constant-input column.
        A final diagonal Linear undoes a rescaling when ``output_scale != 1``.
        """
        weights = self.masked_weights()
        modules: list[torch.nn.Module] = []
        for i, w in enumerate(weights):
            bias = None
            if i == 0 and self.has_bias:
                w, bias = w[:, :-1], w[:, -1]
            layer = torch.nn.Linear(w.shape[1], w.shape[0], bias=bias is not None, dtype=torch.float64,
                                    device=w.device)
            with torch.no_grad():
                layer.weight.copy_(w)
                if bias is not None:
                    layer.bias.copy_(bias)
            modules.append(layer)
            if i < len(weights) - 1:
                modules.append(torch.nn.ReLU())
        if self.output_scale != 1.0:
            d = weights[-1].shape[0]
            undo = torch.nn.Linear(d, d, bias=False, dtype=torch.float64, device=weights[-1].device)
            with torch.no_grad():
                undo.weight.copy_(torch.eye(d, dtype=torch.float64) * self.output_scale)
            modules.append(undo)
        return torch.nn.Sequential(*modules)


def block_products(w: torch.Tensor, net: RandomNetwork, i: int, signed_input: bool,
                   has_bias: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Block ``i`` (layers ``2i``, ``2i+1``) of a 2l-layer random network against the target matrix ``w``
    ``[d_out, d_in]``: ``(w, signed, a, products)`` with ``w`` on the network's device, ``signed`` ``[d_in]``
    the inputs that take both signs (all but a bias column when ``signed_input``), ``a`` ``[d_in, m]`` the
    first-layer weight of each input's units and ``products`` ``[d_out, d_in, m]`` = second-layer weight · a,
    the pool of each target weight."""
    m1, m2, m = net.weights[2 * i], net.weights[2 * i + 1], net.units_per_input[i]
    d_out, d_in = w.shape
    if m1.shape != (m * d_in, d_in) or m2.shape != (d_out, m * d_in):
        raise ValueError(f"block {i + 1}: random shapes {tuple(m1.shape)}, {tuple(m2.shape)} do not fit "
                         f"target layer {d_out}x{d_in} with {m} units per input")
    signed = torch.zeros(d_in, dtype=torch.bool, device=m1.device)
    if signed_input:
        signed[: d_in - (1 if has_bias else 0)] = True
    a = m1.reshape(d_in, m, d_in).diagonal(dim1=0, dim2=2).T  # [d_in, m]: a[j, t] = M1[j·m + t, j]
    return w.to(m1.device), signed, a, m2.reshape(d_out, d_in, m) * a[None]


def block_masks(chosen: torch.Tensor) -> list[torch.Tensor]:
    """The two masks of a block from its chosen units ``[d_out, d_in, m]``: the second layer keeps the
    chosen entries, the first layer keeps the input edge of every unit some output reads."""
    d_out, d_in, m = chosen.shape
    mask2 = chosen.reshape(d_out, d_in * m)
    mask1 = torch.zeros(d_in * m, d_in, dtype=torch.bool, device=chosen.device)
    unit = torch.arange(d_in * m, device=chosen.device)
    mask1[unit, unit // m] = mask2.any(0)
    return [mask1, mask2]


def construct_ticket(target: Target, random_net: RandomNetwork, *, signed_input: bool = True,
                     output_scale: float = 1.0, pool_cap: int = DEFAULT_POOL_CAP, retry_cap: int | None = None,
                     retry_fraction: float = 0.02, pool_rule: str = "largest",
                     pool_tolerance: list[float] | None = None) -> DenseTicket:
    """The proof's masks on ``random_net`` for ``target``.

    Per block: unit ``k`` keeps only its entry for input ``⌊k/m⌋``; second-layer entries are the
    ``best_subsets`` choices of the positive branch (units with $a_k > 0$) and, for inputs that can
    be negative, of the negative branch (units with $a_k < 0$). First-layer entries of units no
    output uses are pruned too. ``signed_input=False`` declares the network's inputs non-negative.
    Each weight's pool holds at most ``pool_cap`` units of the right sign, chosen by ``pool_rule``
    (:func:`branch_masks`: ``"largest"`` products, or the best of value-independent ``"blocks"``,
    searched until each weight's error is ≤ ``pool_tolerance[i]`` in block ``i``; default 0: all blocks).
    ``retry_cap``: a second pass re-solves the ``retry_fraction`` of weights with the largest errors
    (the tail that dominates the certificate) with pools of up to ``retry_cap`` units, keeping the
    better subset; None (default) skips it.
    """
    matrices = target.augmented()
    if len(random_net.weights) != 2 * len(matrices):
        raise ValueError(f"random network has {len(random_net.weights)} layers, target needs {2 * len(matrices)}")
    masks, signed_all = [], []
    for i, w in enumerate(matrices):
        w, signed, a, products = block_products(w, random_net, i, signed_input and i == 0, target.has_bias)
        chosen = torch.zeros_like(products, dtype=torch.bool)
        for usable in (a > 0, (a < 0) & signed[:, None]):
            tolerance = pool_tolerance[i] if pool_tolerance is not None else 0.0
            branch = branch_masks(products, w, usable, pool_cap, pool_rule, tolerance)
            if retry_cap is not None and retry_cap > pool_cap:
                branch = _retry_tail(products, w, usable, branch, retry_cap, retry_fraction)
            chosen |= branch
        masks += block_masks(chosen)
        signed_all.append(signed)
    ticket = DenseTicket(random_net, masks, signed_all, target.has_bias, output_scale)
    layers = realised_layers(target, ticket)
    ticket.info = {"max_weight_error": [float(torch.maximum(layer.err_pos.abs(), layer.err_neg.abs()).max())
                                        for layer in layers]}
    return ticket


def _block_effective(m1: torch.Tensor, m2: torch.Tensor, mask1: torch.Tensor, mask2: torch.Tensor):
    """Effective matrices of one pruned block, read from the masks.

    Returns ``(pos, neg, abs_sum, structured)``: ``pos[r, j]`` $=\\sum_{k: a_k>0} b_{rk}a_k$ over kept
    units reading input ``j`` only, ``neg`` likewise over $a_k<0$, ``abs_sum`` $\\sum |b_{rk}a_k|$ (for
    the rounding slack), and whether every kept unit reads at most one input (the proof's form).
    """
    k1 = torch.where(mask1, m1, torch.zeros((), dtype=m1.dtype, device=m1.device))
    k2 = torch.where(mask2, m2, torch.zeros((), dtype=m2.dtype, device=m2.device))
    per_unit = mask1.sum(1)
    structured = bool((per_unit <= 1).all())
    a = k1.sum(1)  # [h]: the single kept weight of each unit (0 if none)
    reads = k1.abs().argmax(1)  # [h]: its input

    def per_input(values: torch.Tensor) -> torch.Tensor:  # [d_out, h] summed over units of each input
        return torch.zeros(m2.shape[0], m1.shape[1], dtype=m2.dtype, device=m2.device).index_add_(1, reads, values)

    return (per_input(k2 * a.clamp(min=0)), per_input(k2 * a.clamp(max=0)), per_input((k2 * a).abs()),
            structured)


def realised_layers(target: Target, ticket: DenseTicket) -> list[PerturbedLayer]:
    """Per block, the target matrix and the realised error matrices $E^\\pm$ with rounding slack.

    Computed from the masks and random weights alone (not from the construction's bookkeeping), so a
    tampered mask shows up. Raises ``ValueError`` when a kept unit reads two inputs (the block is then
    not of the proof's form and no certificate of this kind applies).
    """
    layers = []
    for i, w in enumerate(target.augmented()):
        m1, m2 = ticket.random.weights[2 * i], ticket.random.weights[2 * i + 1]
        pos, neg, abs_sum, structured = _block_effective(m1, m2, ticket.masks[2 * i], ticket.masks[2 * i + 1])
        if not structured:
            raise ValueError(f"block {i + 1}: a kept hidden unit reads more than one input")
        w = w.to(m1.device)
        err_pos = pos - w
        err_neg = torch.where(ticket.signed[i][None], neg - w, torch.zeros_like(w))
        slack = gamma(ticket.random.units_per_input[i] + 3) * (abs_sum + w.abs())
        layers.append(PerturbedLayer(w, err_pos, err_neg, slack, slack))
    return layers


@dataclass(frozen=True)
class Domain:
    """``kind`` ``ball`` (radius ``radius`` around 0) or ``box`` (``lo``, ``hi`` per coordinate)."""

    kind: str
    radius: float = 1.0
    lo: tuple[float, ...] | None = None
    hi: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("ball", "box"):
            raise ValueError(f"domain must be 'ball' or 'box', got {self.kind!r}")

    def describe(self) -> str:
        """The domain in words (for certificates)."""
        if self.kind == "ball":
            return f"ball ‖x‖₂ ≤ {self.radius:g}"
        return f"box lo ≤ x ≤ hi, {len(self.lo)} coordinates within [{min(self.lo):g}, {max(self.hi):g}]"


# What certify_sup_error rests on besides float64 arithmetic (proofs/slth_dense.md).
ASSUMPTIONS = ("every kept first-layer unit of a block reads one input (else the value is inf)",
               "inputs without a negative branch (not signed) are non-negative on the domain",
               "the target is the one the ticket was built for")


def require_signed_domain(ticket: DenseTicket, domain: Domain, d0: int) -> None:
    r"""Refuse a domain on which an input without a negative branch can be negative.

    A ticket built with ``signed_input=False`` has no units carrying $x_j < 0$: there it computes
    $(W + E^+)x^+$ instead of $Wx$, an error of order $\lVert W x^-\rVert$ that no certificate of the
    ticket's matrices $E^\pm$ bounds (hypothesis 2 of :data:`ASSUMPTIONS`).
    """
    if domain.kind == "box" and len(domain.lo) != d0:
        raise ValueError(f"box has {len(domain.lo)} coordinates, the target has {d0} inputs")
    unsigned = ~ticket.signed[0][:d0].cpu()
    if not bool(unsigned.any()):
        return
    if domain.kind == "ball":
        negative = unsigned if domain.radius > 0 else torch.zeros_like(unsigned)
    else:
        negative = unsigned & (torch.tensor(domain.lo, dtype=torch.float64) < 0)
    if bool(negative.any()):
        first = int(negative.nonzero()[0, 0])
        raise ValueError(f"hypothesis violated: the ticket was built for non-negative inputs (signed_input=False) "
                         f"but the domain ({domain.describe()}) lets input {first} be negative; rebuild the "
                         "ticket with signed_input=True or certify on a box with lo >= 0")


def certify_sup_error(target: Target, ticket: DenseTicket, domain: Domain) -> Certificate:
    """Rigorous float64 upper bound on $\\sup_{x\\in D}\\lVert f(x) - \\tilde g(x)\\rVert_2$.

    Ball of radius $r$: the norm recursion on the augmented input, whose norm is at most
    $\\sqrt{r^2+1}$ with biases; the ball also lies in the box $[-r, r]^d$, whose interval bound is
    taken when smaller. Box: interval propagation. ``target`` is the one the ticket was built for;
    the bound is multiplied by ``output_scale`` (the user's units after a rescaling).
    ``parts``: ``ball_bound`` (None on a box), ``box_bound``, ``union_bound`` (the proof's per-weight
    union bound, not rigorous in rounding) and, on a ball, the per-layer norms of :func:`certify_ball`.
    ``value`` is ``inf`` when the masks are not of the proof's form.
    """
    require_signed_domain(ticket, domain, target.widths[0])
    try:
        layers = realised_layers(target, ticket)
    except ValueError as exc:
        return Certificate(math.inf, "rigorous", domain.describe(), "l2", ASSUMPTIONS, {"reason": str(exc)})
    d0 = target.widths[0]
    device = layers[0].weight.device
    ball = None
    if domain.kind == "ball":
        radius = math.sqrt(domain.radius**2 + 1) if ticket.has_bias else domain.radius
        ball = certify_ball(layers, radius)
        lo = torch.full((d0,), -domain.radius, dtype=torch.float64, device=device)
        hi = -lo
    else:
        lo = torch.tensor(domain.lo, dtype=torch.float64, device=device)
        hi = torch.tensor(domain.hi, dtype=torch.float64, device=device)  # length checked by require_signed_domain
    if ticket.has_bias:
        lo, hi = torch.cat([lo, lo.new_ones(1)]), torch.cat([hi, hi.new_ones(1)])
    box = certify_box(layers, lo, hi).value
    bound = min(math.inf if ball is None else ball.value, box)
    scale = abs(ticket.output_scale)
    parts = {**({} if ball is None else ball.parts), "box_bound": box,
             "ball_bound": None if ball is None else ball.value,
             "union_bound": bound_union(layers, ticket) * scale}
    return Certificate(up(bound * scale) if scale != 1 else bound, "rigorous", domain.describe(), "l2",
                       ASSUMPTIONS, parts)


def bound_union(layers: list[PerturbedLayer], ticket: DenseTicket) -> float:
    """The per-weight union bound of the proof at the realised errors.

    The proof bounds each block's error by the sum of its per-weight errors,
    $\\eta_i \\le \\sum_{rj}(|e^+_{rj}| + |e^-_{rj}|)$, and propagates with $\\lVert W_i\\rVert \\le 1$ on the
    unit ball: $\\Delta_l \\le \\sum_i \\eta_i (1 + \\Delta_{i-1})$. Not rigorous in rounding (a
    comparison figure, not a certificate).
    """
    delta = 0.0
    for layer in layers:
        eta = float(layer.err_pos.abs().sum() + layer.err_neg.abs().sum())
        delta = delta + eta * (1 + delta)
    return delta


def compact_sequential(weights: list[torch.Tensor], masks: list[torch.Tensor],
                       activation: Callable[[], torch.nn.Module] = torch.nn.ReLU) -> torch.nn.Sequential:
    """Masked layers ``weights[i]`` ``[d_{i+1}, d_i]`` (float64) as a ``torch.nn.Sequential`` of bias-free Linear
    layers with ``activation()`` between them, without the hidden units no later layer reads (``masks[i]``
    of layer ``i``): their outputs only ever meet pruned (zero) weights, so the function is unchanged."""
    device = weights[0].device
    alive = ([torch.ones(weights[0].shape[1], dtype=torch.bool, device=device)] + [m.any(0) for m in masks[1:]]
             + [torch.ones(weights[-1].shape[0], dtype=torch.bool, device=device)])
    modules: list[torch.nn.Module] = []
    for i, w in enumerate(weights):
        w = w[alive[i + 1]][:, alive[i]]
        layer = torch.nn.Linear(w.shape[1], w.shape[0], bias=False, dtype=torch.float64, device=device)
        with torch.no_grad():
            layer.weight.copy_(w)
        modules.append(layer)
        if i < len(weights) - 1:
            modules.append(activation())
    return torch.nn.Sequential(*modules)


def domain_samples(domain: Domain, dim: int, samples: int, seed: int, device: torch.device
                   ) -> tuple[torch.Tensor, float, Callable[[torch.Tensor], torch.Tensor]]:
    """The start of an error search on ``domain`` in ℝ^dim: ``samples`` random points ``[samples, dim]``
    (float64; ball: half on the sphere, half uniform inside; box: uniform), the domain's scale for step sizes
    (the radius, or the box's widest side), and the projection of points ``[B, dim]`` back onto the domain."""
    gen = make_generator(seed, device)
    if domain.kind == "ball":
        direction = torch.randn(samples, dim, generator=gen, device=device, dtype=torch.float64)
        direction = direction / direction.norm(dim=1, keepdim=True)
        radii = torch.rand(samples, 1, generator=gen, device=device, dtype=torch.float64) ** (1 / dim)
        radii[: samples // 2] = 1.0

        def onto_ball(p: torch.Tensor) -> torch.Tensor:
            return p * (domain.radius / p.norm(dim=1, keepdim=True).clamp(min=domain.radius))

        return direction * radii * domain.radius, domain.radius, onto_ball
    lo = torch.tensor(domain.lo, dtype=torch.float64, device=device)
    hi = torch.tensor(domain.hi, dtype=torch.float64, device=device)
    x = lo + (hi - lo) * torch.rand(samples, dim, generator=gen, device=device, dtype=torch.float64)
    return x, float((hi - lo).max()), lambda p: torch.maximum(torch.minimum(p, hi), lo)


def search_sup_error(target: Target, ticket: DenseTicket, domain: Domain, *, restarts: int = 32, steps: int = 100,
                     samples: int = 2048, seed: int = 0, lr: float = 0.05) -> Witness:
    """Empirical worst case of $\\lVert f(x) - \\tilde g(x)\\rVert_2$ on the domain (a lower bound on the sup).

    ``samples`` random points (uniform in the box; in the ball, half on the sphere, half inside),
    then projected normalised-gradient ascent from the ``restarts`` best of them, evaluating the
    pruned ``torch.nn.Sequential`` itself in float64. ``target`` is the one the ticket was built for;
    both outputs are multiplied by ``output_scale`` (the user's units after a rescaling). Returns the
    worst input found, ``[d_0]``, and its error.
    """
    net = ticket.sequential()
    device = net[0].weight.device
    x, scale, project = domain_samples(domain, target.widths[0], samples, seed, device)
    on_device = Target([w.to(device) for w in target.weights],
                       [None if b is None else b.to(device) for b in target.biases])

    def gap(points: torch.Tensor) -> torch.Tensor:
        return (ticket.output_scale * on_device(points) - net(points)).norm(dim=1)

    # the sampled points go through the network in chunks of at most 2^26 hidden activations: at the full
    # scale of slth.dense.layer (147,840 hidden units) one pass of 16,384 points would hold 19 GB
    return ascend(gap, x, restarts=restarts, steps=steps, step=lr * scale,
                  project=project, chunk=max(1, 2 ** 26 // max(w.shape[0] for w in ticket.random.weights)))


def over_parameterisation(target: Target, random_net: RandomNetwork) -> float:
    """Random-network parameters divided by target parameters."""
    return random_net.parameters / target.parameters


def build_ticket(target: Target, eps: float, delta: float, *, seed: int, device: torch.device | str = "cpu",
                 c: float = DEFAULT_C, units_per_input: list[int] | None = None, signed_input: bool = True,
                 output_scale: float = 1.0, pool_cap: int = DEFAULT_POOL_CAP,
                 retry_cap: int | None = None, pool_rule: str = "largest",
                 pool_tolerance: list[float] | None = None) -> tuple[RandomNetwork, DenseTicket]:
    """Random network at the theorem's widths (or the given ``units_per_input``) and its ticket for ``target``."""
    widths = [w.shape[1] for w in target.augmented()] + [target.widths[-1]]
    if units_per_input is None:
        units_per_input = [bound_units_per_input(a, b, target.depth, eps, delta, c)
                           for a, b in zip(widths[:-1], widths[1:])]
    net = construct_random_network(widths, units_per_input, seed, device)
    dev_target = Target([w.to(device) for w in target.weights],
                        [None if b is None else b.to(device) for b in target.biases])
    return net, construct_ticket(dev_target, net, signed_input=signed_input, output_scale=output_scale,
                                 pool_cap=pool_cap, retry_cap=retry_cap, pool_rule=pool_rule,
                                 pool_tolerance=pool_tolerance)


def random_target(widths: list[int], generator: torch.Generator, norm: float = 1.0, bias: bool = False) -> Target:
    """Gaussian layers rescaled to spectral norm ``norm`` (biases N(0, 0.1²) if ``bias``)."""
    weights, biases = [], []
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        w = torch.randn(d_out, d_in, generator=generator, device=generator.device, dtype=torch.float64)
        weights.append(w * (norm / float(torch.linalg.matrix_norm(w, ord=2))))
        biases.append(0.1 * torch.randn(d_out, generator=generator, device=generator.device, dtype=torch.float64)
                      if bias else None)
    return Target(weights, biases)
