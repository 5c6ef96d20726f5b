r"""The proven width of the dense strong-ticket theorem (proofs/slth_dense.md, Theorem P).

Object. An unbiased ReLU target with widths ``[d_0, ..., d_l]`` and $\lVert W_i\rVert_2 \le 1$, the ball
$\lVert x\rVert_2 \le 1$, accuracy ε and failure probability δ. Block $i$ of the random network has
$m_i$ hidden units per input coordinate; the pool of weight $(r, j)$ and branch $\pm$ is the fixed
index set of all $m_i$ units of input $j$, whose products $b_{rk}\max(\pm a_k, 0)$ are i.i.d. from the
product law $\tfrac12\delta_0 + \tfrac12\mathrm{Law}(XY)$. Theorem P: if every pool ε-covers $[-1, 1]$
at the per-weight accuracy ``bound_weight_accuracy`` (probability from Corollary 3 of
proofs/rss.md, union bound over the ``bound_pool_count`` pools), then with probability $\ge 1-\delta$
every such target has a ticket with $\sup_{\lVert x\rVert\le1}\lVert f - \tilde g\rVert_2 \le \varepsilon$.
"""

from __future__ import annotations

import math

from lth.theory.lueker import bound_lueker_samples

UNIT_INTERVAL = (-1.0, 1.0)  # the targets |w_rj| ≤ ‖W_i‖₂ ≤ 1 the pools must reach


def _branches(block: int, signed_input: bool) -> int:
    """Pools per weight: two (both signs of a_k) where the block's inputs can be negative."""
    return 2 if block == 0 and signed_input else 1


def _check(widths: list[int], eps: float, delta: float) -> None:
    if len(widths) < 2 or any(int(d) != d or d < 1 for d in widths):
        raise ValueError(f"widths must be at least two positive integers, got {widths}")
    for name, value in (("eps", eps), ("delta", delta)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must lie in (0, 1), got {value}")


def bound_weight_accuracy(widths: list[int], eps: float, signed_input: bool = True) -> list[float]:
    r"""Per-weight accuracy $\alpha_i = \ln(1+\varepsilon)/(l\sqrt{b_i d_{i-1} d_i})$ of each block.

    Then $\eta_i \le \lVert[E^+_i, E^-_i]\rVert_F \le \alpha_i\sqrt{b_i d_{i-1}d_i} = \ln(1+\varepsilon)/l$
    and the propagation gives $\Delta_l \le e^{\sum_i\eta_i} - 1 \le \varepsilon$ ($b_i$ branches per weight).
    """
    _check(widths, eps, 0.5)
    depth = len(widths) - 1
    return [math.log1p(eps) / (depth * math.sqrt(_branches(i, signed_input) * a * b))
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))]


def bound_pool_count(widths: list[int], signed_input: bool = True) -> int:
    """Pools the union bound runs over: one per weight and branch, $\\sum_i b_i d_{i-1} d_i$."""
    return sum(_branches(i, signed_input) * a * b for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])))


HALF_BELOW = math.nextafter(0.5, 0.0)  # Corollary 3 needs δ' < ½


def bound_proven_units_per_input(widths: list[int], eps: float, delta: float, signed_input: bool = True) -> list[int]:
    r"""The proven $m_i$: the least $n$ whose Corollary 3 failure bound at
    $\delta'_i = \min(\alpha_i, \delta/N, \tfrac12^-)$ is $\le \delta'_i$ (``lth.theory.lueker.bound_lueker_samples`` on $[-1, 1]$, product law).

    Covering $[-1, 1]$ within $\delta'_i \le \alpha_i$ implies covering it within $\alpha_i$, and a
    failure probability $\le \delta'_i \le \delta/N$ per pool sums to $\le \delta$ over the $N$ pools.
    """
    _check(widths, eps, delta)
    share = delta / bound_pool_count(widths, signed_input)
    return [bound_lueker_samples(min(alpha, share, HALF_BELOW), "product", UNIT_INTERVAL)
            for alpha in bound_weight_accuracy(widths, eps, signed_input)]
