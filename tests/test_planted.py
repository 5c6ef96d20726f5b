"""Planted tickets as ground truth for search (``lth.simulations.planted``, claim ``sim.planted.recovery``):
the planted ticket is certified, the overlap measure is right on known cases, the accuracy guaranteed by
a certificate holds, and the claim's broken instance and bad parameters are refused."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lth.registry import get_claim, run_claim
from lth.simulations.planted import (PlantedSettings, as_ticket, ball_points, guaranteed_accuracy, layer_popup_masks,
                                     overlap, plant, random_like, target_data, top_two_gaps)
from lth.theory.dense import Domain, certify_sup_error, random_target, search_sup_error
from lth.theory.device import generator

CPU = torch.device("cpu")
# a claim run in seconds: a 4-4-3 target, 3 seeds, short searches
SMALL = dict(widths=(4, 4, 3), points=(300, 100, 300), seeds=3, score_iterations=60, imp_rounds=1,
             imp_iterations=20, restarts=2, steps=5, samples=64)


@pytest.mark.claim("sim.planted.recovery")
@settings(max_examples=6)
@given(seed=st.integers(0, 10_000), widths=st.lists(st.integers(4, 7), min_size=2, max_size=3),
       classes=st.integers(2, 4), eps=st.sampled_from([0.05, 0.1]))
def test_the_planted_ticket_is_certified_within_eps_and_no_error_found_exceeds_its_certificate(seed, widths,
                                                                                               classes, eps):
    # widths from 4: the width rule is a measured constant (slth.dense.rule), and at 2-2-2 pools of
    # about 16 units per sign miss ε = 0.05 (certified 0.10 at seed 0): the claim's precondition catches that
    widths = (*widths, classes)
    target = random_target(list(widths), generator(seed, CPU))
    planted = plant(target, PlantedSettings(widths=widths, eps=eps, delta=eps, seeds=2, seed=seed), CPU)
    for r, ticket in enumerate(planted.tickets):
        certified = certify_sup_error(target, ticket, Domain("ball")).value
        assert certified <= eps
        found = search_sup_error(target, ticket, Domain("ball"), restarts=4, steps=10, samples=256, seed=seed)
        assert found.error <= certified
        # the stacked masks are the tickets' own: re-wrapped, they certify the same
        again = as_ticket(ticket, [m[r] for m in planted.masks])
        assert certify_sup_error(target, again, Domain("ball")).value == certified
    assert all(c <= eps for c in planted.alternative["certified"])


masks_shape = st.tuples(st.integers(1, 4), st.integers(1, 30), st.integers(1, 30))


@given(shape=masks_shape, seed=st.integers(0, 10_000), density=st.floats(0.05, 0.95))
def test_identical_masks_overlap_fully_and_complementary_ones_not_at_all(shape, seed, density):
    gen = generator(seed, CPU)
    mask = torch.rand(shape, generator=gen) < density
    mask.view(shape[0], -1)[:, 0] = True  # neither a mask nor its complement is empty in every replica
    other = ~mask
    other.view(shape[0], -1)[:, -1] |= shape[1] * shape[2] == 1
    same = overlap([mask], [mask])
    assert same["recall"] == same["jaccard"] == [1.0] * shape[0]
    if shape[1] * shape[2] > 1:
        apart = overlap([~mask], [mask])
        assert apart["recall"] == apart["jaccard"] == [0.0] * shape[0]
    assert overlap([mask], [mask])["density"] == mask.flatten(1).double().mean(1).tolist()


@given(seed=st.integers(0, 10_000), planted_density=st.floats(0.1, 0.9), found_density=st.floats(0.05, 0.95))
def test_a_random_mask_of_density_d_keeps_about_d_of_the_planted_weights(seed, planted_density, found_density):
    replicas, n = 64, 400
    gen = generator(seed, CPU)
    planted = torch.rand(replicas, n, generator=gen) < planted_density
    planted[:, 0] = True
    found = torch.zeros(replicas, n, dtype=torch.bool)
    found[:, : max(1, round(found_density * n))] = True
    control = random_like([found], [generator(seed + 1 + r, CPU) for r in range(replicas)])[0]
    assert (control.sum(1) == found.sum(1)).all()  # each replica keeps its own counts
    recall = torch.tensor(overlap([control], [planted])["recall"])
    d = float(found[0].double().mean())
    # the hypergeometric mean is exactly d; the SD of the mean of 64 recalls is at most sqrt(d(1-d)/64/|P|)
    sd = math.sqrt(d * (1 - d) / replicas / float(planted.sum(1).min()))
    assert abs(float(recall.mean()) - d) <= 5 * sd + 1e-9


def test_overlap_pools_counts_over_layers_before_dividing():
    planted = [torch.tensor([[True, True, False, False]]), torch.tensor([[True] * 8])]
    found = [torch.tensor([[True, False, True, False]]), torch.tensor([[True] * 2 + [False] * 6])]
    result = overlap(found, planted)
    assert result["recall"] == [3 / 10] and result["jaccard"] == [3 / 11]
    assert [layer["recall"] for layer in result["layers"]] == [[0.5], [0.25]]
    assert result["density"] == [4 / 12]


@given(seed=st.integers(0, 10_000), keeps=st.lists(st.floats(0.05, 1.0), min_size=1, max_size=3))
def test_edge_popup_keeps_its_own_fraction_in_every_layer(seed, keeps):
    gen = generator(seed, CPU)
    scores = [torch.randn(2, 7 + i, 5, generator=gen) for i in range(len(keeps))]
    masks = layer_popup_masks(keeps)(scores, False)
    for m, k, s in zip(masks, keeps, scores):
        assert (m.flatten(1).sum(1) == max(1, min(s[0].numel(), int(k * s[0].numel() + 0.5)))).all()


@given(seed=st.integers(0, 10_000), certified=st.floats(0.0, 0.05))
def test_a_network_within_the_certificate_keeps_the_guaranteed_share_of_target_classes(seed, certified):
    gen = generator(seed, CPU)
    target = random_target([5, 6, 4], gen)
    x = ball_points(500, 5, gen)
    gaps = top_two_gaps(target, x)
    noise = torch.randn(500, 4, generator=gen, dtype=torch.float64)
    moved = target(x) + certified * noise / noise.norm(dim=1, keepdim=True)  # every output within `certified`
    kept = float((moved.argmax(1) == target(x).argmax(1)).double().mean())
    assert kept >= guaranteed_accuracy(gaps, certified)
    assert guaranteed_accuracy(gaps, math.inf) == 0.0


def test_target_data_lie_in_the_unit_ball_and_carry_the_targets_classes():
    target = random_target([6, 5, 3], generator(3, CPU))
    data = target_data(target, (50, 20, 30), generator(4, CPU))
    for part, count in zip((data.train, data.val, data.test), (50, 20, 30)):
        x = part.x.flatten(1)
        assert x.shape == (count, 6) and float(x.norm(dim=1).max()) <= 1.0
        assert torch.equal(part.y, target(x).argmax(1))
    assert data.num_classes == 3


@pytest.fixture(scope="module")
def records():
    return {fault: run_claim("sim.planted.recovery", faults={"random_planted": True} if fault else None, **SMALL)
            for fault in (False, True)}


@pytest.mark.claim("sim.planted.recovery")
def test_the_claim_reports_certified_planted_tickets_and_overlaps_for_every_seed(records):
    record = records[False]
    assert record.verdict != "error", record.details.get("traceback")
    assert record.certified.value <= PlantedSettings().eps
    for name in ("edge_popup", "supermask"):
        search = record.details["searches"][name]
        assert len(search["overlap"]["jaccard"]) == SMALL["seeds"]
        assert all(0.0 <= j <= 1.0 for j in search["overlap"]["jaccard"])
    planted = record.details["planted"]
    assert all(a >= g for a, g in zip(planted["test_acc"], planted["guaranteed_acc"]))


@pytest.mark.claim("sim.planted.recovery")
def test_a_random_mask_in_place_of_the_planted_ticket_fails_and_changes_the_verdict(records):
    broken = records[True]
    assert broken.verdict == "fails", broken.reason
    assert "planted ticket" in broken.reason and math.isinf(broken.certified.value)
    assert broken.verdict != records[False].verdict


@pytest.mark.claim("sim.planted.recovery")
@pytest.mark.parametrize("override", [{"eps": 1.5}, {"seeds": 1}, {"widths": (4, 0, 3)}, {"delta": 0.0}])
def test_parameters_outside_the_claims_domain_are_refused_before_any_work(override):
    with pytest.raises(ValueError):
        get_claim("sim.planted.recovery").parameters("quick", override)


@pytest.mark.parametrize("bad", [dict(widths=(4,)), dict(widths=(4, 1)), dict(points=(10, 0, 10)),
                                 dict(score_iterations=0), dict(imp_rounds=-1)])
def test_settings_refuse_targets_without_classes_and_empty_counts(bad):
    with pytest.raises(ValueError):
        PlantedSettings(**bad)


def test_the_planted_recovery_figure_renders_from_a_stored_record(records, tmp_path):
    from lth.figures import all_figures, render
    from lth.store import write_claim_record

    write_claim_record(tmp_path / "results", records[False].to_dict(), seed=0, device="cpu")
    paths = render(all_figures()["planted_recovery"], tmp_path / "results", tmp_path / "figures")
    assert all(p.stat().st_size > 0 for p in paths)


def test_a_missing_planted_record_names_the_command_that_makes_it(tmp_path):
    from lth.figures import MissingResult, all_figures

    with pytest.raises(MissingResult, match="lth verify sim.planted.recovery"):
        all_figures()["planted_recovery"].draw(tmp_path)
