"""The verdict module: every outcome reachable, each from the evidence it names."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lth.verdict import (clopper_pearson, combine, judge_above, judge_below, judge_certificate, judge_equivalent,
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
