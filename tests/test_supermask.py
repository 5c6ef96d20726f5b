"""Properties of the supermask library (``lth.simulations.supermask``): criteria, masks, sign-only weights,
the learned supermask's estimator, resumable runs, the CLI, and the claims' broken instances."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lth.registry import run_claim
from lth.store import RunDirectory
from lth.simulations.masks import prune_layer
from lth.simulations.models import build_architecture
from lth.simulations.supermask import (CRITERIA, CriteriaSettings, LearnedSettings, bernoulli_masks, criterion_masks,
                                   criterion_scores, init_std, keep_count, run_criteria, run_learned, signed_constant,
                                   top_k_mask)
from lth.theory.device import generator

TINY = dict(dataset="digits", width=0.25, seeds=2, iterations=30, eval_every=10)
layers = hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
                    elements=st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]))


@given(scores=layers, data=st.data())
def test_top_k_keeps_exactly_k_of_the_largest_with_ties_going_to_the_lower_index(scores, data):
    keep = data.draw(st.integers(1, scores.shape[1]))
    mask = top_k_mask(torch.from_numpy(scores), keep).numpy()
    for row, kept in zip(scores, mask):
        expected = sorted(range(row.size), key=lambda i: (-row[i], i))[:keep]
        assert sorted(np.flatnonzero(kept).tolist()) == sorted(expected)


@given(seed=st.integers(0, 10_000), n=st.integers(2, 60), data=st.data())
def test_large_final_masks_are_the_complement_of_one_magnitude_pruning_step(seed, n, data):
    pruned = data.draw(st.integers(0, n - 1))
    final = torch.randn(2, 3, n, generator=torch.Generator().manual_seed(seed))
    initial = torch.randn(2, 3, n, generator=torch.Generator().manual_seed(seed + 1))
    ours = criterion_masks("large_final", [initial], [final], [(3 * n - pruned) / (3 * n)])[0]
    imp = prune_layer(torch.ones_like(final, dtype=torch.bool), final, pruned / (3 * n))
    assert torch.equal(ours, imp)


@pytest.mark.parametrize("criterion", CRITERIA)
def test_every_criterion_keeps_the_requested_count_per_layer_and_replica(criterion):
    g = torch.Generator().manual_seed(0)
    initial, final = [torch.randn(3, 7, 5, generator=g)], [torch.randn(3, 7, 5, generator=g)]
    mask = criterion_masks(criterion, initial, final, [0.4], generators=[generator(s, torch.device("cpu"))
                                                                         for s in range(3)])[0]
    assert mask.flatten(1).sum(dim=1).tolist() == [keep_count(35, 0.4)] * 3


@given(initial=layers, data=st.data())
def test_same_sign_criteria_never_keep_a_flipped_weight_while_an_unflipped_one_is_left(initial, data):
    final = data.draw(hnp.arrays(np.float32, initial.shape, elements=st.floats(-3, 3, width=32)))
    keep = data.draw(st.integers(1, initial.shape[1]))
    same = np.sign(initial) == np.sign(final)
    for criterion in ("large_final_same_sign", "magnitude_increase_same_sign"):
        mask = top_k_mask(criterion_scores(criterion, torch.from_numpy(initial), torch.from_numpy(final)), keep).numpy()
        for kept, ok in zip(mask, same):
            assert int((kept & ok).sum()) == min(keep, int(ok.sum()))


def test_criteria_follow_their_definitions():
    wi, wf = torch.tensor([[1.0, -2.0, 0.5, -1.0]]), torch.tensor([[3.0, 1.0, -0.25, -0.5]])
    expect = {"large_final": [3, 1, 0.25, 0.5], "small_init": [-1, -2, -0.5, -1], "movement": [2, 3, 0.75, 0.5],
              "magnitude_increase": [2, -1, -0.25, -0.5], "large_init_large_final": [1, 1, 0.25, 0.5],
              "small_init_small_final": [-3, -2, -0.5, -1]}
    for name, values in expect.items():
        assert criterion_scores(name, wi, wf).tolist() == [values]
    assert criterion_scores("large_final_diff_sign", wi, wf).tolist() == [[-np.inf, 1, 0.25, -np.inf]]


@given(seed=st.integers(0, 1000), fractions=st.lists(st.floats(0.05, 1.0), min_size=1, max_size=4))
def test_masks_nest_across_retraining_rounds(seed, fractions):
    g = torch.Generator().manual_seed(seed)
    initial = [torch.randn(2, 6, 9, generator=g)]
    alive = None
    for fraction in sorted(fractions, reverse=True):
        final = [torch.randn(2, 6, 9, generator=g)]
        new = criterion_masks("magnitude_increase_same_sign", initial, final, [fraction], alive)
        if alive is not None:
            assert not torch.any(new[0] & ~alive[0])
        alive = new


def test_sign_only_weights_keep_the_sign_at_the_layers_init_scale():
    arch = build_architecture("lenet", (1, 8, 8), 10, width=0.25)
    w = [torch.randn(2, *layer.weight_shape) for layer in arch.layers]
    for original, signed, std in zip(w, signed_constant(w, init_std(arch)), init_std(arch)):
        assert torch.equal(torch.sign(signed), torch.sign(original))
        assert torch.allclose(signed.abs()[original != 0], torch.tensor(std))


@given(seed=st.integers(0, 1000))
def test_the_learned_supermask_gradient_is_the_sigmoid_derivative_straight_through(seed):
    scores = torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)
    upstream = torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(seed + 1))
    masks = bernoulli_masks("sampled", False, [generator(s, torch.device("cpu")) for s in (0, 1)])
    (mask,) = masks([scores], True)
    assert set(mask.detach().unique().round().tolist()) <= {0.0, 1.0}
    (mask * upstream).sum().backward()
    p = torch.sigmoid(scores.detach())
    torch.testing.assert_close(scores.grad, upstream * p * (1 - p))


def test_evaluation_masks_threshold_the_sigmoid_at_one_half():
    scores = torch.tensor([[[-1.0, 0.2, 3.0, -0.1]]])
    for estimator in ("sampled", "straight_through"):
        (mask,) = bernoulli_masks(estimator, False, [generator(0, torch.device("cpu"))])([scores], False)
        assert mask.tolist() == [[[0.0, 1.0, 1.0, 0.0]]]


def test_dynamic_rescaling_multiplies_each_layer_by_weights_over_kept():
    scores = torch.tensor([[[-1.0, 0.2, 3.0, -0.1]]])
    (mask,) = bernoulli_masks("straight_through", True, [generator(0, torch.device("cpu"))])([scores], False)
    assert mask.tolist() == [[[0.0, 2.0, 2.0, 0.0]]]


class Interrupted(Exception):
    pass


def test_a_criteria_run_killed_after_a_level_resumes_to_the_uninterrupted_result(tmp_path):
    settings = CriteriaSettings(**TINY, criteria=("large_final", "random", "large_final_same_sign"), rounds=2,
                                prune_rate=0.5, retrain=True)

    def kill(level):
        raise Interrupted

    with pytest.raises(Interrupted):
        run_criteria(settings, torch.device("cpu"), store=RunDirectory(tmp_path / "killed"), progress=False,
                     on_level=kill)
    seen = []
    resumed = run_criteria(settings, torch.device("cpu"), store=RunDirectory(tmp_path / "killed"), progress=False,
                           on_level=seen.append)
    whole = run_criteria(settings, torch.device("cpu"), store=RunDirectory(tmp_path / "whole"), progress=False)
    assert seen == [2] and resumed["levels"] == whole["levels"]
    again = run_criteria(settings, torch.device("cpu"), store=RunDirectory(tmp_path / "whole"), progress=False,
                         on_level=seen.append)
    assert seen == [2] and again["levels"] == whole["levels"]


def test_retrained_tickets_have_accuracies_and_zero_shot_masks_keep_the_level_fraction(tmp_path):
    settings = CriteriaSettings(**TINY, criteria=("movement",), rounds=1, prune_rate=0.5, retrain=True)
    row = run_criteria(settings, torch.device("cpu"), progress=False)["levels"][0]["criteria"]["movement"]
    assert len(row["trained"]) == 2 and len(row["zero_shot"]) == 2 and len(row["sign_only"]) == 2
    assert 0.5 < row["remaining"] < 0.6  # hidden layers keep half, the output layer 90%


def test_learned_supermask_runs_refuse_a_fault_with_a_store(tmp_path):
    with pytest.raises(ValueError, match="fault"):
        run_learned(LearnedSettings(**TINY), torch.device("cpu"), store=RunDirectory(tmp_path), ignore_scores=True)


def test_bad_settings_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="criteria"):
        CriteriaSettings(criteria=("largest",))
    with pytest.raises(ValueError, match="estimator"):
        LearnedSettings(estimator="gumbel")
    with pytest.raises(ValueError, match="kept fraction"):
        keep_count(10, 0.0)


def test_lth_simulate_supermask_writes_a_result_and_loads_it_the_second_time(tmp_path, capsys):
    from lth.cli import main

    argv = ["simulate", "supermask", "--dataset", "digits", "--width", "0.25", "--seeds", "2", "--iterations", "20",
            "--eval-every", "10", "--criteria", "large_final", "random", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    (result,) = tmp_path.glob("supermask/*/result.json")
    assert main(argv) == 0
    assert "large_final" in capsys.readouterr().out and result.exists()


def test_lth_simulate_refuses_an_unknown_criterion_with_exit_status_2(tmp_path, capsys):
    from lth.cli import main

    assert main(["simulate", "supermask", "--criteria", "largest", "--out", str(tmp_path)]) == 2
    assert "criteria" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


# Broken instances: each check must be able to report "fails".
SMALL = dict(dataset="digits", seeds=3, iterations=60, eval_every=20)


@pytest.mark.claim("sim.supermask.zero_shot")
def test_zero_shot_check_fails_when_the_scores_are_ignored():
    record = run_claim("sim.supermask.zero_shot", faults={"scores_ignored": True}, rounds=1, **SMALL)
    assert record.verdict == "fails", record.reason
    assert record.details["judged"]["minus"]["random"]["ci"] == [0.0, 0.0]


@pytest.mark.claim("sim.supermask.zero_shot")
def test_a_zero_shot_run_killed_after_a_level_resumes_to_the_uninterrupted_record(tmp_path, monkeypatch):
    from lth.simulations import supermask

    small = dict(rounds=2, retrain=True, judged_level=1, **SMALL)
    whole = run_claim("sim.supermask.zero_shot", results=tmp_path / "whole", **small)
    real_train, calls = supermask.train, []

    def killed_at_the_second_level(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real_train(*args, **kwargs)

    monkeypatch.setattr(supermask, "train", killed_at_the_second_level)
    with pytest.raises(KeyboardInterrupt):
        run_claim("sim.supermask.zero_shot", results=tmp_path / "resumed", **small)
    calls.clear()
    monkeypatch.setattr(supermask, "train", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    resumed = run_claim("sim.supermask.zero_shot", results=tmp_path / "resumed", **small)
    assert len(calls) == 1, "the resumed run retrained more than its last level"
    assert resumed.details["levels"] == whole.details["levels"] and resumed.verdict == whole.verdict


@pytest.mark.claim("sim.supermask.learned")
def test_learned_check_fails_when_the_masks_ignore_the_scores():
    record = run_claim("sim.supermask.learned", faults={"scores_ignored": True}, score_iterations=30, **SMALL)
    assert record.verdict == "fails", record.reason


def test_a_learned_supermask_and_its_dense_reference_share_theta0_and_report_per_seed():
    settings = LearnedSettings(**TINY, score_iterations=20)
    result = run_learned(settings, torch.device("cpu"), progress=False)
    assert len(result["learned"]["test_acc"]) == len(result["dense"]["test_acc"]) == 2
    assert all(0.3 < r < 0.7 for r in result["learned"]["remaining"])
    assert dataclasses.asdict(settings) == result["settings"]


FIGURES = {"sim_supermask_criteria": ("sim.supermask.zero_shot", {"rounds": 1}),
           "sim_supermask_learned": ("sim.supermask.learned", {"score_iterations": 20}),
           "sim_edge_popup_width": ("sim.edge_popup.width", {"width": 0.25, "factors": (1, 2), "score_iterations": 20,
                                                    "construction_step": 100, "construction_resolution": 100})}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    from lth.store import write_claim_record

    root = tmp_path_factory.mktemp("results")
    for claim_id, params in FIGURES.values():
        record = run_claim(claim_id, dataset="digits", seeds=2, iterations=20, eval_every=10, **params)
        assert record.verdict != "error", record.details.get("traceback")
        write_claim_record(root, record.to_dict(), seed=0, device="cpu")
    return root


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_each_supermask_figure_renders_from_its_stored_record(stored, tmp_path, name):
    from lth.figures import all_figures, render

    assert all(p.stat().st_size > 0 for p in render(all_figures()[name], stored, tmp_path))


def test_a_missing_supermask_record_names_the_command_that_makes_it(tmp_path):
    from lth.figures import MissingResult, all_figures

    with pytest.raises(MissingResult, match="lth verify sim.edge_popup.width"):
        all_figures()["sim_edge_popup_width"].draw(tmp_path)


@given(seed=st.integers(0, 1000), logit=st.floats(-3.0, 3.0))
def test_sampled_evaluation_masks_are_bernoulli_of_the_sigmoid_and_rescaled(seed, logit):
    from lth.simulations.supermask import sampled_masks

    scores = [torch.full((2, 40, 50), logit)]
    gens = [generator(seed, torch.device("cpu")), generator(seed + 1, torch.device("cpu"))]
    raw = sampled_masks(scores, False, gens)[0]
    assert set(raw.unique().tolist()) <= {0.0, 1.0}
    # 2,000 draws per replica: the kept fraction lies within 4.5 binomial SDs of σ(s)
    p = float(torch.sigmoid(torch.tensor(logit)))
    assert (raw.flatten(1).mean(1) - p).abs().max() <= 4.5 * (p * (1 - p) / 2000) ** 0.5 + 1e-9
    scaled = sampled_masks(scores, True, [generator(seed, torch.device("cpu")), generator(seed + 1, torch.device("cpu"))])[0]
    kept = raw.flatten(1).sum(1).clamp(min=1)
    assert torch.allclose(scaled, raw * (2000 / kept).view(-1, 1, 1))
    assert sampled_masks([torch.full((1, 3, 3), 40.0)], False, gens[:1])[0].eq(1).all()


@pytest.mark.claim("sim.supermask.learned")
def test_the_learned_claim_judges_sampled_masks_and_reports_the_fixed_one():
    record = run_claim("sim.supermask.learned", score_iterations=30, test_samples=3, **SMALL)
    learned = record.details["learned"]
    assert len(learned["sampled_draws"]) == SMALL["seeds"] and all(len(d) == 3 for d in learned["sampled_draws"])
    assert learned["sampled_test_acc"] == pytest.approx([sum(d) / 3 for d in learned["sampled_draws"]])
    assert record.details["difference"]["mean"] == pytest.approx(
        np.mean(learned["sampled_test_acc"]) - np.mean(record.details["dense"]["test_acc"]))
    assert "fixed [σ > 1/2] mask" in record.reason
