"""The proven width of the dense theorem (theory/dense_bounds.py, proofs/slth_dense.md Theorem P)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lth.theory.certify import PerturbedLayer, certify_ball
from lth.theory.dense import bound_units_per_input
from lth.theory.dense_bounds import (UNIT_INTERVAL, bound_pool_count, bound_proven_units_per_input,
                                 bound_weight_accuracy)
from lth.theory.lueker import bound_failure_probability

widths = st.lists(st.integers(1, 6), min_size=2, max_size=4)


@given(widths=widths, eps=st.floats(1e-3, 0.5), signed=st.booleans())
def test_the_per_weight_accuracies_spend_exactly_log1p_eps_over_the_blocks(widths, eps, signed):
    alphas = bound_weight_accuracy(widths, eps, signed)
    spent = sum(a * math.sqrt((2 if i == 0 and signed else 1) * d_in * d_out)
                for i, (a, d_in, d_out) in enumerate(zip(alphas, widths[:-1], widths[1:])))
    assert spent == pytest.approx(math.log1p(eps), rel=1e-12)


@pytest.mark.parametrize("shape, eps, delta", [([16, 12, 10], 0.1, 0.1), ([10, 10], 0.01, 0.01), ([3, 2], 0.2, 0.3)])
def test_the_proven_width_is_the_least_whose_union_bound_is_at_most_delta(shape, eps, delta):
    share = delta / bound_pool_count(shape)
    for alpha, m in zip(bound_weight_accuracy(shape, eps), bound_proven_units_per_input(shape, eps, delta)):
        target = min(alpha, share)
        assert bound_failure_probability(m, target, "product", UNIT_INTERVAL) <= target
        assert bound_failure_probability(m - 1, target, "product", UNIT_INTERVAL) > target
        assert bound_pool_count(shape) * target <= delta * (1 + 1e-12)


@st.composite
def errors_at_the_accuracy(draw):
    """Unit-norm target layers and realised errors of magnitude α_i with drawn signs."""
    shape = draw(widths)
    eps = draw(st.sampled_from([0.05, 0.2, 0.5]))
    layers = []
    for i, (alpha, d_in, d_out) in enumerate(zip(bound_weight_accuracy(shape, eps), shape[:-1], shape[1:])):
        w = torch.tensor(draw(arrays(np.float64, (d_out, d_in), elements=st.floats(-1, 1))))
        norm = float(torch.linalg.matrix_norm(w, ord=2))
        w = w / norm if norm > 0 else w
        signs = [torch.tensor(draw(arrays(np.int8, (d_out, d_in), elements=st.sampled_from([-1, 1]))),
                 dtype=torch.float64) for _ in range(2)]
        err_neg = alpha * signs[1] if i == 0 else torch.zeros_like(w)
        zero = torch.zeros_like(w)
        layers.append(PerturbedLayer(w, alpha * signs[0], err_neg, zero, zero))
    return layers, eps


@given(case=errors_at_the_accuracy())
def test_errors_at_the_per_weight_accuracy_certify_at_most_eps_on_the_unit_ball(case):
    """The deterministic half of Theorem P; 1 % covers the spectral-norm enclosure's overestimate."""
    layers, eps = case
    assert certify_ball(layers, 1.0).value <= eps * 1.01


def test_the_proof_table_lists_the_proven_and_the_measured_widths():
    """proofs/slth_dense.md quotes these numbers; this keeps them fresh."""
    text = Path(__file__).resolve().parents[1].joinpath("proofs/slth_dense.md").read_text()
    rows = re.findall(r"^\| (\d+(?:-\d+)+) \| ([\d.]+) \| ([\d.]+) \| ([\d, ]+) \| ([\d, ]+) \|$", text, re.M)
    assert len(rows) >= 3
    ratios = []
    for shape_text, eps_text, delta_text, proven_text, measured_text in rows:
        shape = [int(v) for v in shape_text.split("-")]
        eps, delta = float(eps_text), float(delta_text)
        proven = bound_proven_units_per_input(shape, eps, delta)
        assert [int(v) for v in proven_text.split(",")] == proven
        measured = [bound_units_per_input(a, b, len(shape) - 1, eps, delta) for a, b in zip(shape[:-1], shape[1:])]
        assert [int(v) for v in measured_text.split(",")] == measured
        ratios += [a / b for a, b in zip(proven, measured)]
    assert f"The proof asks for {min(ratios):.1f}–{max(ratios):.1f}× the measured width" in text


@pytest.mark.parametrize("shape, eps, delta", [([3], 0.1, 0.1), ([3, 0], 0.1, 0.1), ([3, 2], 0.0, 0.1),
                                               ([3, 2], 0.1, 1.0)])
def test_shapes_or_tolerances_outside_the_theorem_are_refused(shape, eps, delta):
    with pytest.raises(ValueError):
        bound_proven_units_per_input(shape, eps, delta)


def test_theorem_p_caps_the_per_pool_accuracy_below_one_half():
    """Corollary 3 needs δ' < ½; with widths [1, 1] and ε = δ = 0.9 neither α nor δ/N ensures it."""
    from lth.theory.dense_bounds import HALF_BELOW
    from lth.theory.lueker import bound_lueker_samples

    assert bound_proven_units_per_input([1, 1], 0.9, 0.9)[0] >= 1  # raised "eps must lie in (0, 0.5)" before
    # unsigned input: α = ln 1.9 ≈ 0.64 and δ/N = 0.9, so the cap decides
    assert bound_proven_units_per_input([1, 1], 0.9, 0.9, signed_input=False) == [
        bound_lueker_samples(HALF_BELOW, "product", (-1.0, 1.0))]
