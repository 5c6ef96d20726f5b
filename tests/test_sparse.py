"""Strong tickets in Erdős–Rényi sparse random networks (theory/sparse.py, proofs/slth_sparse.md)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from lth.registry import run_claim
from lth.theory.dense import (Domain, certify_sup_error, construct_random_network, construct_ticket,
                          random_target)
from lth.theory.dense_bounds import bound_proven_units_per_input, bound_weight_accuracy
from lth.theory.device import generator
from lth.theory.sparse import (SparseNetwork, assign_units, bound_active_pmf, bound_active_probabilities,
                           bound_pool_failure, bound_proven_sparse_units_per_input, build_sparse_ticket,
                           construct_sparse_network, construct_sparse_ticket, phantom_edges)

CPU = torch.device("cpu")
CHEAP = {"densities": (0.5,), "restarts": 2, "steps": 5, "samples": 64}


def _sparse_instance(seed: int, widths: list[int], m: int, density: float):
    target = random_target(widths, generator(seed, CPU))
    source = construct_sparse_network(widths, [m] * (len(widths) - 1), (density, density), seed + 1)
    ticket = construct_sparse_ticket(target, source, tolerance=bound_weight_accuracy(widths, 0.1))
    return target, source, ticket


# Rule A and the masks -------------------------------------------------------------------------------

@given(seed=st.integers(0, 10**6), h=st.integers(1, 30), d=st.integers(1, 6), density=st.floats(0.05, 1.0))
def test_each_unit_reads_the_first_input_it_has_an_edge_to_in_cyclic_order_from_its_home(seed, h, d, density):
    m = max(1, h // d)
    gen = generator(seed, CPU)
    present = torch.rand(m * d, d, generator=gen, dtype=torch.float64) < density
    assigned = assign_units(present, m).tolist()
    for k, row in enumerate(present.tolist()):
        home = k // m
        expected = next(((home + t) % d for t in range(d) if row[(home + t) % d]), -1)
        assert assigned[k] == expected


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), density=st.sampled_from([0.3, 0.6, 1.0]))
def test_the_ticket_is_a_subnetwork_of_the_source_and_each_kept_unit_reads_one_input(seed, density):
    target, source, ticket = _sparse_instance(seed, [4, 3, 2], 40, density)
    assert phantom_edges(ticket, source) == 0
    for mask1 in ticket.masks[0::2]:
        assert int(mask1.sum(1).max()) <= 1
    for mask1, mask2 in zip(ticket.masks[0::2], ticket.masks[1::2]):
        assert torch.equal(mask1.any(1), mask2.any(0))  # a unit is kept in both layers or in neither


def test_at_density_one_the_masks_are_pensias_on_the_same_values():
    """Rule A then reads the home input, and the per-weight blocks are pool rule B's blocks."""
    widths = [6, 5, 3]
    target = random_target(widths, generator(3, CPU))
    net = construct_random_network(widths, [60, 60], seed=4)
    tolerance = bound_weight_accuracy(widths, 0.1)
    dense = construct_ticket(target, net, pool_rule="blocks", pool_tolerance=tolerance)
    source = SparseNetwork(net.weights, [torch.ones_like(w, dtype=torch.bool) for w in net.weights], [60, 60],
                           (1.0, 1.0), 4)
    sparse = construct_sparse_ticket(target, source, tolerance=tolerance)
    assert all(torch.equal(a, b) for a, b in zip(dense.masks, sparse.masks))


def test_densities_outside_zero_one_are_refused():
    for bad in ((0.0, 0.5), (0.5, 1.5), (-0.1, 0.2)):
        with pytest.raises(ValueError, match="must lie in"):
            construct_sparse_network([3, 2], [4], bad, seed=0)
        with pytest.raises(ValueError, match="must lie in"):
            bound_active_probabilities(3, bad)


# Oracles: exact arithmetic --------------------------------------------------------------------------

def _exact(t: torch.Tensor) -> list:
    return [[Fraction(v) for v in row] for row in t.tolist()]


def test_the_pruned_network_is_the_proofs_form_and_within_its_certificate_in_exact_arithmetic():
    """Fractions: the pruned block equals (W+E⁺)x⁺ − (W+E⁻)x⁻ exactly, and ‖f(x) − g(x)‖ ≤ certified."""
    target, source, ticket = _sparse_instance(11, [3, 2], 30, 0.5)
    certified = Fraction(certify_sup_error(target, ticket, Domain("ball")).value)
    w1, w2 = (_exact(w) for w in ticket.masked_weights())
    w = _exact(target.weights[0])
    gen = generator(12, CPU)
    for x in torch.randn(20, 3, generator=gen, dtype=torch.float64):
        x = x / max(1.0, float(x.norm()))
        xs = [Fraction(v) for v in x.tolist()]
        hidden = [max(Fraction(0), sum(a * b for a, b in zip(row, xs))) for row in w1]
        g = [sum(b * z for b, z in zip(row, hidden)) for row in w2]
        # (W+E±) from the masks: per output r and input j, the kept products b·a of units with a > 0
        # act on x_j⁺, those with a < 0 on x_j⁻ (Lemma 1 of proofs/slth_dense.md)
        linear = []
        for r in range(2):
            total = Fraction(0)
            for j in range(3):
                units = [k for k in range(len(w1)) if w1[k][j] != 0 and w2[r][k] != 0]
                pos = sum(w2[r][k] * w1[k][j] for k in units if w1[k][j] > 0)
                neg = sum(w2[r][k] * w1[k][j] for k in units if w1[k][j] < 0)
                total += pos * max(xs[j], 0) + neg * min(xs[j], 0)
            linear.append(total)
        assert g == linear
        f = [sum(a * b for a, b in zip(row, xs)) for row in w]
        assert sum((a - b) ** 2 for a, b in zip(f, g)) <= certified**2


def test_the_active_unit_law_is_the_exact_convolution_of_binomials():
    """Fractions, p = ½: P(K = k) by brute-force convolution of exact binomial pmfs."""
    m, d, density = 5, 3, (Fraction(1, 2), Fraction(1, 2))
    probabilities = [density[1] * density[0] * (1 - density[0]) ** t for t in range(d)]
    pmf = [Fraction(1)]
    for pi in probabilities:
        step = [math.comb(m, k) * pi**k * (1 - pi) ** (m - k) for k in range(m + 1)]
        pmf = [sum(pmf[i] * step[k - i] for i in range(len(pmf)) if 0 <= k - i <= m) for k in range(len(pmf) + m)]
    computed = bound_active_pmf(m, d, (0.5, 0.5), len(pmf))
    assert [float(v) for v in pmf] == pytest.approx(computed.tolist(), abs=1e-15)
    assert bound_active_probabilities(d, (0.5, 0.5)) == [float(p) for p in probabilities]


# The proven width ------------------------------------------------------------------------------------

@pytest.mark.parametrize("widths, eps", [([16, 12, 10], 0.01), ([8, 6, 4], 0.1), ([3, 2], 0.2)])
def test_at_density_one_theorem_s_is_theorem_p(widths, eps):
    assert bound_proven_sparse_units_per_input(widths, eps, eps, (1.0, 1.0)) == \
        bound_proven_units_per_input(widths, eps, eps)


@pytest.mark.parametrize("density", [0.7, 0.4])
def test_the_proven_width_is_the_least_whose_pool_bound_is_at_most_the_share(density):
    from lth.theory.dense_bounds import bound_pool_count

    widths, eps = [8, 6, 4], 0.1
    share = eps / bound_pool_count(widths)
    for d_in, alpha, m in zip(widths[:-1], bound_weight_accuracy(widths, eps),
                              bound_proven_sparse_units_per_input(widths, eps, eps, (density, density))):
        accuracy = min(alpha, share)
        assert bound_pool_failure(m, d_in, (density, density), accuracy) <= accuracy
        assert bound_pool_failure(m - 1, d_in, (density, density), accuracy) > accuracy


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 60), d=st.integers(1, 8), p1=st.floats(0.05, 1.0), p2=st.floats(0.05, 1.0))
def test_the_active_unit_law_is_a_distribution_with_the_right_mean(m, d, p1, p2):
    size = m * d + 1
    pmf = bound_active_pmf(m, d, (p1, p2), size)
    assert pmf.min() >= 0 and pmf.sum() == pytest.approx(1.0, abs=1e-12)
    mean = sum(k * v for k, v in enumerate(pmf))
    assert mean == pytest.approx(m * sum(bound_active_probabilities(d, (p1, p2))), rel=1e-9, abs=1e-12)


@settings(max_examples=10, deadline=None)
@given(p_low=st.floats(0.1, 0.9), gap=st.floats(0.05, 0.5))
def test_a_sparser_source_needs_at_least_as_many_units(p_low, gap):
    p_high = min(1.0, p_low + gap)
    widths = [6, 4]
    low = bound_proven_sparse_units_per_input(widths, 0.1, 0.1, (p_low, p_low))
    high = bound_proven_sparse_units_per_input(widths, 0.1, 0.1, (p_high, p_high))
    assert low >= high


def test_the_pool_bound_is_above_the_binomial_lower_tail_it_contains():
    """E F₃(K) ≥ P(K < k) F₃(k) for any k (F₃ non-increasing): a sanity floor from scipy's binomial."""
    from lth.theory.lueker import bound_failure_probability

    m, d, density, accuracy = 300, 1, (0.5, 1.0), 0.01  # d = 1: K ~ Bin(m, p1 p2)
    bound = bound_pool_failure(m, d, density, accuracy)
    for k in (100, 140, 160):
        floor = binom.cdf(k - 1, m, 0.5) * bound_failure_probability(k, accuracy, "product", (-1.0, 1.0))
        assert bound >= floor * (1 - 1e-9)


# The claim -------------------------------------------------------------------------------------------

@pytest.mark.claim("slth.sparse.network")
def test_the_sparse_claim_holds_at_the_proven_width_and_reports_both_constructions():
    record = run_claim("slth.sparse.network", **CHEAP)
    assert record.verdict == "holds", record.reason
    rows = record.details["rows"]
    assert [r["name"] for r in rows] == ["Pensia (dense, Theorem P)", "ER p = 0.5 (Theorem S)"]
    sparse = rows[1]
    assert sparse["phantom_edges"] == 0 and sparse["random_parameters"] < sparse["dense_shape_entries"]
    assert all(ratio >= 1 for ratio in sparse["width_ratio"])
    assert all(r["empirical"] <= r["certified"] <= r["eps"] for r in rows)


@pytest.mark.claim("slth.sparse.network")
@pytest.mark.parametrize("faults", [{"flip": 3}, {"phantom": 2}])
def test_a_broken_sparse_ticket_fails(faults):
    record = run_claim("slth.sparse.network", faults=faults, **CHEAP)
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("slth.sparse.network")
def test_too_few_units_per_input_fail():
    record = run_claim("slth.sparse.network", fan_out=2, **CHEAP)
    assert record.verdict == "fails", record.reason


def test_build_sparse_ticket_on_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    target = random_target([6, 4], generator(0, CPU))
    cpu = build_sparse_ticket(target, 0.1, 0.1, (0.5, 0.5), seed=1)[1]
    gpu = build_sparse_ticket(target, 0.1, 0.1, (0.5, 0.5), seed=1, device="cuda")[1]
    assert certify_sup_error(target, gpu, Domain("ball")).value <= 0.1
    assert certify_sup_error(target, cpu, Domain("ball")).value <= 0.1


def test_the_proof_table_of_proven_widths_is_the_codes():
    """proofs/slth_sparse.md, "Proven widths": every row recomputed from the code."""
    from lth.store import REPO_ROOT
    from lth.theory.sparse import bound_width_factor

    text = (REPO_ROOT / "proofs" / "slth_sparse.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith(("| 8-6-4", "| 16-12-10"))]
    assert len(rows) == 6
    for shape, eps, dense, density, sparse, factor in rows:
        widths, eps, p = [int(v) for v in shape.split("-")], float(eps), float(density)
        assert dense.strip() == ", ".join(map(str, bound_proven_units_per_input(widths, eps, eps)))
        assert sparse.strip() == ", ".join(map(str, bound_proven_sparse_units_per_input(widths, eps, eps, (p, p))))
        assert factor.strip() == ", ".join(f"{bound_width_factor(d, (p, p)):.2f}" for d in widths[:-1])


@pytest.mark.claim("slth.sparse.network")
def test_the_side_by_side_figure_renders_from_a_stored_record(tmp_path):
    from lth.figures import all_figures, render
    from lth.verify import run_verify

    run_verify(["slth.sparse.network"], scale="quick", device="cpu", seed=0, out=tmp_path, progress=False,
               overrides=CHEAP)
    paths = render(all_figures()["sparse_side_by_side"], tmp_path, tmp_path / "figures")
    assert all(path.stat().st_size > 0 for path in paths)


@pytest.mark.parametrize("bad", [{"densities": ()}, {"densities": (0.0,)}, {"densities": (1.5,)}, {"eps": 1.0},
                                 {"target": (4,)}, {"fan_out": 0}])
def test_bad_parameters_are_refused_in_one_line_before_any_work(bad):
    from lth.claims.slth_sparse import SparseParams, refuse_bad_params

    with pytest.raises(ValueError) as error:
        refuse_bad_params(SparseParams(**bad))
    assert "\n" not in str(error.value)


def test_the_same_seed_builds_the_same_sparse_ticket():
    target = random_target([5, 3], generator(0, CPU))
    first = build_sparse_ticket(target, 0.1, 0.1, (0.5, 0.5), seed=2, units_per_input=[80])
    second = build_sparse_ticket(target, 0.1, 0.1, (0.5, 0.5), seed=2, units_per_input=[80])
    assert all(torch.equal(a, b) for a, b in zip(first[0].present + first[1].masks, second[0].present + second[1].masks))
    assert certify_sup_error(target, first[1], Domain("ball")).value == certify_sup_error(target, second[1],
                                                                                         Domain("ball")).value
