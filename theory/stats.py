"""Confidence intervals for failure probabilities estimated by sampling."""

from __future__ import annotations

from scipy.stats import beta


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


def judge_rate(failures: int, trials: int, threshold: float, confidence: float = 0.95) -> tuple[str, str]:
    """Verdict on "failure rate <= threshold" from a binomial sample.

    ``holds`` when the whole interval is at or below the threshold, ``fails`` when it lies wholly
    above, ``inconclusive`` otherwise (more trials would decide).
    """
    lower, upper = clopper_pearson(failures, trials, confidence)
    interval = f"{failures}/{trials} failures, {confidence:.0%} CI [{lower:.3g}, {upper:.3g}]"
    if upper <= threshold:
        return "holds", f"{interval} <= {threshold:.3g}"
    if lower > threshold:
        return "fails", f"{interval} > {threshold:.3g}"
    return "inconclusive", f"{interval} straddles {threshold:.3g}"
