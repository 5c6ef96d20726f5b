r"""Float64 rigor: the one place where rounding errors are bounded.

Every certificate of the toolkit is a bound on a real-number quantity computed in IEEE float64
(round to nearest). These are the only rules they use:

* *Unit roundoff* $u = 2^{-53}$: one rounded operation $\mathrm{fl}(a \circ b) = (a \circ b)(1 + \delta)$,
  $|\delta| \le u$, away from underflow.
* $\gamma_n = nu/(1 - nu)$ (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1): a sum
  or dot product of length $n$ evaluated in any order satisfies
  $|\mathrm{fl}(\sum_i a_i b_i) - \sum_i a_i b_i| \le \gamma_n \sum_i |a_i b_i|$.
* :data:`TINY` $= 2^{-1000}$: an absolute margin per operation covering underflow, where relative
  bounds fail (each gradual-underflow rounding errs by at most $2^{-1075}$).
* Outward rounding: :func:`up` / :func:`down` (scalars) and :func:`round_up` / :func:`round_down`
  (tensors) move one ulp with ``nextafter``, which covers one round-to-nearest error.
* :func:`widen`: a relative margin :data:`LIBM_MARGIN` for library ``exp``/``log``/``sin`` (accurate
  to a few ulps, not correctly rounded), far above their error.

Interval helpers (midpoint–radius matrix products, interval matrix–vector products) build on these.
"""

from __future__ import annotations

import math

import torch

UNIT_ROUNDOFF = 2.0**-53
TINY = 2.0**-1000  # absolute margin per operation: covers underflow, where relative error bounds do not hold
LIBM_MARGIN = 1e-12  # relative allowance for library exp/log/sin and a few roundings after them


def gamma(n: int) -> float:
    r"""$\gamma_n = nu/(1 - nu)$ rounded upward: relative error bound of a float64 sum or dot product of
    length ``n``. ``n·u`` is exact (an integer below 2⁵³ times a power of two); the denominator is
    rounded down and the quotient up, so the float64 returned is never below the real $\gamma_n$."""
    if not 0 <= n * UNIT_ROUNDOFF < 1:
        raise ValueError(f"gamma(n) needs 0 <= n·u < 1, got n={n}")
    nu = n * UNIT_ROUNDOFF
    return up(nu / down(1 - nu)) if n else 0.0


def up(value: float) -> float:
    """The next float64 above ``value``: covers one round-to-nearest error of a scalar operation."""
    return math.nextafter(value, math.inf)


def down(value: float) -> float:
    """The next float64 below ``value``."""
    return math.nextafter(value, -math.inf)


def round_up(x: torch.Tensor) -> torch.Tensor:
    """Every entry of ``x`` (float64, any shape) moved one ulp up."""
    return torch.nextafter(x, torch.full_like(x, math.inf))


def round_down(x: torch.Tensor) -> torch.Tensor:
    """Every entry of ``x`` (float64, any shape) moved one ulp down."""
    return torch.nextafter(x, torch.full_like(x, -math.inf))


def sum_upper(x: torch.Tensor, terms: int) -> torch.Tensor:
    """Upper bound on exact sums from their float64 values ``x`` (any shape), each a sum of at most
    ``terms`` non-negative float64 terms: ``x·(1 + γ_{terms+1}) + terms·TINY``."""
    return x * (1 + gamma(terms + 1)) + terms * TINY


def widen(x: torch.Tensor) -> torch.Tensor:
    """A non-negative bound ``x`` (any shape) raised by :data:`LIBM_MARGIN` relatively and :data:`TINY`
    absolutely: covers library ``exp``/``log``/``sin`` errors and a few roundings made after them."""
    return x * (1 + LIBM_MARGIN) + TINY


def enclosed_product(m1: torch.Tensor, r1: torch.Tensor, m2: torch.Tensor,
                     r2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Midpoint–radius product: every ``A ∈ [m1 ± r1]`` ``[a, k]`` and ``B ∈ [m2 ± r2]`` ``[k, b]`` have
    ``AB ∈ [mid ± rad]`` ``[a, b]`` exactly (Rump's enclosure with the rounding of ``m1 @ m2`` added)."""
    k = m1.shape[1]
    mid = m1 @ m2
    a1, a2 = m1.abs(), m2.abs()
    rad = a1 @ r2 + r1 @ a2 + r1 @ r2 + gamma(k) * (a1 @ a2)
    return mid, rad * (1 + gamma(k + 4)) + k * TINY


def interval_matvec(w: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Outward-rounded enclosure of $\\{w x : lo \\le x \\le hi\\}$; ``w`` ``[m, n]``, bounds ``[n]`` → ``[m]``.

    Midpoint and radius are formed from halves (``lo/2 + hi/2``), which cannot overflow where
    ``(lo + hi)/2`` does at the ends of the float64 range. An enclosure that is still not finite
    (the products themselves overflow) is refused with ``ValueError``, never returned.
    """
    n = w.shape[1]
    mid = lo / 2 + hi / 2
    rad = (hi / 2 - lo / 2) * (1 + 2 * UNIT_ROUNDOFF) + 2 * UNIT_ROUNDOFF * mid.abs() + TINY
    aw = w.abs()
    center = w @ mid
    spread = (aw @ rad + gamma(n + 1) * (aw @ mid.abs())) * (1 + gamma(n + 2)) + n * TINY
    low, high = round_down(center - spread), round_up(center + spread)
    if not (torch.isfinite(low).all() and torch.isfinite(high).all()):
        raise ValueError("interval enclosure is not finite in float64 (the bounds or weights are too large); "
                         "no certificate can be derived from it")
    return low, high
