r"""Strong lottery tickets in multi-head attention (Otsuka et al. 2025), built and certified.

The objects (proofs/slth_attention.md). A *multi-head attention* (MHA) with $H$ heads on tokens
$x_1, \dots, x_T \in \mathbb{R}^d$ computes, for every position $i$,
$$y_i = \sum_h O_h \sum_j p^h_{ij}\, V_h x_j,\qquad p^h_{i\cdot} = \mathrm{softmax}_j(c\,(Q_hx_i)\cdot(K_hx_j)),$$
with $Q_h, K_h \in \mathbb{R}^{n_K\times d}$, $V_h\in\mathbb{R}^{n_V\times d}$, $O_h\in\mathbb{R}^{d\times n_V}$ and a
score scale $c$. It depends on the weights only through the *merged maps*
$A_h = c\,Q_h^\top K_h$ (scores $x_i^\top A_hx_j$) and $B_h = O_hV_h$.

The *target* has head dimensions $d_k, d_v$ and $c = 1/\sqrt{d_k}$; its merged maps have spectral
norm at most 1. The *source* is a random MHA with i.i.d. U[−1, 1] weights, $c = 1$ and hidden
dimensions $n_K = m_Kd$, $n_V = m_Vd$: $m$ hidden units per input coordinate, unit $k$ belonging
to coordinate $j(k) = \lfloor k/m\rfloor$.

The *ticket* ("two layers for one" applied to the merged maps): key unit $k$ keeps the single entry
$a_k = (K_h)_{k,j(k)}$, so $Q_h^\top K_h$ restricted to the kept entries has $(i, j)$ entry
$\sum_{k:\,j(k)=j} [\text{kept}]\,(Q_h)_{ki}a_k$, a subset sum of the pool $\{(Q_h)_{ki}a_k\}$ chosen by
``best_subsets`` to approximate $(A_h)_{ij}$; likewise value unit $k$ keeps $a_k = (V_h)_{k,j(k)}$ and
the kept entries of $O_h$ make $(O_hV_h)_{rj}\approx(B_h)_{rj}$. No activation sits between the two
factors, so one pool per weight serves both signs of the input (no ReLU branches as in the dense case).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from lth.theory.certify import frobenius_upper, spectral_norm_upper
from lth.theory.dense import branch_masks
from lth.theory.dense_bounds import HALF_BELOW, UNIT_INTERVAL
from lth.theory.device import generator as make_generator
from lth.theory.lueker import bound_lueker_samples
from lth.theory.numerics import TINY, UNIT_ROUNDOFF, enclosed_product, round_up, up
from lth.theory.objects import Certificate, Witness, ascend, into_balls
from lth.theory.subset_sum import sample_uniform

DEFAULT_POOL_CAP = 20  # units per value-independent block (pool rule B of proofs/slth_dense.md)
NORM_TOLERANCE = 1e-9  # ‖A_h‖₂, ‖B_h‖₂ ≤ 1 + this counts as ≤ 1 (normalised matrices round a little)
SEARCH_CHUNK = 64  # sequences evaluated at once by the search's sampling phase
TARGET_NORM = 1 - 2.0**-30  # drawn targets' merged-map norm: just below 1, so every entry is provably in [−1, 1]


@dataclass
class MHA:
    """Multi-head attention weights, float64: ``query``, ``key`` ``[H, n_K, d]``, ``value`` ``[H, n_V, d]``,
    ``output`` ``[H, d, n_V]``; ``scale`` multiplies the scores (a float64 constant, part of the function)."""

    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    output: torch.Tensor
    scale: float

    def __post_init__(self) -> None:
        h, n_k, d = self.query.shape
        n_v = self.value.shape[1]
        expected = {"key": (h, n_k, d), "value": (h, n_v, d), "output": (h, d, n_v)}
        for name, shape in expected.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"{name} has shape {tuple(getattr(self, name).shape)}, expected {shape}")
        for name in ("query", "key", "value", "output"):
            if not torch.isfinite(getattr(self, name)).all():
                raise ValueError(f"{name} has non-finite entries")

    @property
    def heads(self) -> int:
        return self.query.shape[0]

    @property
    def dim(self) -> int:
        return self.query.shape[2]

    @property
    def parameters(self) -> int:
        return sum(t.numel() for t in (self.query, self.key, self.value, self.output))

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, T, d]`` → scores ``[B, H, T, T]`` (query position, key position)."""
        q = torch.einsum("btd,hnd->bhtn", x, self.query)
        k = torch.einsum("btd,hnd->bhtn", x, self.key)
        return self.scale * (q @ k.transpose(-1, -2))

    def __call__(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """``x`` ``[B, T, d]`` → ``[B, T, d]``; ``causal``: position ``i`` attends to ``j ≤ i`` only."""
        s = self.scores(x)
        if causal:
            t = x.shape[1]
            future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            s = s.masked_fill(future, -math.inf)
        p = torch.softmax(s, dim=-1)
        v = torch.einsum("btd,hnd->bhtn", x, self.value)
        return torch.einsum("bhtn,hdn->btd", p @ v, self.output)


def random_target(dim: int, heads: int, d_k: int, d_v: int, generator: torch.Generator,
                  norm: float = TARGET_NORM) -> MHA:
    """Gaussian heads with score scale $1/\\sqrt{d_k}$, $W_Q$ and $W_O$ rescaled so that the merged maps
    $A_h = W_Q^\\top W_K/\\sqrt{d_k}$ and $B_h = W_OW_V$ have spectral norm ``norm`` (numerically)."""
    dev = generator.device

    def draw(*shape):
        return torch.randn(heads, *shape, generator=generator, device=dev, dtype=torch.float64)

    wq, wk, wv, wo = draw(d_k, dim), draw(d_k, dim), draw(d_v, dim), draw(dim, d_v)
    scale = 1.0 / math.sqrt(d_k)
    a_norm = torch.linalg.matrix_norm(scale * wq.transpose(1, 2) @ wk, ord=2)
    b_norm = torch.linalg.matrix_norm(wo @ wv, ord=2)
    return MHA(wq * (norm / a_norm)[:, None, None], wk, wv, wo * (norm / b_norm)[:, None, None], scale)


def construct_source(dim: int, heads: int, units_key: int, units_value: int, seed: int,
                     device: torch.device | str = "cpu") -> MHA:
    """The random source: i.i.d. U[−1, 1] weights, score scale 1, hidden dimensions
    $n_K$ = ``units_key``·d and $n_V$ = ``units_value``·d (units per input coordinate)."""
    if units_key < 1 or units_value < 1:
        raise ValueError(f"units per input must be positive, got {units_key}, {units_value}")
    gen = make_generator(seed, torch.device(device))
    n_k, n_v = units_key * dim, units_value * dim
    query = sample_uniform((heads, n_k, dim), gen)
    key = sample_uniform((heads, n_k, dim), gen)
    value = sample_uniform((heads, n_v, dim), gen)
    output = sample_uniform((heads, dim, n_v), gen)
    return MHA(query, key, value, output, 1.0)


@dataclass
class AttentionTicket:
    """Boolean masks shaped like the source's weights: ``masks = (query, key, value, output)``."""

    source: MHA
    masks: list[torch.Tensor]
    info: dict = field(default_factory=dict)

    @property
    def kept(self) -> int:
        """Unmasked random weights."""
        return int(sum(int(m.sum()) for m in self.masks))

    @property
    def total(self) -> int:
        """All random weights before pruning."""
        return self.source.parameters

    def pruned(self) -> MHA:
        """The source with pruned entries set to zero (kept ones bit for bit)."""
        s = self.source
        kept = [torch.where(m, w, torch.zeros((), dtype=w.dtype, device=w.device))
                for w, m in zip((s.query, s.key, s.value, s.output), self.masks)]
        return MHA(*kept, s.scale)

    def compact(self) -> MHA:
        """:meth:`pruned` without its dead hidden units: the same function, smaller tensors.

        A score unit contributes $(Q_hx_i)_k(K_hx_j)_k$, zero when either row is empty; a value unit
        contributes $O_{\\cdot k}(V_hx_j)_k$, zero when its row of $V$ or column of $O$ is empty. Units
        are kept up to the largest live count over heads (heads share one tensor).
        """
        p = self.pruned()
        live_k = p.query.ne(0).any(2) & p.key.ne(0).any(2)  # [H, n_K]
        live_v = p.value.ne(0).any(2) & p.output.ne(0).any(1)  # [H, n_V]

        def gather(rows: torch.Tensor, live: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # live units first
            order = torch.argsort((~live).to(torch.int8), dim=1, stable=True)[:, : max(1, int(live.sum(1).max()))]
            return torch.gather(rows, 1, order[..., None].expand(-1, -1, rows.shape[2])), order

        q, order_k = gather(p.query, live_k)
        k = torch.gather(p.key, 1, order_k[..., None].expand(-1, -1, p.key.shape[2]))
        v, order_v = gather(p.value, live_v)
        o = torch.gather(p.output, 2, order_v[:, None, :].expand(-1, p.output.shape[1], -1))
        return MHA(q, k, v, o, p.scale)


def restrict_units(source: MHA, units_key: int, units_value: int, keep: int) -> MHA:
    """The source with only the first ``keep`` units of every input coordinate (keys and values).

    Sources of a sweep are nested this way: the one with $m$ units per input is a sub-network of the
    one with $m' > m$, drawn once, so errors along the sweep differ by the pools alone.
    """
    if not 1 <= keep <= min(units_key, units_value):
        raise ValueError(f"keep must lie in [1, {min(units_key, units_value)}], got {keep}")
    h, _, d = source.query.shape

    def rows(w: torch.Tensor, units: int) -> torch.Tensor:  # [H, units·d, d] → [H, keep·d, d]
        return w.reshape(h, d, units, d)[:, :, :keep].reshape(h, keep * d, d)

    output = source.output.reshape(h, d, d, units_value)[..., :keep].reshape(h, d, keep * d)
    return MHA(rows(source.query, units_key), rows(source.key, units_key), rows(source.value, units_value),
               output, source.scale)


def _unit_weights(weights: torch.Tensor, units: int) -> torch.Tensor:
    """``[H, m·d, d]`` → ``[H, d, m]``: $a$ of unit $t$ of coordinate $j$ is the entry (j·m + t, j)."""
    h, _, d = weights.shape
    return weights.reshape(h, d, units, d).diagonal(dim1=1, dim2=3).transpose(1, 2)


def _solve(products: torch.Tensor, targets: torch.Tensor, pool_cap: int, tolerance: float) -> torch.Tensor:
    """Pool rule B on ``products`` ``[H, d_out, d_in, m]`` for ``targets`` ``[H, d_out, d_in]``: chosen units.

    Heads are stacked as extra outputs, so one batched call of the dense construction's block solver
    serves all of them; every unit may serve every weight of its coordinate (no sign branch).
    """
    h, d_out, d_in, m = products.shape
    usable = torch.ones(d_in, m, dtype=torch.bool, device=products.device)
    chosen = branch_masks(products.reshape(h * d_out, d_in, m), targets.reshape(h * d_out, d_in), usable,
                           pool_cap, "blocks", tolerance)
    return chosen.reshape(h, d_out, d_in, m)


def construct_ticket(target: MHA, source: MHA, units_key: int, units_value: int, *,
                     pool_cap: int = DEFAULT_POOL_CAP, tolerance: tuple[float, float] = (0.0, 0.0)) -> AttentionTicket:
    """The masks of proofs/slth_attention.md on ``source`` for ``target``'s merged maps.

    ``tolerance``: per-weight accuracies $(\\alpha_K, \\alpha_V)$ at which pool rule B stops searching
    further blocks (0: every block is solved and the best kept).
    """
    if target.dim != source.dim or target.heads != source.heads:
        raise ValueError(f"target has {target.heads} heads on d = {target.dim}, source {source.heads} on "
                         f"d = {source.dim}")
    h, d = source.heads, source.dim
    if source.query.shape[1] != units_key * d or source.value.shape[1] != units_value * d:
        raise ValueError("source hidden dimensions do not match the units per input")
    maps = merged_enclosures(target)
    a_map, b_map = maps["score_map"], maps["value_map"]
    # scores: products (Q)_{ki} a_k over the units k of coordinate j, as [H, i, j, t]
    a_key = _unit_weights(source.key, units_key)  # [H, j, t]
    q_units = source.query.reshape(h, d, units_key, d).permute(0, 3, 1, 2)  # [H, i, j, t]
    chosen_k = _solve(q_units * a_key[:, None], a_map, pool_cap, tolerance[0])
    # values: products (O)_{rk} a_k, as [H, r, j, t]
    a_value = _unit_weights(source.value, units_value)
    o_units = source.output.reshape(h, d, d, units_value)
    chosen_v = _solve(o_units * a_value[:, None], b_map, pool_cap, tolerance[1])
    mask_q = chosen_k.permute(0, 2, 3, 1).reshape(h, units_key * d, d)
    mask_o = chosen_v.reshape(h, d, units_value * d)
    mask_k = _diagonal_mask(mask_q.any(2), units_key, d)
    mask_v = _diagonal_mask(mask_o.any(1), units_value, d)
    ticket = AttentionTicket(source, [mask_q, mask_k, mask_v, mask_o])
    errors = realised_errors(target, ticket)
    ticket.info = {"max_score_weight_error": float(errors["score_error"].abs().max()),
                   "max_value_weight_error": float(errors["value_error"].abs().max())}
    return ticket


def _diagonal_mask(used: torch.Tensor, units: int, d: int) -> torch.Tensor:
    """``used`` ``[H, m·d]`` → mask ``[H, m·d, d]`` keeping entry (k, ⌊k/m⌋) of every used unit."""
    mask = torch.zeros(*used.shape, d, dtype=torch.bool, device=used.device)
    unit = torch.arange(used.shape[1], device=used.device)
    mask[:, unit, unit // units] = used
    return mask


def _scaled(mid: torch.Tensor, rad: torch.Tensor, s: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Enclosure of ``s·X`` for every ``X ∈ [mid ± rad]``: the product's rounding (≤ 2u|result|) added."""
    m = mid * s
    return m, round_up(round_up(rad * abs(s)) + 2 * UNIT_ROUNDOFF * m.abs() + TINY)


def _difference(mid1, rad1, mid2, rad2) -> tuple[torch.Tensor, torch.Tensor]:
    """Enclosure of ``X − Y`` for ``X ∈ [mid1 ± rad1]``, ``Y ∈ [mid2 ± rad2]`` (subtraction rounding added)."""
    m = mid1 - mid2
    return m, round_up(round_up(rad1 + rad2) + 2 * UNIT_ROUNDOFF * m.abs() + TINY)


def _merged(first: torch.Tensor, second: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per head, an enclosure ``mid ± rad`` of ``scale · first[h] @ second[h]`` ``[H, a, b]`` (exact reals)."""
    mids, rads = [], []
    for f, s in zip(first, second):
        zero_f, zero_s = torch.zeros_like(f), torch.zeros_like(s)
        mid, rad = enclosed_product(f, zero_f, s, zero_s)
        if scale != 1.0:
            mid, rad = _scaled(mid, rad, scale)
        mids.append(mid)
        rads.append(rad)
    return torch.stack(mids), torch.stack(rads)


def merged_enclosures(mha: MHA) -> dict[str, torch.Tensor]:
    """Enclosures of the merged maps in exact arithmetic on the stored weights, each ``[H, d, d]``:
    ``score_map`` ± ``score_map_slack`` ∋ $A_h = c\\,Q_h^\\top K_h$,
    ``value_map`` ± ``value_map_slack`` ∋ $B_h = O_hV_h$."""
    a_mid, a_rad = _merged(mha.query.transpose(1, 2), mha.key, mha.scale)
    b_mid, b_rad = _merged(mha.output, mha.value, 1.0)
    return {"score_map": a_mid, "score_map_slack": a_rad, "value_map": b_mid, "value_map_slack": b_rad}


def realised_errors(target: MHA, ticket: AttentionTicket) -> dict[str, torch.Tensor]:
    """Enclosures of the realised error maps $E^K_h = \\tilde A_h - A_h$ and $E^V_h = \\tilde B_h - B_h$.

    Computed from the masked source and the target's weights alone (never from the construction's
    bookkeeping), so any mask, tampered or not, is accounted for. Returns ``score_error``,
    ``score_slack``, ``value_error``, ``value_slack`` ``[H, d, d]`` (every true entry within slack of the
    stored one) and the target's merged maps of :func:`merged_enclosures`.
    """
    goal, got = merged_enclosures(target), merged_enclosures(ticket.pruned())
    e_k, s_k = _difference(got["score_map"], got["score_map_slack"], goal["score_map"], goal["score_map_slack"])
    e_v, s_v = _difference(got["value_map"], got["value_map_slack"], goal["value_map"], goal["value_map_slack"])
    return {"score_error": e_k, "score_slack": s_k, "value_error": e_v, "value_slack": s_v, **goal}


def enclosure_norm_upper(mid: torch.Tensor, rad: torch.Tensor) -> float:
    """Rigorous upper bound on $\\lVert X\\rVert_2$ over every ``X`` within ``rad`` of ``mid`` (2-D)."""
    return up(spectral_norm_upper(mid) + frobenius_upper(rad))


def check_target(target: MHA) -> None:
    """Raise unless the hypotheses of Theorem A hold: every entry of every merged map lies in [−1, 1]
    (rigorously: the pools cover [−1, 1]) and each map's spectral norm is ≤ 1 (numerically, as
    :func:`lth.theory.dense.check_norms`; the certificate uses rigorous norms whatever they are)."""
    maps = merged_enclosures(target)
    for name in ("score_map", "value_map"):
        mid, rad = maps[name], maps[f"{name}_slack"]
        if bool((round_up(mid.abs() + rad) > 1).any()):
            raise ValueError(f"the construction needs every entry of the {name} in [−1, 1]")
        norm = float(torch.linalg.matrix_norm(mid, ord=2).max())
        if norm > 1 + NORM_TOLERANCE:
            raise ValueError(f"the construction needs ‖{name}‖₂ ≤ 1 for every head, got {norm:.6g}")


def map_error_norms(target: MHA, ticket: AttentionTicket) -> dict[str, list[float]]:
    """Rigorous per-head $\\lVert E^K_h\\rVert_2$ (``score``) and $\\lVert E^V_h\\rVert_2$ (``value``):
    $\\sup_{\\lVert x\\rVert\\le1}$ of each merged map's error, comparable with a dense block's certificate."""
    e = realised_errors(target, ticket)
    return {"score": [enclosure_norm_upper(m, s) for m, s in zip(e["score_error"], e["score_slack"])],
            "value": [enclosure_norm_upper(m, s) for m, s in zip(e["value_error"], e["value_slack"])]}


# What certify_sup_error rests on besides float64 arithmetic (proofs/slth_attention.md).
ASSUMPTIONS = ("tokens have Euclidean norm ≤ radius; any sequence length (the bound does not depend on T)",
               "softmax over any non-empty set of key positions per query (bidirectional or causal)",
               "the target is the one the ticket was built for; functions in exact real arithmetic on the "
               "stored float64 weights and scales")


def certify_sup_error(target: MHA, ticket: AttentionTicket, radius: float) -> Certificate:
    r"""Rigorous float64 bound on $\sup \max_i\lVert y_i - \tilde y_i\rVert_2$ over sequences of tokens with
    $\lVert x_j\rVert_2\le r$, any length.

    With $\kappa_h \ge \lVert E^K_h\rVert_2$, $\eta_h\ge\lVert E^V_h\rVert_2$, $\omega_h\ge\lVert B_h\rVert_2$ and
    $\tau_h = r\min(2, r^2\kappa_h)$ (softmax moves by at most $\min(2, r^2\kappa_h)$ in $\ell_1$, and a
    zero-sum combination of tokens has norm ≤ its $\ell_1$ mass times $r$):
    $$\text{score part} \le \min\Big(\sum_h\omega_h\tau_h,\ \Omega\big(\textstyle\sum_h\tau_h^2\big)^{1/2}\Big),\quad
    \text{value part} \le \min\Big(r\sum_h\eta_h,\ r\sqrt H\,\mathrm H\Big),$$
    $\Omega \ge \lVert[B_1\cdots B_H]\rVert_2$, $\mathrm H \ge \lVert[E^V_1\cdots E^V_H]\rVert_2$; the value is
    their sum, every scalar operation rounded upward. ``parts``: per-head norms and both parts.
    """
    if not (math.isfinite(radius) and radius >= 0):
        raise ValueError(f"radius must be finite and non-negative, got {radius}")
    e = realised_errors(target, ticket)
    norms = map_error_norms(target, ticket)
    omega = [enclosure_norm_upper(m, s) for m, s in zip(e["value_map"], e["value_map_slack"])]
    stack = lambda t: torch.cat(list(t), dim=1)  # noqa: E731 - [H, d, d] → [d, H·d]
    omega_all = enclosure_norm_upper(stack(e["value_map"]), stack(e["value_map_slack"]))
    eta_all = enclosure_norm_upper(stack(e["value_error"]), stack(e["value_slack"]))
    value, parts = bound_proposition(radius, norms["score"], norms["value"], omega, omega_all, eta_all)
    return Certificate(value, "rigorous", f"sequences of any length, tokens ‖x_j‖₂ ≤ {radius:g}",
                       "max over positions of l2", ASSUMPTIONS, parts)


def bound_proposition(radius: float, kappa: list[float], eta: list[float], omega: list[float],
                      omega_all: float = math.inf, eta_all: float = math.inf) -> tuple[float, dict]:
    """Proposition A's bound from per-head upper bounds on the map norms (rounded upward throughout).

    ``kappa``, ``eta``, ``omega``: per head $\\lVert E^K_h\\rVert_2$, $\\lVert E^V_h\\rVert_2$, $\\lVert B_h\\rVert_2$;
    ``omega_all``, ``eta_all``: the stacked norms (``inf``: use the per-head forms only). Returns the
    bound and its parts.
    """
    r, heads = float(radius), len(kappa)
    tau = [up(r * min(2.0, up(up(r * r) * k))) for k in kappa]
    score_sum = value_sum = squares = 0.0
    for o, t, n in zip(omega, tau, eta):
        score_sum = up(score_sum + up(o * t))
        squares = up(squares + up(t * t))
        value_sum = up(value_sum + up(r * n))
    # inf·0 would be NaN: an absent stacked norm leaves its form out instead
    score_stack = up(omega_all * up(math.sqrt(squares))) if math.isfinite(omega_all) else math.inf
    value_stack = up(up(r * up(math.sqrt(heads))) * eta_all) if math.isfinite(eta_all) else math.inf
    score, value = min(score_sum, score_stack), min(value_sum, value_stack)
    parts = {"score_error_norms": kappa, "value_error_norms": eta, "value_map_norms": omega,
             "score_part": score, "value_part": value, "score_part_per_head": score_sum,
             "score_part_stacked": score_stack, "value_part_per_head": value_sum, "value_part_stacked": value_stack}
    return up(score + value), parts


def sequence_error(target: MHA, ticket_mha: MHA, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """$\\max_i\\lVert y_i - \\tilde y_i\\rVert_2$ for each sequence of ``x`` ``[B, T, d]`` → ``[B]``."""
    return (target(x, causal) - ticket_mha(x, causal)).norm(dim=-1).max(dim=-1).values


def search_sup_error(target: MHA, ticket: AttentionTicket, radius: float, length: int, *, restarts: int = 16,
                     steps: int = 60, samples: int = 256, seed: int = 0, lr: float = 0.1,
                     causal: bool = False) -> Witness:
    """Empirical worst case of $\\max_i\\lVert y_i - \\tilde y_i\\rVert_2$ over sequences of ``length`` tokens in
    the ball (a lower bound on the sup the certificate bounds), by :func:`search_sequences` on the
    compacted ticket (:meth:`AttentionTicket.compact`, the same function) in float64."""
    net = ticket.compact()
    device = net.query.device
    on_device = MHA(*(w.to(device) for w in (target.query, target.key, target.value, target.output)), target.scale)
    return search_sequences(lambda x: sequence_error(on_device, net, x, causal), net.dim, radius, length,
                            restarts=restarts, steps=steps, samples=samples, seed=seed, lr=lr, device=device)


def search_sequences(gap, dim: int, radius: float, length: int, *, restarts: int, steps: int, samples: int,
                     seed: int, lr: float, device: torch.device) -> Witness:
    """Projected gradient ascent of ``gap`` (sequences ``[B, T, d]`` → ``[B]``, differentiable) over sequences
    of ``length`` tokens of norm ≤ ``radius``.

    ``samples`` random sequences (tokens on the sphere for half of them, inside the ball for the
    rest), then normalised-gradient steps from the ``restarts`` best, every token projected back to
    the ball after each step. Returns the worst sequence ``[length, d]`` found and its value.
    """
    if length < 1:
        raise ValueError(f"sequence length must be positive, got {length}")
    gen = make_generator(seed, device)
    x = torch.randn(samples, length, dim, generator=gen, device=device, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True)
    inside = torch.rand(samples, length, 1, generator=gen, device=device, dtype=torch.float64) ** (1 / dim)
    inside[: samples // 2] = 1.0
    x = x * inside * radius
    # sampled sequences in chunks: hidden activations are [chunk, H, T, n] per sequence batch
    return ascend(gap, x, restarts=restarts, steps=steps, step=lr * radius, project=lambda p: into_balls(p, radius),
                  chunk=SEARCH_CHUNK)


def bound_weight_accuracy(dim: int, heads: int, radius: float, eps: float) -> tuple[float, float]:
    r"""Per-weight accuracies $(\alpha_K, \alpha_V) = \big(\varepsilon/(2Hr^3d),\ \varepsilon/(2Hrd)\big)$.

    With every $|e^K_{ij}|\le\alpha_K$, $|e^V_{rj}|\le\alpha_V$ and $\lVert B_h\rVert_2\le1$:
    $\lVert E\rVert_2\le\lVert E\rVert_F\le d\alpha$, so the certificate's real value is at most
    $H(r\cdot r^2d\alpha_K + r\,d\alpha_V) = \varepsilon$ (Lemma A2 of proofs/slth_attention.md).
    """
    _check_unit(eps, "eps")
    if not (radius > 0 and math.isfinite(radius)):
        raise ValueError(f"radius must be positive, got {radius}")
    return eps / (2 * heads * radius**3 * dim), eps / (2 * heads * radius * dim)


def _check_unit(value: float, name: str) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{name} must lie in (0, 1), got {value}")


def bound_pool_count(dim: int, heads: int) -> int:
    """Pools of the union bound: one per entry of every merged map, $2Hd^2$."""
    return 2 * heads * dim * dim


def bound_proven_units(dim: int, heads: int, radius: float, eps: float, delta: float) -> tuple[int, int]:
    r"""The proven units per input $(m_K, m_V)$ (Theorem A of proofs/slth_attention.md): the least $n$
    whose Corollary 3 failure bound (product law on [−1, 1]) at $\delta' = \min(\alpha, \delta/N, \tfrac12^-)$
    is $\le\delta'$; the hidden dimensions are $n_K = m_Kd$, $n_V = m_Vd$."""
    _check_unit(delta, "delta")
    share = delta / bound_pool_count(dim, heads)
    return tuple(bound_lueker_samples(min(alpha, share, HALF_BELOW), "product", UNIT_INTERVAL)
                 for alpha in bound_weight_accuracy(dim, heads, radius, eps))


def build_ticket(target: MHA, eps: float, delta: float, radius: float, *, seed: int,
                 device: torch.device | str = "cpu", units: tuple[int, int] | None = None,
                 pool_cap: int = DEFAULT_POOL_CAP) -> tuple[MHA, AttentionTicket]:
    """Source at the proven units per input (or the given ``units``) and its ticket for ``target``,
    pool rule B stopping at the proven per-weight accuracies."""
    check_target(target)
    m_k, m_v = units if units is not None else bound_proven_units(target.dim, target.heads, radius, eps, delta)
    source = construct_source(target.dim, target.heads, m_k, m_v, seed, device)
    on_device = MHA(*(w.to(device) for w in (target.query, target.key, target.value, target.output)), target.scale)
    tolerance = bound_weight_accuracy(target.dim, target.heads, radius, eps)
    return source, construct_ticket(on_device, source, m_k, m_v, pool_cap=pool_cap, tolerance=tolerance)
