"""Float64 certificates: norm bounds are upper bounds, interval and ball bounds cover sampled errors."""

from __future__ import annotations

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from lth.theory.certify import PerturbedLayer, certify_ball, certify_box, frobenius_upper, spectral_norm_upper
from lth.theory.numerics import interval_matvec

shapes = st.tuples(st.integers(1, 12), st.integers(1, 12))


def _matrix(seed: int, shape: tuple[int, int], device: torch.device = torch.device("cpu")) -> torch.Tensor:
    gen = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(*shape, generator=gen, device=device, dtype=torch.float64)


@given(seed=st.integers(0, 10**6), shape=shapes)
def test_spectral_bound_is_at_least_the_svd_value_and_within_one_percent(seed, shape):
    a = _matrix(seed, shape)
    exact = float(torch.linalg.matrix_norm(a, ord=2))
    bound = spectral_norm_upper(a)
    assert exact <= bound <= exact * 1.01 + 1e-300


@given(seed=st.integers(0, 10**6), shape=shapes)
def test_frobenius_bound_is_at_least_the_frobenius_norm(seed, shape):
    a = _matrix(seed, shape)
    assert float(torch.linalg.matrix_norm(a)) <= frobenius_upper(a)


def test_spectral_bound_of_the_zero_matrix_is_zero():
    assert spectral_norm_upper(torch.zeros(3, 4, dtype=torch.float64)) == 0.0


def test_spectral_bound_rejects_non_finite_entries():
    a = torch.ones(2, 2, dtype=torch.float64)
    a[0, 0] = math.nan
    try:
        spectral_norm_upper(a)
    except ValueError as exc:
        assert "non-finite" in str(exc)
    else:
        raise AssertionError("NaN was accepted")


@given(seed=st.integers(0, 10**6), shape=shapes)
def test_interval_product_contains_the_product_of_every_sampled_point(seed, shape):
    w = _matrix(seed, shape)
    lo = _matrix(seed + 1, (1, shape[1]))[0]
    hi = lo + _matrix(seed + 2, (1, shape[1]))[0].abs()
    out_lo, out_hi = interval_matvec(w, lo, hi)
    x = lo + (hi - lo) * torch.rand(64, shape[1], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    values = x @ w.T
    assert bool((values >= out_lo).all() and (values <= out_hi).all())


def _perturbed_network(seed: int, widths: list[int], scale: float, device: torch.device):
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        w = _matrix(seed + 3 * i, (b, a), device) / math.sqrt(a)
        e_pos = scale * _matrix(seed + 3 * i + 1, (b, a), device)
        e_neg = scale * _matrix(seed + 3 * i + 2, (b, a), device) if i == 0 else torch.zeros_like(w)
        layers.append(PerturbedLayer(w, e_pos, e_neg, torch.zeros_like(w), torch.zeros_like(w)))
    return layers


def _forward(layers: list[PerturbedLayer], x: torch.Tensor, perturbed: bool) -> torch.Tensor:
    for i, layer in enumerate(layers):
        out = x @ layer.weight.T
        if perturbed:
            out = out + x.clamp(min=0) @ layer.err_pos.T - (-x).clamp(min=0) @ layer.err_neg.T
        x = out if i == len(layers) - 1 else torch.relu(out)
    return x


@given(seed=st.integers(0, 10**6), widths=st.lists(st.integers(1, 8), min_size=2, max_size=4))
def test_ball_and_box_certificates_cover_the_error_at_sampled_inputs(seed, widths, device):
    layers = _perturbed_network(seed, widths, 1e-2, device)
    gen = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(256, widths[0], generator=gen, device=device, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True).clamp(min=1.0)
    errors = (_forward(layers, x, True) - _forward(layers, x, False)).norm(dim=1)
    ball = certify_ball(layers, 1.0).value
    ones = torch.ones(widths[0], dtype=torch.float64, device=device)
    box = certify_box(layers, -ones, ones).value
    # the sampled errors are themselves float64 evaluations, off by ~1e-16 per layer
    assert float(errors.max()) <= ball + 1e-12
    assert float(errors.max()) <= box + 1e-12


def test_certificates_vanish_up_to_underflow_margins_when_the_errors_are_zero():
    layers = _perturbed_network(0, [4, 3, 2], 0.0, torch.device("cpu"))
    ones = torch.ones(4, dtype=torch.float64)
    assert certify_ball(layers, 1.0).value < 1e-100
    assert certify_box(layers, -ones, ones).value < 1e-100
