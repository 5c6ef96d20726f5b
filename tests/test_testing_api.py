"""The public testing API (lth.testing) and the pytest plugin (lth.pytest_plugin)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lth import registry
from lth.claims.slth_dense import flip_largest_kept
from lth.registry import Quantity, Record
from lth.testing import (CertificateError, ConvTarget, assert_pool_covers, assert_ticket_approximates, assert_verdict,
                         conv_kernels, conv_targets, dense_domains, dense_targets, rss_instances)
from lth.theory.conv import (PADDINGS, TargetLayer, check_layer_norms, construct_network, flip_mask_entry, norm_inf,
                         require_relu_between, target_forward)
from lth.theory.dense import NORM_TOLERANCE, Domain, Target, build_ticket, check_norms, spectral_norms
from lth.theory.subset_sum import POOL_LAWS, best_subsets, rounding_slack, worst_case_error

# Strategies draw only objects the library's own checkers accept ---------------------------------------


@given(rss_instances())
def test_rss_instances_are_accepted_by_the_subset_sum_solvers(instance):
    assert instance.law in POOL_LAWS and instance.pool.dtype == torch.float64 and instance.pool.ndim == 1
    assert -1.0 <= instance.lo <= instance.hi <= 1.0
    assert bool(((instance.targets >= instance.lo) & (instance.targets <= instance.hi)).all())
    worst = worst_case_error(instance.pool, instance.lo, instance.hi)
    solution = best_subsets(instance.pool[None], instance.targets[None])
    # every target of the interval is within the interval's worst case of its best subset sum
    assert bool((solution.error <= worst + rounding_slack(instance.pool, instance.lo, instance.hi)).all())


@given(dense_targets())
def test_dense_targets_satisfy_the_norm_hypothesis(target):
    check_norms(target)
    Target(target.weights, target.biases)  # the constructor's own validation
    assert max(spectral_norms(target)) <= 1 + NORM_TOLERANCE


@given(st.data(), st.integers(1, 6), st.booleans())
def test_dense_domains_are_valid_and_non_negative_for_unsigned_tickets(data, d0, signed):
    domain = data.draw(dense_domains(d0, signed=signed))
    Domain(domain.kind, domain.radius, domain.lo, domain.hi)  # the constructor's own validation
    if domain.kind == "box":
        assert len(domain.lo) == len(domain.hi) == d0
        assert all(lo <= hi for lo, hi in zip(domain.lo, domain.hi))
    if not signed:
        assert domain.kind == "box" and min(domain.lo) >= 0
    else:
        assert domain.kind == "box" or domain.radius > 0


@given(conv_kernels())
def test_conv_kernels_satisfy_the_layer_hypotheses(layer):
    TargetLayer(layer.weight, layer.padding, layer.relu)  # the constructor's own validation
    assert layer.padding in PADDINGS and norm_inf(layer.weight) <= 1 + 1e-12
    assert check_layer_norms([layer], rescale=False)[1] == 1.0


@given(conv_targets())
def test_conv_targets_satisfy_the_network_hypotheses_and_fit_their_input(target):
    require_relu_between(list(target.layers))
    # within the library's own tolerance for a kernel normalised in float64 (a few ulps above 1)
    assert check_layer_norms(list(target.layers), rescale=False)[1] <= 1 + 1e-12
    for before, after in zip(target.layers, target.layers[1:]):
        assert after.weight.shape[1] == before.weight.shape[0]
    x = torch.rand((1, *target.input_shape), dtype=torch.float64)
    assert target_forward(list(target.layers), x).numel() > 0


# Assertions: pass on real tickets, fail with certificate and witness on broken ones ---------------------


def _message_names(error: CertificateError) -> None:
    text = str(error)
    assert f"certificate: {error.certificate.value:.6g}" in text and error.certificate.kind in text
    assert f"reaches error {error.witness.error:.6g}" in text and "witness: x = shape" in text


@given(rss_instances(sizes=st.integers(2, 12)))
@settings(max_examples=10)
def test_a_pool_assertion_fails_below_the_exact_worst_case_with_the_worst_target_as_witness(instance):
    pool, lo, hi = instance.pool, instance.lo, instance.hi
    exact = float(worst_case_error(pool, lo, hi))
    slack = float(rounding_slack(pool, lo, hi))
    assert assert_pool_covers(pool, exact + 2 * slack + 1e-12, lo, hi).value >= exact
    if exact <= 4 * slack:
        return  # nothing below the worst case is decidable in float64
    with pytest.raises(CertificateError) as caught:
        assert_pool_covers(pool, exact / 2, lo, hi)
    _message_names(caught.value)
    # the witness is a target of the interval reaching the worst case
    z = float(caught.value.witness.x)
    assert lo <= z <= hi and abs(caught.value.witness.error - exact) <= 2 * slack


def test_a_dense_ticket_at_the_proven_width_passes_and_a_flipped_mask_entry_fails_with_a_witness():
    target = Target([torch.tensor([[0.6, -0.3], [0.2, 0.5], [-0.4, 0.1]], dtype=torch.float64),
                     torch.tensor([[0.5, -0.2, 0.3]], dtype=torch.float64)], [None, None])
    _, ticket = build_ticket(target, 0.05, 0.05, seed=0)
    certificate = assert_ticket_approximates(target, ticket, 0.05, Domain("ball"))
    assert certificate.kind == "rigorous" and certificate.value <= 0.05
    flip_largest_kept(ticket, target.depth - 1, 1)
    with pytest.raises(CertificateError) as caught:
        assert_ticket_approximates(target, ticket, 0.05)
    _message_names(caught.value)
    assert caught.value.certificate.value > 0.05
    assert 0 < caught.value.witness.error <= caught.value.certificate.value  # a real input, below the bound
    assert float(caught.value.witness.x.norm()) <= 1 + 1e-12


def _conv_target() -> ConvTarget:
    """Two layers (2→2 channels, 3×3 same, then 2×2 valid without ReLU) with max_o Σ|K[o]| = 0.8."""
    gen = torch.Generator().manual_seed(0)
    kernels = [torch.randn(shape, generator=gen, dtype=torch.float64) for shape in ((2, 2, 3, 3), (2, 2, 2, 2))]
    first, second = (k * (0.8 / norm_inf(k)) for k in kernels)
    return ConvTarget((TargetLayer(first, "same"), TargetLayer(second, "valid", relu=False)), 4)


def test_a_conv_ticket_passes_and_a_flipped_layer_mask_fails_with_a_witness_in_the_box():
    target = _conv_target()
    ticket = construct_network(list(target.layers), 0.1, target.size, torch.Generator().manual_seed(0))
    assert assert_ticket_approximates(target, ticket, 0.1).value <= 0.1
    layer = ticket.layers[0]
    assert assert_ticket_approximates(layer.target, layer, 0.1, target.size).value <= 0.1
    with pytest.raises(CertificateError) as caught:
        assert_ticket_approximates(layer.target, flip_mask_entry(layer), 0.1, target.size)
    _message_names(caught.value)
    x = caught.value.witness.x
    assert tuple(x.shape) == target.input_shape and float(x.min()) >= 0 and float(x.max()) <= 1


def test_a_ticket_built_for_other_layers_is_refused():
    target = ConvTarget((TargetLayer(torch.full((1, 1, 1, 1), 0.5, dtype=torch.float64)),), 3)
    other = ConvTarget((TargetLayer(torch.full((1, 1, 1, 1), -0.5, dtype=torch.float64)),), 3)
    ticket = construct_network(list(other.layers), 0.1, 3, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="built for other layers"):
        assert_ticket_approximates(target, ticket, 0.1)


@dataclass(frozen=True)
class _Params:
    n: int = 3


@dataclass(frozen=True)
class _Faults:
    short: int = 0


def _check_sum(p: _Params, ctx) -> Record:
    """1 + ... + n = n(n+1)/2, summed on the run's device; ``short`` drops terms (a broken instance)."""
    total = int(torch.arange(1, p.n + 1 - ctx.faults.short, device=ctx.device).sum())
    verdict = "holds" if total == p.n * (p.n + 1) // 2 else "fails"
    return Record(verdict, f"sum {total}", bound=Quantity(p.n * (p.n + 1) / 2, "n(n+1)/2"),
                  empirical=Quantity(total, "summed"))


def test_the_verdict_assertion_passes_on_the_expected_verdict_and_names_the_reason_otherwise(monkeypatch):
    monkeypatch.setitem(registry._CLAIMS, "tmp.sum",
                        registry.Claim("tmp.sum", "Gauss", "proofs/rss.md", _check_sum, _Params, {}, _Faults))
    assert assert_verdict("tmp.sum", n=5).verdict == "holds"
    assert_verdict("tmp.sum", "fails", n=5, faults={"short": 1})
    with pytest.raises(AssertionError, match=r"tmp.sum: expected holds, got fails: sum 10\n  bound: 15.0 .*"
                                             r"empirical: 10 .*\n  faults \{'short': 1\}"):
        assert_verdict("tmp.sum", n=5, faults={"short": 1})


# The pytest plugin, from a test file outside this repository's tests ---------------------------------

USER_TEST = '''
import pytest
import torch


@pytest.mark.claim("my.bound")
def test_fixtures(lth_device, lth_generator, pytestconfig):
    assert lth_device == torch.device("cpu")
    assert lth_generator.device == lth_device
    expected = torch.Generator().manual_seed(pytestconfig.getoption("lth_seed")).initial_seed()
    assert lth_generator.initial_seed() == expected
'''


def _probe_dist(site: Path) -> None:
    """A distribution on ``site`` whose only content is the plugin's ``pytest11`` entry point, as
    pip writes it for an installed lth-toolkit (the shared environment stays as it is)."""
    info = site / "lth_plugin_probe-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lth-plugin-probe\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nlth = lth.pytest_plugin\n")


def _pytest(folder: Path, site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_plugin_gives_a_users_suite_the_fixtures_options_and_the_claim_marker(tmp_path: Path):
    project, site = tmp_path / "project", tmp_path / "site"
    project.mkdir()
    _probe_dist(site)
    (project / "test_user.py").write_text(textwrap.dedent(USER_TEST))
    run = _pytest(project, site, "--strict-markers", "--lth-device", "cpu", "--lth-seed", "7")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    bad = _pytest(project, site, "--lth-device", "tpu")
    assert bad.returncode != 0 and "--lth-device" in bad.stderr


def test_the_plugin_does_not_register_the_marker_a_suite_declares_itself(tmp_path: Path):
    project, site = tmp_path / "project", tmp_path / "site"
    project.mkdir()
    _probe_dist(site)
    (project / "pytest.ini").write_text("[pytest]\nmarkers =\n    claim(id): declared by the suite\n")
    run = _pytest(project, site, "--markers")
    assert run.returncode == 0, run.stdout + run.stderr
    claim_lines = [line for line in run.stdout.splitlines() if line.startswith("@pytest.mark.claim")]
    assert claim_lines == ["@pytest.mark.claim(id): declared by the suite"]
