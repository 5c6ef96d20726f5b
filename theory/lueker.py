"""Lueker's random-subset-sum bound in the explicit form proved in ``proofs/rss.md``.

Object. A pool law ``D`` *contains* ``U[-h, h]`` with weight ``p`` when ``D = p·U[-h, h] + (1 − p)·Q``
for some law ``Q``. For ``n`` i.i.d. draws from such a law and ``0 < ε < h``, the proof shows

    P(some z ∈ [-h, h] is farther than ε from every subset sum) ≤ 4·(2 − ε/h)·(h/ε)²·(1 − p/4)^n.

Uniform pools are ``p = 1``, ``h = 1`` (rate ``3/4`` per sample); Pensia et al.'s product law
``½δ0 + ½·Law(XY)`` contains ``U[-½, ½]`` with weight ``ln(2)/4``. Setting the right side to ε gives
the sample count; dropping the ``−ε/h`` gives the closed form ``n ≥ C·log2(1/ε) + c0`` with
``C = 3/log2(1/(1 − p/4))`` and ``c0 = log2(8h²)/log2(1/(1 − p/4))``.

Any pool needs ``2^n·2ε ≥ hi − lo`` to cover ``[lo, hi]`` (the ε-neighbourhoods of the ``2^n`` sums
have total length ``2^n·2ε``), which is the counting lower bound ``bound_counting_samples``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class UniformComponent:
    """``D ≥ weight·U[-half_width, half_width]``: the mixture component the proof uses."""

    weight: float
    half_width: float

    def rate(self) -> float:
        """Per-sample contraction ``1 − p/4`` of the potential's expectation."""
        return 1.0 - self.weight / 4.0


COMPONENTS: dict[str, UniformComponent] = {
    "uniform": UniformComponent(weight=1.0, half_width=1.0),
    "product": UniformComponent(weight=math.log(2.0) / 4.0, half_width=0.5),
}


def _component(law: str) -> UniformComponent:
    if law not in COMPONENTS:
        raise ValueError(f"unknown pool law {law!r}; the proof covers {sorted(COMPONENTS)}")
    return COMPONENTS[law]


def _check_eps(eps: float, component: UniformComponent, law: str) -> None:
    if not (math.isfinite(eps) and 0.0 < eps < component.half_width):
        raise ValueError(f"eps must lie in (0, {component.half_width:g}) for the {law} law "
                         f"(its target interval is [-{component.half_width:g}, {component.half_width:g}]), got {eps}")


def bound_target_interval(law: str = "uniform") -> tuple[float, float]:
    """The interval ``[-h, h]`` of targets the proven bound covers for ``law``."""
    h = _component(law).half_width
    return -h, h


def bound_failure_probability(n: int, eps: float, law: str = "uniform") -> float:
    """Proven upper bound on P(some target in ``bound_target_interval(law)`` is not ε-approximated).

    ``4·(2 − ε/h)·(h/ε)²·(1 − p/4)^n``, capped at 1 (proofs/rss.md, theorem and corollary).
    """
    if n < 0 or int(n) != n:
        raise ValueError(f"n must be a non-negative integer, got {n}")
    component = _component(law)
    _check_eps(eps, component, law)
    scaled = eps / component.half_width
    log_bound = math.log(4.0 * (2.0 - scaled) / scaled**2) + n * math.log(component.rate())
    return min(1.0, math.exp(log_bound))


def bound_lueker_samples(eps: float, law: str = "uniform") -> int:
    """Smallest n for which the proof guarantees failure probability ≤ ε.

    That is the least ``n`` with ``4·(2 − ε/h)·(h/ε)²·(1 − p/4)^n ≤ ε``; at most
    ``⌈C·log2(1/ε) + c0⌉`` with ``(C, c0) = bound_lueker_constants(law)``.
    """
    component = _component(law)
    _check_eps(eps, component, law)
    scaled = eps / component.half_width
    need = math.log(4.0 * (2.0 - scaled) / (scaled**2 * eps)) / -math.log(component.rate())
    n = max(0, math.ceil(need))
    # the ceiling of a rounded logarithm can land one off; settle it on the bound itself
    while n > 0 and bound_failure_probability(n - 1, eps, law) <= eps:
        n -= 1
    while bound_failure_probability(n, eps, law) > eps:
        n += 1
    return n


def bound_lueker_constants(law: str = "uniform") -> tuple[float, float]:
    """``(C, c0)`` such that ``n ≥ C·log2(1/ε) + c0`` suffices: ``3/r`` and ``log2(8h²)/r``, ``r = log2(1/(1 − p/4))``."""
    component = _component(law)
    bits_per_sample = -math.log2(component.rate())
    return 3.0 / bits_per_sample, math.log2(8.0 * component.half_width**2) / bits_per_sample


def bound_counting_samples(eps: float, lo: float = -1.0, hi: float = 1.0) -> int:
    """Fewest samples any pool (of any law) needs to ε-cover ``[lo, hi]``: ``⌈log2((hi − lo)/(2ε))⌉``."""
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be positive, got {eps}")
    if not lo < hi:
        raise ValueError(f"empty interval [{lo}, {hi}]")
    return max(0, math.ceil(math.log2((hi - lo) / (2.0 * eps))))


def bound_lueker_table(eps_values: list[float], law: str = "uniform") -> dict:
    """What a check stores about the proof: target interval, ``C``, ``c0`` and the proven n per ε.

    JSON-able; ε values outside the proof's range ``(0, h)`` are left out of ``n`` (the proof says
    nothing there). Keys of ``n`` are ``str(eps)``, matching the checks' ``n_star``.
    """
    lo, hi = bound_target_interval(law)
    slope, intercept = bound_lueker_constants(law)
    return {"interval": [lo, hi], "C": slope, "c0": intercept,
            "n": {str(eps): bound_lueker_samples(eps, law) for eps in eps_values if 0 < eps < hi}}
