"""Strong tickets in multi-head attention: masks, exact merged maps, the softmax lemma, certificates, checks."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import math

from lth.theory.attention import (MHA, bound_proposition, bound_proven_units, bound_weight_accuracy, build_ticket,
                              certify_sup_error, check_target, construct_source, construct_ticket, random_target,
                              realised_errors, restrict_units, search_sup_error, sequence_error)
from lth.theory.dense import build_ticket as build_dense
from lth.theory.device import generator
from lth.theory.transformer import BlockTicket, bound_budget, certify_block, random_block, search_block
from lth.claims.slth_attention import _rate, prune_largest_kept
from lth.registry import run_claim

CPU = torch.device("cpu")
shapes = st.tuples(st.integers(0, 10**6), st.integers(1, 4), st.integers(1, 3), st.integers(1, 6))


def small_ticket(seed: int, dim: int, heads: int, units: int, device: torch.device = CPU):
    """A target with d_k = d_v = 2 and its ticket at ``units`` per input (far below the proven width)."""
    target = random_target(dim, heads, 2, 2, generator(seed, device))
    source, ticket = build_ticket(target, 0.1, 0.1, 1.0, seed=seed + 1, device=device, units=(units, units))
    return target, source, ticket


def tokens(seed: int, batch: int, length: int, dim: int, radius: float, device: torch.device = CPU):
    x = torch.randn(batch, length, dim, generator=generator(seed, device), device=device, dtype=torch.float64)
    return x * (radius / x.norm(dim=-1, keepdim=True))


def mp_mha(mha: MHA, x: torch.Tensor, causal: bool = False) -> list[list[mpmath.mpf]]:
    """The MHA on one sequence ``x`` ``[T, d]`` in 50-digit arithmetic, loops only (no shared code)."""
    mpmath.mp.dps = 50
    q, k, v, o = ([[[mpmath.mpf(float(e)) for e in row] for row in head] for head in w.tolist()]
                  for w in (mha.query, mha.key, mha.value, mha.output))
    xs = [[mpmath.mpf(e) for e in row] for row in x.tolist()]
    length, dim = len(xs), len(xs[0])

    def apply(w, vec):
        return [mpmath.fsum(wr[c] * vec[c] for c in range(len(vec))) for wr in w]

    out = [[mpmath.mpf(0)] * dim for _ in range(length)]
    for h in range(len(q)):
        qs, ks, vs = ([apply(w[h], xj) for xj in xs] for w in (q, k, v))
        for i in range(length):
            keys = range(i + 1) if causal else range(length)
            s = [mpmath.mpf(mha.scale) * mpmath.fsum(a * b for a, b in zip(qs[i], ks[j])) for j in keys]
            top = max(s)
            w = [mpmath.exp(e - top) for e in s]
            total = mpmath.fsum(w)
            mix = [mpmath.fsum(w[n] / total * vs[j][c] for n, j in enumerate(keys)) for c in range(len(vs[0]))]
            y = apply(o[h], mix)
            out[i] = [a + b for a, b in zip(out[i], y)]
    return out


def mp_error(target: MHA, ticket_mha: MHA, x: torch.Tensor, causal: bool = False) -> mpmath.mpf:
    y, z = mp_mha(target, x, causal), mp_mha(ticket_mha, x, causal)
    return max(mpmath.sqrt(mpmath.fsum((a - b) ** 2 for a, b in zip(yi, zi))) for yi, zi in zip(y, z))


@given(shapes, st.booleans())
def test_the_float64_forward_agrees_with_a_50_digit_evaluation(shape, causal):
    seed, dim, heads, units = shape
    target, _, ticket = small_ticket(seed, dim, heads, units)
    x = tokens(seed + 2, 1, 3, dim, 1.5)
    for mha in (target, ticket.pruned()):
        exact = mp_mha(mha, x[0], causal)
        got = mha(x, causal)[0]
        assert max(abs(float(a) - b) for row, grow in zip(exact, got.tolist()) for a, b in zip(row, grow)) < 1e-12


@given(shapes)
def test_the_error_enclosures_contain_the_exact_rational_merged_maps(shape):
    seed, dim, heads, units = shape
    target, _, ticket = small_ticket(seed, dim, heads, units)
    errors = realised_errors(target, ticket)
    pruned = ticket.pruned()

    def exact(first, second, scale):  # first [H, n, a], second [H, n, b] → scale · first[h]^T second[h], exact
        f, s = first.tolist(), second.tolist()
        return [[[Fraction(scale) * sum(Fraction(f[h][n][i]) * Fraction(s[h][n][j]) for n in range(len(f[h])))
                  for j in range(len(s[h][0]))] for i in range(len(f[h][0]))] for h in range(len(f))]

    a = exact(target.query, target.key, target.scale)
    at = exact(pruned.query, pruned.key, 1.0)
    b = exact(target.value, target.output.transpose(1, 2), 1.0)  # B^T: [H, j, r]
    bt = exact(pruned.value, pruned.output.transpose(1, 2), 1.0)
    for h in range(heads):
        for i in range(dim):
            for j in range(dim):
                for true, mid, slack in ((at[h][i][j] - a[h][i][j], errors["score_error"], errors["score_slack"]),
                                         (bt[h][j][i] - b[h][j][i], errors["value_error"], errors["value_slack"])):
                    assert abs(true - Fraction(float(mid[h, i, j]))) <= Fraction(float(slack[h, i, j]))


@given(shapes)
def test_key_and_value_units_keep_one_entry_at_their_own_coordinate_exactly_when_used(shape):
    seed, dim, heads, units = shape
    _, source, ticket = small_ticket(seed, dim, heads, units)
    mask_q, mask_k, mask_v, mask_o = ticket.masks
    unit = torch.arange(units * dim)
    for mask, used in ((mask_k, mask_q.any(2)), (mask_v, mask_o.any(1))):
        assert torch.equal(mask.sum(2), used.long())
        assert bool(mask[:, unit, unit // units].eq(used).all())


@given(shapes)
def test_each_realised_merged_entry_is_the_subset_sum_the_solver_chose(shape):
    seed, dim, heads, units = shape
    target, source, ticket = small_ticket(seed, dim, heads, units)
    a = source.key.reshape(heads, dim, units, dim).diagonal(dim1=1, dim2=3).transpose(1, 2)  # [H, j, t]
    chosen = ticket.masks[0].reshape(heads, dim, units, dim)  # [H, j, t, i]
    sums = (source.query.reshape(heads, dim, units, dim) * a[..., None] * chosen).sum(2)  # [H, j, i]
    merged = ticket.pruned().query.transpose(1, 2) @ ticket.pruned().key  # [H, i, j]
    assert torch.allclose(sums.transpose(1, 2), merged, atol=1e-12)


@given(shapes)
def test_the_compact_ticket_computes_the_pruned_function(shape):
    seed, dim, heads, units = shape
    _, _, ticket = small_ticket(seed, dim, heads, units)
    x = tokens(seed + 3, 4, 5, dim, 2.0)
    assert torch.allclose(ticket.pruned()(x), ticket.compact()(x), atol=1e-12)


@given(arrays("float64", st.integers(1, 12), elements=st.floats(-20, 20)),
       arrays("float64", 12, elements=st.floats(-3, 3)))
def test_softmax_moves_by_at_most_half_the_oscillation_of_the_score_change_in_l1(s, e):
    s, e = torch.from_numpy(s), torch.from_numpy(e[: len(s)])
    moved = (torch.softmax(s, 0) - torch.softmax(s + e, 0)).abs().sum()
    assert float(moved) <= min(2.0, float(e.max() - e.min()) / 2) + 1e-12


@given(shapes, st.booleans())
def test_the_certificate_bounds_the_50_digit_error_on_random_and_searched_sequences(shape, causal):
    seed, dim, heads, units = shape
    target, _, ticket = small_ticket(seed, dim, heads, units)
    bound = certify_sup_error(target, ticket, 1.5).value
    witness = search_sup_error(target, ticket, 1.5, 3, restarts=2, steps=10, samples=16, seed=seed, causal=causal)
    for x in (tokens(seed + 4, 1, 3, dim, 1.5)[0], witness.x):
        assert float(mp_error(target, ticket.pruned(), x, causal)) <= bound
    assert witness.error <= bound


def test_a_single_token_reduces_the_error_to_the_value_maps():
    target, _, ticket = small_ticket(5, 3, 2, 4)
    x = tokens(6, 32, 1, 3, 1.0)
    errors = realised_errors(target, ticket)
    direct = torch.einsum("hrj,btj->btr", errors["value_error"], x).norm(dim=-1)[:, 0]
    assert torch.allclose(sequence_error(target, ticket.pruned(), x), direct, atol=1e-12)


@pytest.mark.claim("slth.attention.mha")
def test_the_proven_units_grow_like_the_log_of_one_over_eps_and_meet_the_accuracies():
    low, high = bound_proven_units(8, 2, 2.0, 1e-2, 1e-2), bound_proven_units(8, 2, 2.0, 1e-4, 1e-4)
    assert high[0] > low[0] and high[1] > low[1]
    alpha_k, alpha_v = bound_weight_accuracy(8, 2, 2.0, 0.01)
    assert abs(2 * (2.0**3 * 8 * alpha_k + 2.0 * 8 * alpha_v) - 0.01) < 1e-15  # Lemma A2 spends exactly ε


@pytest.mark.claim("slth.attention.mha")
def test_the_ticket_at_the_proven_width_is_certified_within_eps_on_cpu_and_cuda(device):
    target = random_target(4, 2, 2, 2, generator(11, device))
    _, ticket = build_ticket(target, 0.05, 0.05, 1.0, seed=12, device=device)
    cert = certify_sup_error(target, ticket, 1.0)
    assert cert.value <= 0.05
    assert search_sup_error(target, ticket, 1.0, 4, restarts=4, steps=20, samples=64).error <= cert.value


@pytest.mark.claim("slth.attention.mha")
def test_the_check_holds_at_quick_scale():
    record = run_claim("slth.attention.mha", device="cpu")
    assert record.verdict == "holds", record.reason
    for instance in record.details["instances"]:
        assert instance["empirical"] <= instance["certified"] <= instance["eps"]


@pytest.mark.claim("slth.attention.mha")
@pytest.mark.parametrize("faults", [{"prune_query": 1}, {"prune_output": 1}])
def test_a_ticket_with_its_largest_kept_entry_pruned_fails(faults):
    record = run_claim("slth.attention.mha", device="cpu", draws=1, faults=faults)
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("slth.attention.mha")
def test_too_few_units_per_input_fail():
    record = run_claim("slth.attention.mha", device="cpu", draws=1, units=2)
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("slth.attention.mha")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_theorem_holds_for_the_draw_at_other_seeds(seed):
    record = run_claim("slth.attention.mha", device="cpu", seed=seed, draws=1)
    assert record.verdict == "holds", record.reason


def test_pruning_a_kept_entry_never_lowers_the_certificate_below_the_search():
    target, _, ticket = small_ticket(7, 3, 2, 6)
    prune_largest_kept(ticket, "query", 2)
    cert = certify_sup_error(target, ticket, 2.0).value
    assert search_sup_error(target, ticket, 2.0, 4, restarts=4, steps=30, samples=64).error <= cert


def test_a_target_outside_the_hypotheses_is_refused():
    target = random_target(3, 1, 2, 2, generator(0, CPU), norm=2.0)
    with pytest.raises(ValueError, match="in \\[−1, 1\\]|‖"):
        check_target(target)
    with pytest.raises(ValueError, match="radius"):
        certify_sup_error(*small_ticket(0, 3, 1, 2)[::2], -1.0)


def test_mismatched_shapes_are_refused():
    source = construct_source(3, 2, 4, 4, 0)
    with pytest.raises(ValueError, match="heads"):
        construct_ticket(random_target(3, 1, 2, 2, generator(0, CPU)), source, 4, 4)
    with pytest.raises(ValueError, match="shape"):
        MHA(source.query, source.key[:, :-1], source.value, source.output, 1.0)


def test_a_restricted_source_keeps_the_first_units_of_every_coordinate_and_nests():
    source = construct_source(3, 2, 5, 5, 0)
    small = restrict_units(source, 5, 5, 2)
    assert small.query.shape == (2, 6, 3) and small.output.shape == (2, 3, 6)
    for j in range(3):
        assert torch.equal(small.query[:, 2 * j: 2 * j + 2], source.query[:, 5 * j: 5 * j + 2])
        assert torch.equal(small.output[:, :, 2 * j: 2 * j + 2], source.output[:, :, 5 * j: 5 * j + 2])
    assert torch.equal(restrict_units(small, 2, 2, 1).key, restrict_units(source, 5, 5, 1).key)


@given(st.floats(0.05, 2.0), st.floats(-3, 3), st.lists(st.floats(-0.05, 0.05), min_size=6, max_size=6))
def test_the_fitted_rate_recovers_a_known_exponential_decay_past_the_plateau(rate, offset, noise):
    units = [2, 4, 6, 8, 10, 12, 14]
    values = [10.0] + [math.exp(offset - rate * m + e) for m, e in zip(units[1:], noise)]
    values[0] = max(values[0], 20 * max(values[1:]))  # a plateau point, left out of the fit
    rows = [{"units": m, "v": v} for m, v in zip(units, values)]
    # least squares moves the slope by Σ(x−x̄)e/Σ(x−x̄)² ≤ 0.05·18/70 over x = 4, …, 14 with |e| ≤ 0.05
    assert abs(_rate(rows, "v", "units") - rate) <= 0.05 * 18 / 70 + 1e-9


def test_the_proposition_with_stacked_norms_never_exceeds_the_per_head_form():
    per_head, _ = bound_proposition(2.0, [0.01, 0.02], [0.03, 0.01], [1.0, 0.5])
    both, parts = bound_proposition(2.0, [0.01, 0.02], [0.03, 0.01], [1.0, 0.5], 1.1, 0.031)
    assert both <= per_head and parts["score_part"] == min(parts["score_part_per_head"], parts["score_part_stacked"])


WIDTH_SMALL = {"dim": 4, "heads": 1, "d_k": 2, "d_v": 2, "length": 4, "sweep": (4, 8, 12, 16, 20), "draws": 2,
               "restarts": 2, "steps": 10, "samples": 16}


@pytest.mark.claim("slth.attention.width")
def test_the_width_sweep_holds_and_its_attention_error_falls_with_the_hidden_dimension():
    record = run_claim("slth.attention.width", device="cpu", **WIDTH_SMALL)
    assert record.verdict == "holds", record.reason
    table = record.details["table"]
    assert max(table["measured_units"]) <= min(table["proven_units"])
    for draw in range(2):
        errors = [r["certified"] for r in record.details["rows"] if r["draw"] == draw]
        assert errors[-1] < errors[0]
        assert all(r["empirical"] <= r["certified"] for r in record.details["rows"])


@pytest.mark.claim("slth.attention.width")
def test_the_width_sweep_fails_on_a_broken_ticket():
    record = run_claim("slth.attention.width", device="cpu", faults={"prune_output": 1}, **WIDTH_SMALL)
    assert record.verdict == "fails", record.reason


def small_block(seed: int, dim: int, heads: int, units: int):
    """A target block (d_k = d_v = 2, d_ff = 2d) and its ticket at ``units`` per input in both sub-layers."""
    target = random_block(dim, heads, 2, 2, 2 * dim, generator(seed, CPU))
    _, attention = build_ticket(target.attention, 0.1, 0.1, 1.0, seed=seed + 1, units=(units, units))
    _, mlp = build_dense(target.mlp, 0.1, 0.1, seed=seed + 2, units_per_input=[units, units])
    return target, BlockTicket(attention, mlp)


def mp_block(target, x: torch.Tensor) -> list[list[mpmath.mpf]]:
    """The block on one sequence in 50-digit arithmetic: z = x + MHA(x), z + W2 relu(W1 z) per token."""
    attended = mp_mha(target.attention, x)
    z = [[mpmath.mpf(a) + b for a, b in zip(row, att)] for row, att in zip(x.tolist(), attended)]
    w1, w2 = ([[mpmath.mpf(e) for e in row] for row in w.tolist()] for w in target.mlp.weights)
    out = []
    for zi in z:
        hidden = [max(mpmath.fsum(a * b for a, b in zip(row, zi)), 0) for row in w1]
        out.append([a + mpmath.fsum(c * h for c, h in zip(row, hidden)) for a, row in zip(zi, w2)])
    return out


@given(shapes)
def test_the_block_certificate_bounds_the_50_digit_error_on_random_and_searched_sequences(shape):
    seed, dim, heads, units = shape
    target, ticket = small_block(seed, dim, heads, units)
    bound = certify_block(target, ticket, 1.5).value
    witness = search_block(target, ticket, 1.5, 3, restarts=2, steps=10, samples=16, seed=seed)
    pruned_mha, mlp = ticket.attention.pruned(), ticket.mlp.sequential()
    for x in (tokens(seed + 4, 1, 3, dim, 1.5)[0], witness.x):
        exact = mp_block(target, x)
        z = x[None] + pruned_mha(x[None])
        got = (z + mlp(z[0])[None])[0]
        assert max(mpmath.sqrt(mpmath.fsum((a - b) ** 2 for a, b in zip(e, g))) for e, g in
                   zip(exact, got.tolist())) <= bound + 1e-12  # float64 evaluation of the ticket side
    assert witness.error <= bound


def test_the_block_budget_spends_exactly_eps_when_the_mlp_is_1_lipschitz():
    b = bound_budget(4, 2.0, 0.01)
    assert abs(b["eps_attention"] * 2 + b["reach"] * b["eps_mlp"] - 0.01) < 1e-15
    assert b["reach"] == 2.0 * 5 + 0.0025


@pytest.mark.claim("slth.transformer.block")
def test_the_block_check_holds_at_quick_scale():
    record = run_claim("slth.transformer.block", device="cpu", draws=1)
    assert record.verdict == "holds", record.reason
    (instance,) = record.details["instances"]
    assert instance["empirical"] <= instance["certified"] <= instance["eps"]


@pytest.mark.claim("slth.transformer.block")
@pytest.mark.parametrize("faults", [{"prune_query": 1}, {"flip_mlp": 1}])
def test_a_block_ticket_with_a_largest_kept_entry_pruned_fails(faults):
    record = run_claim("slth.transformer.block", device="cpu", draws=1, faults=faults)
    assert record.verdict == "fails", record.reason
