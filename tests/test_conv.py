"""Strong LTH for CNNs: the collapse identity, the exact box supremum, certificates, and the checks."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lth.theory.conv import (BLOCK_WIDTH, LayerTicket, TargetLayer, NetworkTicket, bound_proven_channels, certify_layer,
                         collapse, collapsed_magnitude, certify_network, check_layer_norms,
                         choose_subsets, construct_cnn_ticket, construct_layer, construct_network, conv,
                         flatten_specs, kernel_pools, search_max_error, sup_linear_error, target_forward,
                         ticket_sequential)
from lth.commands.ticket import layers_from_state, ticket_summary
from lth.theory.device import generator
from lth.registry import run_claim
from lth.theory.numerics import gamma
from lth.theory.subset_sum import best_subsets, sample_product, sample_uniform

CPU = torch.device("cpu")


def random_spec(seed: int, m: int, c: int, d: int, padding: str, relu: bool = True) -> TargetLayer:
    k = sample_uniform((m, c, d, d), generator(seed, CPU))
    return TargetLayer(k / k.abs().sum(dim=(1, 2, 3), keepdim=True), padding, relu)


layer_shapes = st.tuples(st.integers(0, 10**6), st.integers(1, 3), st.integers(1, 3), st.sampled_from([1, 3]),
                         st.sampled_from(["valid", "same"]), st.integers(1, 8))


@given(layer_shapes)
def test_collapsed_kernel_equals_the_two_layer_pruned_computation_on_non_negative_inputs(shape):
    seed, m, c, d, padding, n = shape
    ticket = construct_layer(random_spec(seed, m, c, d, padding), n, generator(seed + 1, CPU))
    x = torch.rand(3, c, 5, 5, generator=generator(seed + 2, CPU), dtype=torch.float64)
    assert torch.allclose(ticket.forward(x), conv(x, ticket.collapsed, ticket.target.pad), atol=1e-12)


# (channels, map size, kernel size, padding): every combination the formula supports (odd kernels for
# "same", kernel no larger than the map), small enough to enumerate all 2^(c·size²) box vertices
VERTEX_CASES = [(1, 3, 3, "valid"), (1, 3, 3, "same"), (1, 3, 2, "valid"), (2, 2, 1, "valid"), (2, 2, 1, "same"),
                (1, 4, 3, "same"), (2, 2, 2, "valid")]


@given(st.integers(0, 10**6), st.sampled_from(VERTEX_CASES))
def test_exact_sup_formula_matches_brute_force_over_all_vertices_of_the_box(seed, case):
    c, size, d, padding = case
    error = sample_uniform((2, c, d, d), generator(seed, CPU))
    pad = (d - 1) // 2 if padding == "same" else 0
    vertices = torch.tensor(list(itertools.product([0.0, 1.0], repeat=c * size * size)), dtype=torch.float64)
    brute = conv(vertices.reshape(-1, c, size, size), error, pad).abs().max()
    assert torch.isclose(sup_linear_error(error, pad, size).max(), brute, atol=1e-12)


@given(layer_shapes)
def test_layer_certificate_bounds_the_error_at_sampled_inputs(shape):
    seed, m, c, d, padding, n = shape
    spec = random_spec(seed, m, c, d, padding)
    ticket = construct_layer(spec, n, generator(seed + 1, CPU))
    x = torch.rand(64, c, 4, 4, generator=generator(seed + 2, CPU), dtype=torch.float64)
    x[:8] = (x[:8] > 0.5).to(torch.float64)  # some vertices too
    error = (conv(x, spec.weight, spec.pad) - ticket.forward(x)).abs().max()
    assert error <= certify_layer(ticket, 4).value


@given(layer_shapes)
def test_kept_weights_are_the_random_weights_and_non_negative(shape):
    seed, m, c, d, padding, n = shape
    ticket = construct_layer(random_spec(seed, m, c, d, padding), n, generator(seed + 1, CPU))
    assert torch.equal((ticket.u * ticket.s)[ticket.s], ticket.u[ticket.s])
    assert bool((ticket.u[ticket.s] >= 0).all())
    blocks = torch.arange(m * n) // n
    live = ticket.s.flatten(1).any(1)
    assert torch.equal(ticket.t[:, :, 0, 0], (blocks[None, :] == torch.arange(m)[:, None]) & live[None, :])


@given(st.integers(0, 10**6), st.integers(1, 14))
def test_compacting_zero_pool_entries_keeps_the_optimal_subset_error(seed, n):
    gen = generator(seed, CPU)
    pools = sample_product((40, n), gen)
    targets = sample_uniform((40,), gen, -0.5, 0.5)
    mask = choose_subsets(pools, targets)
    ours = (targets - (pools * mask).sum(1)).abs()
    assert torch.allclose(ours, best_subsets(pools, targets[:, None]).error[:, 0], atol=1e-12)


@given(st.integers(0, 10**6), st.integers(2, 8))
def test_network_certificate_bounds_the_error_at_sampled_inputs(seed, n):
    specs = [random_spec(seed, 2, 1, 3, "same"), random_spec(seed + 1, 2, 2, 3, "valid", relu=False)]
    gen = generator(seed + 2, CPU)
    layers = [construct_layer(s, n, gen) for s in specs]
    certified = certify_network(layers, 5).value
    x = torch.rand(64, 1, 5, 5, generator=gen, dtype=torch.float64)
    error = (target_forward(specs, x) - NetworkTicket(layers).forward(x)).abs().max()
    assert error <= certified


def test_search_finds_the_exact_sup_of_a_linear_error(device):
    spec = TargetLayer(random_spec(3, 2, 2, 3, "same").weight.to(device), "same")
    ticket = construct_layer(spec, 6, generator(4, device))
    found = search_max_error(lambda x: conv(x, spec.weight, 1), ticket.forward, (2, 5, 5), generator(5, device)).error
    assert found <= certify_layer(ticket, 5).value
    assert found >= 0.99 * certify_layer(ticket, 5).parts["exact"]


def test_inputs_outside_the_unit_box_are_rejected(device):
    spec = TargetLayer(random_spec(0, 2, 1, 3, "same").weight.to(device), "same")
    ticket = NetworkTicket([construct_layer(spec, 6, generator(1, device))])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ticket.forward(-torch.ones(1, 1, 4, 4, dtype=torch.float64, device=device))


def test_norm_hypothesis_violation_is_named_and_rescaling_is_offered():
    spec = TargetLayer(torch.full((1, 1, 3, 3), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match="rescale"):
        check_layer_norms([spec], rescale=False)
    scaled, factor = check_layer_norms([spec], rescale=True)
    assert factor == pytest.approx(4.5) and scaled[0].weight.abs().sum() == pytest.approx(1.0)


def test_unsupported_layers_are_named():
    with pytest.raises(ValueError, match="pool"):
        flatten_specs([("pool", torch.zeros(1, 1, 2, 2), "valid")], (1, 4, 4))
    with pytest.raises(ValueError, match="odd"):
        TargetLayer(torch.zeros(1, 1, 2, 2), "same")
    with pytest.raises(ValueError, match="non-finite"):
        TargetLayer(torch.full((1, 1, 3, 3), float("nan")))
    with pytest.raises(ValueError, match="eps"):
        construct_network([random_spec(0, 1, 1, 3, "same")], 1.5, 4, generator(0, CPU))


def test_cnn_ticket_from_conv_and_linear_layers_is_certified_within_eps(device):
    gen = generator(0, device)
    layers = [("conv", sample_uniform((2, 1, 3, 3), gen), "same"), ("linear", sample_uniform((3, 2 * 4 * 4), gen), "valid")]
    specs, factor = check_layer_norms(flatten_specs(layers, (1, 4, 4)), rescale=True)
    report = construct_cnn_ticket(layers, (1, 4, 4), 0.3 * factor, gen, rescale=True)
    assert report.witness.error <= report.certificate.value <= report.theorem_bound
    assert ticket_summary(report)["holds"] and report.certificate.value <= 0.3 * factor
    x = torch.rand(16, 1, 4, 4, generator=gen, device=device, dtype=torch.float64)
    assert (target_forward(specs, x, factor) - report.ticket.forward(x)).abs().max() <= report.certificate.value
    sequential = ticket_sequential(report.ticket)
    assert torch.allclose(sequential(x.cpu()), report.ticket.forward(x).flatten(1).cpu(), atol=1e-12)


def test_state_dict_layers_refuse_biases_and_count_paddings():
    conv_w, lin_w = torch.zeros(2, 1, 3, 3), torch.zeros(3, 8)
    layers = layers_from_state([("0", conv_w, torch.zeros(2)), ("2", lin_w, None)], ["same"])
    assert [(k, p) for k, _, p in layers] == [("conv", "same"), ("linear", "valid")]
    with pytest.raises(ValueError, match="bias"):
        layers_from_state([("0", conv_w, torch.ones(2))], ["same"])
    with pytest.raises(ValueError, match="paddings"):
        layers_from_state([("0", conv_w, None), ("1", conv_w, None)], ["same", "valid", "same"])


def test_same_seed_gives_the_same_ticket():
    spec = random_spec(0, 2, 2, 3, "same")
    a = construct_layer(spec, 8, generator(1, CPU))
    b = construct_layer(spec, 8, generator(1, CPU))
    assert torch.equal(a.s, b.s) and torch.equal(a.collapsed, b.collapsed)


def test_pool_entries_are_products_with_the_own_block_of_v():
    u, v = sample_uniform((6, 1, 1, 1), generator(0, CPU)), sample_uniform((2, 6, 1, 1), generator(1, CPU))
    pools = kernel_pools(u, v)  # [2, 1, 1, 1, 3]
    assert torch.allclose(pools[1, 0, 0, 0], v[1, 3:, 0, 0] * u[3:, 0, 0, 0].clamp(min=0))


@pytest.mark.claim("slth.conv.kernel")
def test_kernel_check_holds_at_quick_scale():
    record = run_claim("slth.conv.kernel", sweep=(4, 8))
    assert record.verdict == "holds", record.reason


@pytest.mark.claim("slth.conv.kernel")
def test_kernel_check_grows_too_few_channels_and_reports_what_it_used():
    """n = 4 channels do not certify ε; the construction grows toward the proven count instead of failing."""
    record = run_claim("slth.conv.kernel", n=4, sweep=(4,))
    assert record.verdict == "holds", record.reason
    used = [row["n"] for row in record.details["instances"]]
    assert all(n > 4 for n in used) and record.details["measured"]["channels"]["random"] == [used[0]]


@pytest.mark.claim("slth.conv.kernel")
def test_kernel_check_fails_with_a_flipped_mask_entry():
    record = run_claim("slth.conv.kernel", sweep=(4,), faults={"flip_mask": True})
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("slth.conv.layer")
def test_layer_check_fails_with_a_flipped_mask_entry():
    record = run_claim("slth.conv.layer", sweep=(4,), faults={"flip_mask": True})
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("slth.conv.network")
def test_network_check_holds_and_reports_the_trained_ticket():
    record = run_claim("slth.conv.network", eps=0.5, n_max=28, table=(5,))
    assert record.verdict == "holds", record.reason
    lenet = record.details["lenet"]
    assert lenet["agreement"] > 0.5 and lenet["target_accuracy"] > 0.8
    assert all(r["certified"] <= r["theorem_propagation"] for r in record.details["instances"])


@pytest.mark.claim("slth.conv.network")
def test_network_check_fails_with_a_flipped_mask_entry():
    record = run_claim("slth.conv.network", eps=0.5, n_max=28, table=(5,), faults={"flip_mask": True})
    assert record.verdict == "fails", record.reason


def test_a_non_final_layer_without_relu_is_refused_by_construction_and_certificate():
    gen = torch.Generator().manual_seed(0)
    first = TargetLayer(0.1 * sample_uniform((2, 1, 3, 3), gen), "same", relu=False)
    last = TargetLayer(0.1 * sample_uniform((2, 2, 3, 3), gen), "valid", relu=False)
    with pytest.raises(ValueError, match="no ReLU"):
        construct_network([first, last], 0.2, 5, gen)
    tickets = [construct_layer(spec, 8, gen) for spec in (first, last)]
    with pytest.raises(ValueError, match="no ReLU"):
        certify_network(tickets, 5)


@given(seed=st.integers(0, 10**6), width=st.integers(41, 120))
def test_wide_pools_are_solved_in_blocks_no_worse_than_their_first_block(seed, width):
    gen = generator(seed, CPU)
    pools = sample_product((6, width), gen) * (torch.rand(6, width, generator=gen) > 0.3)
    targets = sample_uniform((6,), gen)
    mask = choose_subsets(pools, targets)
    error = ((pools * mask).sum(1) - targets).abs()
    first = torch.zeros_like(mask)
    for row in range(6):  # the first block: the first BLOCK_WIDTH non-zero products in channel order
        columns = torch.nonzero(pools[row]).flatten()[:BLOCK_WIDTH]
        best = best_subsets(pools[row, columns][None], targets[row].reshape(1, 1)).mask[0, 0]
        first[row, columns] = best
    assert (error <= ((pools * first).sum(1) - targets).abs() + 1e-12).all()
    assert not (mask & (pools == 0)).any()


@pytest.mark.claim("slth.conv.network")
def test_a_draw_that_needs_more_channels_than_the_scan_grows_toward_the_proven_count():
    specs = [random_spec(3, 2, 2, 3, "same"), random_spec(4, 2, 2, 3, "valid", relu=False)]
    ticket = construct_network(specs, 0.2, 5, generator(0, CPU), (2, 3))
    eta = 0.2 / 4
    assert all(3 < t.n <= bound_proven_channels(s, eta) for t, s in zip(ticket.layers, specs))
    assert all(certify_layer(t, size).value <= eta for t, size in zip(ticket.layers, (5, 5)))


def _cancelling_ticket(n: int, kept_negative: bool = False) -> LayerTicket:
    """One 1×1 kernel K = 10⁻³ approximated by n channels whose products ±(1 + 2⁻³⁰ t) cancel: L is near 0
    while Σ_t |V_t||U_t| = n·(1 + …), the size the float64 error of L is proportional to."""
    target = TargetLayer(torch.full((1, 1, 1, 1), 1e-3, dtype=torch.float64), "valid")
    t = torch.arange(n, dtype=torch.float64)
    u = (1 + t * 2.0**-30).reshape(n, 1, 1, 1)
    if kept_negative:
        u[0] = -u[0]
    v = torch.where(t % 2 == 0, 1.0, -1.0).to(torch.float64).reshape(1, n, 1, 1)
    s = torch.ones_like(u, dtype=torch.bool)
    mask = torch.ones_like(v, dtype=torch.bool)
    return LayerTicket(u, v, s, mask, target, collapse(u, v, s, mask))


@pytest.mark.claim("slth.conv.network")
def test_the_network_certificate_covers_the_rounding_of_a_cancelling_collapsed_kernel():
    """The rounding of E = L − K is a multiple of Σ_t|V T||U S| + |K| (certify_layer's bound); with
    cancelling products |L| + |K| is far smaller, and a slack built on it would not be rigorous."""
    n = 64
    ticket = _cancelling_ticket(n)
    magnitude = float(collapsed_magnitude(ticket).max())
    assert magnitude > 1000 * (float(ticket.collapsed.abs().max()) + 1e-3)
    exact_error = abs(float(ticket.collapsed.max()) - 1e-3)
    needed = gamma(n + 1 + 3) * magnitude
    assert certify_network([ticket], 1).value >= exact_error + needed
    assert certify_layer(ticket, 1).value >= exact_error + needed


def _float_error_instance(seed: int, n: int = 64) -> tuple[LayerTicket, float, float]:
    """A 1×1 ticket whose computed collapsed kernel L carries a real float64 rounding error r, with the
    target K placed at L_true + 0.9·r: the computed error kernel L − K is then about 0.1·r while the
    true error is about 0.9·r. Returns (ticket, true sup error, computed sup error); "true" is exact
    rational arithmetic on the stored float64 weights (``fractions.Fraction``), independent of the code."""
    g = torch.Generator().manual_seed(seed)
    u = (1 + torch.rand(n, generator=g, dtype=torch.float64)).reshape(n, 1, 1, 1)
    # the first half adds, the second subtracts and the last product cancels the rest: partial sums
    # grow to ~n/2, so each addition rounds at ~n·2^-54, while L itself is ~0
    v = torch.where(torch.arange(n) < n // 2, 1.0, -1.0).to(torch.float64) * (1 + torch.rand(n, generator=g,
                                                                                        dtype=torch.float64))
    v[-1] = -(u[:-1, 0, 0, 0] * v[:-1]).sum() / u[-1, 0, 0, 0]  # L ≈ 0: only the rounding remains
    v = v.reshape(1, n, 1, 1)
    s, mask = torch.ones_like(u, dtype=torch.bool), torch.ones_like(v, dtype=torch.bool)
    computed = float(collapse(u, v, s, mask).reshape(()))
    exact = sum(Fraction(float(a)) * Fraction(float(b)) for a, b in zip(u.reshape(-1), v.reshape(-1)))
    k = float(exact + Fraction(9, 10) * (Fraction(computed) - exact))
    target = TargetLayer(torch.full((1, 1, 1, 1), k, dtype=torch.float64), "valid")
    return (LayerTicket(u, v, s, mask, target, collapse(u, v, s, mask)), float(abs(exact - Fraction(k))),
            abs(computed - k))


@pytest.mark.claim("slth.conv.network")
def test_the_certificates_cover_the_true_error_where_a_slack_on_the_computed_kernel_would_not():
    """The float error of L, recomputed exactly, exceeds a slack built on |L| + |K| (the pre-fix
    certify_network's), so a certificate of |L − K| + γ(|L| + |K|) would lie below the true sup error;
    certify_layer and certify_network, whose slack is a multiple of Σ_t |V T|·|U S| + |K|, cover it."""
    instances = [_float_error_instance(seed) for seed in range(20)]
    wrong = [(t, true, comp) for t, true, comp in instances
             if comp + gamma(t.n + 4) * (abs(float(t.collapsed.reshape(()))) + abs(float(t.target.weight.reshape(()))))
             < true]
    assert len(wrong) == len(instances), "a draw whose rounding error did not break the naive slack"
    for ticket, true, _ in wrong:
        assert certify_layer(ticket, 1).value >= true
        assert certify_network([ticket], 1).value >= true


@pytest.mark.claim("slth.conv.network")
def test_the_network_certificate_refuses_a_kept_negative_u_entry():
    with pytest.raises(ValueError, match="kept U entry is negative"):
        certify_network([_cancelling_ticket(8, kept_negative=True)], 1)
