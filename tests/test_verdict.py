"""The verdict module: every outcome reachable, each from the evidence it names."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lth.verdict import (clopper_pearson, percent, combine, judge_above, judge_below, judge_certificate, judge_equivalent,
                         judge_rate, tost_interval)

finite = st.floats(-1e6, 1e6, allow_nan=False)


def test_a_certificate_holds_only_when_empirical_le_certified_le_bound():
    assert judge_certificate(0.5, 0.4, 1.0)[0] == "holds"
    assert judge_certificate(1.5, 0.4, 1.0)[0] == "fails"
    verdict, reason = judge_certificate(0.3, 0.4, 1.0)
    assert verdict == "fails" and "certificate is wrong" in reason
    assert judge_certificate(math.inf, 0.4, 1.0)[0] == "fails"


@given(finite, finite, finite)
def test_interval_judgements_mirror_each_other(a, b, threshold):
    lo, hi = min(a, b), max(a, b)
    above, below = judge_above(lo, hi, threshold)[0], judge_below(-hi, -lo, -threshold)[0]
    assert above == below


@given(finite, finite, st.floats(1e-6, 1e6))
def test_equivalence_holds_iff_the_interval_lies_inside_the_margin(a, b, margin):
    lo, hi = min(a, b), max(a, b)
    verdict = judge_equivalent(lo, hi, margin)[0]
    assert (verdict == "holds") == (-margin < lo and hi < margin)
    assert (verdict == "fails") == (lo >= margin or hi <= -margin)


def test_equivalence_refuses_a_margin_that_is_not_positive():
    with pytest.raises(ValueError, match="margin"):
        judge_equivalent(-1, 1, 0)


def test_tost_uses_the_one_minus_two_alpha_interval():
    values = [0.1, -0.2, 0.05, 0.0, 0.15, -0.1]
    mean, lo, hi = tost_interval(values, alpha=0.05)
    assert lo < mean < hi
    assert (hi - lo) < (max(values) - min(values)) * 2


def test_combining_verdicts_lets_any_fail_win_then_any_inconclusive():
    assert combine([("holds", "a"), ("fails", "b"), ("inconclusive", "c")]) == ("fails", "b")
    assert combine([("holds", "a"), ("inconclusive", "c")]) == ("inconclusive", "c")
    assert combine([("holds", "a"), ("holds", "b")]) == ("holds", "a; b")


def test_clopper_pearson_covers_the_observed_rate_and_matches_known_values():
    lower, upper = clopper_pearson(0, 300)
    assert lower == 0 and upper == pytest.approx(1 - 0.025 ** (1 / 300), rel=1e-9)
    lower, upper = clopper_pearson(5, 100)
    assert lower < 0.05 < upper


def test_judging_a_rate_gives_all_three_verdicts():
    assert judge_rate(0, 1000, 0.01)[0] == "holds"
    assert judge_rate(100, 1000, 0.01)[0] == "fails"
    assert judge_rate(10, 1000, 0.01)[0] == "inconclusive"


def test_holm_rejects_step_down_against_alpha_over_the_remaining_count():
    from lth.verdict import holm

    # sorted: 0.005 < 0.05/4, 0.01 < 0.05/3, then 0.03 >= 0.05/2 stops the procedure
    assert holm([0.01, 0.04, 0.03, 0.005], 0.05) == [True, False, False, True]
    assert holm([], 0.05) == []
    assert holm([0.049], 0.05) == [True]


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12), st.floats(0.001, 0.2))
def test_holm_lies_between_bonferroni_and_no_correction(pvalues, alpha):
    from lth.verdict import holm

    rejected = holm(pvalues, alpha)
    m = len(pvalues)
    for p, r in zip(pvalues, rejected):
        assert (p < alpha / m) <= r <= (p < alpha)
    # monotone: a smaller p-value is rejected whenever a larger one is
    for p, r in zip(pvalues, rejected):
        assert all(r2 for p2, r2 in zip(pvalues, rejected) if p2 < p) or not r


def test_holm_keeps_the_family_wise_error_at_alpha_on_null_p_values():
    """Known-answer check drawn like the real use: 5 true nulls (uniform p-values), 20,000 families."""
    import random

    from lth.verdict import holm

    rng = random.Random(0)
    families = 20_000
    errors = sum(any(holm([rng.random() for _ in range(5)], 0.025)) for _ in range(families))
    uncorrected = sum(any(rng.random() < 0.025 for _ in range(5)) for _ in range(families))
    assert errors / families < 0.025 + 3 * (0.025 * 0.975 / families) ** 0.5
    assert uncorrected / families > 0.1  # what the claims did before: any of 5 passing at 0.025


@pytest.mark.parametrize("confidence, text", [(0.95, "95%"), (0.9, "90%"), (0.995, "99.5%"), (0.9975, "99.75%"),
                                              (1 - 0.05 / 9, "99.44%")])
def test_a_bonferroni_level_prints_with_the_digits_its_miss_rate_needs(confidence, text):
    """judge_rate's reason once printed the per-test level 99.5% as "100% CI"."""
    assert percent(confidence) == text
    assert f"{text} CI" in judge_rate(1, 700, 0.01, confidence)[1]
