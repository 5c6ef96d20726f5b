"""Properties of ``lth.simulations.hessian``: the rotations, the Lanczos quadrature bracket, the SLQ interval
and the network Hessian-vector products, each against an exact reference."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lth.simulations.basin import Minimum, log_unit_ball_volume, quadratic_log_volume
from lth.simulations.data import Split
from lth.simulations.hessian import (drawn_spectrum, gauss_log, hadamard, lanczos, network_matvec, quadratic_model_log_volume,
                                 radau_log, rademacher, rotated_spectrum, slq_log_det)
from lth.simulations.models import build_architecture, forward, init_weights
from lth.theory.device import generator

CPU = torch.device("cpu")


@given(p=st.integers(0, 8), seed=st.integers(0, 1000))
def test_the_hadamard_transform_is_an_orthogonal_involution(p, seed):
    v = torch.randn(3, 2 ** p, generator=generator(seed, CPU), dtype=torch.float64)
    assert torch.allclose(hadamard(v).norm(dim=1), v.norm(dim=1), rtol=1e-12)
    assert torch.allclose(hadamard(hadamard(v)), v, atol=1e-12)


@settings(deadline=None)
@given(n=st.sampled_from([8, 32, 64]), structured=st.booleans(), seed=st.integers(0, 1000))
def test_a_rotated_spectrum_is_symmetric_with_exactly_the_drawn_eigenvalues(n, structured, seed):
    g = generator(seed, CPU)
    lam = drawn_spectrum(n, 100.0, 1.0, g)
    h = rotated_spectrum(lam, g, structured=structured)
    dense = h.matvec(torch.eye(n, dtype=torch.float64))
    assert torch.allclose(dense, dense.T, atol=1e-12)
    assert torch.allclose(torch.linalg.eigvalsh(dense), lam.sort().values, rtol=1e-9, atol=1e-12)
    assert torch.allclose(h.form(torch.eye(n, dtype=torch.float64)), 0.5 * dense.diagonal(), atol=1e-12)


@given(n=st.integers(2, 300), condition=st.floats(1.0, 1e4), shape=st.floats(0.25, 4.0), seed=st.integers(0, 10**6))
def test_drawn_spectra_attain_both_ends_of_their_range(n, condition, shape, seed):
    lam = drawn_spectrum(n, condition, shape, generator(seed, CPU))
    assert float(lam.max()) == pytest.approx(1.0) and float(lam.min()) == pytest.approx(1 / condition)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(5, 80), steps=st.integers(1, 12), condition=st.floats(2.0, 1e3), seed=st.integers(0, 10**6))
def test_gauss_and_gauss_radau_bracket_every_probe_quadratic_form_of_log_h(n, steps, condition, seed):
    g = generator(seed, CPU)
    lam = drawn_spectrum(n, condition, 1.0, g)
    h = rotated_spectrum(lam, g)
    v = rademacher(4, n, g)
    eigenvalues, vectors = torch.linalg.eigh(h.matrix)
    exact = ((v @ vectors) ** 2 * eigenvalues.log()).sum(dim=1)
    jacobi = lanczos(h.matvec, v, min(steps, n))
    upper, lower = gauss_log(jacobi), radau_log(jacobi, 0.9 / condition)
    slack = 1e-9 * n * math.log(condition)
    assert torch.all(lower <= exact + slack) and torch.all(exact <= upper + slack)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 40), seed=st.integers(0, 10**6))
def test_n_lanczos_steps_make_both_quadratures_exact(n, seed):
    g = generator(seed, CPU)
    h = rotated_spectrum(drawn_spectrum(n, 50.0, 1.0, g), g)
    v = rademacher(3, n, g)
    eigenvalues, vectors = torch.linalg.eigh(h.matrix)
    exact = ((v @ vectors) ** 2 * eigenvalues.log()).sum(dim=1)
    jacobi = lanczos(h.matvec, v, n)
    assert torch.allclose(gauss_log(jacobi), exact, atol=1e-7 * n)
    assert torch.allclose(radau_log(jacobi, 0.9 / 50.0), exact, atol=1e-7 * n)


def test_an_isotropic_operator_breaks_down_after_one_step_and_stays_exact():
    n = 50
    v = rademacher(2, n, generator(0, CPU))
    jacobi = lanczos(lambda x: 3.0 * x, v, 10)
    assert torch.allclose(gauss_log(jacobi), torch.full((2,), n * math.log(3.0), dtype=torch.float64))
    assert torch.allclose(radau_log(jacobi, 1.0), torch.full((2,), n * math.log(3.0), dtype=torch.float64))


def test_the_slq_interval_contains_the_exact_log_det_and_the_estimate_gives_the_exact_volume_then():
    g = generator(3, CPU)
    lam = drawn_spectrum(400, 1000.0, 1.0, g)
    h = rotated_spectrum(lam, g)
    est = slq_log_det(h.matvec, 400, probes=32, steps=60, floor=0.9e-3, generator=g)
    exact = float(lam.log().sum())
    assert est.ci[0] <= exact <= est.ci[1] and est.quadrature_gap >= 0
    value, ci = quadratic_model_log_volume(est, 0.5)
    assert ci[0] <= quadratic_log_volume(lam, 0.5) <= ci[1]
    assert value == pytest.approx(log_unit_ball_volume(400) - 0.5 * est.estimate)  # log 2τ = 0 at τ = ½


def test_network_hessian_vector_products_match_the_formed_hessian():
    arch = build_architecture("lenet", (1, 3, 3), 3, width=0.02)
    weights = [w[0].double() for w in init_weights(arch, [generator(0, CPU)], CPU)]
    biases = [0.1 * torch.randn(layer.fan_out, generator=generator(1, CPU), dtype=torch.float64) for layer in arch.layers]
    masks = [torch.rand(w.shape, generator=generator(2, CPU)) < 0.8 for w in weights]
    m = Minimum(arch, weights, biases, masks)
    data = Split(torch.randn(20, 1, 3, 3, generator=generator(3, CPU), dtype=torch.float64),
                 torch.randint(0, 3, (20,), generator=generator(4, CPU)))

    def loss(flat: torch.Tensor) -> torch.Tensor:
        w, b = m.unflatten(flat.unsqueeze(0))
        logits = forward(arch, w, b, [x.double().unsqueeze(0) for x in masks], data.x)
        return torch.nn.functional.cross_entropy(logits[0], data.y)

    hessian = torch.autograd.functional.hessian(loss, m.center)
    v = torch.randn(4, m.center.numel(), generator=generator(5, CPU), dtype=torch.float64)
    assert torch.allclose(network_matvec(m, data, images_per_chunk=7)(v), v @ hessian, atol=1e-10)
    scales = m.filter_scales()
    assert torch.allclose(network_matvec(m, data, scales)(v), (v * scales) @ hessian * scales, atol=1e-10)
