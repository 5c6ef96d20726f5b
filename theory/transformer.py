r"""Strong lottery tickets in a normalisation-free transformer block (proofs/slth_attention.md, Theorem B).

The object. A *block* maps tokens $x_1,\dots,x_T\in\mathbb{R}^d$ by two residual sub-layers,
$$z_i = x_i + \mathrm{MHA}(x)_i,\qquad \mathrm{out}_i = z_i + W_2\,\sigma(W_1z_i),$$
an MHA (:mod:`lth.theory.attention`) and a bias-free ReLU MLP applied to every token
($W_1\in\mathbb{R}^{d_{ff}\times d}$, $W_2\in\mathbb{R}^{d\times d_{ff}}$, $\lVert W_i\rVert_2\le1$), no normalisation.
The *ticket* prunes a random source of the same shape: the MHA by the construction of
:mod:`lth.theory.attention`, the MLP by Pensia et al.'s (:mod:`lth.theory.dense`, a random network of depth 4);
the residual connections are identities in both, never pruned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from lth.theory.attention import (MHA, AttentionTicket, build_ticket as build_attention, certify_sup_error as
                              certify_attention, merged_enclosures, random_target as random_mha,
                              search_sequences, enclosure_norm_upper)
from lth.theory.certify import spectral_norm_upper
from lth.theory.dense import (DenseTicket, Domain, Target, build_ticket as build_dense,
                          certify_sup_error as certify_dense, random_target as random_mlp)
from lth.theory.dense_bounds import bound_proven_units_per_input, bound_weight_accuracy
from lth.theory.numerics import up
from lth.theory.objects import Certificate, Witness


@dataclass
class Block:
    """A normalisation-free transformer block: ``attention`` (:class:`MHA`) and ``mlp`` (a depth-2
    bias-free :class:`lth.theory.dense.Target`)."""

    attention: MHA
    mlp: Target

    def __call__(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """``x`` ``[B, T, d]`` → ``[B, T, d]``."""
        return block_forward(self.attention, self.mlp, x, causal)


def block_forward(attention: Callable, mlp: Callable, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """$z = x + \\mathrm{attention}(x)$, then $z + \\mathrm{mlp}(z)$ token by token; ``x`` ``[B, T, d]``."""
    z = x + attention(x, causal)
    return z + mlp(z.reshape(-1, z.shape[-1])).reshape(z.shape)


@dataclass
class BlockTicket:
    """The pruned block: an :class:`AttentionTicket` and a :class:`DenseTicket` for the MLP."""

    attention: AttentionTicket
    mlp: DenseTicket

    @property
    def kept(self) -> int:
        return self.attention.kept + self.mlp.kept

    @property
    def total(self) -> int:
        return self.attention.total + self.mlp.total

    def __call__(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """The pruned block on ``x`` ``[B, T, d]`` (compacted attention, pruned ``Sequential`` MLP)."""
        return block_forward(self.attention.compact(), self.mlp.sequential(), x, causal)


def random_block(dim: int, heads: int, d_k: int, d_v: int, d_ff: int, generator: torch.Generator) -> Block:
    """A random target block: :func:`lth.theory.attention.random_target` and a Gaussian MLP ``[d, d_ff, d]``
    with ‖W_i‖₂ = 1 (:func:`lth.theory.dense.random_target`)."""
    return Block(random_mha(dim, heads, d_k, d_v, generator), random_mlp([dim, d_ff, dim], generator))


def bound_budget(heads: int, radius: float, eps: float) -> dict[str, float]:
    r"""Theorem B's split of ε: the MHA gets $\varepsilon_A = \varepsilon/4$; the MLP gets
    $\varepsilon_M = \varepsilon/(2R)$ on the unit ball, $R = r(1+H) + \varepsilon_A$ bounding the
    ticket's tokens after the attention sub-layer (so $R\varepsilon_M = \varepsilon/2$ on the ball of radius $R$)."""
    if not 0 < eps < 1:
        raise ValueError(f"eps must lie in (0, 1), got {eps}")
    eps_a = eps / 4
    reach = radius * (1 + heads) + eps_a
    return {"eps_attention": eps_a, "eps_mlp": eps / (2 * reach), "reach": reach}


def build_block_ticket(target: Block, eps: float, delta: float, radius: float, *, seed: int,
                       device: torch.device | str = "cpu", pool_cap: int = 20) -> BlockTicket:
    """Both sources at Theorem B's proven widths (δ/2 each) and their tickets."""
    budget = bound_budget(target.attention.heads, radius, eps)
    _, attention = build_attention(target.attention, budget["eps_attention"], delta / 2, radius, seed=seed,
                                   device=device, pool_cap=pool_cap)
    widths = target.mlp.widths
    units = bound_proven_units_per_input(widths, budget["eps_mlp"], delta / 2)
    _, mlp = build_dense(target.mlp, budget["eps_mlp"], delta / 2, seed=seed + 1, device=device,
                         units_per_input=units, pool_cap=pool_cap, pool_rule="blocks",
                         pool_tolerance=bound_weight_accuracy(widths, budget["eps_mlp"]))
    return BlockTicket(attention, mlp)


ASSUMPTIONS = ("tokens have Euclidean norm ≤ radius; any sequence length; bidirectional or causal attention",
               "the target is the one the ticket was built for; exact real arithmetic on the stored weights")


def certify_block(target: Block, ticket: BlockTicket, radius: float) -> Certificate:
    r"""Rigorous bound on $\sup\max_i\lVert\mathrm{out}_i - \widetilde{\mathrm{out}}_i\rVert_2$ over sequences of
    tokens with $\lVert x_j\rVert\le r$ (Proposition B):
    $$\Delta_A(1 + \lVert W_2\rVert\lVert W_1\rVert)
      + \sup_{\lVert z\rVert\le\tilde R}\lVert M(z) - \tilde M(z)\rVert,\qquad
    \tilde R = r\big(1 + \textstyle\sum_h\lVert\tilde B_h\rVert_2\big),$$
    $\Delta_A$ the MHA certificate, $\tilde R$ bounding the ticket's tokens after its attention
    sub-layer, the last term the dense certificate on that ball. Every operation rounded upward.
    """
    mlp_target = Target([w.to(ticket.mlp.random.weights[0].device) for w in target.mlp.weights],
                        [None] * target.mlp.depth)
    attention = certify_attention(target.attention, ticket.attention, radius)
    maps = merged_enclosures(ticket.attention.pruned())
    mixing = 0.0
    for mid, rad in zip(maps["value_map"], maps["value_map_slack"]):
        mixing = up(mixing + enclosure_norm_upper(mid, rad))
    reach = up(radius + up(radius * mixing))
    lipschitz = 1.0
    for w in target.mlp.weights:
        lipschitz = up(lipschitz * spectral_norm_upper(w))
    mlp = certify_dense(mlp_target, ticket.mlp, Domain("ball", radius=reach))
    value = up(up(attention.value + up(lipschitz * attention.value)) + mlp.value)
    parts = {"attention": attention.value, "mlp": mlp.value, "mlp_lipschitz": lipschitz, "reach": reach,
             "attention_parts": attention.parts}
    return Certificate(value, "rigorous", f"sequences of any length, tokens ‖x_j‖₂ ≤ {radius:g}",
                       "max over positions of l2", ASSUMPTIONS, parts)


def search_block(target: Block, ticket: BlockTicket, radius: float, length: int, *, restarts: int = 16,
                 steps: int = 60, samples: int = 256, seed: int = 0, lr: float = 0.1,
                 causal: bool = False) -> Witness:
    """Empirical worst case of $\\max_i\\lVert\\mathrm{out}_i - \\widetilde{\\mathrm{out}}_i\\rVert_2$ over sequences
    of ``length`` tokens in the ball (:func:`lth.theory.attention.search_sequences`), float64."""
    attention, mlp = ticket.attention.compact(), ticket.mlp.sequential()
    device = attention.query.device
    goal = Block(MHA(*(w.to(device) for w in (target.attention.query, target.attention.key,
                                              target.attention.value, target.attention.output)),
                     target.attention.scale),
                 Target([w.to(device) for w in target.mlp.weights], [None] * target.mlp.depth))

    def gap(x: torch.Tensor) -> torch.Tensor:
        return (goal(x, causal) - block_forward(attention, mlp, x, causal)).norm(dim=-1).max(dim=-1).values

    return search_sequences(gap, attention.dim, radius, length, restarts=restarts, steps=steps, samples=samples,
                            seed=seed, lr=lr, device=device)

