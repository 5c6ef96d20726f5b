"""lth.theory.numerics against an independent oracle: mpmath at 60 significant digits.

Every float64 number is exactly representable in mpmath at 60 digits (53 bits need 16), and sums or
products of a few dozen of them carry an oracle error below 1e-55 relative: far below the float64
effects under test, so "exact" below means the mpmath value.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lth.theory.numerics import (TINY, UNIT_ROUNDOFF, down, enclosed_product, gamma, interval_matvec, round_down,
                             round_up, sum_upper, up, widen)

mpmath.mp.dps = 60

# Magnitudes from 1e-320 (subnormal) to 1e6: underflow and cancellation are both drawn.
FLOATS = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)
SCALARS = st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False, width=64)
LENGTHS = st.integers(1, 48)


def vectors(n: int, elements=FLOATS):
    return hnp.arrays(np.float64, n, elements=elements)


def exact_dot(a: np.ndarray, b: np.ndarray) -> mpmath.mpf:
    return mpmath.fsum(mpmath.mpf(float(x)) * mpmath.mpf(float(y)) for x, y in zip(a, b))


def abs_dot(a: np.ndarray, b: np.ndarray) -> mpmath.mpf:
    return mpmath.fsum(abs(mpmath.mpf(float(x)) * mpmath.mpf(float(y))) for x, y in zip(a, b))


def test_unit_roundoff_is_half_the_gap_above_one():
    assert UNIT_ROUNDOFF == (math.nextafter(1.0, 2.0) - 1.0) / 2


def test_gamma_equals_its_closed_form_exactly_in_mpmath_up_to_one_rounding():
    for n in (1, 2, 10, 10**6):
        exact = n * mpmath.mpf(2) ** -53 / (1 - n * mpmath.mpf(2) ** -53)
        assert abs(mpmath.mpf(gamma(n)) - exact) <= 4 * mpmath.mpf(UNIT_ROUNDOFF) * exact


def test_gamma_refuses_lengths_with_n_times_u_at_least_one():
    with pytest.raises(ValueError):
        gamma(2**53)


@given(value=SCALARS)
def test_up_and_down_move_to_the_neighbouring_floats(value):
    assert mpmath.mpf(down(value)) < mpmath.mpf(value) < mpmath.mpf(up(value))
    assert math.nextafter(down(value), math.inf) == value == math.nextafter(up(value), -math.inf)


@given(data=st.data(), n=LENGTHS)
def test_tensor_outward_rounding_encloses_the_exact_sum_of_two_vectors(data, n):
    a, b = data.draw(vectors(n)), data.draw(vectors(n))
    total = torch.from_numpy(a) + torch.from_numpy(b)
    lo, hi = round_down(total).numpy(), round_up(total).numpy()
    for x, y, low, high in zip(a, b, lo, hi):
        exact = mpmath.mpf(float(x)) + mpmath.mpf(float(y))
        assert mpmath.mpf(float(low)) <= exact <= mpmath.mpf(float(high))


@given(data=st.data(), n=LENGTHS)
def test_gamma_n_bounds_the_rounding_error_of_a_float64_sum(data, n):
    a = data.draw(vectors(n))
    computed = float(torch.from_numpy(a).sum())
    ones = np.ones(n)
    error = abs(mpmath.mpf(computed) - exact_dot(a, ones))
    assert error <= gamma(n) * abs_dot(a, ones) + n * mpmath.mpf(TINY)


@given(data=st.data(), n=LENGTHS)
def test_gamma_n_bounds_the_rounding_error_of_a_float64_dot_product(data, n):
    a, b = data.draw(vectors(n)), data.draw(vectors(n))
    computed = float(torch.from_numpy(a) @ torch.from_numpy(b))
    error = abs(mpmath.mpf(computed) - exact_dot(a, b))
    assert error <= gamma(n) * abs_dot(a, b) + n * mpmath.mpf(TINY)


@given(data=st.data(), n=LENGTHS)
def test_sum_upper_dominates_the_exact_sum_of_non_negative_terms(data, n):
    a = np.abs(data.draw(vectors(n)))
    bound = float(sum_upper(torch.tensor(float(torch.from_numpy(a).sum()), dtype=torch.float64), n))
    assert mpmath.fsum(mpmath.mpf(float(x)) for x in a) <= mpmath.mpf(bound)


@given(x=st.floats(-700, 700, allow_nan=False, width=64))
def test_widen_covers_the_library_exponential(x):
    assert mpmath.exp(mpmath.mpf(x)) <= mpmath.mpf(float(widen(torch.exp(torch.tensor(x, dtype=torch.float64)))))


@given(data=st.data(), m=st.integers(1, 6), n=st.integers(1, 6))
def test_interval_matvec_encloses_the_exact_product_at_the_box_ends_and_inside(data, m, n):
    w = data.draw(hnp.arrays(np.float64, (m, n), elements=FLOATS))
    lo = data.draw(vectors(n))
    hi = lo + np.abs(data.draw(vectors(n, st.floats(0, 1e3, width=64))))
    hi = np.where(np.isfinite(hi), hi, lo)
    t = data.draw(vectors(n, st.floats(0, 1, width=64)))
    out_lo, out_hi = interval_matvec(torch.from_numpy(w), torch.from_numpy(lo), torch.from_numpy(hi))
    for x in (lo, hi, np.clip(lo + t * (hi - lo), lo, hi)):
        for row in range(m):
            exact = exact_dot(w[row], x)
            assert mpmath.mpf(float(out_lo[row])) <= exact <= mpmath.mpf(float(out_hi[row]))


@given(data=st.data(), shape=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)))
def test_enclosed_product_contains_the_exact_product_of_the_midpoints(data, shape):
    a, k, b = shape
    m1 = data.draw(hnp.arrays(np.float64, (a, k), elements=FLOATS))
    m2 = data.draw(hnp.arrays(np.float64, (k, b), elements=FLOATS))
    zero1, zero2 = np.zeros_like(m1), np.zeros_like(m2)
    mid, rad = enclosed_product(*(torch.from_numpy(t) for t in (m1, zero1, m2, zero2)))
    for i in range(a):
        for j in range(b):
            exact = exact_dot(m1[i], m2[:, j])
            assert abs(exact - mpmath.mpf(float(mid[i, j]))) <= mpmath.mpf(float(rad[i, j]))


@given(n=st.integers(0, 10**6))
def test_gamma_is_an_upper_bound_on_the_exact_rational_gamma(n):
    from fractions import Fraction

    nu = Fraction(n, 2**53)
    assert Fraction(gamma(n)) >= nu / (1 - nu)


def test_gamma_is_an_upper_bound_for_every_n_up_to_ten_thousand():
    from fractions import Fraction

    for n in range(10_001):
        nu = Fraction(n, 2**53)
        assert Fraction(gamma(n)) >= nu / (1 - nu), n


def test_an_interval_at_the_top_of_the_float64_range_gets_a_finite_enclosure():
    w = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    lo = torch.tensor([1.7e308, 1.0], dtype=torch.float64)
    hi = torch.tensor([1.7e308, 2.0], dtype=torch.float64)
    low, high = interval_matvec(w, lo, hi)
    assert float(low) <= 1.0 and float(high) >= 2.0 and float(high) < 2.0 + 1e-9


def test_an_enclosure_that_overflows_is_refused_not_returned():
    w = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    bounds = torch.tensor([1.7e308, 1.7e308], dtype=torch.float64)
    with pytest.raises(ValueError, match="not finite"):
        interval_matvec(w, bounds, bounds)
