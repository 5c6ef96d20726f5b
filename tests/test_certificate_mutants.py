"""Pins of certificate contracts that the oracle suite alone lets mutants slip through (make mutants).

The oracles (tests/test_oracles.py) check certificate ≥ true supremum. A mutant that shrinks a
rounding margin only a little survives them, because float64 rounding rarely reaches its worst
case. Where the code documents its margin, these tests pin it on inputs whose arithmetic is exact.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from fractions import Fraction
from types import SimpleNamespace

import mpmath

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from test_oracles import conv_exact, rational
from lth.theory import conv, dense, universal
from lth.theory.certify import ASSUMPTIONS as DENSE_LAYER_ASSUMPTIONS, PerturbedLayer, certify_ball, certify_box
from lth.theory.numerics import TINY, UNIT_ROUNDOFF, gamma, sum_upper, widen
from lth.theory.subset_sum import covers_interval, rounding_slack, worst_case_error

# Pools of multiples of 2^-12 in [-1, 1]: every subset sum, shift and merge end is exact in float64.
dyadic_pools = arrays(np.float64, st.integers(1, 6), elements=st.integers(-4096, 4096).map(lambda k: k / 4096))
intervals = st.sampled_from([(-1.0, 1.0), (-0.5, 0.5), (0.25, 0.75), (-2.0, 0.5)])


def exact_sup(x: np.ndarray, lo: float, hi: float) -> float:
    """Worst-case error of a dyadic pool (exact: its float64 sums are exact, so worst_case_error is)."""
    return float(worst_case_error(torch.tensor(x), lo, hi))


@given(x=dyadic_pools, interval=intervals, theta=st.floats(0.0, 0.9))
def test_covers_interval_shrinks_the_radius_by_the_documented_rounding_bound(x, interval, theta):
    """``r = ε − γ_{n+2}(Σ|x| + ε + max(|lo|, |hi|))`` (proofs/rss.md (c)): below it, False."""
    lo, hi = interval
    exact = exact_sup(x, lo, hi)
    scale = float(np.abs(x).sum()) + exact + max(abs(lo), abs(hi))
    eps = exact + theta * gamma(len(x) + 2) * scale
    assume(eps > 0)
    assert not bool(covers_interval(torch.tensor(x), eps, lo, hi))


@given(x=dyadic_pools, interval=intervals)
def test_covers_interval_accepts_just_above_the_documented_shrink(x, interval):
    lo, hi = interval
    exact = exact_sup(x, lo, hi)
    scale = float(np.abs(x).sum()) + 2 * exact + 1e-9 + max(abs(lo), abs(hi))
    eps = exact + 1.2 * gamma(len(x) + 2) * scale + 1e-300
    assert bool(covers_interval(torch.tensor(x), eps, lo, hi))


@given(x=dyadic_pools)
def test_the_default_interval_is_minus_one_to_one(x):
    pool = torch.tensor(x)
    eps = exact_sup(x, -1.0, 1.0) * 1.01 + 1e-3
    assert bool(covers_interval(pool, eps)) == bool(covers_interval(pool, eps, -1.0, 1.0))
    assert float(worst_case_error(pool)) == float(worst_case_error(pool, -1.0, 1.0))
    assert float(rounding_slack(pool)) == float(rounding_slack(pool, -1.0, 1.0))


@given(batch=arrays(np.float64, st.tuples(st.integers(2, 4), st.integers(1, 5)), elements=st.floats(-1, 1)),
       eps=st.sampled_from([0.05, 0.2, 0.5]))
def test_batched_and_float32_pools_get_the_verdicts_of_one_pool_at_a_time(batch, eps):
    pools = torch.tensor(batch)
    one_by_one = [bool(covers_interval(p, eps)) for p in pools]
    assert covers_interval(pools, eps).tolist() == one_by_one
    assert covers_interval(pools[None], eps).shape == (1, len(batch))
    slack = rounding_slack(pools)
    assert slack.shape == (len(batch),)
    assert all(float(s) == float(rounding_slack(p)) for s, p in zip(slack, pools))
    single = pools.to(torch.float32)
    exact32 = [Fraction(exact_sup(p.to(torch.float64).numpy(), -1.0, 1.0)) for p in single]
    for p, e in zip(single, exact32):
        assert not bool(covers_interval(p, eps)) or e <= Fraction(eps)


@pytest.mark.parametrize("eps", [0.0, -0.1])
def test_a_non_positive_eps_is_refused_by_name(eps):
    with pytest.raises(ValueError, match="eps"):
        covers_interval(torch.tensor([0.5]), eps)


def test_an_empty_interval_is_refused_and_a_point_is_accepted():
    with pytest.raises(ValueError, match="interval"):
        covers_interval(torch.tensor([0.5]), 0.1, 0.3, 0.2)
    with pytest.raises(ValueError, match="interval"):
        worst_case_error(torch.tensor([0.5]), 0.3, 0.2)
    assert bool(covers_interval(torch.tensor([0.5]), 0.1, 0.5, 0.5))
    assert float(worst_case_error(torch.tensor([0.5]), 0.5, 0.5)) == 0.0


# ------------------------------------------------------------------------------ numerics, dense, conv


@given(k=st.integers(1, 200).map(lambda j: 2 * j + 1))
def test_sum_upper_of_one_covers_gamma_k_for_k_terms(k):
    """``k`` terms take ``k − 1`` additions and the bound one multiplication: ``≥ 1 + γ_k`` exactly.

    (Odd ``k``: ``1 + γ_{k±1}`` round to neighbouring floats, so a ``γ_{k−1}`` factor falls below.)"""
    bound = Fraction(float(sum_upper(torch.ones(1, dtype=torch.float64), k)))
    u = Fraction(UNIT_ROUNDOFF)
    assert bound >= 1 + k * u / (1 - k * u)


@given(seed=st.integers(0, 2**16), d_in=st.integers(2, 3), block=st.integers(0, 1))
def test_a_kept_unit_reading_two_inputs_gets_no_dense_certificate(seed, d_in, block):
    """A mask outside the proof's form (a hidden unit reads two inputs) must give ``inf`` and say which block."""
    gen = torch.Generator().manual_seed(seed)
    target = dense.Target([torch.rand(2, d_in, generator=gen, dtype=torch.float64) - 0.5,
                           torch.rand(1, 2, generator=gen, dtype=torch.float64) - 0.5], [None, None])
    _, ticket = dense.build_ticket(target, 0.1, 0.1, seed=seed, units_per_input=[2, 2])
    masks = [m.clone() for m in ticket.masks]
    first = masks[2 * block]
    unit = int(first.any(1).nonzero()[0, 0]) if bool(first.any()) else 0
    first[unit, :2] = True  # the unit now reads inputs 0 and 1
    tampered = dense.DenseTicket(ticket.random, masks, ticket.signed, ticket.has_bias, ticket.output_scale)
    certificate = dense.certify_sup_error(target, tampered, dense.Domain("ball"))
    assert certificate.value == float("inf")
    assert certificate.parts == {"reason": f"block {block + 1}: a kept hidden unit reads more than one input"}
    assert (certificate.kind, certificate.domain, certificate.norm) == ("rigorous", "ball ‖x‖₂ ≤ 1", "l2")
    assert certificate.assumptions == dense.ASSUMPTIONS


def two_input_ticket(signed_input: bool, output_scale: float = 1.0, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    target = dense.Target([torch.rand(3, 2, generator=gen, dtype=torch.float64) - 0.5,
                           torch.rand(1, 3, generator=gen, dtype=torch.float64) - 0.5], [None, None])
    return target, dense.build_ticket(target, 0.1, 0.1, seed=seed, units_per_input=[4, 4], signed_input=signed_input,
                                      output_scale=output_scale)[1]


@pytest.mark.parametrize("scale", [2.0, 3.0, 0.25])
@pytest.mark.parametrize("domain", [dense.Domain("ball", radius=0.5), dense.Domain("box", lo=(-1.0, 0.0), hi=(0.5, 1.0))])
def test_the_dense_certificate_is_multiplied_by_the_output_scale(scale, domain):
    """A ticket whose output is scaled by ``c`` (a rescaled target) errs ``|c|`` times more; the parts
    keep the unscaled bounds, the smaller of ball and box is taken."""
    target, ticket = two_input_ticket(True, scale)
    certificate = dense.certify_sup_error(target, ticket, domain)
    ball = certificate.parts["ball_bound"]
    unscaled = min(certificate.parts["box_bound"], math.inf if ball is None else ball)
    assert Fraction(certificate.value) >= Fraction(unscaled) * Fraction(scale) > 0
    assert (ball is None) == (domain.kind == "box")
    assert certificate.parts["union_bound"] > 0
    assert (certificate.kind, certificate.domain, certificate.norm) == ("rigorous", domain.describe(), "l2")


@pytest.mark.parametrize("domain, refused", [
    (dense.Domain("ball"), "input 0"), (dense.Domain("ball", radius=0.0), None),
    (dense.Domain("box", lo=(0.0, -0.5), hi=(1.0, 1.0)), "input 1"), (dense.Domain("box", lo=(0.0, 0.0), hi=(1.0, 1.0)), None),
    (dense.Domain("box", lo=(0.0, -1e-50), hi=(1.0, 1.0)), "input 1"),  # negative in float64, −0 in float32
    (dense.Domain("box", lo=(0.0, 0.0, 0.0), hi=(1.0, 1.0, 1.0)), "box has 3 coordinates, the target has 2 inputs")])
def test_a_ticket_for_non_negative_inputs_is_refused_exactly_where_an_input_can_be_negative(domain, refused):
    target, ticket = two_input_ticket(False)
    if refused is None:
        assert dense.certify_sup_error(target, ticket, domain).value >= 0
        return
    message = (refused if refused.startswith("box") else
               f"hypothesis violated: the ticket was built for non-negative inputs (signed_input=False) but the "
               f"domain ({domain.describe()}) lets {refused} be negative; rebuild the ticket with signed_input=True "
               "or certify on a box with lo >= 0")
    with pytest.raises(ValueError) as caught:
        dense.certify_sup_error(target, ticket, domain)
    assert str(caught.value) == message


@pytest.mark.parametrize("domain", [dense.Domain("ball"), dense.Domain("box", lo=(-1.0, -1.0), hi=(1.0, 1.0))])
def test_a_ticket_for_signed_inputs_is_certified_on_every_domain(domain):
    target, ticket = two_input_ticket(True)
    assert 0 < dense.certify_sup_error(target, ticket, domain).value < math.inf


@pytest.mark.parametrize("r, message", [
    ([1, 2], "exponents must have shape [M, d], got (2,)"),
    ([[1.5, 0.0]], "hypothesis violated: exponents r must be non-negative integers"),
    ([[float("nan"), 0.0]], "hypothesis violated: exponents r must be non-negative integers"),
    ([[1, 0], [2, -1], [0, -3]], "hypothesis violated: exponents r must be non-negative integers, got r = [2, -1]"),
    ([[1, 1], [2, 2], [0, 1]], "the ticket serves total degree |r| <= 3, got 4"),
    ([[1, 1, 1], [0, 1, 3]], "the ticket serves total degree |r| <= 3, got 4")])
def test_exponents_outside_the_theorem_are_refused_with_the_offending_value(r, message):
    with pytest.raises(ValueError) as caught:
        universal.check_exponents(torch.tensor(r), 3)
    assert str(caught.value) == message


@pytest.mark.parametrize("r", [[[3, 0]], [[1.0, 2.0]], [[0, 0]], [[1, 1], [2, 1]]])
def test_exponents_inside_the_theorem_are_accepted(r):
    assert universal.check_exponents(torch.tensor(r), 3) is None


def conv_chain(seed: int, relus: tuple[bool, ...], ns: tuple[int, ...]) -> list[conv.LayerTicket]:
    """One-channel 3×3 'same' layers with mostly positive kernels, ``Σ|K| = 1`` (so ``x`` stays near 1)."""
    gen = torch.Generator().manual_seed(seed)
    tickets = []
    for relu, n in zip(relus, ns):
        kernel = torch.rand(1, 1, 3, 3, generator=gen, dtype=torch.float64) - 0.2
        spec = conv.TargetLayer(kernel / float(kernel.abs().sum()), "same", relu=relu)
        tickets.append(conv.construct_supermasks(spec, *conv.sample_random_pair(1, 1, 3, n, gen)))
    return tickets


def exact_network_recursion(tickets: list[conv.LayerTicket], size: int) -> Fraction:
    """``certify_network``'s documented recursion in exact rationals, its rounding slack included:
    ``e' = |K| * e + sup_{0≤X≤x+e} |E * X| + γ_{n+d²+3}·((x + e) * (|L| + |K|)) + (n + 3)(d² + 2)·TINY``,
    ``x' = K⁺ * x`` from ``e = 0``, ``x = 1``; returns ``max e``."""
    e = np.full((1, size, size), Fraction(0), dtype=object)
    x = np.full((1, size, size), Fraction(1), dtype=object)
    for t in tickets:
        weight, collapsed, pad = rational(t.target.weight), rational(t.collapsed), t.target.pad
        error = collapsed - weight
        positive = np.vectorize(lambda q: max(q, Fraction(0)), otypes=[object])
        upper = x + e
        fresh = np.maximum(conv_exact(upper, positive(error), pad), conv_exact(upper, positive(-error), pad))
        taps = weight[0].size
        slack = (Fraction(gamma(t.n + taps + 3)) * conv_exact(upper, abs(collapsed) + abs(weight), pad)
                 + (t.n + 3) * (taps + 2) * Fraction(TINY))
        e = conv_exact(e, abs(weight), pad) + fresh + slack
        x = conv_exact(x, positive(weight), pad)
    return max(e.reshape(-1))


@settings(max_examples=8)  # rationals on a 5×5 map: the recursion is slow, and every example has all three terms
@given(seed=st.integers(0, 2**16), ns=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 5)))
def test_the_conv_network_certificate_is_at_least_its_recursion_in_exact_arithmetic(seed, ns):
    """Three layers on a 5×5 map: every term of the recursion (fresh error over ``[0, x + e]``, the
    carried ``|K| * e``, the rounding slack over ``x + e``) and the last layer's value are needed."""
    tickets = conv_chain(seed, (True, True, False), ns)
    certificate = conv.certify_network(tickets, 5)
    assert Fraction(certificate.value) >= exact_network_recursion(tickets, 5)
    assert certificate.value == certificate.parts["after_layer"][-1]
    assert len(certificate.parts["after_layer"]) == 3
    assert (certificate.domain, certificate.norm) == ("[0,1]^(c×5×5)", "max")


def test_a_zero_conv_network_is_certified_by_its_underflow_margins_alone():
    """Zero kernels and an empty ticket: only the ``(n + 3)(d² + 2)·TINY`` terms remain, and must."""
    spec = conv.TargetLayer(torch.zeros(1, 1, 3, 3, dtype=torch.float64), "same")
    u, v = -torch.ones(3, 1, 3, 3, dtype=torch.float64), torch.ones(1, 3, 1, 1, dtype=torch.float64)
    ticket = conv.construct_supermasks(spec, u, v)
    assert not bool(ticket.s.any())
    assert Fraction(conv.certify_network([ticket], 4).value) >= exact_network_recursion([ticket], 4) > 0


@pytest.mark.parametrize("relus, layer", [((True, False, True), 1), ((False, True, False), 0),
                                          ((True, True, False, False), 2)])
def test_a_non_final_layer_without_relu_is_refused_by_index(relus, layer):
    tickets = conv_chain(0, relus, (2,) * len(relus))
    with pytest.raises(ValueError, match=rf"hypothesis violated: layer {layer} of {len(relus)} has no ReLU after it, "
                                         rf"so layer {layer + 1} gets inputs outside \[0, 1\]"):
        conv.certify_network(tickets, 3)


def matrix(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_the_box_certificate_sees_an_error_extreme_at_an_interior_zero():
    """``e(y) = |y₁| − 1`` on ``y₁ ∈ [−1, 1]``, ``y₂ = 1``: its sup ``|e| = 1`` is at ``y₁ = 0``, inside
    the box, where neither end of ``[lo₁, hi₁]`` sees it (the ends give ``e = 0``)."""
    zero = matrix([[0.0, 0.0]])
    layer = PerturbedLayer(zero, matrix([[1.0, -1.0]]), matrix([[-1.0, 0.0]]), zero, zero)
    assert certify_box([layer], matrix([-1.0, 1.0]), matrix([1.0, 1.0])).value >= 1.0


def two_layers() -> list[PerturbedLayer]:
    gen = torch.Generator().manual_seed(5)
    draw = lambda *shape: torch.rand(*shape, generator=gen, dtype=torch.float64) - 0.5  # noqa: E731
    return [PerturbedLayer(draw(3, 2), draw(3, 2) / 10, draw(3, 2) / 10, draw(3, 2).abs() / 1e6, draw(3, 2).abs() / 1e6),
            PerturbedLayer(draw(1, 3), draw(1, 3) / 10, draw(1, 3) / 10, draw(1, 3).abs() / 1e6, draw(1, 3).abs() / 1e6)]


def test_the_ball_and_box_certificates_name_their_domain_norm_assumptions_and_parts():
    layers = two_layers()
    ball = certify_ball(layers, 0.5)
    assert (ball.kind, ball.domain, ball.norm, ball.assumptions) == ("rigorous", "ball ‖x‖₂ ≤ 0.5", "l2",
                                                                      DENSE_LAYER_ASSUMPTIONS)
    assert ball.value == ball.parts["deviation_after_layer"][-1] > ball.parts["deviation_after_layer"][0] > 0
    assert len(ball.parts["weight_norms"]) == len(ball.parts["error_norms"]) == 2
    box = certify_box(layers, -torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    assert (box.kind, box.domain, box.norm, box.assumptions) == ("rigorous", "box lo ≤ x ≤ hi", "l2",
                                                                  DENSE_LAYER_ASSUMPTIONS)
    assert 0 < box.parts["output_deviation_max"] <= box.value
    with pytest.raises(ValueError, match="lo > hi"):
        certify_box(layers, torch.ones(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))


def test_the_conv_theorem_bound_follows_its_recursion():
    """``e ← ‖K‖·e + η·(1 + e)`` from 0: ``0.1``, then ``0.5·0.1 + 0.2·1.1 = 0.27``, then ``0.27 + 0.3·1.27``."""
    assert conv.bound_network_error([0.1, 0.2], [1.0, 0.5]) == pytest.approx(0.27, rel=1e-15)
    assert conv.bound_network_error([0.1, 0.2, 0.3], [1.0, 0.5, 1.0]) == pytest.approx(0.27 + 0.3 * 1.27, rel=1e-15)
    assert conv.bound_network_error([], []) == 0.0


def test_the_transfer_gap_weighs_each_basis_error_by_its_coefficient_not_the_bias():
    coef, basis_error = matrix([5.0, -1.0, 2.0]), matrix([0.1, 0.2])
    assert universal.bound_transfer_gap(coef, basis_error) == pytest.approx(0.5, rel=1e-15)


def exact_sin_curvature(a: float, b: float) -> mpmath.mpf:
    """``max 4π²|sin(2πy)|`` over ``[a, b]`` at 40 digits: 4π² if a peak ``y = 1/4 + m/2`` lies inside,
    else at an end (``|sin|`` is monotone between peaks)."""
    with mpmath.workdps(40):
        a_, b_ = mpmath.mpf(a), mpmath.mpf(b)
        peak_inside = mpmath.floor(2 * b_ - mpmath.mpf(1) / 2) >= mpmath.ceil(2 * a_ - mpmath.mpf(1) / 2)
        top = 1 if peak_inside else max(abs(mpmath.sin(2 * mpmath.pi * a_)), abs(mpmath.sin(2 * mpmath.pi * b_)))
        return 4 * mpmath.pi**2 * top


@given(a=st.floats(0.0, 2.0), width=st.floats(0.0, 0.6))
def test_the_sine_curvature_bound_is_at_least_the_exact_maximum_on_every_segment(a, width):
    b = a + width
    bound = float(universal.sin_piece(2.6).curvature(torch.tensor([a], dtype=torch.float64),
                                                     torch.tensor([b], dtype=torch.float64))[0])
    assert mpmath.mpf(bound) >= exact_sin_curvature(a, b)


@pytest.mark.parametrize("hi", [0.25, 1.0, 3.0])
def test_the_sine_piece_value_error_is_within_its_declared_ulps_at_40_digits(hi):
    """``fl(fl(2π)·y)`` errs by ~``2u·2πy``, which ``sin`` carries: the declared bound must cover it."""
    piece = universal.sin_piece(hi)
    assert (piece.name, piece.lo, piece.hi) == ("sin(2πy)", 0.0, hi)
    y = torch.linspace(0.0, hi, 2001, dtype=torch.float64)
    computed = piece.value(y)
    with mpmath.workdps(40):
        for yi, gi in zip(y.tolist(), computed.tolist()):
            exact = mpmath.sin(2 * mpmath.pi * mpmath.mpf(yi))
            allowed = piece.value_ulps * mpmath.mpf(UNIT_ROUNDOFF) * max(abs(exact), 1)
            assert abs(mpmath.mpf(gi) - exact) <= allowed


@given(seed=st.integers(0, 2**16), n=st.integers(1, 4), c=st.integers(1, 2), d=st.sampled_from([2, 3]))
def test_the_conv_layer_certificate_adds_its_documented_rounding_slack(seed, n, c, d):
    """``value = exact + γ_{n+c·d²+3}·max(|L'| * 1)·(1 + γ_{c·d²+1}) + (n + 2)·c·d²·TINY`` with
    ``|L'| = |V⊙T|·|U⊙S| + |K|``: first-order terms of the slack pinned to 1e-9 relative."""
    gen = torch.Generator().manual_seed(seed)
    spec = conv.TargetLayer(torch.rand(1, c, d, d, generator=gen, dtype=torch.float64) - 0.5)
    ticket = conv.construct_supermasks(spec, *conv.sample_random_pair(1, c, d, n, gen))
    certificate = conv.certify_layer(ticket, 4)
    vt = (ticket.v * ticket.t)[:, :, 0, 0].abs()
    magnitude = torch.einsum("ot,tkij->okij", vt, (ticket.u * ticket.s).abs()) + spec.weight.abs()
    scale = conv.sup_linear_error(magnitude, 0, 4).max()  # |L'| * 1 on the box: magnitude is non-negative
    taps = c * d * d
    slack = gamma(n + taps + 3) * float(scale) * (1 + gamma(taps + 1)) + (n + 2) * taps * TINY
    assert certificate.parts["rounding"] >= slack * (1 - 1e-9)
    assert certificate.value >= certificate.parts["exact"] + slack * (1 - 1e-9)
    assert certificate.parts["per_entry_max"] == float((ticket.collapsed - spec.weight).abs().max())
    assert (certificate.kind, certificate.domain, certificate.norm, certificate.assumptions) == (
        "rigorous", "[0,1]^(c×4×4)", "max", conv.ASSUMPTIONS)


def test_a_conv_ticket_with_a_kept_negative_u_entry_is_refused():
    spec = conv.TargetLayer(torch.full((1, 1, 1, 1), 0.5, dtype=torch.float64))
    ticket = conv.construct_supermasks(spec, torch.ones(2, 1, 1, 1, dtype=torch.float64),
                                       torch.full((1, 2, 1, 1), 0.25, dtype=torch.float64))
    assert bool(ticket.s.any())
    negative = conv.LayerTicket(-ticket.u, ticket.v, ticket.s, ticket.t, spec, ticket.collapsed)
    with pytest.raises(ValueError) as caught:
        conv.certify_layer(negative, 2)
    assert str(caught.value) == ("a kept U entry is negative: the ReLU is not the identity and the closed form "
                                 "does not apply")
    zero = conv.LayerTicket(0 * ticket.u, ticket.v, ticket.s, ticket.t, spec, ticket.collapsed)
    assert conv.certify_layer(zero, 2).value >= 0  # a kept zero entry is allowed (the ReLU is the identity on it)


def test_a_zero_conv_layer_is_certified_by_its_underflow_margin_alone():
    """Zero kernel, nothing kept: only ``(n + 2)·c·d²·TINY`` remains, and must (here ``3·2·9``)."""
    spec = conv.TargetLayer(torch.zeros(1, 2, 3, 3, dtype=torch.float64))
    ticket = conv.construct_supermasks(spec, -torch.ones(1, 2, 3, 3, dtype=torch.float64),
                                       torch.ones(1, 1, 1, 1, dtype=torch.float64))
    assert conv.certify_layer(ticket, 3).value >= 3 * 2 * 9 * TINY


@pytest.mark.parametrize("signed", [True, False])
def test_the_realised_dense_errors_are_read_from_the_masked_weights(signed):
    """``W + E⁺`` is what the pruned block computes on ``y ≥ 0`` (``Σ_{a>0} b·a`` per input), ``W + E⁻``
    on ``y ≤ 0`` where signed, and the slack is ``γ_{n+3}·(Σ|b·a| + |W|)``, recomputed here from
    :meth:`DenseTicket.masked_weights` unit by unit."""
    target, ticket = two_input_ticket(signed)
    layers = dense.realised_layers(target, ticket)
    masked = ticket.masked_weights()
    for i, (layer, w) in enumerate(zip(layers, target.augmented())):
        m1, m2 = masked[2 * i], masked[2 * i + 1]
        pos, neg, total = torch.zeros_like(w), torch.zeros_like(w), torch.zeros_like(w)
        for unit in range(m1.shape[0]):
            for j in range(m1.shape[1]):
                a = float(m1[unit, j])
                if a:
                    (pos if a > 0 else neg)[:, j] += m2[:, unit] * a
                    total[:, j] += (m2[:, unit] * a).abs()
        assert torch.allclose(w + layer.err_pos, pos, rtol=1e-12, atol=1e-15)
        expected_neg = neg if bool(ticket.signed[i].all()) else torch.where(ticket.signed[i][None], neg, w)
        assert torch.allclose(w + layer.err_neg, expected_neg, rtol=1e-12, atol=1e-15)
        floor = gamma(ticket.random.units_per_input[i] + 3) * (total + w.abs()) * (1 - 1e-9)
        assert bool((layer.slack_pos >= floor).all()) and bool((layer.slack_neg >= floor).all())


def test_the_dense_union_bound_sums_the_entry_errors_and_compounds_over_blocks():
    """``Δ ← Δ + η(1 + Δ)`` from 0 with ``η = Σ|E⁺| + Σ|E⁻|`` (a comparison figure, pinned to its formula)."""
    zero = matrix([[0.0]])
    layers = [PerturbedLayer(zero, matrix([[0.1, -0.2]]), matrix([[0.3, 0.0]]), zero, zero),
              PerturbedLayer(zero, matrix([[0.5]]), matrix([[-0.5]]), zero, zero)]
    assert dense.bound_union(layers, None) == pytest.approx(0.6 + 1.0 * 1.6, rel=1e-15)


@pytest.mark.parametrize("eps_log", [1e-3, 0.05])
def test_the_composed_polynomial_bound_is_its_formula_and_refuses_drift_up_to_the_margin(eps_log):
    """``ε_E + e^{|r|ε_L}·|r|ε_L`` per row (widened by 1e-12), ``inf`` once ``|r|ε_L`` reaches the
    exp block's margin (here ``|r| = 3``, ``ε_L = 0.05``: the drift 0.15 is the margin itself)."""
    ticket = SimpleNamespace(degree=3, margin=0.15)
    r = torch.tensor([[1, 0], [1, 1], [0, 3], [2, 1]])
    certificate = universal.certify_poly_basis(ticket, r, eps_log, 2e-4)
    per_basis = certificate.parts["per_basis"]
    assert per_basis.shape == (4,)
    with mpmath.workdps(30):
        for order, bound in zip([1, 2, 3, 3], per_basis.tolist()):
            drift = order * mpmath.mpf(eps_log)
            if order * eps_log >= 0.15 * (1 - 1e-9):
                assert bound == math.inf
                continue
            exact = mpmath.mpf(2e-4) + mpmath.exp(drift) * drift
            assert exact <= mpmath.mpf(bound) <= exact * (1 + mpmath.mpf(2e-12))
    assert certificate.value == float(per_basis.max())
    assert (certificate.kind, certificate.domain, certificate.norm) == ("rigorous", "[0,1]^2", "sup |b̂_r − b_r| over r")
    assert certificate.assumptions == universal.ASSUMPTIONS + (
        f"block errors eps_log={eps_log:g}, eps_exp={2e-4:g} are certified",)


@given(seed=st.integers(0, 2**16), pool=st.sampled_from([2, 3, 6]), hi=st.sampled_from([0.5, 1.0]))
def test_every_block_segment_carries_its_own_knot_deviations_and_exact_curvature_term(seed, pool, hi):
    """Per segment j of a sine block (small pools: large, uneven knot deviations):
    ``knot_deviation_j ≥ max(|R(t_j) − g(t_j)|, |R(t_{j+1}) − g(t_{j+1})|)`` and
    ``interpolation_j ≥ max|g''|·h_j²/8`` against 40-digit values; the value covers every segment."""
    block = universal.construct_block(universal.sin_piece(hi), 0.02, pool, torch.Generator().manual_seed(seed),
                                      half_terms=1)
    certificate = universal.certify_block(block)
    knots, realised = block.knots.tolist(), block.knot_values().tolist()
    with mpmath.workdps(40):
        gap = [abs(mpmath.mpf(r) - mpmath.sin(2 * mpmath.pi * mpmath.mpf(t))) for r, t in zip(realised, knots)]
        for j, (kd, interp) in enumerate(zip(certificate.parts["knot_deviation"].tolist(),
                                             certificate.parts["interpolation"].tolist())):
            assert mpmath.mpf(kd) >= max(gap[j], gap[j + 1])
            h = mpmath.mpf(knots[j + 1]) - mpmath.mpf(knots[j])
            assert mpmath.mpf(interp) >= exact_sin_curvature(knots[j], knots[j + 1]) * h**2 / 8
    per_segment = certificate.parts["interpolation"] + certificate.parts["knot_deviation"]
    assert certificate.value >= float(per_segment.max())
    assert bool((certificate.parts["slack"] >= gamma(4) * per_segment * (1 - 1e-9)).all())
    assert (certificate.kind, certificate.domain, certificate.norm) == ("rigorous", f"[0, {hi:g}]", "sup |block − sin(2πy)|")
    assert certificate.assumptions == universal.ASSUMPTIONS


# ------------------------------------------------------------ exact pins of the rounding margins (numerics)

U = Fraction(UNIT_ROUNDOFF)


def exact_gamma(n: int) -> Fraction:
    return n * U / (1 - n * U)


def test_gamma_of_no_terms_is_zero_and_an_impossible_length_is_refused_by_name():
    assert gamma(0) == 0.0
    with pytest.raises(ValueError, match=r"gamma\(n\) needs 0 <= n·u < 1, got n=-1"):
        gamma(-1)


@given(x=arrays(np.float64, st.integers(1, 4), elements=st.floats(0.0, 8.0)))
def test_widen_raises_a_non_negative_bound_by_its_relative_and_absolute_margins(x):
    """``widen(x) ≥ x·(1 + LIBM_MARGIN) + TINY`` up to one rounding: in particular ``widen(0) = TINY > 0``."""
    from lth.theory.numerics import LIBM_MARGIN
    out = widen(torch.tensor(x))
    assert float(widen(torch.zeros(1, dtype=torch.float64))) == TINY
    for value, bound in zip(x.tolist(), out.tolist()):
        assert Fraction(bound) >= (Fraction(value) * (1 + Fraction(LIBM_MARGIN)) + Fraction(TINY)) * (1 - U)


def box_corner_products(m1, r1, m2, r2):
    """Exact ``[lo, hi]`` of every entry of ``AB`` over the boxes ``A ∈ m1 ± r1``, ``B ∈ m2 ± r2``: entry
    ``(i, j)`` is a sum of independent bilinear terms ``a_il b_lj``, each extreme at a corner."""
    m1, r1, m2, r2 = (rational(t) for t in (m1, r1, m2, r2))
    lo = np.empty((m1.shape[0], m2.shape[1]), dtype=object)
    hi = np.empty_like(lo)
    for i, j in itertools.product(range(lo.shape[0]), range(lo.shape[1])):
        terms = [[a * b for a in (m1[i, l] - r1[i, l], m1[i, l] + r1[i, l]) for b in (m2[l, j] - r2[l, j], m2[l, j] + r2[l, j])]
                 for l in range(m1.shape[1])]
        lo[i, j], hi[i, j] = sum(min(t) for t in terms), sum(max(t) for t in terms)
    return lo, hi


small_dyadic = st.integers(-8, 8).map(lambda k: k / 4)


@given(k=st.integers(1, 3), data=st.data())
def test_the_midpoint_radius_product_encloses_every_product_of_the_boxes_exactly(k, data):
    """Rump's enclosure: ``|AB − mid| ≤ rad`` for every corner choice, in exact rationals; and ``rad`` is at
    least its documented formula ``|m1|r2 + r1|m2| + r1 r2 + γ_k|m1||m2|`` (the ``(1 + γ_{k+4})`` covers its
    own rounding). Radii up to the midpoints' size, so the ``r1·r2`` term matters."""
    from lth.theory.numerics import enclosed_product
    draw = lambda rows, cols, elements: torch.tensor(data.draw(arrays(np.float64, (rows, cols), elements=elements)))  # noqa: E731
    m1, m2 = draw(2, k, small_dyadic), draw(k, 2, small_dyadic)
    r1, r2 = draw(2, k, small_dyadic.map(abs)), draw(k, 2, small_dyadic.map(abs))
    mid, rad = enclosed_product(m1, r1, m2, r2)
    lo, hi = box_corner_products(m1, r1, m2, r2)
    a1, a2, q1, q2 = (rational(t) for t in (m1.abs(), m2.abs(), r1, r2))
    formula = a1.dot(q2) + q1.dot(a2) + q1.dot(q2) + exact_gamma(k) * a1.dot(a2)
    for i, j in itertools.product(range(2), range(2)):
        m, r = Fraction(float(mid[i, j])), Fraction(float(rad[i, j]))
        assert m - r <= lo[i, j] and hi[i, j] <= m + r
        assert r >= formula[i, j]


@pytest.mark.parametrize("w, lo, hi", [([[1.0]], [-1.0], [1.0]), ([[1.0]], [1.0], [1.0]),
                                       ([[0.5, -2.0]], [-1.0, 0.5], [3.0, 0.5]),
                                       ([[3.0, 1.0, -1.0]], [-4.0, -0.25, 2.0], [4.0, 0.25, 2.0])])
def test_the_interval_matvec_ends_lie_beyond_its_documented_spread_around_the_exact_centre(w, lo, hi):
    """``[c − s, c + s]`` with ``c = w·mid``, ``s = (|w|·rad + γ_{n+1}|w||mid|)(1 + γ_{n+2}) + n·TINY``,
    ``rad = (hi − lo)/2·(1 + 2u) + 2u|mid| + TINY`` in exact rationals (dyadic inputs: ``mid`` and ``c``
    are exact in float64, so only the margins are tested)."""
    from lth.theory.numerics import interval_matvec
    out_lo, out_hi = interval_matvec(matrix(w), matrix(lo), matrix(hi))
    n = len(lo)
    for row, a, b in zip(w, out_lo.tolist(), out_hi.tolist()):
        mids = [(Fraction(p) + Fraction(q)) / 2 for p, q in zip(lo, hi)]
        rads = [(Fraction(q) - Fraction(p)) / 2 * (1 + 2 * U) + 2 * U * abs(m) + Fraction(TINY) for p, q, m in zip(lo, hi, mids)]
        centre = sum(Fraction(c) * m for c, m in zip(row, mids))
        spread = ((sum(abs(Fraction(c)) * r for c, r in zip(row, rads))
                   + exact_gamma(n + 1) * sum(abs(Fraction(c)) * abs(m) for c, m in zip(row, mids)))
                  * (1 + exact_gamma(n + 2)) + n * Fraction(TINY))
        assert Fraction(a) <= centre - spread and centre + spread <= Fraction(b)


# ------------------------------------------------------------------------- certify: activity tests, ranges


def exact_network_gap(layers: list[PerturbedLayer], x: list[Fraction]) -> Fraction:
    """``‖f(x) − g(x)‖²`` exactly: target ``W_i``, realised ``W_i y + E⁺y⁺ − E⁻y⁻``, ReLU except after
    the last."""
    z, y = np.array(x, dtype=object), np.array(x, dtype=object)
    for index, layer in enumerate(layers):
        w, ep, en = rational(layer.weight), rational(layer.err_pos), rational(layer.err_neg)
        z = w.dot(z)
        positive = np.array([max(v, 0) for v in y], dtype=object)
        negative = np.array([max(-v, 0) for v in y], dtype=object)
        y = w.dot(y) + ep.dot(positive) - en.dot(negative)
        if index < len(layers) - 1:
            z = np.array([max(v, 0) for v in z], dtype=object)
            y = np.array([max(v, 0) for v in y], dtype=object)
    return sum((a - b) ** 2 for a, b in zip(z, y))


def layer(weight, err_pos, err_neg=None) -> PerturbedLayer:
    w, ep = matrix(weight), matrix(err_pos)
    en = torch.zeros_like(ep) if err_neg is None else matrix(err_neg)
    return PerturbedLayer(w, ep, en, torch.zeros_like(ep), torch.zeros_like(ep))


# Each case: layers, box lo, hi (the last input coordinate, when fixed at 1, is a bias), and which
# case of the ReLU rule it exercises. Every exact supremum is attained on the grid x₁ ∈ lo₁ + k/16.
BOX_CASES = {
    "target off, realised on": ([layer([[-1.0]], [[2.0]]), layer([[1.0]], [[0.0]])], [0.25], [0.5]),
    "target on, realised off": ([layer([[1.0]], [[-3.0]]), layer([[1.0]], [[0.0]])], [0.25], [0.5]),
    "target on, realised off while a second unit stays on": (
        [layer([[1.0, 0.0], [0.0, 10.0]], [[0.0, -3.0], [6.0, 0.0]]), layer([[1.0, 1.0]], [[0.0, 0.0]])],
        [0.25, 1.0], [1.0, 1.0]),
    "an inactive unit beside an active one, read with a negative weight": (
        [layer([[0.0, -1.0], [0.0, 10.0]], [[0.0, 0.0], [6.0, 0.0]]), layer([[-1.0, 1.0]], [[0.0, 0.0]])],
        [0.25, 1.0], [1.0, 1.0]),
    "an undecided unit with a positive deviation that vanishes where the other peaks": (
        [layer([[-2.0, 0.5], [0.0, 10.0]], [[0.0, 1.0], [6.0, 0.0]]), layer([[-1.0, 1.0]], [[0.0, 0.0]])],
        [0.0, 1.0], [1.0, 1.0]),
    "the realised activation starts at the target's lower end, where the other unit's deviation peaks": (
        [layer([[0.0, 10.0], [-1.0, 0.5]], [[-4.0, 0.0], [0.0, 0.0]]), layer([[1.0, 0.0]], [[0.0, 1.0]])],
        [0.25, 1.0], [0.5, 1.0]),
    "the second layer's error reads the realised activation z + d": (
        [layer([[1.0]], [[-1.0]]), layer([[1.0]], [[0.5]])], [0.25], [1.0]),
}


@pytest.mark.parametrize("case", list(BOX_CASES))
def test_the_box_certificate_covers_the_exact_gap_where_target_and_realised_units_switch_differently(case):
    """Hand-made two-layer cases where a unit of the target and of the realised network are on different
    sides of the ReLU (each kills a relaxed activity test of certify_box): certificate² ≥ the exact
    ``‖f − g‖²`` at every grid point (rationals)."""
    layers, lo, hi = BOX_CASES[case]
    certificate = certify_box(layers, matrix(lo), matrix(hi))
    grid = [[Fraction(lo[0]) + (Fraction(hi[0]) - Fraction(lo[0])) * k / 16] + [Fraction(v) for v in lo[1:]] for k in range(17)]
    worst = max(exact_network_gap(layers, x) for x in grid)
    assert worst > 0
    assert Fraction(certificate.value) ** 2 >= worst


@given(m=st.integers(1, 2), n=st.integers(1, 3), data=st.data())
def test_the_separable_error_range_contains_the_true_errors_range_over_the_box(m, n, data):
    """``separable_error_range`` ⊇ ``{E y : lo ≤ y ≤ hi, |E − Ê| ≤ slack}``: the stored matrices' exact range
    (every combination of ends and 0, rationals) widened by ``Σ_j max(slack⁺, slack⁻)_j·max|y_j|``; dyadic
    data, so the test sees the rounding margin itself. Slack may exceed the errors."""
    from lth.theory.certify import separable_error_range
    draw = lambda shape, elements: torch.tensor(data.draw(arrays(np.float64, shape, elements=elements)))  # noqa: E731
    ends = torch.sort(draw((2, n), small_dyadic), dim=0).values
    lo, hi = ends[0], ends[1]
    stored = PerturbedLayer(torch.zeros(m, n, dtype=torch.float64), draw((m, n), small_dyadic), draw((m, n), small_dyadic),
                            draw((m, n), small_dyadic.map(abs)), draw((m, n), small_dyadic.map(abs)))
    out_lo, out_hi = separable_error_range(stored, lo, hi)
    ep, en, sp, sn = (rational(t) for t in (stored.err_pos, stored.err_neg, stored.slack_pos, stored.slack_neg))
    choices = [sorted({Fraction(float(a)), Fraction(float(b)), min(max(Fraction(0), Fraction(float(a))), Fraction(float(b)))})
               for a, b in zip(lo, hi)]
    for i in range(m):
        values = [sum(ep[i, j] * max(y[j], 0) - en[i, j] * max(-y[j], 0) for j in range(n))
                  for y in itertools.product(*choices)]
        widening = sum(max(sp[i, j], sn[i, j]) * max(abs(Fraction(float(lo[j]))), abs(Fraction(float(hi[j])))) for j in range(n))
        assert Fraction(float(out_lo[i])) <= min(values) - widening
        assert Fraction(float(out_hi[i])) >= max(values) + widening


def test_the_error_norm_of_a_signed_input_reads_both_branches_side_by_side():
    """``E⁺ = [1, 0]``, ``E⁻ = [0, −1]``, ``y = (1, −1)``: ``E⁺y⁺ − E⁻y⁻ = 2`` at ``‖y‖ = √2``, so
    ``η ≥ √2``
    (``‖[E⁺, −E⁻]‖``; stacking them as rows would give 1)."""
    from lth.theory.certify import layer_error_norm
    stored = layer([[0.0, 0.0]], [[1.0, 0.0]], [[0.0, -1.0]])
    assert Fraction(layer_error_norm(stored, False)) ** 2 >= 2
    assert layer_error_norm(stored, True) >= 1.0


def test_the_ball_certificate_records_each_layers_norms():
    from lth.theory.certify import layer_error_norm, spectral_norm_upper
    layers = two_layers()
    parts = certify_ball(layers, 0.5).parts
    assert parts["weight_norms"] == [spectral_norm_upper(item.weight) for item in layers]
    assert parts["error_norms"] == [layer_error_norm(layers[0], False), layer_error_norm(layers[1], True)]


@pytest.mark.parametrize("exponent", [-520, -560, -600, -700])
@pytest.mark.parametrize("rows", [[[1.0]], [[3.0, 4.0]], [[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]]])
def test_the_spectral_norm_bound_holds_where_the_gram_matrix_underflows(rows, exponent):
    """``a = 2^e·M`` with ``a^T a`` below the smallest float64: only the enclosure's ``TINY`` radii carry
    the bound, so dropping or shrinking the radius, or rescaling it by the wrong power of two, shows.
    The exact norm is at least the largest column norm (mpmath, 40 digits)."""
    from lth.theory.certify import spectral_norm_upper
    a = matrix(rows) * 2.0**exponent
    with mpmath.workdps(40):
        column = max(mpmath.sqrt(sum(mpmath.mpf(v) ** 2 for v in col)) for col in a.T.tolist())
        assert mpmath.mpf(spectral_norm_upper(a)) >= column


# --------------------------------------------------------------------------------- dense: domain handling


def biased_ticket(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    draw = lambda *shape: torch.rand(*shape, generator=gen, dtype=torch.float64) - 0.5  # noqa: E731
    target = dense.Target([draw(3, 2), draw(1, 3)], [draw(3), draw(1)])
    return target, dense.build_ticket(target, 0.1, 0.1, seed=seed, units_per_input=[4, 4])[1]


@pytest.mark.parametrize("radius", [0.5, 3.0])
def test_a_ball_certificate_with_biases_runs_the_recursion_on_the_augmented_radius(radius):
    """With biases the input is ``(x, 1)``, of norm ``≤ √(r² + 1)``: the ball part is the recursion at that
    radius (shrinking it, e.g. ``√(2r + 1)`` at r = 3 or ``√(r³ + 1)`` at r = ½, would not cover ``x``)."""
    target, ticket = biased_ticket()
    assert ticket.has_bias
    certificate = dense.certify_sup_error(target, ticket, dense.Domain("ball", radius=radius))
    layers = dense.realised_layers(target, ticket)
    assert certificate.parts["ball_bound"] == certify_ball(layers, math.sqrt(radius**2 + 1)).value
    assert certificate.value == min(certificate.parts["ball_bound"], certificate.parts["box_bound"])
    assert certificate.parts["weight_norms"] == certify_ball(layers, 1.0).parts["weight_norms"]
    assert certificate.assumptions == dense.ASSUMPTIONS
    target, ticket = two_input_ticket(True)
    assert not ticket.has_bias
    unbiased = dense.certify_sup_error(target, ticket, dense.Domain("ball", radius=radius))
    assert unbiased.parts["ball_bound"] == certify_ball(dense.realised_layers(target, ticket), radius).value


@pytest.mark.parametrize("domain", [dense.Domain("ball", radius=1 / 3),
                                    dense.Domain("box", lo=(-1 / 3, 0.1), hi=(0.7, 1 / 3))])
def test_the_box_part_is_the_interval_bound_on_the_float64_box(domain):
    """Ends that float32 would round (1/3, 0.1, 0.7): the box bound is ``certify_box`` on the float64 box
    (the ball's bounding box ``[−r, r]^d`` for a ball), bit for bit."""
    target, ticket = two_input_ticket(True)
    certificate = dense.certify_sup_error(target, ticket, domain)
    r = domain.radius
    lo, hi = (matrix([-r, -r]), matrix([r, r])) if domain.kind == "ball" else (matrix(domain.lo), matrix(domain.hi))
    assert certificate.parts["box_bound"] == certify_box(dense.realised_layers(target, ticket), lo, hi).value


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_a_signed_ticket_refuses_a_box_of_the_wrong_dimension_and_scales_its_union_bound(scale):
    target, ticket = two_input_ticket(True, scale)
    with pytest.raises(ValueError) as caught:
        dense.certify_sup_error(target, ticket, dense.Domain("box", lo=(0.0, 0.0, 0.0), hi=(1.0, 1.0, 1.0)))
    assert str(caught.value) == "box has 3 coordinates, the target has 2 inputs"
    certificate = dense.certify_sup_error(target, ticket, dense.Domain("ball"))
    layers = dense.realised_layers(target, ticket)
    assert certificate.parts["union_bound"] == dense.bound_union(layers, ticket) * scale
    with pytest.raises(ValueError) as caught:
        dense.Domain("sphere")
    assert str(caught.value) == "domain must be 'ball' or 'box', got 'sphere'"


# ------------------------------------------------------------------------------------------------- conv


@settings(max_examples=6)
@given(seed=st.integers(0, 2**16), ns=st.tuples(st.integers(1, 3), st.integers(1, 3)))
def test_a_conv_ticket_realising_minus_k_is_certified_at_least_at_its_recursion(seed, ns):
    """Every kept path with the wrong sign (``L ≈ −K``): the fresh error is ``(L − K) * X ≈ −2K * X``,
    far from ``(L + K) * X ≈ 0``; the certificate must still cover the exact recursion."""
    tickets = [dataclasses.replace(t, collapsed=-t.collapsed) for t in conv_chain(seed, (True, False), ns)]
    assert Fraction(conv.certify_network(tickets, 4).value) >= exact_network_recursion(tickets, 4)


@given(seed=st.integers(0, 2**16), n=st.integers(1, 4), c=st.integers(1, 2))
def test_the_conv_layer_rounding_slack_is_its_formula_to_a_few_ulps(seed, n, c):
    """``rounding = γ_{n+c·d²+3}·S·(1 + γ_{c·d²+1}) + (n + 2)·c·d²·TINY`` (``S`` the code's float ``|L'| * 1``
    on the box), exact rationals to 6u relative: the second-order factor ``1 + γ_{c·d²+1}`` must be there."""
    d = 3
    gen = torch.Generator().manual_seed(seed)
    spec = conv.TargetLayer(torch.rand(1, c, d, d, generator=gen, dtype=torch.float64) - 0.5)
    ticket = conv.construct_supermasks(spec, *conv.sample_random_pair(1, c, d, n, gen))
    rounding = conv.certify_layer(ticket, 4).parts["rounding"]
    vt = (ticket.v * ticket.t)[:, :, 0, 0].abs()
    magnitude = torch.einsum("ot,tkij->okij", vt, (ticket.u * ticket.s).abs()) + spec.weight.abs()
    scale = Fraction(float(torch.nn.functional.conv2d(torch.ones(1, c, 4, 4, dtype=torch.float64), magnitude,
                                                      padding=spec.pad)[0].max()))
    taps = c * d * d
    formula = exact_gamma(n + taps + 3) * scale * (1 + exact_gamma(taps + 1)) + (n + 2) * taps * Fraction(TINY)
    assert Fraction(rounding) >= formula * (1 - 6 * U)


# -------------------------------------------------------------------------------------------- universal


@given(a=st.floats(0.0, 1.0), width=st.floats(0.0, 1.0))
def test_the_log_piece_lives_on_the_unit_interval_and_its_curvature_bound_covers_the_left_end(a, width):
    """``|g''| = (1 + x)^{-2}`` is largest at the left end ``a``; the bound must be at least that (40 digits)."""
    piece = universal.log_piece()
    assert (piece.lo, piece.hi, piece.name) == (0.0, 1.0, "log((1+x)/2)")
    assert (universal.sin_piece().lo, universal.sin_piece().hi) == (0.0, 1.0)
    assert universal.exp_piece(-1.0, 0.5).name == "exp"
    b = min(a + width, 1.0)
    bound = piece.curvature(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64))
    with mpmath.workdps(40):
        assert mpmath.mpf(float(bound)) >= (1 + mpmath.mpf(a)) ** -2


def exact_coefficients(block) -> list[Fraction]:
    """``[β, c_0, …]``: the kept path products ``w·v`` summed per feature, exactly."""
    out = [Fraction(0)] * (block.units.shape[0] + 1)
    for feature, w, v, keep in zip(block.feature.tolist(), block.w.tolist(), block.v.tolist(), block.mask.tolist()):
        out[feature] += sum(Fraction(a) * Fraction(b) for a, b, k in zip(w, v, keep) if k)
    return out


@pytest.mark.parametrize("piece, pool, seed", [(universal.exp_piece(-3.0, 0.5), 4, 3), (universal.exp_piece(-12.0, 0.5), 8, 5)])
def test_the_block_coefficients_are_the_kept_path_sums_within_their_documented_slack(piece, pool, seed):
    """``|c̃_k − Σ_kept w·v| ≤ slack_k`` exactly, and ``slack_k ≥ γ_{n+P+1}·Σ_kept|w·v|`` (``P`` pools of ``n``)."""
    block = universal.construct_block(piece, 0.02, pool, torch.Generator().manual_seed(seed))
    assert block.w.shape[0] > block.w.shape[1]  # more pools than paths per pool: P and n both count
    coefficients, slack = block.coefficients().tolist(), block.coefficient_slack().tolist()
    magnitude = [Fraction(0)] * (block.units.shape[0] + 1)
    for feature, w, v, keep in zip(block.feature.tolist(), block.w.tolist(), block.v.tolist(), block.mask.tolist()):
        magnitude[feature] += sum(abs(Fraction(float(a * b))) for a, b, k in zip(w, v, keep) if k)
    rounds = block.w.shape[0] + block.w.shape[1] + 1
    for realised, exact, s, m in zip(coefficients, exact_coefficients(block), slack, magnitude):
        assert abs(Fraction(realised) - exact) <= Fraction(s)
        assert Fraction(s) >= exact_gamma(rounds) * m * (1 - 4 * U)


def hump_piece() -> universal.Piece:
    """``4 sin(πy)`` on [0, 1]: ``|g| > 1`` with an interior peak, so the knot values' float error
    ``value_ulps·u·max(|g|, 1)`` is largest inside (the library's pieces have it constant or increasing)."""
    return universal.Piece("4 sin(πy)", 0.0, 1.0, lambda y: 4 * torch.sin(math.pi * y),
                           lambda a, b: widen(torch.full_like(a, 4 * math.pi**2)))


def without_first_slope(block):
    """The same block with the paths of feature 1 (the first slope ``c_0``) dropped: ``|c̃_0| = 0 < |β̃|``."""
    return dataclasses.replace(block, mask=block.mask & (block.feature != 1)[:, None])


def exact_interpolant(block):
    """The block's first layer with one path per coefficient, ``w = 1``, ``v = c_k/a_k``: it realises the
    interpolant on its kinks up to rounding, so its knot deviations are rounding and value-error terms alone."""
    coef = universal.interpolant_coefficients(block.piece, block.kinks)
    coef = torch.cat([coef[:1], coef[1:] / block.first_weight])
    ones = torch.ones(coef.shape[0], 1, dtype=torch.float64)
    return dataclasses.replace(block, feature=torch.arange(coef.shape[0]), w=ones, v=coef[:, None],
                               mask=ones.bool(), targets=coef)


# (piece, pool size, seed, edit): a log block, exp blocks with a segment across 0 (the second also one
# longer than 2), a block without its first slope, and the exact interpolant of a piece whose value
# error peaks inside.
BLOCKS = {"log": (universal.log_piece(), 12, 3, None), "exp near 0": (universal.exp_piece(-3.0, 0.5), 12, 4, None),
          "exp from -12": (universal.exp_piece(-12.0, 0.5), 8, 5, None),
          "log without c_0": (universal.log_piece(), 12, 3, without_first_slope),
          "hump": (hump_piece(), 12, 6, exact_interpolant)}


@pytest.mark.parametrize("case", list(BLOCKS))
def test_every_knot_deviation_carries_the_documented_rounding_of_the_realised_knot_values(case):
    """``knot_deviation_j = max(dev_j, dev_{j+1}) + max(ve_j, ve_{j+1})`` with ``ve = value_ulps·u·max(|g̃|, 1)`` and
    ``dev_j = |R̃(p_j) − g̃(p_j)| + γ_{K+4}(|β̃| + Σ_k (p_j − t_k)^+|e_k|) + slack_β + Σ_k (p_j − t_k)^+ σ_k``,
    ``p_j`` the segment ends, ``t_k`` the kept kinks, ``e_k = fl(c̃_k a_k)``, ``σ_k = a_k slack_k + γ_2|e_k|``
    (exact rationals on the float64 values, to 4u relative); exp blocks have negative knots, where
    ``(p_j − t_k)^+`` and ``p_j + t_k`` differ. ``kink_shift = γ_1 Σ_k (|e_k| + σ_k)|t_k|``. And
    ``interpolation_j ≥ max|g''|·h_j²/8`` at 40 digits."""
    piece, pool, seed, edit = BLOCKS[case]
    block = universal.construct_block(piece, 0.02, pool, torch.Generator().manual_seed(seed))
    block = block if edit is None else edit(block)
    certificate = universal.certify_block(block)
    knots, kinks = [Fraction(t) for t in block.knots.tolist()], [Fraction(t) for t in block.kinks.tolist()]
    beta = Fraction(block.coefficients()[0].item())
    slopes = [Fraction(e) for e in block.slopes().tolist()]
    slack = [Fraction(s) for s in block.coefficient_slack().tolist()]
    slope_slack = [Fraction(a) * s + exact_gamma(2) * abs(e)
                   for a, s, e in zip(block.first_weight.tolist(), slack[1:], slopes)]
    realised, values = block.knot_values().tolist(), piece.value(block.knots).tolist()
    deviation, value_error = [], [piece.value_ulps * U * max(abs(Fraction(g)), Fraction(1)) for g in values]
    for pj, r, g in zip(knots, realised, values):
        reach = [max(pj - tk, Fraction(0)) for tk in kinks]
        terms = abs(beta) + sum(q * abs(e) for q, e in zip(reach, slopes))
        rounding = exact_gamma(len(kinks) + 4) * terms + slack[0] + sum(q * s for q, s in zip(reach, slope_slack))
        deviation.append(abs(Fraction(r) - Fraction(g)) + rounding)
    shift = exact_gamma(1) * sum((abs(e) + s) * abs(t) for e, s, t in zip(slopes, slope_slack, kinks))
    assert all(Fraction(k) >= shift * (1 - 4 * U) for k in certificate.parts["kink_shift"].tolist())
    for j, (kd, interp) in enumerate(zip(certificate.parts["knot_deviation"].tolist(),
                                         certificate.parts["interpolation"].tolist())):
        expected = max(deviation[j], deviation[j + 1]) + max(value_error[j], value_error[j + 1])
        assert Fraction(kd) >= expected * (1 - 4 * U)
        a, b = block.knots[j:j + 2].tolist()
        with mpmath.workdps(40):
            peak = {"log": (1 + mpmath.mpf(a)) ** -2, "exp": mpmath.exp(mpmath.mpf(b))}.get(piece.name[:3], 4 * mpmath.pi**2)
            assert mpmath.mpf(interp) >= peak * (mpmath.mpf(b) - mpmath.mpf(a)) ** 2 / 8
    # γ_4·(I + D) covers the three roundings of I + D + slack and of the widening: value ≥ (I + D)·fl(1 + LIBM_MARGIN)
    from lth.theory.numerics import LIBM_MARGIN
    per_segment = [Fraction(i) + Fraction(d) + shift for i, d in zip(certificate.parts["interpolation"].tolist(),
                                                                    certificate.parts["knot_deviation"].tolist())]
    assert Fraction(certificate.value) >= max(per_segment) * Fraction(1 + LIBM_MARGIN)
    if piece.name == "exp":
        assert any(a < 0 < b for a, b in zip(block.knots[:-1].tolist(), block.knots[1:].tolist()))
        assert (max((block.knots[1:] - block.knots[:-1]).tolist()) > 2) == (piece.lo == -12.0)


def test_the_total_degree_in_the_refusal_is_the_largest_row_sum():
    with pytest.raises(ValueError) as caught:
        universal.check_exponents(torch.tensor([[3, 1]]), 3)
    assert str(caught.value) == "the ticket serves total degree |r| <= 3, got 4"


# ------------------------------------------------------------------------------------------- subset sums


def exact_sup_distance(x: np.ndarray, lo: Fraction, hi: Fraction) -> Fraction:
    """``sup_{z∈[lo,hi]} min_S |z − Σ_S x|`` at its candidates: the ends and the midpoints of consecutive
    sums inside ``[lo, hi]`` (the distance is a tent between sums)."""
    sums = sorted({sum((Fraction(v) for v, keep in zip(x.tolist(), bits) if keep), Fraction(0))
                   for bits in itertools.product((0, 1), repeat=len(x))})
    points = [lo, hi] + [(a + b) / 2 for a, b in zip(sums, sums[1:]) if lo <= (a + b) / 2 <= hi]
    return max(min(abs(z - s) for s in sums) for z in points)


@given(batch=arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 5)),
                    elements=st.integers(-4096, 4096).map(lambda k: k / 4096)),
       interval=st.sampled_from([(-1.0, 1.0), (0.0, 0.125), (-0.3, 0.05), (0.5, 2.0)]))
def test_the_worst_case_error_of_each_pool_is_its_exact_supremum_and_the_slack_its_formula(batch, interval):
    """Dyadic pools (exact sums), intervals that cut a gap between sums: ``worst_case_error`` is the exact
    sup pool by pool, batched; ``rounding_slack = γ_{n+4}(Σ|x| + max(|lo|, |hi|))``."""
    lo, hi = interval
    errors = worst_case_error(torch.tensor(batch), lo, hi)
    slack = rounding_slack(torch.tensor(batch), lo, hi)
    assert errors.shape == slack.shape == (len(batch),)
    for pool, error, s in zip(batch, errors.tolist(), slack.tolist()):
        assert Fraction(error) == exact_sup_distance(pool, Fraction(lo), Fraction(hi))
        scale = sum(abs(Fraction(v)) for v in pool.tolist()) + max(abs(Fraction(lo)), abs(Fraction(hi)))
        assert Fraction(s) >= exact_gamma(len(pool) + 4) * scale * (1 - 4 * U)


def test_a_matrix_with_a_nan_is_refused_by_name():
    from lth.theory.certify import spectral_norm_upper
    with pytest.raises(ValueError) as caught:
        spectral_norm_upper(matrix([[1.0, math.nan]]))
    assert str(caught.value) == "matrix has non-finite entries"


def test_an_inverted_box_is_refused_by_name():
    with pytest.raises(ValueError) as caught:
        certify_box(two_layers(), matrix([0.0, 1.0]), matrix([1.0, 0.0]))
    assert str(caught.value) == "box has lo > hi in some coordinate"


def test_the_conv_network_certificate_states_its_assumptions():
    assert conv.certify_network(conv_chain(0, (True, False), (2, 2)), 3).assumptions == conv.ASSUMPTIONS
