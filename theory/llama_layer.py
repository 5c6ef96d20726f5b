r"""A certified strong lottery ticket for one Llama decoder layer (proofs/llama_layer.md).

The object. A Llama decoder layer maps hidden states $x_1,\dots,x_T\in\mathbb{R}^d$ (causal) by
$$\hat x_t = N(x_t),\quad h_t = x_t + O\,\mathrm{concat}_h\Big(\sum_{j\le t}p^h_{tj}\,V_{g(h)}\hat x_j\Big),\quad
p^h_{t\cdot} = \mathrm{softmax}_{j\le t}\big(c\,(R_tQ_h\hat x_t)\cdot(R_jK_{g(h)}\hat x_j)\big),$$
$$\mathrm{out}_t = h_t + D\big(\mathrm{silu}(G\hat h_t)\odot U\hat h_t\big),\qquad \hat h_t = N(h_t),$$
with $N(x) = x/\sqrt{\lVert x\rVert^2/d + \epsilon}$ (RMSNorm without its gain: the gains are folded into
the maps that read the norms, $Q = W_q\,\mathrm{diag}(g_1)$ and so on, exactly in float64 since both factors
are float32), $H$ query heads of size $d_h$ sharing $H_{KV}$ key/value heads (query head $h$ reads group
$g(h) = \lfloor h/(H/H_{KV})\rfloor$: grouped-query attention), $c = d_h^{-1/2}$, and $R_t$ the rotary
position map (RoPE): a rotation of each plane $(k, k + d_h/2)$ by the angle $t\,\theta^{-2k/d_h}$, applied to
the query and key vectors *after* their projections. $R_t$ is orthogonal, so an error in a query or
key projection keeps its norm through RoPE: the query and key maps are approximated separately.

The ticket replaces each of the seven linear maps $W\in\{Q, K, V, O, G, U, D\}$ (or a chosen subset) by
a pruned random two-layer ReLU network built by Pensia et al.'s construction (:mod:`lth.theory.dense`, one
bias-free layer with signed inputs): it computes $u\mapsto (W + E^+)u^+ - (W + E^-)u^-$ exactly, with
realised error matrices $E^\pm$ read from the masks. Softmax, RoPE, RMSNorm, SiLU, the product and the
residual connections are kept as they are. :func:`certify_layer` bounds
$\sup\max_t\lVert\mathrm{out}_t - \widetilde{\mathrm{out}}_t\rVert_2$ rigorously in float64.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from lth.theory.certify import PerturbedLayer, frobenius_upper, layer_error_norm, spectral_norm_upper
from lth.theory.dense import DenseTicket, RandomNetwork, Target, block_masks, construct_random_network, \
    construct_ticket, realised_layers
from lth.theory.numerics import down, up
from lth.theory.objects import Certificate, Witness, ascend, into_balls

MAPS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SILU_LIPSCHITZ = 1.1  # sup |silu'| = 1.0998... (proofs/llama_layer.md, Lemma S)
CHUNK_ELEMENTS = 2**22  # construction works on row blocks with at most this many (weight, unit) products


@dataclass
class DecoderLayer:
    """One Llama decoder layer in float64 with its norm gains folded in (module docstring).

    ``maps[name]`` ``[d_out, d_in]`` for every name of :data:`MAPS`: ``q_proj`` ``[H·d_h, d]``, ``k_proj``
    and ``v_proj`` ``[H_KV·d_h, d]`` (times ``diag(g_1)``), ``o_proj`` ``[d, H·d_h]``, ``gate_proj`` and
    ``up_proj`` ``[I, d]`` (times ``diag(g_2)``), ``down_proj`` ``[d, I]``.
    """

    maps: dict[str, torch.Tensor]
    heads: int
    kv_heads: int
    head_dim: int
    rope_theta: float
    rms_eps: float

    @property
    def dim(self) -> int:
        return self.maps["o_proj"].shape[0]

    @property
    def group(self) -> int:
        return self.heads // self.kv_heads

    @property
    def parameters(self) -> int:
        """The layer's own parameters: the seven maps and the two norm gains."""
        return sum(w.numel() for w in self.maps.values()) + 2 * self.dim

    def __call__(self, x: torch.Tensor, linear: dict[str, Callable] | None = None) -> torch.Tensor:
        """``x`` ``[B, T, d]`` → ``[B, T, d]``, causal, positions 0..T−1; ``linear[name]`` (``[..., d_in]`` →
        ``[..., d_out]``) replaces map ``name`` (default: the target's own matrices)."""
        apply = self._maps(linear)
        h = self.residual(x, apply)
        z = rms_normalise(h, self.rms_eps)
        return h + apply["down_proj"](torch.nn.functional.silu(apply["gate_proj"](z)) * apply["up_proj"](z))

    def _maps(self, linear: dict[str, Callable] | None) -> dict[str, Callable]:
        apply: dict[str, Callable] = {name: (lambda u, w=w: u @ w.T) for name, w in self.maps.items()}
        apply.update(linear or {})
        return apply

    def residual(self, x: torch.Tensor, linear: dict[str, Callable] | None = None) -> torch.Tensor:
        r"""The post-attention residual $h_t = x_t + \mathrm{attention}(x)_t$, ``[B, T, d]``."""
        apply = self._maps(linear)
        b, t, _ = x.shape
        u = rms_normalise(x, self.rms_eps)
        q = rope(apply["q_proj"](u).reshape(b, t, self.heads, self.head_dim), self.rope_theta)
        k = rope(apply["k_proj"](u).reshape(b, t, self.kv_heads, self.head_dim), self.rope_theta)
        v = apply["v_proj"](u).reshape(b, t, self.kv_heads, self.head_dim)
        k, v = k.repeat_interleave(self.group, dim=2), v.repeat_interleave(self.group, dim=2)
        scores = torch.einsum("bihn,bjhn->bhij", q, k) / math.sqrt(self.head_dim)
        future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        p = torch.softmax(scores.masked_fill(future, -math.inf), dim=-1)
        mixed = torch.einsum("bhij,bjhn->bihn", p, v).reshape(b, t, self.heads * self.head_dim)
        return x + apply["o_proj"](mixed)


def rms_normalise(x: torch.Tensor, eps: float) -> torch.Tensor:
    """$N(x) = x/\\sqrt{\\mathrm{mean}(x^2) + \\epsilon}$ over the last axis (no gain)."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rope(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary positions on ``x`` ``[B, T, heads, d_h]``: the plane ``(k, k + d_h/2)`` of position ``t`` turned
    by ``t·theta^(−2k/d_h)`` (Llama's ``rotate_half`` convention), angles in float64."""
    t, d_h = x.shape[1], x.shape[-1]
    inv_freq = theta ** (-torch.arange(0, d_h, 2, dtype=torch.float64, device=x.device) / d_h)
    angle = torch.arange(t, dtype=torch.float64, device=x.device)[:, None] * inv_freq[None]  # [T, d_h/2]
    cos, sin = torch.cos(angle).repeat(1, 2)[None, :, None], torch.sin(angle).repeat(1, 2)[None, :, None]
    half = d_h // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


def from_llama(block: torch.nn.Module, config) -> DecoderLayer:
    """The decoder layer ``block`` (a transformers ``LlamaDecoderLayer``) of a model with ``config`` as a
    :class:`DecoderLayer`, norm gains folded in. ``ValueError`` for biased maps, a RoPE other than Llama's
    default, or weights that are not float32 (the fold is exact only for float32 factors)."""
    rope_parameters = getattr(config, "rope_parameters", None) or {}
    kind = rope_parameters.get("rope_type", "default")
    if kind != "default":
        raise ValueError(f"only Llama's default rotary positions are supported, got rope_type {kind!r}")
    theta = rope_parameters.get("rope_theta", getattr(config, "rope_theta", None))
    attn, mlp = block.self_attn, block.mlp
    modules = {"q_proj": attn.q_proj, "k_proj": attn.k_proj, "v_proj": attn.v_proj, "o_proj": attn.o_proj,
               "gate_proj": mlp.gate_proj, "up_proj": mlp.up_proj, "down_proj": mlp.down_proj}
    gains = {"input": block.input_layernorm.weight, "post": block.post_attention_layernorm.weight}
    for name, module in modules.items():
        if module.bias is not None:
            raise ValueError(f"{name} has a bias: biased Llama variants are not supported")
    for name, t in [*((n, m.weight) for n, m in modules.items()), *gains.items()]:
        if t.dtype != torch.float32:
            raise ValueError(f"{name} is {t.dtype}, not float32 (load the model in float32)")
    g1, g2 = gains["input"].detach().double(), gains["post"].detach().double()
    maps = {name: module.weight.detach().double() for name, module in modules.items()}
    for name in ("q_proj", "k_proj", "v_proj"):
        maps[name] = maps[name] * g1  # float32 × float32 is exact in float64 (48 significant bits)
    for name in ("gate_proj", "up_proj"):
        maps[name] = maps[name] * g2
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return DecoderLayer(maps, heads, kv_heads, head_dim, float(theta), float(config.rms_norm_eps))


@dataclass
class MapTicket:
    """The pruned random network for one map: ``realised`` holds the target matrix, the realised error
    matrices $E^\\pm$ and their rounding slack (read from the masks by :func:`lth.theory.dense.realised_layers`);
    ``mask`` ``[d_out, units·d_in]`` the kept second-layer entries of the random network drawn from ``seed``
    (:func:`lth.theory.dense.construct_random_network` with ``[d_in, d_out]`` and ``[units]``; a first-layer
    entry is kept when its unit's column of ``mask`` keeps one); ``kept``/``total`` count random weights (kept,
    and all before pruning); ``units`` hidden units per input."""

    name: str
    realised: PerturbedLayer
    kept: int
    total: int
    units: int
    seed: int
    mask: torch.Tensor

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        """The pruned network on ``u`` ``[..., d_in]``: $(W + E^+)u^+ - (W + E^-)u^-$ (float64)."""
        r = self.realised
        return u.clamp(min=0) @ (r.weight + r.err_pos).T - (-u).clamp(min=0) @ (r.weight + r.err_neg).T


def _row_blocks(d_out: int, d_in: int, units: int) -> list[slice]:
    """Row blocks whose ``[rows, d_in, units]`` products stay below :data:`CHUNK_ELEMENTS`."""
    rows = max(1, CHUNK_ELEMENTS // (d_in * units))
    return [slice(start, start + rows) for start in range(0, d_out, rows)]


def construct_map_ticket(name: str, weight: torch.Tensor, units: int, seed: int, *, pool_cap: int,
                         retry_cap: int | None = None, retry_fraction: float = 0.02,
                         device: torch.device | str = "cpu",
                         tamper: Callable[[DenseTicket], None] | None = None) -> MapTicket:
    """Pensia et al.'s two-layer ticket (:func:`lth.theory.dense.construct_ticket`, signed inputs) for the map
    ``weight`` ``[d_out, d_in]`` on a random network with ``units`` hidden units per input drawn from ``seed``.

    Rows are solved in blocks (the random first layer is shared, the second layer split by rows), so the
    construction's ``[rows, d_in, units]`` products stay below :data:`CHUNK_ELEMENTS`. ``tamper`` edits each
    block's masks before they are read (broken tickets in tests).
    """
    d_out, d_in = weight.shape
    net = construct_random_network([d_in, d_out], [units], seed, device)
    first, second = net.weights
    weight = weight.to(device=first.device, dtype=torch.float64)
    masks = []
    for rows in _row_blocks(d_out, d_in, units):
        ticket = construct_ticket(Target([weight[rows]], [None]), RandomNetwork([first, second[rows]], [units], seed),
                                  pool_cap=pool_cap, retry_cap=retry_cap, retry_fraction=retry_fraction)
        if tamper is not None:
            tamper(ticket)
        masks.append(ticket.masks[1])
    return realise_map_ticket(name, weight, net, torch.cat(masks))


def realise_map_ticket(name: str, weight: torch.Tensor, net: RandomNetwork, mask: torch.Tensor) -> MapTicket:
    """The :class:`MapTicket` that keeps the second-layer entries ``mask`` ``[d_out, units·d_in]`` of the two-layer
    random network ``net`` (and the first-layer entry of every unit a kept entry reads) for the map ``weight``
    ``[d_out, d_in]``: the realised matrices are read from the masks block by block, as the construction does,
    so a ticket rebuilt from its saved mask computes bit for bit what the built one did."""
    d_out, d_in = weight.shape
    first, second = net.weights
    (units,) = net.units_per_input
    weight = weight.to(device=first.device, dtype=torch.float64)
    mask = mask.to(first.device)
    signed = [torch.ones(d_in, dtype=torch.bool, device=first.device)]
    parts = []
    for rows in _row_blocks(d_out, d_in, units):
        block = RandomNetwork([first, second[rows]], [units], net.seed)
        ticket = DenseTicket(block, block_masks(mask[rows].reshape(-1, d_in, units)), signed, has_bias=False)
        parts.append(realised_layers(Target([weight[rows]], [None]), ticket)[0])
    realised = PerturbedLayer(*(torch.cat([getattr(p, f) for p in parts]) for f in
                                ("weight", "err_pos", "err_neg", "slack_pos", "slack_neg")))
    kept = int(mask.sum()) + int(mask.any(0).sum())
    return MapTicket(name, realised, kept, net.parameters, units, net.seed, mask)


@dataclass
class LayerTicket:
    """Map tickets by name (a subset of :data:`MAPS`; the other maps stay the target's own)."""

    maps: dict[str, MapTicket]
    info: dict = field(default_factory=dict)

    @property
    def kept(self) -> int:
        return sum(t.kept for t in self.maps.values())

    @property
    def total(self) -> int:
        return sum(t.total for t in self.maps.values())

    def linear(self) -> dict[str, Callable]:
        return dict(self.maps)


def construct_layer_ticket(layer: DecoderLayer, names: tuple[str, ...], units: int, seed: int, *, pool_cap: int,
                           retry_cap: int | None = None, device: torch.device | str = "cpu",
                           tamper: Callable[[DenseTicket], None] | None = None) -> LayerTicket:
    """A ticket for the maps ``names`` of ``layer``, map ``i`` of :data:`MAPS` drawn from seed ``seed + i``;
    ``tamper`` (see :func:`construct_map_ticket`) acts on the first named map only."""
    unknown = [n for n in names if n not in MAPS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"maps must be distinct names from {MAPS}, got {names}")
    tickets = {}
    for name in names:
        tickets[name] = construct_map_ticket(name, layer.maps[name], units, seed + MAPS.index(name),
                                             pool_cap=pool_cap, retry_cap=retry_cap, device=device,
                                             tamper=tamper if name == names[0] else None)
    return LayerTicket(tickets)


# certificate --------------------------------------------------------------------------------------------

def _error_norm(ticket: LayerTicket, name: str, rows: slice | None = None) -> float:
    """Rigorous $\\eta$ with $\\lVert E^+u^+ - E^-u^-\\rVert\\le\\eta\\lVert u\\rVert$ on rows ``rows`` of map ``name``
    (0 for a map the ticket leaves exact)."""
    if name not in ticket.maps:
        return 0.0
    r = ticket.maps[name].realised
    rows = rows or slice(None)
    return layer_error_norm(PerturbedLayer(r.weight[rows], r.err_pos[rows], r.err_neg[rows], r.slack_pos[rows],
                                           r.slack_neg[rows]), nonnegative_input=False)


def _max_row_norm(w: torch.Tensor) -> float:
    """Rigorous upper bound on $\\max_k\\lVert w_{k\\cdot}\\rVert_2$."""
    return max(frobenius_upper(row[None]) for row in w)


ASSUMPTIONS = ("causal softmax attention over positions 0..t (any sequence length); rotary positions with exact "
               "rotations; functions in exact real arithmetic on the stored float64 weights (gains folded)",
               "rho: every position's post-attention residual of the target has norm ≥ rho (rho = 0: every "
               "input sequence)",
               "the target is the layer the ticket was built for")


def layer_constants(layer: DecoderLayer, ticket: LayerTicket) -> dict:
    """The norms Proposition L uses (rigorous upper bounds), computed once: per head ``kappa_q``, ``kappa_k``,
    ``nu`` (query, key, value vector norms) and ``alpha_q``, ``alpha_k``, ``alpha_v`` (their errors), the
    spectral norms ``map_norms`` of O, G, U, D, the row-norm bounds ``a_inf``, ``b_inf`` and the per-map ``eta``."""
    w, dh, xi = layer.maps, layer.head_dim, up(math.sqrt(layer.dim))  # ‖N(x)‖ < √d for every x
    rows = [slice(i * dh, (i + 1) * dh) for i in range(layer.heads)]

    def scaled(values: list[float]) -> list[float]:
        return [up(v * xi) for v in values]

    groups = rows[:layer.kv_heads]
    kv = {name: scaled([spectral_norm_upper(w[name][r]) for r in groups]) for name in ("k_proj", "v_proj")}
    kv_err = {name: scaled([_error_norm(ticket, name, r) for r in groups]) for name in ("k_proj", "v_proj")}
    group = [h // layer.group for h in range(layer.heads)]
    return {"xi": xi,
            "kappa_q": scaled([spectral_norm_upper(w["q_proj"][r]) for r in rows]),
            "alpha_q": scaled([_error_norm(ticket, "q_proj", r) for r in rows]),
            "kappa_k": [kv["k_proj"][g] for g in group], "alpha_k": [kv_err["k_proj"][g] for g in group],
            "nu": [kv["v_proj"][g] for g in group], "alpha_v": [kv_err["v_proj"][g] for g in group],
            "map_norms": {name: spectral_norm_upper(w[name]) for name in MAPS[3:]},
            "a_inf": up(_max_row_norm(w["gate_proj"]) * xi), "b_inf": up(_max_row_norm(w["up_proj"]) * xi),
            "eta": {name: _error_norm(ticket, name) for name in MAPS}}


def certify_layer(layer: DecoderLayer, ticket: LayerTicket, rho: float = 0.0,
                  constants: dict | None = None) -> Certificate:
    r"""Rigorous float64 bound on $\sup\max_t\lVert\mathrm{out}_t - \widetilde{\mathrm{out}}_t\rVert_2$ over input
    sequences whose target post-attention residuals have norm $\ge\rho$ (Proposition L of
    proofs/llama_layer.md; $\rho = 0$: all sequences, any length, any norm). Every scalar step rounds upward.
    ``constants``: :func:`layer_constants` of this layer and ticket, when already computed.

    ``parts``: ``attention`` ($\delta_A$, the bound on the post-attention residual's error), ``mlp``
    ($\delta_M$), ``norm_shift`` ($\zeta$, the bound on $\lVert N(\tilde h) - N(h)\rVert$), per-head ``score_shift``
    ($\beta_h$) and ``head_error`` ($\theta_h$), and the constants of :func:`layer_constants`.
    """
    if not (math.isfinite(rho) and rho >= 0):
        raise ValueError(f"rho must be finite and non-negative, got {rho}")
    k = constants if constants is not None else layer_constants(layer, ticket)
    xi, spec, eta = k["xi"], k["map_norms"], k["eta"]
    scale = up(1.0 / down(math.sqrt(layer.head_dim)))
    betas, thetas = [], []
    for kq, kk, nu, aq, ak, av in zip(k["kappa_q"], k["kappa_k"], k["nu"], k["alpha_q"], k["alpha_k"], k["alpha_v"]):
        beta = up(scale * up(up(aq * up(kk + ak)) + up(kq * ak)))
        betas.append(beta)
        thetas.append(up(up(min(2.0, beta) * nu) + av))
    big_theta = up(math.sqrt(sum_up(up(t * t) for t in thetas)))
    y_norm = up(math.sqrt(sum_up(up(n * n) for n in k["nu"])))
    delta_a = up(up(spec["o_proj"] * big_theta) + up(eta["o_proj"] * up(y_norm + big_theta)))
    zeta = _norm_shift(delta_a, rho, layer.dim, layer.rms_eps, xi)
    alpha_a = up(up(spec["gate_proj"] * zeta) + up(eta["gate_proj"] * xi))
    alpha_b = up(up(spec["up_proj"] * zeta) + up(eta["up_proj"] * xi))
    a_inf, b_inf = k["a_inf"], k["b_inf"]
    mu = up(up(SILU_LIPSCHITZ * up(alpha_a * up(b_inf + alpha_b))) + up(a_inf * alpha_b))
    m_norm = min(up(a_inf * up(spec["up_proj"] * xi)), up(up(spec["gate_proj"] * xi) * b_inf))
    delta_m = up(up(spec["down_proj"] * mu) + up(eta["down_proj"] * up(m_norm + mu)))
    value = up(delta_a + delta_m)
    parts = {"attention": delta_a, "mlp": delta_m, "norm_shift": zeta, "rho": rho, "score_shift": betas,
             "head_error": thetas, "mixed_norm": y_norm, "hidden_product_norm": m_norm, "gate_error": alpha_a,
             "up_error": alpha_b, "product_error": mu, **k}
    domain = ("every input sequence (any length, any norm)" if rho == 0 else
              f"input sequences whose target post-attention residuals have norm ≥ {rho:g} (any length)")
    return Certificate(value, "rigorous", domain, "max over positions of l2", ASSUMPTIONS, parts)


def sum_up(values) -> float:
    """A sum of non-negative floats rounded upward at every step."""
    total = 0.0
    for v in values:
        total = up(total + v)
    return total


def _norm_shift(delta: float, rho: float, dim: int, eps: float, xi: float) -> float:
    r"""Upper bound on $\lVert N(\tilde h) - N(h)\rVert$ when $\lVert\tilde h - h\rVert\le\delta$ and
    $\lVert h\rVert\ge\rho$: $\sqrt d\,\delta/\sqrt{\max(0, \rho-\delta)^2 + d\epsilon}$, and never above $2\sqrt d$
    (Lemma N of proofs/llama_layer.md)."""
    gap = max(0.0, down(rho - delta))
    floor = down(down(gap * gap) + down(dim * eps))
    if floor <= 0:
        return up(2 * xi)
    return min(up(2 * xi), up(up(xi * delta) / down(math.sqrt(floor))))


def search_residual_error(layer: DecoderLayer, ticket: LayerTicket, x: torch.Tensor, *, restarts: int, steps: int,
                          lr: float = 0.05) -> Witness:
    r"""Empirical worst case of $\max_t\lVert\tilde h_t - h_t\rVert_2$, the post-attention residual's error that
    :func:`certify_layer`'s ``attention`` part bounds on every input sequence: projected normalised-gradient
    ascent (:func:`lth.theory.objects.ascend`) from the ``restarts`` worst of the sequences ``x`` ``[N, T, d]``
    (held-out hidden states), every token kept in the ball of the largest token norm in ``x``. Returns the
    worst sequence ``[T, d]`` found and its error (float64): a lower bound on the sup, never above the
    certificate unless the certificate is wrong."""
    x = x.to(torch.float64)
    radius = float(x.norm(dim=-1).max())
    linear = ticket.linear()

    def gap(seq: torch.Tensor) -> torch.Tensor:
        return (layer.residual(seq, linear) - layer.residual(seq)).norm(dim=-1).max(dim=-1).values

    return ascend(gap, x, restarts=restarts, steps=steps, step=lr * radius, project=lambda p: into_balls(p, radius),
                  chunk=1)


def position_errors(layer: DecoderLayer, ticket: LayerTicket, x: torch.Tensor) -> torch.Tensor:
    """$\\lVert\\mathrm{out}_t - \\widetilde{\\mathrm{out}}_t\\rVert_2$ for ``x`` ``[B, T, d]`` → ``[B, T]``
    (float64)."""
    x = x.to(torch.float64)
    return (layer(x) - layer(x, ticket.linear())).norm(dim=-1)


class _Map(torch.nn.Module):
    """A map of the decoder layer as a module: ``fn`` run in float64, the result cast back."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.fn(u.to(torch.float64)).to(u.dtype)


_OWNERS = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
           "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}


@contextlib.contextmanager
def substituted(block: torch.nn.Module, layer: DecoderLayer, ticket: LayerTicket | None) -> Iterator[None]:
    """Inside the block, the transformers decoder layer ``block`` computes ``layer`` with ``ticket``'s maps:
    every map becomes a float64 :class:`_Map` (the ticket's pruned network, or the folded target matrix for
    maps it leaves exact) and both norm gains become 1 (they are folded into the maps). Restored on exit."""
    saved_maps = {name: getattr(getattr(block, owner), name) for name, owner in _OWNERS.items()}
    norms = (block.input_layernorm.weight, block.post_attention_layernorm.weight)
    saved_gains = [g.detach().clone() for g in norms]
    linear = layer._maps(ticket.linear() if ticket is not None else None)
    try:
        for name, owner in _OWNERS.items():
            setattr(getattr(block, owner), name, _Map(linear[name]))
        with torch.no_grad():
            for g in norms:
                g.fill_(1.0)
        yield
    finally:
        for name, owner in _OWNERS.items():
            setattr(getattr(block, owner), name, saved_maps[name])
        with torch.no_grad():
            for g, old in zip(norms, saved_gains):
                g.copy_(old)
