"""Strong tickets for residual blocks (theory/residual.py, proofs/slth_residual.md)."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lth.registry import run_claim
from lth.theory.dense import Domain, Target, realised_layers
from lth.theory.dense_bounds import bound_proven_units_per_input, bound_weight_accuracy
from lth.theory.device import generator
from lth.theory.residual import (ResidualTarget, bound_proven_units, build_residual_ticket, certify_sup_error,
                                 construct_residual_network, construct_residual_ticket, flatten,
                                 random_residual_target, search_sup_error)

CPU = torch.device("cpu")
CHEAP = {"width": 4, "hidden": (6, 6), "restarts": 2, "steps": 5, "samples": 64, "pensia": False}


def _instance(seed: int, width: int, hidden: list[int], units: int, branch_norm: float = 1.0):
    target = random_residual_target(width, hidden, generator(seed, CPU), branch_norm)
    network = construct_residual_network(width, hidden, [[units, units]] * len(hidden), seed + 1)
    return target, construct_residual_ticket(target, network)


def _ball_points(seed: int, count: int, width: int) -> torch.Tensor:
    x = torch.randn(count, width, generator=generator(seed, CPU), dtype=torch.float64)
    radii = torch.rand(count, 1, generator=generator(seed + 1, CPU), dtype=torch.float64)
    radii[: count // 2] = 1.0
    return x / x.norm(dim=1, keepdim=True) * radii


# Structure ----------------------------------------------------------------------------------------

@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10**6), blocks=st.integers(1, 3))
def test_the_flattened_mlp_computes_the_residual_target(seed, blocks):
    """x = σ(x) − σ(−x): the residual target is the MLP P_1, P_2Q_1, …, Q_K (an identity in real arithmetic;
    float64 sums in another order and rounds the products P_{k+1}Q_k)."""
    target = random_residual_target(3, [4] * blocks, generator(seed, CPU))
    x = _ball_points(seed, 32, 3) * 3
    gap = (target(x) - flatten(target)(x)).abs().max()
    assert gap <= 1e-13


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_the_compact_module_computes_the_masked_residual_network(seed):
    target, ticket = _instance(seed, 3, [4, 3], 24)
    x = _ball_points(seed, 32, 3)
    full = x
    for branch in ticket.branches:
        full = full + branch.sequential()(full)
    assert torch.allclose(ticket.module()(x), full, rtol=0, atol=1e-12)


# Oracles --------------------------------------------------------------------------------------------

def _exact(t: torch.Tensor) -> list:
    return [[Fraction(v) for v in row] for row in t.tolist()]


def _relu(v: Fraction) -> Fraction:
    return max(Fraction(0), v)


def _matvec(m: list, v: list) -> list:
    return [sum((a * b for a, b in zip(row, v)), Fraction(0)) for row in m]


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_each_pruned_branch_is_lemma_r1s_form_in_exact_arithmetic(seed):
    """Fractions: the pruned branch maps y to V s + E₂⁺ s, s = σ(U y + E₁⁺y⁺ − E₁⁻y⁻), up to the stored E's slack."""
    target, ticket = _instance(seed, 3, [3], 16)
    branch, block = ticket.branches[0], target.blocks[0]
    weights = [_exact(w) for w in branch.masked_weights()]
    first, second = realised_layers(block, branch)
    u, v = _exact(block.weights[0]), _exact(block.weights[1])
    e1p, e1n, e2 = _exact(first.err_pos), _exact(first.err_neg), _exact(second.err_pos)
    slack1, slack2 = _exact(first.slack_pos), _exact(second.slack_pos)
    for y in _ball_points(seed, 4, 3).tolist():
        y = [Fraction(c) for c in y]
        g = y
        for i, w in enumerate(weights):
            g = _matvec(w, g)
            if i < 3:
                g = [_relu(c) for c in g]
        pre = [a + sum(p * _relu(c) - n * _relu(-c) for p, n, c in zip(prow, nrow, y))
               for a, prow, nrow in zip(_matvec(u, y), e1p, e1n)]
        s = [_relu(c) for c in pre]
        form = [a + b for a, b in zip(_matvec(v, s), _matvec(e2, s))]
        # the stored E's are within their slack of the true ones, entrywise: the hidden vector is within
        # room = slack₁|y| of s (ReLU is 1-Lipschitz), so the output within |V + E₂|·room + slack₂·(s + room)
        room = _matvec(slack1, [abs(c) for c in y])
        gain = [[abs(a + b) for a, b in zip(r1, r2)] for r1, r2 in zip(v, e2)]
        allowed = [a + b for a, b in zip(_matvec(gain, room), _matvec(slack2, [c + r for c, r in zip(s, room)]))]
        assert all(abs(a - b) <= c for a, b, c in zip(g, form, allowed))


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10**6), blocks=st.integers(1, 2), width=st.integers(2, 3), hidden=st.integers(2, 4),
       units=st.sampled_from([6, 16, 40]))
def test_the_certificate_bounds_the_50_digit_error_and_every_found_error(seed, blocks, width, hidden, units):
    """mpmath at 50 digits: the pruned residual network (kept weights only) and the target at drawn points of
    the ball and at the search's witness; every error, and the search's own float64 error, is below the
    float64 certificate (at any width: the certificate bounds the ticket it is given, good or bad)."""
    target, ticket = _instance(seed, width, [hidden] * blocks, units)
    cert = certify_sup_error(target, ticket, Domain("ball"))
    witness = search_sup_error(target, ticket, Domain("ball"), restarts=4, steps=20, samples=256, seed=seed)
    assert witness.error <= cert.value
    points = torch.cat([_ball_points(seed, 6, width), witness.x[None]])
    module = ticket.module()
    with mpmath.workdps(50):
        branches = [[mpmath.matrix(layer.weight.tolist()) for layer in res.branch if hasattr(layer, "weight")]
                    for res in module]
        blocks_mp = [[mpmath.matrix(w.tolist()) for w in b.weights] for b in target.blocks]
        relu = lambda m: m.apply(lambda c: max(c, 0))  # noqa: E731
        for x in points.tolist():
            g = f = mpmath.matrix(x)
            for layers in branches:
                h = g
                for i, w in enumerate(layers):
                    h = w * h
                    if i < len(layers) - 1:
                        h = relu(h)
                g = g + h
            for u, v in blocks_mp:
                f = f + v * relu(u * f)
            assert mpmath.norm(f - g) <= cert.value


def test_the_certificate_covers_the_box_and_the_ball_bounds_it_is_made_of():
    target, ticket = _instance(4, 3, [4, 4], 30)
    box = Domain("box", lo=(-0.5, -1.0, 0.0), hi=(0.5, 1.0, 1.0))
    cert = certify_sup_error(target, ticket, box)
    assert cert.value == min(cert.parts["ball_bound"], cert.parts["box_bound"])
    assert search_sup_error(target, ticket, box, restarts=4, steps=20, samples=256).error <= cert.value
    ball = certify_sup_error(target, ticket, Domain("ball"))
    assert ball.parts["deviation_after_block"] == sorted(ball.parts["deviation_after_block"])


# The proven widths -----------------------------------------------------------------------------------

@pytest.mark.parametrize("blocks, eps, branch_norm", [(1, 0.1, 1.0), (2, 0.1, 0.5), (3, 0.05, 1.0)])
def test_theorem_r_constants_are_theorem_ps_at_the_shrunk_accuracy_and_their_recursion_meets_eps(blocks, eps,
                                                                                               branch_norm):
    """ε_b = ε/(2KL^K), δ_b = δ/K, Theorem P's widths there; the worst-case recursion
    Δ_k = LΔ_{k−1} + ε_b(L^{k−1} + Δ_{k−1}) of the proof ends at most at ε."""
    target = random_residual_target(4, [5] * blocks, generator(blocks, CPU), branch_norm)
    bound = bound_proven_units(target, eps, 0.1)
    assert abs(bound.beta - branch_norm) <= 1e-6 and bound.lipschitz == 1 + bound.beta
    assert bound.branch_eps == eps / (2 * blocks * bound.lipschitz**blocks)
    assert bound.branch_delta == 0.1 / blocks
    assert bound.units_per_input == [bound_proven_units_per_input([4, 5, 4], bound.branch_eps, 0.1 / blocks)] * blocks
    assert bound.accuracy == [bound_weight_accuracy([4, 5, 4], bound.branch_eps)] * blocks
    deviation = 0.0
    for k in range(1, blocks + 1):
        deviation = bound.lipschitz * deviation + bound.branch_eps * (bound.lipschitz ** (k - 1) + deviation)
    assert deviation <= eps * (1 + 1e-12)


def test_the_proven_ticket_meets_eps_and_the_same_seed_rebuilds_it():
    target = random_residual_target(3, [4, 4], generator(0, CPU))
    first = build_residual_ticket(target, 0.2, 0.2, seed=3)
    second = build_residual_ticket(target, 0.2, 0.2, seed=3)
    assert all(torch.equal(a, b) for ta, tb in zip(first[1].branches, second[1].branches)
               for a, b in zip(ta.masks, tb.masks))
    values = [certify_sup_error(target, t[1], Domain("ball")).value for t in (first, second)]
    assert values[0] == values[1] <= 0.2


# Refusals --------------------------------------------------------------------------------------------

def _block(d_in: int, h: int, d_out: int, bias: bool = False) -> Target:
    return Target([torch.eye(h, d_in, dtype=torch.float64), torch.eye(d_out, h, dtype=torch.float64)],
                  [torch.zeros(h, dtype=torch.float64) if bias else None, None])


@pytest.mark.parametrize("blocks, message", [([_block(3, 4, 2)], "projection skip"),
                                              ([_block(3, 4, 3, bias=True)], "unbiased"),
                                              ([_block(3, 4, 3), _block(2, 4, 2)], "identity skip"),
                                              ([], "at least one block")])
def test_targets_outside_the_statement_are_refused(blocks, message):
    with pytest.raises(ValueError, match=message):
        ResidualTarget(blocks)


def test_norms_above_one_and_bad_eps_are_refused_before_any_work():
    target = random_residual_target(3, [4], generator(0, CPU))
    loud = ResidualTarget([Target([target.blocks[0].weights[0] * 2, target.blocks[0].weights[1]], [None, None])])
    with pytest.raises(ValueError, match="hypothesis violated"):
        bound_proven_units(loud, 0.1, 0.1)
    with pytest.raises(ValueError, match="eps and delta"):
        bound_proven_units(target, 1.0, 0.1)
    with pytest.raises(ValueError, match="branch_norm"):
        random_residual_target(3, [4], generator(0, CPU), 1.5)
    with pytest.raises(ValueError, match="coordinates"):
        certify_sup_error(target, _instance(0, 3, [4], 8)[1], Domain("box", lo=(0.0,) * 2, hi=(1.0,) * 2))


@pytest.mark.parametrize("bad", [{"eps": 1.0}, {"hidden": ()}, {"width": 0}, {"branch_norm": 2.0},
                                 {"units": (3,)}, {"units": (0, 4)}])
def test_bad_parameters_are_refused_in_one_line(bad):
    from lth.claims.slth_residual import ResidualParams, refuse_bad_params

    with pytest.raises(ValueError) as error:
        refuse_bad_params(ResidualParams(**bad))
    assert "\n" not in str(error.value)


def test_a_ticket_whose_unit_reads_two_inputs_certifies_infinity():
    target, ticket = _instance(1, 3, [4], 8)
    ticket.branches[0].masks[0][:, :] = True
    assert math.isinf(certify_sup_error(target, ticket, Domain("ball")).value)


# The claim -------------------------------------------------------------------------------------------

@pytest.mark.claim("slth.residual.block")
def test_the_residual_claim_holds_at_the_proven_widths_beside_pensia():
    record = run_claim("slth.residual.block", **{**CHEAP, "pensia": True})
    assert record.verdict == "holds", record.reason
    residual, pensia = record.details["rows"]
    assert residual["units_per_input"] == residual["proven_units_per_input"]
    assert residual["empirical"] <= residual["certified"] <= residual["eps"]
    assert residual["depth"] == 8 and pensia["depth"] == 6
    assert pensia["flattened_widths"] == [4, 14, 14, 4]
    assert residual["random_parameters"] < pensia["random_parameters"]


@pytest.mark.claim("slth.residual.block")
@pytest.mark.parametrize("faults, overrides", [({"flip": 3}, {}), ({"width_factor": 0.01}, {}),
                                               (None, {"units": (2, 2)})])
def test_a_broken_residual_ticket_fails(faults, overrides):
    record = run_claim("slth.residual.block", faults=faults, **{**CHEAP, **overrides})
    assert record.verdict == "fails", record.reason


def test_build_on_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    target = random_residual_target(3, [4, 4], generator(0, CPU))
    cpu = build_residual_ticket(target, 0.2, 0.2, seed=1)
    gpu = build_residual_ticket(target, 0.2, 0.2, seed=1, device="cuda")
    values = [certify_sup_error(target, t[1], Domain("ball")).value for t in (cpu, gpu)]
    assert max(values) <= 0.2
    x = torch.rand(16, 3, dtype=torch.float64) * 2 - 1
    assert torch.allclose(target(x), target.to("cuda")(x.cuda()).cpu())


@pytest.mark.claim("slth.residual.block")
def test_the_side_by_side_figure_renders_from_a_stored_record(tmp_path):
    from lth.figures import all_figures, render
    from lth.verify import run_verify

    run_verify(["slth.residual.block"], scale="quick", device="cpu", seed=0, out=tmp_path, progress=False,
               overrides={**CHEAP, "units": (40, 40), "pensia": True})
    paths = render(all_figures()["residual_side_by_side"], tmp_path, tmp_path / "figures")
    assert all(path.stat().st_size > 0 for path in paths)
