"""Properties of the basin-volume estimator (``simulations.basin``) and its claims' checks on broken instances."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lth.registry import run_claim
from simulations.basin import (Minimum, estimate_log_volume, find_radii, log_unit_ball_volume, log_uniform_spectrum,
                               log_volume, poisoned, quadratic_log_volume, quadratic_loss, unit_directions)
from simulations.data import load_dataset
from simulations.models import build_architecture, init_weights
from theory.device import generator

CPU = torch.device("cpu")


@given(n=st.integers(1, 300))
def test_the_log_unit_ball_volume_is_the_closed_form(n):
    assert log_unit_ball_volume(n) == pytest.approx(math.log(math.pi ** (n / 2) / math.gamma(n / 2 + 1)), rel=1e-12,
                                                    abs=1e-12)


def test_the_log_unit_ball_volume_is_finite_where_the_volume_underflows():
    assert math.isfinite(log_unit_ball_volume(10 ** 7)) and log_unit_ball_volume(10 ** 7) < -1e7


@given(eigen=arrays("float64", st.integers(1, 12), elements=st.floats(0.01, 100.0)), seed=st.integers(0, 1000),
       rtol=st.sampled_from([1e-2, 1e-4, 1e-8]))
def test_radius_brackets_hold_the_exact_quadratic_radius_within_the_tolerance(eigen, seed, rtol):
    lam = torch.from_numpy(eigen)
    phis = unit_directions(5, lam.numel(), generator(seed, CPU))
    radii = find_radii(quadratic_loss(lam), torch.zeros_like(lam), phis, 0.5, rtol=rtol)
    exact = 1.0 / (phis * phis * lam).sum(dim=1).sqrt()
    assert torch.all(radii.lo <= exact * (1 + 1e-12)) and torch.all(exact <= radii.hi * (1 + 1e-12))
    assert torch.all(radii.hi - radii.lo <= rtol * radii.lo)


@given(log_r=st.floats(-3, 3), n=st.integers(1, 10 ** 6), m=st.integers(2, 50))
def test_equal_radii_give_the_ball_volume_and_full_effective_sample_size(log_r, n, m):
    est = log_volume(torch.full((m,), log_r, dtype=torch.float64), n)
    assert est.log_volume == pytest.approx(log_unit_ball_volume(n) + n * log_r, rel=1e-12, abs=1e-9)
    assert est.ess == pytest.approx(m)


def test_one_dominant_radius_gives_an_effective_sample_size_of_one_and_no_lower_bound():
    est = log_volume(torch.tensor([0.0] * 31 + [0.01], dtype=torch.float64), 10 ** 5)
    assert est.ess == pytest.approx(1.0) and est.ci[0] == -math.inf
    assert est.log_volume == pytest.approx(log_unit_ball_volume(10 ** 5) + 10 ** 3 - math.log(32))


@pytest.mark.parametrize("n", [3, 1000, 20000])
def test_the_isotropic_estimate_is_exact_within_its_bracket_bound(n):
    lam = torch.ones(n, dtype=torch.float64) * 2.0
    est, _ = estimate_log_volume(quadratic_loss(lam), torch.zeros(n, dtype=torch.float64), 0.3, 8,
                                 generator(0, CPU), rtol=1e-10)
    assert abs(est.log_volume - quadratic_log_volume(lam, 0.3)) <= est.bracket_error + 1e-9 * n


def test_scaled_directions_report_the_volume_in_the_original_coordinates():
    lam = log_uniform_spectrum(6, 50.0)
    scales = lam.rsqrt()  # u-space basin is a ball: every direction has the same radius
    est, _ = estimate_log_volume(quadratic_loss(lam), torch.zeros(6, dtype=torch.float64), 0.5, 16,
                                 generator(1, CPU), scales=scales, rtol=1e-10)
    assert est.ess == pytest.approx(16)
    assert est.log_volume == pytest.approx(quadratic_log_volume(lam, 0.5), abs=1e-7)


def test_a_low_dimensional_anisotropic_basin_is_covered_by_the_interval():
    lam = log_uniform_spectrum(4, 10.0)
    est, _ = estimate_log_volume(quadratic_loss(lam), torch.zeros(4, dtype=torch.float64), 0.5, 2000,
                                 generator(2, CPU), rtol=1e-8)
    assert est.ci[0] <= quadratic_log_volume(lam, 0.5) <= est.ci[1]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), keep=st.floats(0.1, 1.0))
def test_a_minimum_flattens_and_unflattens_to_its_masked_weights_and_biases(seed, keep):
    arch = build_architecture("lenet", (1, 4, 4), 3, width=0.02)
    weights = [w[0] for w in init_weights(arch, [generator(seed, CPU)], CPU)]
    masks = [torch.rand(w.shape, generator=generator(seed + 1, CPU)) < keep for w in weights]
    biases = [torch.randn(layer.fan_out, generator=generator(seed + 2, CPU)) for layer in arch.layers]
    m = Minimum(arch, weights, biases, masks)
    w, b = m.unflatten(m.center.unsqueeze(0))
    for got, want, mask in zip(w, weights, masks):
        assert torch.equal(got[0], want * mask)
    for got, want in zip(b, biases):
        assert torch.equal(got[0], want)
    assert m.filter_scales().shape == m.center.shape and torch.all(m.filter_scales() > 0)


def test_every_poisoned_label_is_wrong_and_the_clean_images_are_shared():
    splits = load_dataset("digits")
    clean, dirty = poisoned(splits, 100, generator(0, CPU))
    keep = len(splits.train) - 100
    assert len(clean.train) == keep and len(dirty.train) == len(splits.train)
    assert torch.equal(dirty.train.x[:keep], clean.train.x) and torch.equal(dirty.train.y[:keep], clean.train.y)
    assert torch.all(dirty.train.y[keep:] != splits.train.y[keep:])


SMALL_ESTIMATOR = dict(cases=150, dense_max=150, probes=32, large_dims=(1024,), large_cases=8, large_probes=32, reference_cases=5,
                       shapes=(50,), shape_directions=16)


@pytest.mark.claim("basin.estimator")
def test_estimator_check_holds_on_small_drawn_quadratic_basins():
    record = run_claim("basin.estimator", **SMALL_ESTIMATOR)
    assert record.verdict == "holds", record.reason
    assert record.details["coverage"]["ci"][0] >= 0.9


@pytest.mark.claim("basin.estimator")
def test_estimator_check_fails_when_a_truncated_gauss_rule_is_trusted_as_exact():
    record = run_claim("basin.estimator", faults={"unbracketed_steps": 3}, **SMALL_ESTIMATOR)
    assert record.verdict == "fails", record.reason


TINY = dict(width=0.125, seeds=3, poison=400, iterations=400, directions=4, loss_images=300, ticket_rounds=0)


@pytest.mark.claim("basin.generalisation")
def test_generalisation_check_fails_when_the_poisoned_basin_gets_a_larger_threshold():
    record = run_claim("basin.generalisation", faults={"poisoned_tau_factor": 30.0}, **TINY)
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("basin.generalisation")
def test_generalisation_check_is_inconclusive_with_the_install_line_when_the_data_set_is_missing(tmp_path,
                                                                                                 monkeypatch):
    monkeypatch.setattr("simulations.data.FASHION_MNIST_DIR", tmp_path)
    record = run_claim("basin.generalisation", dataset="fashion_mnist", **TINY)
    assert record.verdict == "inconclusive" and "apt-get install" in record.reason


def test_lth_simulate_basin_prints_a_table_and_writes_a_result(tmp_path, capsys):
    from lth.cli import main

    argv = ["simulate", "basin", "--width", "0.125", "--seeds", "2", "--poison", "400", "--iterations", "100",
            "--directions", "2", "--loss-images", "200", "--ticket-rounds", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "poisoned" in out and "ticket" in out
    assert list(tmp_path.glob("basin/*/seed-0/result.json"))
