"""Confidence intervals across seeds for the empirical claims.

The object: $n$ paired per-seed differences $d_1, \\dots, d_n$ (e.g. ticket accuracy minus control
accuracy for the same seed, data order and split). The Student-t interval
$\\bar d \\pm t_{(1+c)/2,\\,n-1}\\, s/\\sqrt n$ covers the mean difference with probability $c$ when the
differences are i.i.d. normal; seeds are independent by construction, normality is the assumption.
"""

from __future__ import annotations

import math

from scipy.stats import t as student_t


def t_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper) of the two-sided Student-t interval for the mean of ``values``.

    Needs at least two values; identical values give a zero-width interval.
    """
    n = len(values)
    if n < 2:
        raise ValueError(f"a t-interval needs at least 2 seeds, got {n}")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(student_t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def describe(values: list[float], confidence: float = 0.95) -> dict:
    """Mean and t-interval of ``values`` as a JSON-able dict (what figures draw as error bands)."""
    mean, lower, upper = t_interval(values, confidence)
    return {"mean": mean, "ci": [lower, upper], "values": list(values)}


def t_pvalue(values: list[float], threshold: float, above: bool, inclusive: bool = False) -> float:
    """One-sided p-value of the Student-t test of H1: mean > ``threshold`` (``above``) or mean <
    ``threshold``, H0 the opposite.

    ``p < α`` exactly when the two-sided ``1 − 2α`` interval of :func:`t_interval` lies wholly on the
    alternative's side of the threshold. Values without spread carry no sampling error: ``p`` is 0 when
    their mean lies on the alternative's side and 1 otherwise; with ``inclusive`` a mean *equal* to
    the threshold counts as on the alternative's side (a control identical to the ticket does not beat
    it; that is shown, not just not refuted).
    """
    n = len(values)
    if n < 2:
        raise ValueError(f"a t-test needs at least 2 seeds, got {n}")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    gap = mean - threshold if above else threshold - mean
    if sd == 0:
        return 0.0 if gap > 0 or (inclusive and gap == 0) else 1.0
    return float(student_t.sf(gap / (sd / math.sqrt(n)), n - 1))
