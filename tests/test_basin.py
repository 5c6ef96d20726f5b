"""Properties of the basin-volume estimator (``lth.simulations.basin``) and its claims' checks on broken instances."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lth.claims.basin import log_width_slope
from lth.registry import run_claim
from lth.simulations.basin import (Minimum, estimate_log_volume, find_radii, log_unit_ball_volume, log_uniform_spectrum,
                               log_volume, poisoned, quadratic_log_volume, quadratic_loss, train_to_loss,
                               unit_directions)
from lth.simulations.data import load_dataset
from lth.simulations.models import build_architecture, init_weights
from lth.theory.device import generator

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
def test_estimator_check_is_calibrated_on_small_drawn_basins():
    """What must hold on any draw at this small size (the verdict itself is draw-dependent here: seeds 0, 1
    and 2 give fails, inconclusive and holds, because each non-quadratic case's nominal-95% corrected
    interval is judged to cover on its own, which it misses now and then — see proofs/basin.md)."""
    record = run_claim("basin.estimator", **SMALL_ESTIMATOR)
    assert record.verdict != "error", record.reason
    assert record.details["coverage"]["ci"][1] >= 0.9  # not shown to under-cover
    for case in record.details["nonquadratic"]:
        assert case["model_side_holds"], case  # the quadratic model errs on the proven side
        lo, hi = case["corrected_ci"]
        assert abs(case["exact"] - (lo + hi) / 2) <= hi - lo, case  # within two half-widths of the exact value


@pytest.mark.claim("basin.estimator")
def test_estimator_check_fails_when_a_truncated_gauss_rule_is_trusted_as_exact():
    record = run_claim("basin.estimator", faults={"unbracketed_steps": 3}, **SMALL_ESTIMATOR)
    assert record.verdict == "fails", record.reason


TINY = dict(width=0.125, seeds=2, poison=50, target_loss=0.3, max_iterations=2000, directions=4, loss_images=200,
            probes=2, lanczos_steps=4)


@pytest.mark.claim("basin.generalisation")
def test_generalisation_check_fails_when_the_poisoned_basin_gets_a_larger_threshold():
    record = run_claim("basin.generalisation", faults={"poisoned_tau_factor": 30.0}, **TINY)
    assert record.verdict == "fails", record.reason
    for rows in record.details["minima"].values():  # both kinds reached the matched training loss
        assert all(r["train_loss"] <= 0.3 + 1e-3 for r in rows)


@pytest.mark.claim("basin.generalisation")
def test_generalisation_check_is_inconclusive_with_the_install_line_when_the_data_set_is_missing(tmp_path,
                                                                                                 monkeypatch):
    monkeypatch.setattr("lth.simulations.data.FASHION_MNIST_DIR", tmp_path)
    record = run_claim("basin.generalisation", dataset="fashion_mnist", **TINY)
    assert record.verdict == "inconclusive" and "apt-get install" in record.reason


TINY_DIMENSION = dict(widths=(0.0625, 0.125, 0.25, 0.5), seeds=2, directions=4, target_loss=0.1, max_iterations=3000)


@pytest.mark.claim("basin.dimension")
def test_dimension_check_holds_on_small_widths_at_matched_loss():
    record = run_claim("basin.dimension", **TINY_DIMENSION)
    assert record.verdict == "holds", record.reason
    assert all(r["train_loss"] <= 0.1 + 1e-3 for rows in record.details["minima"] for r in rows)


@pytest.mark.claim("basin.dimension")
def test_dimension_check_fails_when_the_widths_are_attributed_in_reverse():
    record = run_claim("basin.dimension", faults={"reverse_widths": True}, **TINY_DIMENSION)
    assert record.verdict == "fails", record.reason


def test_dimension_check_refuses_fewer_than_four_widths():
    record = run_claim("basin.dimension", widths=(0.25, 0.5, 1.0))
    assert record.verdict == "error" and "at least 4 distinct widths" in record.reason


@given(a=st.floats(-5, 5), b=st.floats(-5, 5), widths=st.lists(st.floats(0.01, 10), min_size=2, max_size=6,
                                                                unique=True))
def test_the_log_width_slope_recovers_a_linear_trend_in_log2_width(a, b, widths):
    if max(widths) / min(widths) < 1.01:
        return
    assert log_width_slope(tuple(widths), [a + b * math.log2(w) for w in widths]) == pytest.approx(b, abs=1e-6)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 1000), target=st.sampled_from([0.5, 1.0]))
def test_train_to_loss_takes_each_replica_at_the_first_check_below_the_target(seed, target):
    splits = load_dataset("digits")
    arch = build_architecture("lenet", splits.image_shape, splits.num_classes, width=0.05)
    init = init_weights(arch, [generator(seed, CPU), generator(seed + 1, CPU)], CPU)
    fitted = train_to_loss(arch, init, splits.train, [generator(seed + 2, CPU), generator(seed + 3, CPU)],
                           target=target, max_iterations=400, check_every=20)
    for m, it, fit in zip(fitted.minima, fitted.iterations, fitted.losses):
        recomputed = float(m.loss(splits.train)(m.center.unsqueeze(0))[0])
        assert recomputed == pytest.approx(fit, rel=1e-4)
        assert it % 20 == 0 and (fit <= target or it == 400)


def test_train_to_loss_takes_a_replica_that_never_fits_at_the_last_iteration():
    splits = load_dataset("digits")
    arch = build_architecture("lenet", splits.image_shape, splits.num_classes, width=0.05)
    fitted = train_to_loss(arch, init_weights(arch, [generator(0, CPU)], CPU), splits.train, [generator(1, CPU)],
                           target=0.0, max_iterations=30, check_every=20)
    assert fitted.iterations == [30] and fitted.losses[0] > 0


def test_lth_simulate_basin_prints_a_table_and_writes_a_result(tmp_path, capsys):
    from lth.cli import main

    argv = ["simulate", "basin", "--width", "0.125", "--seeds", "2", "--poison", "50", "--target-loss", "0.1",
            "--max-iterations", "3000", "--directions", "2", "--loss-images", "200", "--probes", "2",
            "--lanczos-steps", "3", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "clean" in out and "poisoned" in out
    assert list(tmp_path.glob("basin/*/seed-0/result.json"))
