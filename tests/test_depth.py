"""Strong tickets at depth L+1 (theory/depth.py, proofs/slth_depth.md)."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lth.registry import run_claim
from lth.theory.dense import Domain, random_target
from lth.theory.depth import (activation, bound_proven_copies, build_depth_ticket, certify_sup_error,
                          construct_depth_network, construct_depth_ticket, evaluate_target, realised_layers,
                          row_sum_bounds, search_sup_error)
from lth.theory.device import generator
from lth.theory.lueker import bound_lueker_samples

CPU = torch.device("cpu")
CHEAP = {"target": (5, 4, 3), "restarts": 2, "steps": 5, "samples": 64}
RELU, TANH = activation("relu"), activation("tanh")


def _instance(seed: int, widths: list[int], copies: list[int], act, scale: float = 1.0):
    target = random_target(widths, generator(seed, CPU))
    network = construct_depth_network(widths, copies, scale, seed + 1)
    return target, construct_depth_ticket(target, network, act)


# Structure ----------------------------------------------------------------------------------------

@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10**6), name=st.sampled_from(["relu", "tanh"]))
def test_kept_units_read_their_home_input_and_every_kept_copy_is_read(seed, name):
    widths, copies = [4, 3, 3, 2], [20, 6, 5]
    target, ticket = _instance(seed, widths, copies, activation(name))
    first = ticket.masks[0]
    assert int(first.sum(1).max()) <= 1
    unit, column = first.nonzero(as_tuple=True)
    assert torch.equal(column, unit // copies[0])
    for inner, outer in zip(ticket.masks[:-1], ticket.masks[1:]):
        assert torch.equal(inner.any(1), outer.any(0))  # a unit is kept with its inputs iff a later row reads it


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10**6), name=st.sampled_from(["relu", "tanh"]))
def test_the_compact_sequential_computes_the_masked_network(seed, name):
    act = activation(name)
    target, ticket = _instance(seed, [4, 3, 2], [16, 5], act, 0.05 if name == "tanh" else 1.0)
    x = torch.rand(32, 4, generator=generator(seed, CPU), dtype=torch.float64) * 2 - 1
    full = x
    for i, w in enumerate(ticket.masked_weights()):
        full = full @ w.T
        if i < 2:
            full = act(full)
    assert torch.allclose(ticket.sequential()(x), full, rtol=0, atol=1e-12)


# Oracles --------------------------------------------------------------------------------------------

def _exact(t: torch.Tensor) -> list:
    return [[Fraction(v) for v in row] for row in t.tolist()]


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_relu_ticket_is_the_proofs_form_and_within_its_certificate_in_exact_arithmetic(seed):
    """Fractions: each copy's layer-1 pre-activation is Wx + E⁺x⁺ − E⁻x⁻ with the realised E±, each later
    row's is E z + K d, and ‖f(x) − g(x)‖ ≤ certified at drawn points of the unit ball."""
    widths, copies = [3, 3, 2], [24, 6]
    target, ticket = _instance(seed, widths, copies, RELU)
    certified = Fraction(certify_sup_error(target, ticket, Domain("ball")).value)
    first, second, third = (_exact(w) for w in ticket.masked_weights())
    layers = realised_layers(target, ticket)
    e_pos, e_neg = _exact(layers[0].err_pos), _exact(layers[0].err_neg)
    w1, w2 = _exact(target.weights[0]), _exact(target.weights[1])
    relu = lambda v: max(Fraction(0), v)  # noqa: E731
    for x in torch.randn(8, 3, generator=generator(seed, CPU), dtype=torch.float64):
        xs = [Fraction(v) for v in (x / max(1.0, float(x.norm()))).tolist()]
        hidden = [relu(sum(a * b for a, b in zip(row, xs))) for row in first]
        pre = [sum(a * b for a, b in zip(row, hidden)) for row in second]
        for r, value in enumerate(pre):
            i = r // copies[1]
            form = sum(w1[i][j] * xs[j] + e_pos[r][j] * max(xs[j], 0) + e_neg[r][j] * min(xs[j], 0)
                       for j in range(3))
            assert abs(value - form) <= Fraction(layers[0].slack[r].sum().item()) * 2  # stored E± rounded
        out = [sum(a * relu(b) for a, b in zip(row, pre)) for row in third]
        z = [relu(sum(a * b for a, b in zip(row, xs))) for row in w1]
        f = [sum(a * b for a, b in zip(row, z)) for row in w2]
        assert sum((a - b) ** 2 for a, b in zip(f, out)) <= certified**2


@settings(max_examples=20, deadline=None)
@given(t=st.floats(-50, 50))
def test_tanh_stays_within_the_cubic_remainder_of_the_identity(t):
    with mpmath.workdps(120):  # the margin t⁵·2/15 must exceed tanh's working error at t ~ 1e-12
        assert abs(mpmath.tanh(t) - t) <= abs(mpmath.mpf(t)) ** 3 / 3


@pytest.mark.parametrize("scale", [None, 0.5])
def test_tanh_ticket_is_within_its_certificate_in_40_digit_arithmetic(scale):
    """mpmath at 40 digits: the pruned tanh network and the target at drawn points and at the search's
    witness; every error is below the float64 certificate. At Theorem B's λ the certificate also meets ε;
    at λ = ½ the first layer is far from linear, so the remainder term is what keeps the bound valid."""
    widths = [3, 3, 2]
    target = random_target(widths, generator(5, CPU))
    bound = bound_proven_copies(widths, 0.2, 0.2, TANH, row_sum_bounds(target))
    network = construct_depth_network(widths, [40, 8], bound.scale if scale is None else scale, 6)
    ticket = construct_depth_ticket(target, network, TANH, tolerance=bound.accuracy)
    cert = certify_sup_error(target, ticket, Domain("ball"))
    witness = search_sup_error(target, ticket, Domain("ball"), restarts=4, steps=20, samples=256, seed=1)
    points = torch.randn(6, 3, generator=generator(7, CPU), dtype=torch.float64)
    points = torch.cat([points / points.norm(dim=1, keepdim=True), witness.x[None]])
    with mpmath.workdps(40):
        weights = [mpmath.matrix(w.tolist()) for w in ticket.masked_weights()]
        target_weights = [mpmath.matrix(w.tolist()) for w in target.weights]
        for x in points.tolist():
            g = mpmath.matrix(x)
            for i, w in enumerate(weights):
                g = w * g
                if i < 2:
                    g = g.apply(mpmath.tanh)
            f = target_weights[1] * (target_weights[0] * mpmath.matrix(x)).apply(mpmath.tanh)
            assert mpmath.norm(f - g) <= cert.value
    assert witness.error <= cert.value
    if scale is None:
        assert cert.value <= 0.2
    else:  # the remainder term carries the first layer's deviation at this scale
        proven = construct_depth_ticket(target, construct_depth_network(widths, [40, 8], bound.scale, 6), TANH,
                                        tolerance=bound.accuracy)
        first = certify_sup_error(target, proven, Domain("ball")).parts["deviation_after_layer"][0]
        assert cert.parts["deviation_after_layer"][0] > 100 * first


# The proven widths -----------------------------------------------------------------------------------

@pytest.mark.parametrize("widths, eps, name", [([8, 6, 4], 0.1, "relu"), ([8, 6, 4], 0.1, "tanh"),
                                               ([5, 4, 3, 2], 0.05, "relu"), ([4, 3], 0.2, "tanh")])
def test_theorem_b_widths_are_least_pools_and_their_error_recursion_meets_eps(widths, eps, name):
    """Recompute Theorem B's recursion from its outputs: each ρ is Lueker's least pool at its accuracy, and
    √d_L·Σ_l G_l·fresh_l ≤ ε with the crude amplification d_{l−1}ρ_{l−1}."""
    act = activation(name)
    nu = [1.5] * (len(widths) - 1)
    bound = bound_proven_copies(widths, eps, eps, act, nu)
    depth = len(widths) - 1
    for l in range(2, depth + 1):
        assert bound.copies[l - 1] == bound_lueker_samples(min(bound.accuracy[l - 1], eps / bound.pools), "uniform")
    assert bound.copies[0] == bound_lueker_samples(min(bound.accuracy[0], eps / bound.pools), "product", (-1.0, 1.0))
    deviation = widths[0] * bound.accuracy[0] * bound.activation_bounds[0]
    if not act.homogeneous:
        remainder = act.cubic * widths[0] * bound.copies[0] * bound.scale**2
        assert remainder <= bound.remainder * (1 + 1e-12)
        deviation += remainder
    for l in range(2, depth + 1):
        deviation = (widths[l - 1] * bound.accuracy[l - 1] * bound.activation_bounds[l - 1]
                     + widths[l - 1] * bound.copies[l - 1] * deviation)
    assert math.sqrt(widths[-1]) * deviation <= eps * (1 + 1e-9)


def test_the_proven_width_grows_as_eps_falls():
    coarse = bound_proven_copies([6, 4, 3], 0.2, 0.1, RELU, [1.0, 1.0])
    fine = bound_proven_copies([6, 4, 3], 0.01, 0.1, RELU, [1.0, 1.0])
    # copies of later layers may be set by the union bound's δ/N, which ε does not change
    assert all(a <= b for a, b in zip(coarse.copies, fine.copies)) and coarse.copies[0] < fine.copies[0]


# The claim -------------------------------------------------------------------------------------------

@pytest.mark.claim("slth.depth.network")
def test_the_depth_claim_holds_at_the_proven_widths_and_reports_both_depths():
    record = run_claim("slth.depth.network", **CHEAP)
    assert record.verdict == "holds", record.reason
    rows = record.details["rows"]
    assert [r["construction"] for r in rows] == ["pensia", "burkholz", "burkholz"]
    assert [r["depth"] for r in rows] == [4, 3, 3]
    assert all(r["empirical"] <= r["certified"] <= r["eps"] for r in rows)
    assert all(r["copies"] == r["proven_copies"] for r in rows[1:])


@pytest.mark.claim("slth.depth.network")
@pytest.mark.parametrize("overrides", [{"faults": {"flip": 3}, "copies": (150, 30)},
                                       {"faults": {"scale_factor": 1e6}, "copies": (150, 30)}, {"copies": (2, 2)}])
def test_a_broken_depth_ticket_fails(overrides):
    faults = overrides.get("faults")
    rest = {k: v for k, v in overrides.items() if k != "faults"}
    record = run_claim("slth.depth.network", faults=faults, **{**CHEAP, **rest})
    assert record.verdict == "fails", record.reason


@pytest.mark.parametrize("bad", [{"activations": ()}, {"activations": ("sigmoid",)}, {"eps": 1.0},
                                 {"target": (4,)}, {"copies": (3,)}, {"copies": (0, 2)}])
def test_bad_parameters_are_refused_in_one_line_before_any_work(bad):
    from lth.claims.slth_depth import DepthParams, refuse_bad_params

    with pytest.raises(ValueError) as error:
        refuse_bad_params(DepthParams(**bad))
    assert "\n" not in str(error.value)


def test_the_same_seed_builds_the_same_ticket_and_certificate():
    target = random_target([4, 3, 2], generator(0, CPU))
    first = build_depth_ticket(target, 0.2, 0.2, TANH, seed=3, copies=[30, 6])
    second = build_depth_ticket(target, 0.2, 0.2, TANH, seed=3, copies=[30, 6])
    assert all(torch.equal(a, b) for a, b in zip(first[1].masks, second[1].masks))
    assert certify_sup_error(target, first[1], Domain("ball")).value == \
        certify_sup_error(target, second[1], Domain("ball")).value


def test_the_certificate_covers_the_box_it_encloses_the_ball_in():
    target, ticket = _instance(4, [3, 3, 2], [24, 6], RELU)
    box = Domain("box", lo=(-1.0,) * 3, hi=(1.0,) * 3)
    assert certify_sup_error(target, ticket, Domain("ball")).value == certify_sup_error(target, ticket, box).value
    assert search_sup_error(target, ticket, box, restarts=4, steps=20, samples=256).error <= \
        certify_sup_error(target, ticket, box).value


def test_build_on_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    target = random_target([4, 3, 2], generator(0, CPU))
    for act in (RELU, TANH):
        cpu = build_depth_ticket(target, 0.2, 0.2, act, seed=1)
        gpu = build_depth_ticket(target, 0.2, 0.2, act, seed=1, device="cuda")
        cpu_value = certify_sup_error(target, cpu[1], Domain("ball")).value
        gpu_value = certify_sup_error(target, gpu[1], Domain("ball")).value
        assert max(cpu_value, gpu_value) <= 0.2
        x = torch.rand(16, 4, dtype=torch.float64) * 2 - 1
        assert torch.allclose(evaluate_target(target, act, x), evaluate_target(target, act, x.cuda()).cpu())


@pytest.mark.claim("slth.depth.network")
def test_the_side_by_side_figure_renders_from_a_stored_record(tmp_path):
    from lth.figures import all_figures, render
    from lth.verify import run_verify

    run_verify(["slth.depth.network"], scale="quick", device="cpu", seed=0, out=tmp_path, progress=False,
               overrides={**CHEAP, "copies": (150, 30)})
    paths = render(all_figures()["depth_side_by_side"], tmp_path, tmp_path / "figures")
    assert all(path.stat().st_size > 0 for path in paths)
