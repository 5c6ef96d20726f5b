"""Verdicts: the one place where evidence becomes ``holds``, ``fails`` or ``inconclusive``.

Every check ends in one of these functions, so the rules are the same everywhere:

- :func:`judge_certificate` — a rigorous value against the theorem's bound, with the sampled value
  as a sanity check of the certificate itself (a sampled error above a certificate means the
  certificate is wrong: ``fails``).
- :func:`judge_rate` — a failure rate from a binomial sample, with an exact Clopper–Pearson interval.
- :func:`judge_above` / :func:`judge_below` — an interval (usually a paired Student-t interval over
  seeds) against a threshold.
- :func:`judge_equivalent` — two one-sided tests (TOST): the difference lies within ``±margin``.
  TOST at level α is the ``1 − 2α`` interval lying inside the margin; :func:`tost_interval` gives it.
- :func:`combine` — several verdicts of one claim into one (any fail fails; else any inconclusive).
- :func:`holm` — Holm's step-down correction, wherever a claim can pass (or fail) on any one of
  several widths, levels, rewind points or directions.

Every function returns ``(verdict, reason)``; the reason states the numbers it decided on.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from scipy.stats import beta

from lth.simulations.statistics import t_interval

Verdict = tuple[str, str]
VERDICTS = ("holds", "fails", "inconclusive", "error")


def clopper_pearson(failures: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided Clopper–Pearson interval for a binomial proportion.

    Returns ``(lower, upper)``; conservative, so it covers the true rate with probability at least
    ``confidence`` for every true rate.
    """
    if trials <= 0:
        raise ValueError("trials must be positive")
    if not 0 <= failures <= trials:
        raise ValueError(f"failures={failures} outside [0, trials={trials}]")
    alpha = 1.0 - confidence
    lower = 0.0 if failures == 0 else float(beta.ppf(alpha / 2, failures, trials - failures + 1))
    upper = 1.0 if failures == trials else float(beta.ppf(1 - alpha / 2, failures + 1, trials - failures))
    return lower, upper


def percent(confidence: float) -> str:
    """``confidence`` as a percentage with the digits its miss rate needs: 0.95 -> "95%", a Bonferroni
    level 0.995 -> "99.5%", 0.9975 -> "99.75%" (``:.0%`` would print both of the last as "100%")."""
    miss = 1.0 - confidence
    digits = max(0, -math.floor(math.log10(miss)) - 1) if 0 < miss < 1 else 0
    return f"{round(100 * confidence, digits):g}%"


def judge_rate(failures: int, trials: int, threshold: float, confidence: float = 0.95) -> Verdict:
    """Verdict on "failure rate <= threshold" from a binomial sample.

    ``holds`` when the whole interval is at or below the threshold, ``fails`` when it lies wholly
    above, ``inconclusive`` otherwise (more trials would decide).
    """
    lower, upper = clopper_pearson(failures, trials, confidence)
    interval = f"{failures}/{trials} failures, {percent(confidence)} CI [{lower:.3g}, {upper:.3g}]"
    if upper <= threshold:
        return "holds", f"{interval} <= {threshold:.3g}"
    if lower > threshold:
        return "fails", f"{interval} > {threshold:.3g}"
    return "inconclusive", f"{interval} straddles {threshold:.3g}"


def rate_cell(name: str, failures: int, trials: int, threshold: float) -> dict:
    """One binomial cell of a rate claim, as records store it in ``details["rate_cells"]``.

    ``lth verify --seeds`` pools the cells of the same name over seeds and judges each pooled cell with
    :func:`judge_rate` (:func:`judge_rate_cells`), so a measured constant is judged over many draws.
    """
    return {"name": name, "failures": int(failures), "trials": int(trials), "threshold": float(threshold)}


def judge_rate_cells(cells: list[dict], confidence: float = 0.95) -> Verdict:
    """Every cell's failure rate against its threshold at family-wise ``confidence`` (Bonferroni)."""
    if not cells:
        raise ValueError("judge_rate_cells needs at least one cell")
    level = 1 - (1 - confidence) / len(cells)
    return combine((verdict, f"{c['name']}: {why}") for c in cells
                   for verdict, why in [judge_rate(c["failures"], c["trials"], c["threshold"], level)])


def judge_certificate(certified: float, empirical: float, bound: float, what: str = "") -> Verdict:
    """``holds`` iff ``empirical <= certified <= bound``.

    ``certified > bound``: the built instance misses the theorem's tolerance. ``empirical >
    certified``: a sampled error exceeds the rigorous bound, so the certificate is wrong. Both fail.
    Non-finite values fail (a certificate that overflowed proves nothing).
    """
    label = f"{what}: " if what else ""
    numbers = f"empirical {empirical:.3g}, certified {certified:.3g}, bound {bound:.3g}"
    if not all(math.isfinite(v) for v in (certified, empirical, bound)):
        return "fails", f"{label}non-finite value ({numbers})"
    if empirical > certified:
        return "fails", f"{label}sampled error above the certificate ({numbers}): the certificate is wrong"
    if certified > bound:
        return "fails", f"{label}certified error above the bound ({numbers})"
    return "holds", f"{label}{numbers}"


def _interval(lo: float, hi: float, unit: str) -> str:
    return f"[{lo:+.3g}, {hi:+.3g}]{unit}"


def judge_above(lo: float, hi: float, threshold: float = 0.0, what: str = "difference", unit: str = "") -> Verdict:
    """"The quantity exceeds ``threshold``": ``holds`` when the interval lies above it, ``fails`` when it
    lies at or below, ``inconclusive`` when it straddles (more samples would decide)."""
    text = f"{what} {_interval(lo, hi, unit)}"
    if lo > threshold:
        return "holds", f"{text} > {threshold:g}{unit}"
    if hi <= threshold:
        return "fails", f"{text} <= {threshold:g}{unit}"
    return "inconclusive", f"{text} straddles {threshold:g}{unit}"


def judge_below(lo: float, hi: float, threshold: float = 0.0, what: str = "difference", unit: str = "") -> Verdict:
    """"The quantity is below ``threshold``": the mirror image of :func:`judge_above`."""
    text = f"{what} {_interval(lo, hi, unit)}"
    if hi < threshold:
        return "holds", f"{text} < {threshold:g}{unit}"
    if lo >= threshold:
        return "fails", f"{text} >= {threshold:g}{unit}"
    return "inconclusive", f"{text} straddles {threshold:g}{unit}"


def tost_interval(values: list[float], alpha: float = 0.05) -> tuple[float, float, float]:
    """(mean, lower, upper): the ``1 − 2α`` Student-t interval, whose inclusion in ``(−m, m)`` is the
    two one-sided tests of equivalence at level ``α``."""
    return t_interval(values, 1 - 2 * alpha)


def judge_equivalent(lo: float, hi: float, margin: float, what: str = "difference", unit: str = "") -> Verdict:
    """Equivalence within ``±margin`` (TOST, given the ``1 − 2α`` interval ``[lo, hi]``).

    ``holds``: the interval lies inside ``(−margin, margin)`` — no difference larger than the margin.
    ``fails``: the interval lies wholly outside — a difference larger than the margin.
    ``inconclusive``: it overlaps a margin edge.
    """
    if not margin > 0:
        raise ValueError(f"equivalence margin must be positive, got {margin}")
    text = f"{what} {_interval(lo, hi, unit)}"
    if -margin < lo and hi < margin:
        return "holds", f"{text} inside ±{margin:g}{unit} (equivalent)"
    if lo >= margin or hi <= -margin:
        return "fails", f"{text} outside ±{margin:g}{unit} (different)"
    return "inconclusive", f"{text} overlaps the margin ±{margin:g}{unit}"


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """One verdict from several parts of a claim: ``fails`` if any fails, else ``inconclusive`` if any
    is, else ``holds``; the reason lists the deciding parts (all parts when it holds)."""
    parts = list(verdicts)
    if not parts:
        raise ValueError("combine needs at least one verdict")
    for outcome in ("error", "fails", "inconclusive"):
        deciding = [reason for verdict, reason in parts if verdict == outcome]
        if deciding:
            return outcome, "; ".join(deciding)
    return "holds", "; ".join(reason for _, reason in parts)


def holm(pvalues: Sequence[float], alpha: float) -> list[bool]:
    """Holm's step-down procedure: which of the hypotheses with these p-values are rejected.

    Sort the m p-values increasingly; reject the i-th smallest (i = 1..m) while it is below
    ``alpha / (m - i + 1)``, and stop at the first that is not. The family-wise error rate (the
    chance of rejecting any true hypothesis) is at most ``alpha`` whatever the dependence between
    the tests. Returns one flag per p-value, in the given order.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = [False] * len(pvalues)
    for rank, i in enumerate(order):
        if not pvalues[i] < alpha / (len(pvalues) - rank):
            break
        rejected[i] = True
    return rejected
