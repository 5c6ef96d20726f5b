"""Pensia et al.'s dense ticket: masks, exactness of the pruned network, certificates, broken tickets."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lth.theory.dense import (Domain, Target, bound_units_per_input, build_ticket, certify_sup_error, check_norms,
                          construct_random_network, random_target, realised_layers, rescale, search_sup_error)
from lth.claims.slth_dense import DenseFaults, RuleCell, judge_cells, per_test_level, rule_tasks, undecided
from lth.theory.dense import _pool_blocks
from lth.theory.dense_bounds import bound_proven_units_per_input
from lth.registry import Context, get_claim, run_claim

widths_strategy = st.lists(st.integers(1, 6), min_size=2, max_size=4)


def _small_ticket(seed: int, widths: list[int], bias: bool = False, device: torch.device = torch.device("cpu")):
    target = random_target(widths, torch.Generator(device=device).manual_seed(seed), bias=bias)
    net, ticket = build_ticket(target, 0.05, 0.05, seed=seed, device=device, c=1.0)
    return target, net, ticket


def _masked_forward(ticket, x: torch.Tensor) -> torch.Tensor:
    """The masked random network computed directly from weights and masks (no Sequential)."""
    if ticket.has_bias:
        x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)], dim=1)
    weights = ticket.masked_weights()
    for i, w in enumerate(weights):
        x = x @ w.T
        if i < len(weights) - 1:
            x = torch.relu(x)
    return x


@given(seed=st.integers(0, 10**6), widths=widths_strategy, bias=st.booleans())
def test_masks_keep_one_input_per_used_hidden_unit_and_none_for_unused(seed, widths, bias):
    _, net, ticket = _small_ticket(seed, widths, bias)
    for weight, mask in zip(net.weights, ticket.masks):
        assert mask.dtype == torch.bool and mask.shape == weight.shape
    for first, second in zip(ticket.masks[::2], ticket.masks[1::2]):
        # the proof's form: a hidden unit keeps one input weight exactly when some output reads it
        assert torch.equal(first.sum(1), second.any(0).long())


@given(seed=st.integers(0, 10**6), widths=widths_strategy, bias=st.booleans())
def test_kept_weights_of_the_sequential_equal_the_random_weights_bit_for_bit(seed, widths, bias):
    _, net, ticket = _small_ticket(seed, widths, bias)
    linears = [m for m in ticket.sequential() if isinstance(m, torch.nn.Linear)]
    for i, (layer, weight, mask) in enumerate(zip(linears, net.weights, ticket.masks)):
        stored = torch.cat([layer.weight, layer.bias[:, None]], dim=1) if i == 0 and bias else layer.weight
        assert torch.equal(stored[mask], weight[mask])
        assert not bool(stored[~mask].any())


@given(seed=st.integers(0, 10**6), widths=widths_strategy, bias=st.booleans())
def test_the_sequential_computes_the_masked_random_network(seed, widths, bias):
    _, _, ticket = _small_ticket(seed, widths, bias)
    x = torch.randn(16, widths[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(ticket.sequential()(x), _masked_forward(ticket, x), rtol=0, atol=1e-12)


@given(seed=st.integers(0, 10**6), widths=widths_strategy, bias=st.booleans())
def test_the_certificate_is_at_least_the_error_at_every_sampled_input(seed, widths, bias):
    target, _, ticket = _small_ticket(seed, widths, bias)
    certified = certify_sup_error(target, ticket, Domain("ball")).value
    found = search_sup_error(target, ticket, Domain("ball"), restarts=4, steps=10, samples=256, seed=seed)
    assert found.error <= certified + 1e-12
    assert float(found.x.norm()) <= 1 + 1e-12


def test_the_ticket_runs_on_the_requested_device(device):
    target, net, ticket = _small_ticket(0, [3, 4, 2], True, device)
    assert all(w.device.type == device.type for w in net.weights)
    assert math.isfinite(certify_sup_error(target, ticket, Domain("ball")).value)


@given(seed=st.integers(0, 10**6))
def test_the_same_seed_gives_the_same_random_network(seed):
    a = construct_random_network([3, 4, 2], [6, 6], seed)
    b = construct_random_network([3, 4, 2], [6, 6], seed)
    assert all(torch.equal(x, y) for x, y in zip(a.weights, b.weights))


@given(seed=st.integers(0, 10**6), widths=widths_strategy, bias=st.booleans())
def test_rescaling_round_trips(seed, widths, bias):
    gen = torch.Generator().manual_seed(seed)
    target = random_target(widths, gen, norm=3.0, bias=bias)
    scaled, factor = rescale(target)
    check_norms(scaled)
    x = torch.randn(8, widths[0], generator=gen, dtype=torch.float64)
    assert torch.allclose(scaled(x) / factor, target(x), rtol=1e-10, atol=1e-12)


def test_a_target_violating_the_norm_hypothesis_is_refused_with_a_rescaling_hint():
    target = random_target([3, 3], torch.Generator().manual_seed(0), norm=2.0)
    with pytest.raises(ValueError, match="rescale"):
        check_norms(target)


@pytest.mark.parametrize("eps", [0.0, 1.0, -0.5, 2.0])
def test_eps_outside_the_unit_interval_is_refused(eps):
    with pytest.raises(ValueError, match="eps"):
        bound_units_per_input(3, 3, 1, eps, 0.1)


def test_non_finite_weights_are_refused():
    w = torch.ones(2, 2, dtype=torch.float64)
    w[1, 0] = math.inf
    with pytest.raises(ValueError, match="non-finite"):
        Target([w], [None])


def test_a_unit_reading_two_inputs_voids_the_certificate():
    target, _, ticket = _small_ticket(1, [3, 4, 2])
    kept = torch.nonzero(ticket.masks[0])[0]
    ticket.masks[0][kept[0], (kept[1] + 1) % 3] = True
    assert certify_sup_error(target, ticket, Domain("ball")).value == math.inf


def test_the_box_certificate_covers_the_error_at_sampled_points_of_the_box():
    target, _, ticket = _small_ticket(2, [4, 5, 3], bias=True)
    box = Domain("box", lo=(0.0,) * 4, hi=(1.0,) * 4)
    certified = certify_sup_error(target, ticket, box).value
    assert search_sup_error(target, ticket, box, restarts=4, steps=10, samples=256).error <= certified + 1e-12


@pytest.mark.claim("slth.dense.layer")
def test_layer_check_holds_at_quick_scale():
    record = run_claim("slth.dense.layer", d_in=12, d_out=8, steps=20)
    assert record.verdict == "holds", record.reason


@pytest.mark.claim("slth.dense.layer")
def test_layer_check_fails_with_too_few_random_units():
    record = run_claim("slth.dense.layer", d_in=12, d_out=8, fan_out=4, steps=20)
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("slth.dense.layer")
def test_layer_check_fails_when_a_kept_mask_entry_is_flipped():
    record = run_claim("slth.dense.layer", d_in=12, d_out=8, steps=20, faults={"flip": 1})
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("slth.dense.network")
def test_network_check_holds_at_the_proven_width():
    record = run_claim("slth.dense.network", targets=((8, 6, 4),), steps=10)
    assert record.verdict == "holds", record.reason
    instance = record.details["instances"][0]
    assert instance["empirical"] <= instance["certified"] <= instance["eps"]
    assert instance["proven_units"] == bound_proven_units_per_input([8, 6, 4], 0.01, 0.01)


@pytest.mark.claim("slth.dense.network")
def test_network_check_fails_with_too_few_random_units():
    record = run_claim("slth.dense.network", targets=((8, 6, 4),), fan_out=6, steps=10)
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("slth.dense.network")
def test_network_check_fails_when_kept_mask_entries_are_flipped():
    record = run_claim("slth.dense.network", targets=((8, 6, 4),), faults={"flip": 1}, steps=10)
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("slth.dense.rule")
def test_the_rule_check_is_not_refuted_by_a_small_sample_of_draws_and_decides_undecided_cells_on_fresh_ones():
    """10 failure-free draws cannot decide δ = 0.1, so each cell gets its stage 2 of fresh draws."""
    record = run_claim("slth.dense.rule", draws=10, followup_draws=12, c_values=(), eps_sweep=(0.1,), steps=10)
    assert record.verdict in ("holds", "inconclusive"), record.reason
    assert [c["trials"] for c in record.details["rate_cells"]] == [10, 10, 12, 12]
    assert record.details["test_level"] == pytest.approx(1 - 0.05 / 4)
    assert "stage 2 (12 fresh draws)" in record.reason
    for cell in record.details["cells"]:
        assert cell["followup"]["name"] == cell["name"] + " (stage 2)"
        assert cell["followup"]["median_certified"] != cell["median_certified"]  # other draws, not a repeat


@pytest.mark.claim("slth.dense.rule")
def test_the_rule_check_fails_at_a_constant_far_below_the_measured_one():
    record = run_claim("slth.dense.rule", draws=20, c=1.0, c_values=(), eps_sweep=(0.1,), steps=10)
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("slth.dense.rule")
def test_rule_cells_fail_on_a_high_failure_count_or_a_certificate_below_a_sampled_error():
    sound = {"name": "a", "failures": 0, "draws": 200, "delta": 0.1, "searched": {"empirical": 0.1, "certified": 0.2}}
    # per-test level 0.95: one cell, one stage
    assert judge_cells([sound], 0.95)[0] == "holds"
    assert judge_cells([{**sound, "failures": 60}], 0.95)[0] == "fails"
    assert judge_cells([{**sound, "failures": 18}], 0.95)[0] == "inconclusive"
    assert judge_cells([{**sound, "searched": {"empirical": 0.3, "certified": 0.2}}], 0.95)[0] == "fails"


@pytest.mark.claim("slth.dense.rule")
@pytest.mark.parametrize("scale", ["quick", "full"])
def test_the_rule_can_hold_at_its_scale_when_no_draw_fails(scale):
    """A failure-free run must be able to hold: at full scale 500 draws per δ = 0.01 cell could not."""
    p = get_claim("slth.dense.rule").parameters(scale)
    cells = [{"name": f"{w} {case}", "failures": 0, "draws": p.draws, "delta": case[1], "searched": None}
             for case in p.cases for w in p.targets]
    if p.digits_draws:
        cells.append({"name": "digits", "failures": 0, "draws": p.digits_draws, "delta": p.digits_delta,
                      "searched": None})
    level = per_test_level(len(cells), p.confidence, p.followup_draws > 0)
    assert judge_cells(cells, level)[0] == "holds"
    assert undecided(cells, level) == []
    if scale == "full":
        assert judge_cells([{**c, "draws": 500} for c in cells], level)[0] == "inconclusive"


@pytest.mark.claim("slth.dense.rule")
def test_a_cell_left_inconclusive_by_stage_one_takes_the_verdict_of_its_fresh_draws_alone():
    """The full record's undecided cell (1 failure in 700 at δ = 0.01): 2,000 fresh draws hold with up to
    7 failures and fail from 36 (RULE_PROTOCOL); a failure-free stage 1 never runs stage 2."""
    p = get_claim("slth.dense.rule").parameters("full")
    level = per_test_level(10, p.confidence, True)
    first = {"name": "c", "failures": 1, "draws": p.draws, "delta": 0.01, "searched": None}
    assert undecided([first, {**first, "failures": 0}], level) == [0]
    assert judge_cells([first], level)[0] == "inconclusive"
    second = {"name": "c (stage 2)", "failures": 7, "draws": p.followup_draws, "delta": 0.01}
    assert judge_cells([{**first, "followup": second}], level)[0] == "holds"
    assert judge_cells([{**first, "followup": {**second, "failures": 8}}], level)[0] == "inconclusive"
    assert judge_cells([{**first, "followup": {**second, "failures": 36}}], level)[0] == "fails"
    # Bonferroni over both stages: the per-test level is stricter than one stage's
    assert per_test_level(10, 0.95, True) == pytest.approx(0.9975) and per_test_level(10, 0.95, False) == pytest.approx(0.995)


def test_stage_two_draws_never_share_a_stream_with_stage_one():
    p = get_claim("slth.dense.rule").parameters("full")
    ctx = Context(device=torch.device("cpu"), seed=0, progress=False, faults=DenseFaults())
    cells = [RuleCell(i, (8, 6, 4), False, 0.1, 0.1, 3.0, True, 700) for i in range(12)]

    def streams(cells):
        return [s for task in rule_tasks(cells, p, ctx) for s in task.args[6]]

    first, second = streams(cells), streams([c.followup(2000) for c in cells])
    assert len(set(first)) == 12 * 700 and len(set(second)) == 12 * 2000 and not set(first) & set(second)
    assert all(c.followup(2000).stage == 2 and not c.followup(2000).search_first for c in cells)


@pytest.mark.parametrize("domain", [Domain("ball"), Domain("box", lo=(-1.0,) * 8, hi=(1.0,) * 8)])
def test_a_ticket_for_non_negative_inputs_is_refused_on_a_domain_with_negative_inputs(domain):
    target = random_target([8, 6, 4], torch.Generator().manual_seed(0))
    _, ticket = build_ticket(target, 0.01, 0.01, seed=0, signed_input=False)
    found = search_sup_error(target, ticket, domain, restarts=4, steps=10, samples=256)
    assert found.error > 0.1  # what the certificate used to miss (it said 8.5e-4)
    with pytest.raises(ValueError, match="signed_input"):
        certify_sup_error(target, ticket, domain)


def test_a_ticket_for_non_negative_inputs_is_certified_on_a_non_negative_box():
    target = random_target([8, 6, 4], torch.Generator().manual_seed(0))
    _, ticket = build_ticket(target, 0.01, 0.01, seed=0, signed_input=False)
    box = Domain("box", lo=(0.0,) * 8, hi=(1.0,) * 8)
    found = search_sup_error(target, ticket, box, restarts=4, steps=10, samples=256)
    assert found.error <= certify_sup_error(target, ticket, box).value


@given(seed=st.integers(0, 10**6))
def test_the_retry_pass_never_makes_a_weight_error_larger(seed):
    target = random_target([6, 5, 3], torch.Generator().manual_seed(seed))
    units = [24, 24]
    _, plain = build_ticket(target, 0.05, 0.05, seed=seed, units_per_input=units, pool_cap=6)
    _, retried = build_ticket(target, 0.05, 0.05, seed=seed, units_per_input=units, pool_cap=6, retry_cap=12)
    for a, b in zip(realised_layers(target, plain), realised_layers(target, retried)):
        assert (b.err_pos.abs() <= a.err_pos.abs()).all() and (b.err_neg.abs() <= a.err_neg.abs()).all()


@given(seed=st.integers(0, 10**6), cap=st.integers(2, 6))
def test_pool_blocks_partition_each_inputs_usable_units_in_index_order(seed, cap):
    usable = torch.rand(5, 17, generator=torch.Generator().manual_seed(seed)) > 0.4
    blocks = _pool_blocks(usable, cap)
    stacked = torch.stack(blocks) if blocks else torch.zeros(0, 5, 17, dtype=torch.bool)
    assert torch.equal(stacked.sum(0) if blocks else torch.zeros(5, 17, dtype=torch.long), usable.long())
    assert all(int(b.sum(1).max()) <= cap for b in blocks)
    for earlier, later in zip(blocks, blocks[1:]):
        for j in range(5):  # every unit of an earlier block precedes every unit of a later one
            if earlier[j].any() and later[j].any():
                assert earlier[j].nonzero().max() < later[j].nonzero().min()


@given(seed=st.integers(0, 10**6))
def test_the_block_rule_meets_its_tolerance_where_the_largest_rule_clusters(seed):
    """At a width far above the pool cap the largest products are all near ±1 and their subset sums
    cluster near integers; value-independent blocks reach every weight within the tolerance."""
    target = random_target([4, 3], torch.Generator().manual_seed(seed))
    tolerance = 1e-3
    _, ticket = build_ticket(target, 0.01, 0.01, seed=seed, units_per_input=[400], pool_cap=12, pool_rule="blocks",
                             pool_tolerance=[tolerance])
    layer = realised_layers(target, ticket)[0]
    assert float(torch.maximum(layer.err_pos.abs(), layer.err_neg.abs()).max()) <= tolerance
