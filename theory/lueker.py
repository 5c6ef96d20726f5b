"""Lueker's random-subset-sum bound in the explicit form proved in ``proofs/rss.md``.

Object. A pool law ``D`` *contains* ``U[-h, h]`` with weight ``p`` when ``D = p·U[-h, h] + (1 − p)·Q``
for some law ``Q``. For ``n`` i.i.d. draws from such a law and ``0 < ε < h``, the proof shows

    P(some z ∈ [-h, h] is farther than ε from every subset sum) ≤ 4·(2 − ε/h)·(h/ε)²·(1 − p/4)^n.

Uniform pools are ``p = 1``, ``h = 1`` (rate ``3/4`` per sample, Theorem 1); Pensia et al.'s product law
``½δ0 + ½·Law(XY)`` contains ``U[-½, ½]`` with weight ``ln(2)/4`` (Corollary 2). Setting the right side to
ε gives the sample count; dropping the ``−ε/h`` gives the closed form ``n ≥ C·log2(1/ε) + c0`` with
``C = 3/log2(1/(1 − p/4))`` and ``c0 = log2(8h²)/log2(1/(1 − p/4))``.

Product pools on the whole of ``[-1, 1]`` (Corollary 3): the first ``n1`` samples reach every target
within ½ once their positive parts and their negative parts each sum past 1 (Chernoff:
``P(Σ max(X_i, 0) < 1) ≤ e^θ·m(θ)^{n1}``, ``m(θ) = ¾ + Ein(θ)/(4θ)``), the other ``n − n1`` cover the
remaining offset in ``[-½, ½]`` by Corollary 2; the bound is minimised over the split and over ``θ``.

Any pool needs ``2^n·2ε ≥ hi − lo`` to cover ``[lo, hi]`` (the ε-neighbourhoods of the ``2^n`` sums
have total length ``2^n·2ε``), which is the counting lower bound ``bound_counting_samples``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import exp1

# Chernoff parameters tried in Corollary 3 (every θ > 0 gives a valid bound); the closed form uses one.
CHERNOFF_THETAS = tuple(0.5 * k for k in range(1, 41))
CLOSED_FORM_THETA = 4.0


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
_UNIT = (-1.0, 1.0)


def _component(law: str) -> UniformComponent:
    if law not in COMPONENTS:
        raise ValueError(f"unknown pool law {law!r}; the proof covers {sorted(COMPONENTS)}")
    return COMPONENTS[law]


def _theorem(law: str, interval: tuple[float, float] | None) -> str:
    """``"component"`` (Theorem 1 / Corollary 2) or ``"unit"`` (Corollary 3) for targets in ``interval``."""
    h = _component(law).half_width
    if interval is None:
        return "component"
    lo, hi = interval
    if not lo < hi:
        raise ValueError(f"empty target interval [{lo}, {hi}]")
    if -h <= lo and hi <= h:
        return "component"
    if law == "product" and _UNIT[0] <= lo and hi <= _UNIT[1]:
        return "unit"
    widest = "[-1, 1]" if law == "product" else f"[-{h:g}, {h:g}]"
    raise ValueError(f"the proof covers targets in {widest} for the {law} law, not [{lo:g}, {hi:g}]")


def _check_eps(eps: float, law: str, theorem: str) -> None:
    top = _component(law).half_width
    if not (math.isfinite(eps) and 0.0 < eps < top):
        covered = "[-1, 1]" if theorem == "unit" else f"[-{top:g}, {top:g}]"
        raise ValueError(f"eps must lie in (0, {top:g}) for the {law} law (targets in {covered}), got {eps}")


def _check_n(n: int) -> None:
    if n < 0 or int(n) != n:
        raise ValueError(f"n must be a non-negative integer, got {n}")


def bound_target_interval(law: str = "uniform") -> tuple[float, float]:
    """The interval ``[-h, h]`` of the law's uniform component: where Theorem 1 / Corollary 2 apply."""
    h = _component(law).half_width
    return -h, h


def _component_log_bound(n: np.ndarray | int, eps: float, component: UniformComponent) -> np.ndarray:
    """log of ``4·(2 − ε/h)·(h/ε)²·(1 − p/4)^n`` (Theorem 1 scaled, Corollary 2)."""
    scaled = eps / component.half_width
    return math.log(4.0 * (2.0 - scaled) / scaled**2) + np.asarray(n) * math.log(component.rate())


def bound_positive_part_mgf(theta: float) -> float:
    """``E exp(−θ·max(X, 0))`` for X from the product law: ``¾ + Ein(θ)/(4θ)``.

    ``max(X, 0)`` is 0 with probability ¾ and otherwise a product of two independent U[0, 1];
    ``Ein(θ) = ∫_0^θ (1 − e^{−t})/t dt = E1(θ) + ln θ + γ``.
    """
    if not theta > 0:
        raise ValueError(f"theta must be positive, got {theta}")
    return 0.75 + (exp1(theta) + math.log(theta) + np.euler_gamma) / (4.0 * theta)


def _unit_log_bound(n: int, eps: float) -> float:
    """log of the Corollary 3 bound, minimised over the split n1 + n2 = n and over θ."""
    n1 = np.arange(n + 1)
    thetas = np.array(CHERNOFF_THETAS)[:, None]
    log_mgf = np.log([bound_positive_part_mgf(t) for t in CHERNOFF_THETAS])[:, None]
    range_term = math.log(2.0) + thetas + n1 * log_mgf  # [θ, n1]: both signs reach past 1
    cover_term = _component_log_bound(n - n1, eps, COMPONENTS["product"])  # [n1]
    return float(np.logaddexp(range_term, cover_term).min())


def bound_failure_probability(n: int, eps: float, law: str = "uniform",
                              interval: tuple[float, float] | None = None) -> float:
    """Proven upper bound on P(some target in ``interval`` is not ε-approximated), capped at 1.

    ``interval`` defaults to ``bound_target_interval(law)``; product pools also accept sub-intervals of
    [-1, 1] (Corollary 3). Non-increasing in ``n``.
    """
    _check_n(n)
    theorem = _theorem(law, interval)
    _check_eps(eps, law, theorem)
    if theorem == "unit":
        log_bound = _unit_log_bound(int(n), eps)
    else:
        log_bound = float(_component_log_bound(n, eps, _component(law)))
    return min(1.0, math.exp(log_bound))


def bound_lueker_constants(law: str = "uniform", interval: tuple[float, float] | None = None) -> tuple[float, float]:
    """``(C, c0)`` such that ``n ≥ C·log2(1/ε) + c0`` suffices for probability ≥ 1 − ε.

    Component interval: ``3/r`` and ``log2(8h²)/r`` with ``r = log2(1/(1 − p/4))``. Product law on [-1, 1]
    (θ = ``CLOSED_FORM_THETA``, failure budget ε/2 per part, one spare sample for rounding the split):
    ``C = 3/r + 1/s``, ``c0 = 2/r + (2 + θ/ln 2)/s + 1`` with ``s = log2(1/m(θ))``.
    """
    theorem = _theorem(law, interval)
    component = _component(law)
    r = -math.log2(component.rate())
    if theorem == "component":
        return 3.0 / r, math.log2(8.0 * component.half_width**2) / r
    s = -math.log2(bound_positive_part_mgf(CLOSED_FORM_THETA))
    return 3.0 / r + 1.0 / s, 2.0 / r + (2.0 + CLOSED_FORM_THETA / math.log(2.0)) / s + 1.0


def bound_lueker_samples(eps: float, law: str = "uniform", interval: tuple[float, float] | None = None) -> int:
    """Smallest n for which the proof guarantees failure probability ≤ ε on ``interval``.

    The failure bound is non-increasing in n and the closed form of ``bound_lueker_constants`` is
    sufficient, so a bisection below ``⌈C·log2(1/ε) + c0⌉`` finds the least n.
    """
    theorem = _theorem(law, interval)
    _check_eps(eps, law, theorem)
    slope, intercept = bound_lueker_constants(law, interval)
    low, high = -1, max(0, math.ceil(slope * math.log2(1 / eps) + intercept))
    while bound_failure_probability(high, eps, law, interval) > eps:  # guards the rounding of the closed form
        high += 1
    while high - low > 1:
        mid = (low + high) // 2
        if bound_failure_probability(mid, eps, law, interval) <= eps:
            high = mid
        else:
            low = mid
    return high


def bound_counting_samples(eps: float, lo: float = -1.0, hi: float = 1.0) -> int:
    """Fewest samples any pool (of any law) needs to ε-cover ``[lo, hi]``: ``⌈log2((hi − lo)/(2ε))⌉``."""
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be positive, got {eps}")
    if not lo < hi:
        raise ValueError(f"empty interval [{lo}, {hi}]")
    return max(0, math.ceil(math.log2((hi - lo) / (2.0 * eps))))


def bound_lueker_table(eps_values: list[float], law: str = "uniform",
                       interval: tuple[float, float] | None = None) -> dict:
    """What a check stores about the proof: target interval, ``C``, ``c0`` and the proven n per ε.

    JSON-able; ε values outside the proof's range are left out of ``n`` (the proof says nothing
    there). Keys of ``n`` are ``str(eps)``, matching the checks' ``n_star``.
    """
    covered = list(bound_target_interval(law) if interval is None else interval)
    slope, intercept = bound_lueker_constants(law, interval)
    top = _component(law).half_width
    return {"interval": covered, "C": slope, "c0": intercept,
            "n": {str(eps): bound_lueker_samples(eps, law, interval) for eps in eps_values if 0 < eps < top}}
