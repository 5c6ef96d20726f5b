"""Properties of edge-popup (``lth.simulations.edge_popup``): frozen random weights, top-k masks with a
straight-through gradient, replica independence, the construction's width rule, the certified
construction's width search (``lth.simulations.certified_width``), resumable runs, and the width claim's
broken instances."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lth.registry import run_claim
from lth.store import RunDirectory
from lth.simulations.certified_width import build_and_certify, search_certified_width, theorem_frame, ticket_outputs
from lth.simulations.data import Split
from lth.simulations.edge_popup import (EdgePopupSettings, construction_width, initial_scores, popup_masks,
                                    random_weights, run_edge_popup)
from lth.simulations.models import build_architecture
from lth.simulations.supermask import ScoreOptimisation, fit_scores, keep_count, load_splits
from lth.theory.dense import build_ticket, random_target
from lth.theory.device import generator

CPU = torch.device("cpu")
TINY = EdgePopupSettings(dataset="digits", width=0.25, seeds=2, iterations=30, eval_every=10, factors=(1, 2),
                         score_iterations=20, construction_step=100, construction_resolution=100, pool_cap=12,
                         retry_cap=0)  # cheap constructions (they need not certify here)


def gens(seeds):
    return [generator(s, CPU) for s in seeds]


@given(keep=st.floats(0.05, 1.0), scale_fan=st.booleans())
def test_signed_kaiming_constant_weights_are_plus_or_minus_the_scaled_kaiming_std(keep, scale_fan):
    arch = build_architecture("conv2", (1, 8, 8), 10, width=0.125)
    for layer, w in zip(arch.layers, random_weights(arch, "signed_constant", keep, scale_fan, gens([0, 1]), CPU)):
        n = layer.fan_in * (layer.kernel ** 2 if layer.kind == "conv" else 1)
        std = math.sqrt(2.0 / (n * (keep if scale_fan else 1.0)))
        torch.testing.assert_close(w.abs(), torch.full_like(w, std))


@given(seed=st.integers(0, 1000), keep=st.floats(0.05, 1.0))
def test_popup_keeps_the_top_k_absolute_scores_per_layer_and_passes_the_gradient_to_them(seed, keep):
    g = torch.Generator().manual_seed(seed)
    scores = [torch.randn(2, 6, 7, generator=g).requires_grad_(True), torch.randn(2, 3, 6, generator=g).requires_grad_(True)]
    upstream = [torch.randn(s.shape, generator=g) for s in scores]
    masks = popup_masks(keep)(scores, True)
    for s, m, u in zip(scores, masks, upstream):
        hard = m.detach()
        assert hard.flatten(1).sum(dim=1).tolist() == [keep_count(s[0].numel(), keep)] * 2
        smallest_kept = s.detach().abs().masked_fill(hard == 0, math.inf).flatten(1).min(dim=1).values
        largest_dropped = s.detach().abs().masked_fill(hard == 1, -math.inf).flatten(1).max(dim=1).values
        assert torch.all(smallest_kept >= largest_dropped)
    sum((m * u).sum() for m, u in zip(masks, upstream)).backward()
    for s, u in zip(scores, upstream):
        torch.testing.assert_close(s.grad, u * torch.sign(s.detach()))


def test_ignored_scores_get_no_gradient_and_do_not_move_the_mask():
    scores = [torch.randn(1, 4, 5, generator=torch.Generator().manual_seed(3)).requires_grad_(True)]
    frozen = [torch.randn(1, 4, 5, generator=torch.Generator().manual_seed(4))]
    masks = popup_masks(0.5, frozen)
    (m,) = masks(scores, True)
    m.sum().backward()
    assert torch.all(scores[0].grad == 0)
    assert torch.equal(masks([-scores[0].detach() * 7], False)[0], masks(scores, False)[0])


def test_a_replica_searched_alone_or_in_a_batch_gets_the_same_scores():
    data = load_splits(TINY, CPU)
    arch = build_architecture("lenet", data.image_shape, 10, width=0.25)
    opt = ScoreOptimisation(iterations=15, eval_every=5)

    def search(seeds):
        w = random_weights(arch, "kaiming_normal", 0.5, True, gens(seeds), CPU)
        s = initial_scores(arch, gens([x + 100 for x in seeds]), CPU)
        return fit_scores(arch, w, s, popup_masks(0.5), data, opt, gens([x + 200 for x in seeds]))

    both, alone = search([0, 1]), search([1])
    for a, b in zip(both.best, alone.best):
        torch.testing.assert_close(a[1], b[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(both.test_acc[1], alone.test_acc[0])


def _identity_target():
    return [torch.eye(2, dtype=torch.float64) * 0.5, torch.eye(2, dtype=torch.float64)], \
        [torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)]


def test_the_construction_tolerance_is_half_the_gap_that_a_fraction_accuracy_gap_of_images_fall_below():
    weights, biases = _identity_target()
    x = torch.tensor([[1.0, 0.0], [0.0, 0.4], [0.3, 0.1], [0.0, 0.0]]).reshape(4, 1, 1, 2)
    built = construction_width(weights, biases, Split(x, torch.zeros(4, dtype=torch.long)), 0.5, 0.01)
    # gaps 0.5, 0.2, 0.1, 0.0: two images (half) lie strictly below the third smallest gap, 0.2
    assert built["eps_logits"] == pytest.approx(0.1)
    assert built["input_radius"] == pytest.approx(1.0)
    assert built["tolerance"] == pytest.approx(built["eps_logits"])  # norms <= 1 after mapping: no rescaling


@given(gap=st.floats(0.01, 0.5))
def test_a_smaller_accuracy_gap_never_needs_a_smaller_construction(gap):
    weights, biases = _identity_target()
    x = torch.rand(50, 1, 1, 2, generator=torch.Generator().manual_seed(0))
    test = Split(x, torch.zeros(50, dtype=torch.long))
    wide, narrow = construction_width(weights, biases, test, gap / 2, 0.01), construction_width(weights, biases, test, gap, 0.01)
    assert wide["weights"] >= narrow["weights"]


def _small_frame(seed: int, accuracy_gap: float = 0.05):
    """A random 8-6-4 MLP (norm 1.5, biases) and 300 images in [0, 1]^8, in the theorem's frame."""
    g = torch.Generator().manual_seed(seed)
    target = random_target([8, 6, 4], g, norm=1.5, bias=True)
    return theorem_frame(target.weights, target.biases, torch.rand(300, 8, generator=g, dtype=torch.float64),
                         accuracy_gap)


@settings(max_examples=4)
@given(seed=st.integers(0, 10_000))
def test_the_searched_width_certifies_and_the_width_one_unit_narrower_does_not(seed):
    frame = _small_frame(seed)
    found = search_certified_width(frame, frame.rule_units(0.01), seed=seed, step=8, resolution=1)
    best, narrower = found["certified"], found["narrower"]
    assert best is not None and best["certified"] and best["certificate"] < frame.eps_logits
    if best["units"][0] > 1:
        assert narrower["units"] == [best["units"][0] - 1] + best["units"][1:] and not narrower["certified"]
        assert narrower["certificate"] >= frame.eps_logits


@settings(max_examples=4)
@given(seed=st.integers(0, 10_000), m1=st.integers(1, 40))
def test_a_build_never_measures_more_than_its_certificate_allows(seed, m1):
    frame = _small_frame(seed)
    build = build_and_certify(frame, [m1] + frame.rule_units(0.01)[1:], seed=seed)
    assert build.max_test_error <= build.certificate
    assert build.changed <= build.may_change
    if build.certified:  # only gaps below 2ε can flip, and fewer than accuracy_gap·n lie there
        assert build.may_change <= math.floor(0.05 * 300)


@given(seed=st.integers(0, 10_000))
def test_the_ticket_outputs_read_from_the_masks_match_the_dense_pruned_network(seed):
    frame = _small_frame(seed)
    _, ticket = build_ticket(frame.target, 0.1, 0.5, seed=seed, units_per_input=[6, 6], output_scale=1 / frame.scale)
    torch.testing.assert_close(ticket_outputs(ticket, frame.x_unit), ticket.sequential()(frame.x_unit))


def test_tickets_built_for_a_perturbed_target_do_not_certify_against_the_true_one():
    frame = _small_frame(0)
    found = search_certified_width(frame, frame.rule_units(0.01), seed=0, step=8, perturbation=0.1)
    assert found["certified"] is None and [b["units"][0] for b in found["builds"]] == [found["rule_units"][0]]


def test_a_search_with_a_zero_step_is_refused():
    frame = _small_frame(0)
    with pytest.raises(ValueError, match="step"):
        search_certified_width(frame, frame.rule_units(0.01), seed=0, step=0)


class Interrupted(Exception):
    pass


def test_an_edge_popup_run_killed_after_a_width_resumes_to_the_uninterrupted_result(tmp_path):
    def kill(factor):
        raise Interrupted

    with pytest.raises(Interrupted):
        run_edge_popup(TINY, CPU, store=RunDirectory(tmp_path / "killed"), progress=False, on_factor=kill)
    seen = []
    resumed = run_edge_popup(TINY, CPU, store=RunDirectory(tmp_path / "killed"), progress=False, on_factor=seen.append)
    whole = run_edge_popup(TINY, CPU, store=RunDirectory(tmp_path / "whole"), progress=False)
    assert seen == [2] and resumed["factors"] == whole["factors"] and resumed["target"] == whole["target"]
    assert whole["target"]["construction"][0]["weights"] > whole["factors"][-1]["weights"]
    assert len(whole["target"]["certified"]) == TINY.construction_seeds


def test_bad_edge_popup_settings_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="factors"):
        EdgePopupSettings(factors=(0,))
    with pytest.raises(ValueError, match="random weights"):
        EdgePopupSettings(weights="uniform")
    with pytest.raises(ValueError, match="keep"):
        EdgePopupSettings(keep=1.5)
    with pytest.raises(ValueError, match="construction_seeds"):
        EdgePopupSettings(seeds=2, construction_seeds=3)


def test_lth_simulate_edge_popup_writes_a_result(tmp_path, capsys):
    from lth.cli import main

    argv = ["simulate", "edge-popup", "--dataset", "digits", "--width", "0.25", "--seeds", "2", "--iterations", "20",
            "--eval-every", "10", "--factors", "1", "2", "--score-iterations", "10", "--construction-step", "100",
            "--construction-resolution", "100", "--pool-cap", "12", "--retry-cap", "0", "--out", str(tmp_path),
            "--no-progress"]
    assert main(argv) == 0
    assert len(list(tmp_path.glob("edge_popup/*/result.json"))) == 1
    out = capsys.readouterr().out
    assert "Pensia width rule" in out and "smallest certified construction" in out


@pytest.mark.claim("sim.edge_popup.width")
def test_width_check_fails_when_edge_popup_ignores_its_scores():
    record = run_claim("sim.edge_popup.width", faults={"scores_ignored": True}, dataset="digits", width=0.25,
                       seeds=3, iterations=60, eval_every=20, factors=(1, 2), score_iterations=30, construction_seeds=0)
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("sim.edge_popup.width")
def test_width_check_fails_when_the_constructed_tickets_are_certified_against_a_perturbed_target():
    record = run_claim("sim.edge_popup.width", faults={"construction_perturbed": True}, dataset="digits", width=0.25,
                       seeds=3, iterations=60, eval_every=20, factors=(1, 2), score_iterations=30)
    assert record.verdict == "fails", record.reason
    assert "certified error above the bound" in record.reason


@pytest.mark.claim("sim.edge_popup.width")
def test_a_match_at_any_of_several_widths_needs_holm():
    """Five widths, each inside ±2 pp at one-sided p about 0.01 alone: the earlier rule (any width
    passing an uncorrected TOST) said holds; Holm over the five needs p < 0.005 for the best."""
    from lth.claims.supermask import width_match

    target = [0.9] * 6
    e = [-1.5, -0.9, -0.3, 0.3, 0.9, 1.5]
    sd = (sum(x * x for x in e) / 5) ** 0.5
    rows = [{"factor": f, "weights": 100 * f, "test_acc": [0.9 + 0.008 + 0.0078 * x / sd for x in e]}
            for f in (1, 2, 4, 8, 16)]
    (verdict, why), per_factor = width_match(rows, target, 0.02, 0.025)
    assert all(0.005 < r["tost_p"] < 0.025 for r in per_factor), [r["tost_p"] for r in per_factor]
    assert verdict == "inconclusive" and "Holm over 5" in why
    rows[2]["test_acc"] = [0.9 + 0.001 * x for x in e]  # one clear match
    (verdict, why), per_factor = width_match(rows, target, 0.02, 0.025)
    assert verdict == "holds" and [r["matches"] for r in per_factor] == [False, False, True, False, False]
    rows = [{"factor": f, "weights": 1, "test_acc": [0.8 + 0.001 * x for x in e]} for f in (1, 2)]
    assert width_match(rows, target, 0.02, 0.025)[0][0] == "fails"
