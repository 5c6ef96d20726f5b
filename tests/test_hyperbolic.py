"""Strong tickets from hyperbolic weights by binary decomposition (theory/hyperbolic.py, proofs/slth_hyperbolic.md)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.stats import beta as beta_law

from lth.claims.slth_hyperbolic import WIDTH_GRID
from lth.registry import run_claim
from lth.theory.dense import Domain, certify_sup_error, random_target
from lth.theory.dense_bounds import bound_weight_accuracy
from lth.theory.device import generator
from lth.theory.hyperbolic import (BUCKET_TOP, FIRST_LAYER_LAW, HyperbolicLaw, binary_decomposition, bits_for,
                               bound_bucket_probability, bound_hyperbolic_pool_failure,
                               bound_proven_hyperbolic_units_per_input, bucket_bounds, build_hyperbolic_ticket,
                               cell_index, construct_hyperbolic_network, construct_hyperbolic_ticket,
                               second_layer_law)

CPU = torch.device("cpu")
CLAIM = "slth.hyperbolic.network"
CHEAP = {"restarts": 2, "steps": 5, "samples": 64, "eps_grid": (0.1, 0.01), "measured_eps": ()}
MEASURED = {**CHEAP, "measured_eps": (0.1,)}


# Cells, buckets and one step of the decomposition ----------------------------------------------------

@given(value=st.floats(1e-300, 1e300), negative=st.booleans())
def test_the_cell_of_a_residual_brackets_it_between_consecutive_powers_of_two(value, negative):
    r = torch.tensor([-value if negative else value], dtype=torch.float64)
    k = int(cell_index(r)[0])
    assert Fraction(2) ** (-k - 1) < Fraction(value) <= Fraction(2) ** (-k)


@given(value=st.floats(1e-12, 1.0), where=st.floats(0.0, 1.0), negative=st.booleans())
def test_a_product_in_the_residuals_bucket_halves_it_in_exact_arithmetic(value, where, negative):
    """Lemma H1's step: |r − p| ≤ |r|/2 for every p in sign(r)·[2^{-k-1}, ¾·2^{-k}], and the bucket of the
    next cell lies strictly below this one (buckets are disjoint)."""
    r = -value if negative else value
    k = cell_index(torch.tensor([r], dtype=torch.float64))
    low, high = (float(v[0]) for v in bucket_bounds(k))
    p = Fraction(low) + Fraction(where) * (Fraction(high) - Fraction(low))
    p = -p if negative else p
    assert abs(Fraction(r) - p) <= abs(Fraction(r)) / 2
    next_high = float(bucket_bounds(k + 1)[1][0])
    assert next_high < low and high == BUCKET_TOP * 2.0 ** -int(k[0])


@pytest.mark.parametrize("accuracy, bits", [(0.5, 1), (0.49, 2), (0.25, 2), (1e-3, 10), (2.0**-30, 30)])
def test_bits_is_the_least_k_with_two_to_the_minus_k_at_most_the_accuracy(accuracy, bits):
    assert bits_for(accuracy) == bits


# Rule H against a plain-Python reference --------------------------------------------------------------

def _reference_rule_h(products: list[float], usable: list[bool], target: float, tolerance: float) -> set[int]:
    """Rule H for one weight, one unit at a time, in exact rational arithmetic for the bucket tests."""
    residual, chosen = Fraction(target), set()
    while abs(residual) > Fraction(tolerance):
        k = 0
        while not Fraction(2) ** (-k - 1) < abs(residual) <= Fraction(2) ** (-k):
            k += 1 if abs(residual) <= Fraction(2) ** (-k - 1) else -1
        low, high = Fraction(2) ** (-k - 1), Fraction(3, 4) * Fraction(2) ** (-k)
        sign = 1 if residual > 0 else -1
        options = [i for i, (p, u) in enumerate(zip(products, usable))
                   if u and i not in chosen and low <= sign * Fraction(p) <= high]
        if not options:
            break
        best = min(options, key=lambda i: (abs(residual - Fraction(products[i])), i))
        chosen.add(best)
        residual -= Fraction(products[best])
    return chosen


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), m=st.integers(1, 80), tolerance=st.sampled_from([0.1, 0.01, 1e-3]))
def test_the_batched_decomposition_is_the_one_weight_at_a_time_rule(seed, m, tolerance):
    gen = generator(seed, CPU)
    d_out, d_in = 3, 2
    bits = bits_for(tolerance)
    a = FIRST_LAYER_LAW.sample((d_in, m), gen)
    b = second_layer_law(bits).sample((d_out, d_in, m), gen)
    products = b * a[None]
    targets = torch.rand(d_out, d_in, generator=gen, dtype=torch.float64) * 2 - 1
    chosen, residual = binary_decomposition(products, targets, a > 0, tolerance)
    for r in range(d_out):
        for j in range(d_in):
            expected = _reference_rule_h(products[r, j].tolist(), (a[j] > 0).tolist(), float(targets[r, j]),
                                         tolerance)
            assert set(chosen[r, j].nonzero().flatten().tolist()) == expected
            assert len(expected) <= bits + 1
    kept = (products * chosen).sum(-1)
    assert torch.allclose(targets - kept, residual, atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), bits=st.integers(1, 12))
def test_when_every_signed_bucket_is_filled_every_weight_reaches_the_tolerance_in_at_most_k_units(seed, bits):
    """Lemma H1: one product per signed bucket and cell suffices for any |w| ≤ 1."""
    tolerance = 2.0**-bits
    low, high = bucket_bounds(torch.arange(bits))
    gen = generator(seed, CPU)
    inside = low + (high - low) * torch.rand(bits, generator=gen, dtype=torch.float64)
    products = torch.cat([inside, -inside])[None, None]  # [1, 1, 2K]: one unit per signed bucket
    targets = (torch.rand(1, 1, generator=gen, dtype=torch.float64) * 2 - 1)
    chosen, residual = binary_decomposition(products, targets, torch.ones(1, 2 * bits, dtype=torch.bool), tolerance)
    assert float(residual.abs()) <= tolerance and int(chosen.sum()) <= bits


# The hyperbolic law and the bucket probability --------------------------------------------------------

def test_the_bucket_probability_is_the_integral_of_the_product_density():
    """q of every cell below K: P(a > 0)·P(sign b = σ)·P(|ab| ∈ bucket), the last by quadrature of the
    density of ln|a| + ln|b| (a convolution of two uniforms, computed numerically here)."""
    for bits in (1, 5, 12):
        la, lb = FIRST_LAYER_LAW.log_width, second_layer_law(bits).log_width
        a0, b0 = math.log(FIRST_LAYER_LAW.low), math.log(second_layer_law(bits).low)

        def density(s: float) -> float:
            overlap = min(0.0, s - b0) - max(a0, s - (b0 + lb))  # ln|a| ∈ [a0, 0] with s − ln|a| ∈ ln|b|'s range
            return max(0.0, overlap) / (la * lb)

        for k in range(bits):
            low, high = (float(v) for v in bucket_bounds(torch.tensor(k)))
            mass = quad(density, math.log(low), math.log(high))[0]
            assert mass / 4 == pytest.approx(bound_bucket_probability(bits), rel=1e-9)


def test_sampled_units_fall_in_a_bucket_at_the_stated_rate():
    """2·10⁶ units: the Clopper–Pearson 99.99% interval of the hit rate of one signed bucket covers q."""
    gen = generator(7, CPU)
    bits, n = 8, 2_000_000
    a = FIRST_LAYER_LAW.sample((n,), gen)
    b = second_layer_law(bits).sample((n,), gen)
    low, high = (float(v) for v in bucket_bounds(torch.tensor(3)))
    hits = int(((a > 0) & (b * a <= -low) & (b * a >= -high)).sum())
    level = 1e-4
    lower = beta_law.ppf(level / 2, hits, n - hits + 1)
    upper = beta_law.ppf(1 - level / 2, hits + 1, n - hits)
    assert lower <= bound_bucket_probability(bits) <= upper


@given(seed=st.integers(0, 10**6), low=st.floats(1e-6, 1.0), span=st.floats(1.0, 1e6))
def test_hyperbolic_draws_lie_in_their_range_with_both_signs(seed, low, span):
    law = HyperbolicLaw(low, low * span)
    draws = law.sample((500,), generator(seed, CPU))
    assert bool((draws.abs() >= law.low).all() and (draws.abs() <= law.high).all())
    assert 0 < int((draws > 0).sum()) < 500


def test_a_hyperbolic_law_needs_a_positive_range():
    for low, high in ((0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)):
        with pytest.raises(ValueError, match="hyperbolic law"):
            HyperbolicLaw(low, high)


# The proven width -------------------------------------------------------------------------------------

@pytest.mark.parametrize("widths, eps, delta", [([8, 6, 4], 0.1, 0.1), ([32, 32, 10], 0.01, 0.01), ([3, 2], 0.3, 0.05)])
def test_the_proven_width_is_the_least_whose_union_bound_is_at_most_the_share(widths, eps, delta):
    from lth.theory.dense_bounds import bound_pool_count

    share = delta / bound_pool_count(widths)
    for alpha, m in zip(bound_weight_accuracy(widths, eps), bound_proven_hyperbolic_units_per_input(widths, eps, delta)):
        bits = bits_for(alpha)
        assert bound_hyperbolic_pool_failure(m, bits) <= share < bound_hyperbolic_pool_failure(m - 1, bits)


@settings(max_examples=10, deadline=None)
@given(eps=st.floats(1e-6, 0.5), shrink=st.floats(0.01, 0.9))
def test_a_smaller_eps_never_needs_fewer_units(eps, shrink):
    widths = [6, 4, 3]
    assert all(a <= b for a, b in zip(bound_proven_hyperbolic_units_per_input(widths, eps, 0.1),
                                      bound_proven_hyperbolic_units_per_input(widths, eps * shrink, 0.1)))


# Oracle: exact arithmetic -----------------------------------------------------------------------------

def _exact(t: torch.Tensor) -> list:
    return [[Fraction(v) for v in row] for row in t.tolist()]


def test_the_pruned_network_is_within_its_certificate_in_exact_arithmetic():
    """Fractions: the pruned two-layer network evaluated exactly stays within the float64 certificate, and
    each kept unit reads one input."""
    target = random_target([3, 2], generator(11, CPU))
    net, ticket = build_hyperbolic_ticket(target, 0.1, 0.1, seed=12, units_per_input=[200])
    assert int(ticket.masks[0].sum(1).max()) <= 1
    certified = Fraction(certify_sup_error(target, ticket, Domain("ball")).value)
    w1, w2 = (_exact(w) for w in ticket.masked_weights())
    w = _exact(target.weights[0])
    for x in torch.randn(20, 3, generator=generator(13, CPU), dtype=torch.float64):
        xs = [Fraction(v) for v in (x / max(1.0, float(x.norm()))).tolist()]
        hidden = [max(Fraction(0), sum(a * b for a, b in zip(row, xs))) for row in w1]
        g = [sum(b * z for b, z in zip(row, hidden)) for row in w2]
        f = [sum(a * b for a, b in zip(row, xs)) for row in w]
        assert sum((a - b) ** 2 for a, b in zip(f, g)) <= certified**2


def test_each_kept_weight_branch_uses_at_most_its_binary_digits():
    target = random_target([8, 6, 4], generator(0, CPU))
    net, ticket = build_hyperbolic_ticket(target, 0.1, 0.1, seed=1)
    for i, alpha in enumerate(bound_weight_accuracy([8, 6, 4], 0.1)):
        m, d_in = net.units_per_input[i], net.weights[2 * i].shape[1]
        kept = ticket.masks[2 * i + 1].reshape(-1, d_in, m)
        a = net.weights[2 * i].reshape(d_in, m, d_in).diagonal(dim1=0, dim2=2).T
        for usable in (a > 0, a < 0):
            assert int((kept & usable[None]).sum(-1).max()) <= bits_for(alpha)
    assert ticket.info["unfinished_branches"] == [0, 0]


# The claim --------------------------------------------------------------------------------------------

@pytest.mark.claim("slth.hyperbolic.network")
def test_the_hyperbolic_claim_holds_at_the_proven_width_and_reports_both_constructions():
    record = run_claim(CLAIM, **MEASURED)
    assert record.verdict == "holds", record.reason
    pensia, hyperbolic = record.details["rows"]
    assert pensia["name"].startswith("Pensia") and hyperbolic["name"].startswith("hyperbolic")
    assert hyperbolic["unfinished_branches"] == [0, 0]
    assert all(r["empirical"] <= r["certified"] <= r["eps"] for r in (pensia, hyperbolic))
    assert [row["eps"] for row in record.details["proven_widths"]] == [0.1, 0.01]
    measured, = record.details["measured_widths"]
    for name in ("pensia", "hyperbolic"):
        assert measured[name]["certified"] <= 0.1 and measured[name]["units_per_input"] in WIDTH_GRID
    assert measured["fewer_random"] in ("pensia", "hyperbolic")


@pytest.mark.claim("slth.hyperbolic.network")
@pytest.mark.parametrize("faults", [{"flip": 3}, {"narrow": True}])
def test_a_broken_hyperbolic_ticket_fails(faults):
    record = run_claim(CLAIM, faults=faults, **CHEAP)
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("slth.hyperbolic.network")
def test_too_few_units_per_input_fail():
    record = run_claim(CLAIM, fan_out=20, **CHEAP)
    assert record.verdict == "fails", record.reason


@pytest.mark.parametrize("bad", [{"eps": 1.0}, {"delta": 0.0}, {"eps_grid": (0.1, 2.0)}, {"measured_eps": (0.0,)},
                                 {"target": (4,)}, {"fan_out": 0}])
def test_bad_parameters_are_refused_in_one_line_before_any_work(bad):
    from lth.claims.slth_hyperbolic import HyperbolicParams, refuse_bad_params

    with pytest.raises(ValueError) as error:
        refuse_bad_params(HyperbolicParams(**bad))
    assert "\n" not in str(error.value)


def test_the_same_seed_builds_the_same_hyperbolic_ticket():
    target = random_target([5, 3], generator(0, CPU))
    first = build_hyperbolic_ticket(target, 0.1, 0.1, seed=2, units_per_input=[80])
    second = build_hyperbolic_ticket(target, 0.1, 0.1, seed=2, units_per_input=[80])
    assert all(torch.equal(a, b) for a, b in zip(first[0].weights + first[1].masks, second[0].weights + second[1].masks))


def test_a_network_and_bits_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="one units-per-input count"):
        construct_hyperbolic_network([4, 3, 2], [10], [5, 5], seed=0)
    net = construct_hyperbolic_network([4, 3], [10], [5], seed=0)
    with pytest.raises(ValueError, match="tolerances"):
        construct_hyperbolic_ticket(random_target([4, 3], generator(0, CPU)), net, [0.1, 0.1])


def test_build_hyperbolic_ticket_on_cuda_is_certified_like_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    target = random_target([6, 4], generator(0, CPU))
    for device in ("cpu", "cuda"):
        ticket = build_hyperbolic_ticket(target, 0.1, 0.1, seed=1, device=device)[1]
        assert certify_sup_error(target, ticket, Domain("ball")).value <= 0.1


def test_the_proof_table_of_proven_widths_is_the_codes():
    """proofs/slth_hyperbolic.md, "Proven widths": every row recomputed from the code."""
    from lth.claims.slth_hyperbolic import proven_width_table
    from lth.store import REPO_ROOT
    from lth.theory.dense_bounds import bound_proven_units_per_input
    from lth.theory.hyperbolic import block_bits

    text = (REPO_ROOT / "proofs" / "slth_hyperbolic.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1:-1] for line in text.splitlines()
            if line.startswith(("| 8-6-4", "| 16-12-10", "| 32-32-10", "| 784-500-10"))]
    assert len(rows) == 6
    for shape, eps, bits, q, log_units, pensia_units, ratio in rows:
        widths, eps = [int(v) for v in shape.split("-")], float(eps)
        assert bits.strip() == ", ".join(map(str, block_bits(widths, eps)))
        assert q.strip() == ", ".join(f"{bound_bucket_probability(k):.4f}" for k in block_bits(widths, eps))
        assert log_units.strip() == ", ".join(map(str, bound_proven_hyperbolic_units_per_input(widths, eps, eps)))
        assert pensia_units.strip() == ", ".join(map(str, bound_proven_units_per_input(widths, eps, eps)))
        assert ratio.strip() == f"{proven_width_table(widths, (eps,), eps)[0]['random_ratio']:.2f}"


@pytest.mark.claim("slth.hyperbolic.network")
def test_the_side_by_side_figure_renders_from_a_stored_record(tmp_path):
    from lth.figures import all_figures, render
    from lth.verify import run_verify

    run_verify([CLAIM], scale="quick", device="cpu", seed=0, out=tmp_path, progress=False, overrides=MEASURED)
    paths = render(all_figures()["hyperbolic_side_by_side"], tmp_path, tmp_path / "figures")
    assert all(path.stat().st_size > 0 for path in paths)
