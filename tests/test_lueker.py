"""The explicit Lueker bound of proofs/rss.md: its algebra, its lemmas on real covered sets, and that
pools of the proven size do cover."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
from pathlib import Path

import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import dblquad

from lth.theory.device import generator
from lth.figures import MissingResult, all_figures, load_claim_record, render
from lth.theory.lueker import (COMPONENTS, bound_counting_samples, bound_failure_probability, bound_lueker_constants,
                           bound_lueker_samples, bound_lueker_table, bound_positive_part_mgf, bound_target_interval)
from lth.store import read_json, write_claim_record
from lth.registry import run_claim
from lth.verdict import clopper_pearson
from lth.theory.subset_sum import covers_interval, rounding_slack, sample_pools, worst_case_error

LAWS = sorted(COMPONENTS)
# (law, target interval) pairs the proof covers: each law's component (None) and product pools on [-1, 1]
SETTINGS = [(law, None) for law in LAWS] + [("product", (-1.0, 1.0))]


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted disjoint union of closed intervals."""
    merged: list[list[float]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def _measure(intervals: list[tuple[float, float]], window: tuple[float, float] = (0.0, 1.0)) -> float:
    """|union(intervals) ∩ window|."""
    return sum(max(0.0, min(hi, window[1]) - max(lo, window[0])) for lo, hi in _merge(intervals))


def _shift(intervals: list[tuple[float, float]], x: float) -> list[tuple[float, float]]:
    return [(lo + x, hi + x) for lo, hi in intervals]


def _breakpoints(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> np.ndarray:
    """Shifts x in [-1, 1] where an end of ``a + x`` meets an end of ``b``; measures are linear between them."""
    ends_a = [e for iv in a for e in iv]
    ends_b = [e for iv in b for e in iv]
    points = [q - p for p in ends_a for q in ends_b] + [-1.0, 1.0]
    return np.unique(np.clip(points, -1.0, 1.0))


def _mean_over_shift(f, a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """E over X ~ U[-1, 1] of a function f(x) that is linear between the breakpoints (exact trapezoid)."""
    xs = _breakpoints(a, b)
    values = np.array([f(x) for x in xs])
    return float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(xs))) / 2


def _mean_reciprocal_over_shift(f, a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """E over X ~ U[-1, 1] of 1/f(x) for f > 0 linear between the breakpoints (exact per segment)."""
    xs = _breakpoints(a, b)
    total = 0.0
    for x0, x1 in zip(xs[:-1], xs[1:]):
        f0, f1 = f(x0), f(x1)
        total += (x1 - x0) * (math.log1p((f1 - f0) / f0) / (f1 - f0) if f1 != f0 else 1 / f0)
    return total / 2


intervals_in_window = st.lists(
    st.tuples(st.floats(0.0, 1.0), st.floats(0.001, 0.3)).map(lambda t: (t[0], min(1.0, t[0] + t[1]))),
    min_size=1, max_size=3).map(_merge)


def test_one_over_r_lies_below_its_chord_on_one_to_two():
    r = sp.symbols("r", real=True)
    assert sp.expand((3 - r) * r - 2 + (r - 1) * (r - 2)) == 0  # = -(r-1)(r-2) >= 0 on [1, 2]


def test_the_potential_recursion_is_a_contraction_by_three_quarters():
    a = sp.symbols("a", positive=True)
    assert sp.simplify(sp.Rational(3, 4) / a + sp.Rational(1, 4) - 1 - sp.Rational(3, 4) * (1 / a - 1)) == 0


@given(intervals_in_window)
def test_a_uniform_shift_keeps_half_of_a_window_set_inside_the_window_on_average(a):
    mean = _mean_over_shift(lambda x: _measure(_shift(a, x)), a, [(0.0, 1.0)])
    assert mean == pytest.approx(_measure(a) / 2, abs=1e-12)


@given(intervals_in_window)
def test_a_uniform_shift_overlaps_a_window_set_by_half_its_squared_measure_on_average(a):
    def overlap(x: float) -> float:  # the intervals of ``a`` are disjoint, so pairwise overlaps add up
        return sum(max(0.0, min(p2, q2) - max(p, q)) for p, p2 in _shift(a, x) for q, q2 in a)

    assert _mean_over_shift(overlap, a, a) == pytest.approx(_measure(a) ** 2 / 2, abs=1e-12)


@given(st.integers(0, 2**31 - 1), st.integers(0, 5), st.floats(0.005, 0.2))
def test_the_covered_share_of_the_window_obeys_the_growth_lemma_on_real_pools(seed, t, delta):
    pool = sample_pools("uniform", (t,), generator(seed, torch.device("cpu"))).tolist()
    sums = [sum(c) for k in range(t + 1) for c in itertools.combinations(pool, k)]
    covered = _merge([(s - delta, s + delta) for s in sums])
    a = _measure(covered)
    grown = lambda x: _measure(covered + _shift(covered, x))
    assert _mean_reciprocal_over_shift(grown, covered, covered + [(0.0, 1.0)]) <= 3 / (4 * a) + 1 / 4 + 1e-9


def test_the_product_law_contains_the_half_uniform_with_weight_ln2_over_4():
    w, x = sp.symbols("w x", positive=True)
    density_xy = sp.integrate(sp.Rational(1, 2) / x, (x, w, 1))  # density of XY at ±w, w in (0, 1]
    assert sp.simplify(density_xy - sp.log(1 / w) / 2) == 0
    weight = (density_xy / 2).subs(w, sp.Rational(1, 2))  # D's density at |w| = 1/2, its minimum on [-1/2, 1/2]
    assert sp.simplify(weight - sp.log(2) / 4) == 0
    assert sp.nsimplify(COMPONENTS["product"].weight - float(sp.log(2) / 4)) == 0


def test_the_generating_function_of_the_component_count_is_one_minus_p_over_4_to_the_n():
    p = sp.symbols("p", positive=True)
    n = 6
    total = sum(sp.binomial(n, k) * p**k * (1 - p) ** (n - k) * sp.Rational(3, 4) ** k for k in range(n + 1))
    assert sp.expand(total - (1 - p / 4) ** n) == 0


@pytest.mark.parametrize("law", LAWS)
def test_the_closed_form_constants_solve_the_simplified_bound(law):
    eps = sp.symbols("epsilon", positive=True)
    comp = COMPONENTS[law]
    C, c0 = bound_lueker_constants(law)
    n = C * sp.log(1 / eps, 2) + c0
    simplified = 8 * sp.Float(comp.half_width) ** 2 / eps**3 * sp.Float(comp.rate()) ** n
    for value in (sp.Rational(1, 3), sp.Rational(1, 1000)):
        assert float(simplified.subs(eps, value)) == pytest.approx(1.0, rel=1e-9)


@given(st.sampled_from(SETTINGS), st.floats(1e-8, 0.999))
def test_the_sample_count_is_the_least_n_the_bound_allows(setting, fraction):
    law, interval = setting
    eps = fraction * bound_target_interval(law)[1]
    n = bound_lueker_samples(eps, law, interval)
    assert bound_failure_probability(n, eps, law, interval) <= eps
    assert n == 0 or bound_failure_probability(n - 1, eps, law, interval) > eps


@given(st.sampled_from(SETTINGS), st.floats(1e-8, 0.999))
def test_the_closed_form_is_sufficient_and_the_counting_bound_is_necessary(setting, fraction):
    law, interval = setting
    lo, hi = interval or bound_target_interval(law)
    eps = fraction * bound_target_interval(law)[1]
    C, c0 = bound_lueker_constants(law, interval)
    n_closed = math.ceil(C * math.log2(1 / eps) + c0)
    assert bound_failure_probability(n_closed, eps, law, interval) <= eps
    assert bound_counting_samples(eps, lo, hi) <= bound_lueker_samples(eps, law, interval) <= n_closed


@given(st.sampled_from(SETTINGS), st.floats(1e-8, 0.999), st.floats(1e-8, 0.999))
def test_a_smaller_eps_never_needs_fewer_samples(setting, f1, f2):
    law, interval = setting
    h = bound_target_interval(law)[1]
    small, large = sorted((f1 * h, f2 * h))
    assert bound_lueker_samples(small, law, interval) >= bound_lueker_samples(large, law, interval)


@given(st.sampled_from(SETTINGS), st.floats(1e-6, 0.999), st.integers(0, 500))
def test_one_more_sample_never_raises_the_failure_bound(setting, fraction, n):
    law, interval = setting
    eps = fraction * bound_target_interval(law)[1]
    assert bound_failure_probability(n + 1, eps, law, interval) <= bound_failure_probability(n, eps, law, interval)


def test_covering_the_whole_unit_interval_with_product_pools_needs_more_than_its_half():
    for eps in (0.3, 0.01, 1e-4):
        assert bound_lueker_samples(eps, "product", (-1.0, 1.0)) > bound_lueker_samples(eps, "product")


@pytest.mark.parametrize("theta", [0.5, 4.0, 20.0])
def test_the_positive_part_mgf_of_the_product_law_matches_its_double_integral(theta):
    integral, _ = dblquad(lambda v, x: math.exp(-theta * x * v), 0, 1, 0, 1, epsabs=1e-12, epsrel=1e-12)
    assert bound_positive_part_mgf(theta) == pytest.approx(0.75 + integral / 4, rel=1e-9)


def test_the_positive_part_mgf_matches_the_product_sampler():
    theta, count = 4.0, 200_000
    values = torch.exp(-theta * sample_pools("product", (count,), generator(5, torch.device("cpu"))).clamp(min=0))
    standard_error = float(values.std()) / math.sqrt(count)
    assert abs(float(values.mean()) - bound_positive_part_mgf(theta)) < 5 * standard_error


@pytest.fixture(scope="module")
def stored_rss_results(tmp_path_factory):
    """Small real runs of both RSS checks, stored the way ``lth verify`` stores them.

    The product run fits on two ε only, so its record has no standard error for C (figures must cope).
    """
    results = tmp_path_factory.mktemp("results")
    runs = {"rss.lueker": dict(eps_fit=(0.2, 0.1, 0.05), eps_test=(0.03,), trials=150, test_trials=200, hist_n=8),
            "rss.product": dict(eps_fit=(0.3, 0.2), eps_test=(0.05,), trials=100, test_trials=100, hist_n=8)}
    for claim_id, overrides in runs.items():
        record = run_claim(claim_id, **overrides)
        write_claim_record(results, record.to_dict(), seed=0, device="cpu")
    return results


@pytest.mark.claim("rss.lueker")
def test_the_measured_thresholds_never_exceed_the_proven_sample_count(stored_rss_results):
    record = load_claim_record(stored_rss_results, "rss.lueker")
    n_star = record["details"]["scan"]["n_star"]
    assert set(n_star) == {"0.2", "0.1", "0.05"}, record["reason"]
    for eps, n in n_star.items():
        assert bound_counting_samples(float(eps)) <= n <= bound_lueker_samples(float(eps))


@pytest.mark.claim("rss.product")
def test_the_measured_product_thresholds_on_the_unit_interval_never_exceed_the_proven_count(stored_rss_results):
    record = load_claim_record(stored_rss_results, "rss.product")
    n_star = record["details"]["scan"]["n_star"]
    assert n_star, record["reason"]
    for eps, n in n_star.items():
        assert bound_counting_samples(float(eps)) <= n <= bound_lueker_samples(float(eps), "product", (-1.0, 1.0))


@pytest.mark.claim("rss.lueker")
def test_uniform_pools_of_the_proven_size_cover_with_the_promised_probability(device):
    eps, trials = 0.1, 300
    pools = sample_pools("uniform", (trials, bound_lueker_samples(eps)), generator(3, device))
    failures = int((~covers_interval(pools, eps)).sum())
    assert clopper_pearson(failures, trials)[1] <= eps


@pytest.mark.claim("rss.product")
def test_product_pools_of_the_proven_size_cover_the_half_interval_with_the_promised_probability(device):
    eps, trials = 0.2, 200
    lo, hi = bound_target_interval("product")
    pools = sample_pools("product", (trials, bound_lueker_samples(eps, "product")), generator(4, device))
    failures = int((~covers_interval(pools, eps, lo, hi)).sum())
    assert clopper_pearson(failures, trials)[1] <= eps


@pytest.mark.claim("rss.lueker")
@pytest.mark.claim("rss.product")
@given(st.sampled_from(LAWS), st.floats(0.01, 0.4), st.integers(0, 2**31 - 1))
def test_pools_one_sample_short_of_the_counting_bound_never_cover(law, eps, seed):
    n = bound_counting_samples(eps) - 1  # >= 1 for eps <= 0.4
    pools = sample_pools(law, (20, n), generator(seed, torch.device("cpu")))
    assert not covers_interval(pools, eps).any()


@pytest.mark.parametrize("eps", [0.0, -0.1, 1.0, float("nan"), float("inf")])
def test_eps_outside_the_unit_interval_is_refused_with_the_interval_named(eps):
    with pytest.raises(ValueError, match=r"eps must lie in \(0, 1\)"):
        bound_lueker_samples(eps)


def test_eps_beyond_the_product_component_is_refused():
    with pytest.raises(ValueError, match=r"\[-0.5, 0.5\]"):
        bound_lueker_samples(0.6, law="product")


def test_a_target_interval_beyond_the_proof_is_refused_with_the_covered_interval_named():
    with pytest.raises(ValueError, match=r"\[-1, 1\] for the uniform law"):
        bound_lueker_samples(0.1, "uniform", (-2.0, 1.0))
    with pytest.raises(ValueError, match=r"\[-1, 1\] for the product law"):
        bound_lueker_samples(0.1, "product", (0.0, 1.5))


def test_an_unknown_law_is_refused_by_name():
    with pytest.raises(ValueError, match="'gauss'"):
        bound_lueker_samples(0.1, law="gauss")


@pytest.mark.claim("rss.lueker")
@pytest.mark.claim("rss.product")
@pytest.mark.parametrize("name", ["rss_phase_transition", "rss_threshold_scaling", "rss_error_distribution"])
def test_each_rss_figure_renders_from_stored_check_records(stored_rss_results, tmp_path, name):
    paths = render(all_figures()[name], stored_rss_results, tmp_path)
    assert all(path.stat().st_size > 0 for path in paths)
    drawn = {entry["claim"]: entry for entry in read_json(tmp_path / f"{name}.json")["records"]}
    assert set(drawn) <= {"rss.lueker", "rss.product"} and drawn
    assert all(entry["scale"] == "quick" and Path(entry["path"]).exists() for entry in drawn.values())


def test_an_rss_figure_without_stored_records_names_the_command_that_makes_them(tmp_path):
    with pytest.raises(MissingResult, match="lth verify rss.lueker"):
        render(all_figures()["rss_threshold_scaling"], tmp_path, tmp_path / "out")


@pytest.mark.parametrize("law", LAWS)
def test_the_stored_proof_table_lists_the_proven_count_for_every_eps_the_proof_covers(law):
    table = bound_lueker_table([0.7, 0.3, 0.01], law)
    hi = bound_target_interval(law)[1]
    assert table["interval"] == [-hi, hi]
    assert table["n"] == {str(e): bound_lueker_samples(e, law) for e in (0.7, 0.3, 0.01) if e < hi}
    assert (table["C"], table["c0"]) == bound_lueker_constants(law)


def _exact_sup_distance(pool: list[float], lo: float, hi: float) -> Fraction:
    """sup over [lo, hi] of the distance to the nearest exact subset sum, in rationals.

    The distance is piecewise linear with its maxima at lo, hi or midpoints of consecutive sums, so
    the supremum is the largest value at those points (independent of the formula in proofs/rss.md (a)).
    """
    sums = sorted({sum((Fraction(v) for v in c), Fraction(0))
                   for k in range(len(pool) + 1) for c in itertools.combinations(pool, k)})
    lo_q, hi_q = Fraction(lo), Fraction(hi)
    points = [lo_q, hi_q] + [(a + b) / 2 for a, b in zip(sums, sums[1:]) if lo_q <= (a + b) / 2 <= hi_q]
    return max(min(abs(z - s) for s in sums) for z in points)


pools_with_range = st.lists(st.one_of(st.floats(-1, 1, allow_subnormal=False),
                                      st.floats(-1e-6, 1e-6, allow_subnormal=False)), min_size=1, max_size=7)
intervals = st.sampled_from([(-1.0, 1.0), (-0.5, 0.5), (0.1, 0.3), (-3.0, 2.0)])


@given(pools_with_range, intervals)
def test_worst_case_error_plus_minus_the_rounding_slack_brackets_the_exact_rational_supremum(pool, interval):
    lo, hi = interval
    x = torch.tensor(pool, dtype=torch.float64)
    exact = _exact_sup_distance(pool, lo, hi)
    computed, slack = Fraction(float(worst_case_error(x, lo, hi))), Fraction(float(rounding_slack(x, lo, hi)))
    assert computed - slack <= exact <= computed + slack


@given(pools_with_range, intervals, st.sampled_from([-1e-9, -1e-15, 0.0, 1e-15, 1e-9]))
def test_a_true_from_covers_interval_certifies_the_cover_in_exact_arithmetic(pool, interval, shift):
    lo, hi = interval
    exact = _exact_sup_distance(pool, lo, hi)
    eps = float(exact) * (1 + shift) + (1e-300 if exact == 0 else 0.0)
    if eps <= 0:
        return
    x = torch.tensor(pool, dtype=torch.float64)
    verdict = bool(covers_interval(x, eps, lo, hi))
    assert not verdict or exact <= Fraction(eps)
    if eps - float(exact) > 4 * float(rounding_slack(x, lo, hi)):  # clear of rounding: the cover must be found
        assert verdict


@pytest.mark.claim("rss.product")
def test_product_pools_of_the_proven_size_cover_the_whole_unit_interval_with_the_promised_probability():
    eps, trials = 0.3, 100
    pools = sample_pools("product", (trials, bound_lueker_samples(eps, "product", (-1.0, 1.0))),
                         generator(6, torch.device("cpu")))
    failures = int((~covers_interval(pools, eps)).sum())
    assert clopper_pearson(failures, trials)[1] <= eps
