"""Universal tickets: identity, certified random blocks, tickets and last-layer transfer."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lth.theory.device import generator
from lth.registry import run_claim
from lth.theory.subset_sum import sample_uniform
from lth.theory.universal import (FIRST_LAYER_DELTA, MIN_WEIGHT, bias_scale, draw_first_layer, proven_width,
                              select_units)
from lth.theory.universal import (best_sparse_subsets, bound_phase_interval, bound_transfer_gap, certify_block,
                              certify_poly_basis, construct_block, construct_fourier_ticket, construct_poly_ticket,
                              exact_fourier_features, fit_last_layer, fourier_features, frequencies, phase_offsets,
                              predict,
                              exact_poly_features, exp_piece, log_piece, multi_indices, poly_features,
                              search_block_error, sin_piece, SHIFTS)
from lth.claims.universal import compare_fits

CPU = torch.device("cpu")
PIECES = {"log": log_piece(), "exp": exp_piece(-4 * math.log(2) - 0.01, 0.01), "sin": sin_piece(1.0),
          "sin-long": sin_piece(2.25)}


@pytest.mark.claim("universal.poly.identity")
def test_the_identity_check_holds_symbolically_and_at_random_points():
    record = run_claim("universal.poly.identity", max_dim=2, points=500)
    assert record.verdict == "holds", record.reason


@pytest.mark.claim("universal.poly.identity")
def test_a_wrong_identity_is_reported_as_failing():
    record = run_claim("universal.poly.identity", inner="log(1 + x) - log(3)", max_dim=2, points=500)
    assert record.verdict == "fails", record.reason
    assert "log" in record.reason


@pytest.mark.claim("universal.poly.identity")
@given(x=st.lists(st.floats(0, 1), min_size=1, max_size=4), data=st.data())
def test_the_exact_basis_equals_the_exp_log_composition_at_50_digits(x, data):
    import mpmath

    r = data.draw(st.lists(st.integers(0, 8), min_size=len(x), max_size=len(x)))
    basis = float(exact_poly_features(torch.tensor([x], dtype=torch.float64), torch.tensor([r]))[0, 0])
    with mpmath.workdps(50):
        composed = mpmath.exp(mpmath.fsum(ri * mpmath.log((1 + mpmath.mpf(xi)) / 2) for ri, xi in zip(r, x)))
    assert basis == pytest.approx(float(composed), rel=1e-13, abs=1e-300)


@pytest.mark.claim("universal.poly.ticket")
@pytest.mark.claim("universal.fourier.ticket")
@given(seed=st.integers(0, 2**16), piece=st.sampled_from(sorted(PIECES)),
       eps=st.sampled_from([3e-3, 1e-2, 3e-2]), pool=st.sampled_from([16, 32, 64]))
def test_the_certified_piece_error_is_never_below_the_grid_error(seed, piece, eps, pool):
    block = construct_block(PIECES[piece], eps, pool, generator(seed, CPU))
    assert certify_block(block).value >= search_block_error(block, 4000).error


@pytest.mark.claim("universal.poly.ticket")
@given(seed=st.integers(0, 2**16), flips=st.integers(1, 3))
def test_a_wrong_subset_never_slips_under_its_certificate(seed, flips):
    block = construct_block(PIECES["log"], 1e-3, 32, generator(seed, CPU))
    block.mask[:flips, 0] = ~block.mask[:flips, 0]
    assert certify_block(block).value >= search_block_error(block, 4000).error


@pytest.mark.claim("universal.poly.ticket")
@given(seed=st.integers(0, 2**16), pool=st.sampled_from([12, 14]))
def test_the_dense_subset_solver_gives_blocks_whose_certificate_covers_the_grid(seed, pool):
    block = construct_block(PIECES["sin"], 1e-2, pool, generator(seed, CPU), c_max=1.0, solver="dense")
    assert certify_block(block).value >= search_block_error(block, 4000).error


def test_kept_weights_of_both_layers_are_the_random_draws_bit_for_bit(device):
    """Every kept weight is a draw: first layer a ~ U[−1, 1], b ~ U[−s, s], then the paths w, v; the block
    evaluates as the three-layer network v·σ(w·σ(a x + b)) summed over kept paths (constant input: w·1)."""
    block = construct_block(PIECES["exp"], 1e-3, 32, generator(7, device))
    gen = generator(7, device)
    width = block.layer_weight.shape[0]
    a = sample_uniform((width,), gen)
    b = sample_uniform((width,), gen, -bias_scale(block.piece), bias_scale(block.piece))
    shape = tuple(block.w.shape)
    w = torch.rand(shape, generator=gen, device=device, dtype=torch.float64)
    v = sample_uniform(shape, gen)
    assert torch.equal(block.layer_weight, a) and torch.equal(block.layer_bias, b)
    assert torch.equal(block.w, w) and torch.equal(block.v, v)
    assert (block.first_weight >= MIN_WEIGHT).all() and block.kinks[0] <= block.piece.lo
    x = torch.linspace(block.piece.lo, block.piece.hi, 257, dtype=torch.float64, device=device)
    hidden = torch.relu(a[block.units][:, None] * x[None, :] + b[block.units][:, None])  # [K, points]
    z = torch.cat([torch.ones_like(x)[None], hidden])[block.feature]  # [P, points]
    dense = (block.mask[..., None] * v[..., None] * torch.relu(w[..., None] * z[:, None, :])).sum((0, 1))
    assert torch.allclose(block(x), dense, rtol=0, atol=1e-12)


@pytest.mark.claim("universal.poly.ticket")
@given(seed=st.integers(0, 2**16), piece=st.sampled_from(sorted(PIECES)), eps=st.sampled_from([1e-3, 1e-2]))
def test_a_swapped_first_layer_unit_never_slips_under_its_certificate(seed, piece, eps):
    """A broken first layer (one kept unit replaced by a pruned one): the certificate still bounds the
    network it gets, new kink included, so it covers the grid error (the checks' fault tests see it exceed ε)."""
    from lth.claims.universal import swap_unit

    block = construct_block(PIECES[piece], eps, 32, generator(seed, CPU))
    swap_unit(block)
    assert certify_block(block).value >= search_block_error(block, 4000).error


@pytest.mark.claim("universal.poly.ticket")
@pytest.mark.claim("universal.fourier.ticket")
@pytest.mark.parametrize("piece", sorted(PIECES))
def test_at_lemma_r_width_every_drawn_first_layer_has_its_grid(piece):
    """Lemma R: at the proven width (δ = 1%) the greedy kinks meet M_j h_j²/8 <= ε on every segment; 30
    draws all succeed (30 successes are likely, 0.99^30 = 0.74, unless Lemma R is wrong); a first layer
    far narrower than that leaves a gap the certificate reports."""
    eps = 1e-3
    width = proven_width(PIECES[piece], eps, MIN_WEIGHT, FIRST_LAYER_DELTA)
    for seed in range(30):
        weight, bias = draw_first_layer(PIECES[piece], width, generator(seed, CPU))
        units = select_units(PIECES[piece], eps, weight, bias, MIN_WEIGHT)
        kinks = (-bias / weight)[units]
        nodes = torch.cat([torch.tensor([PIECES[piece].lo]), kinks[1:], torch.tensor([PIECES[piece].hi])])
        assert (nodes.diff() > 0).all() and kinks[0] <= PIECES[piece].lo
        error = PIECES[piece].curvature(nodes[:-1], nodes[1:]) * nodes.diff() ** 2 / 8
        assert float(error.max()) <= eps
    narrow = construct_block(PIECES[piece], eps, 64, generator(0, CPU), width=width // 40)
    assert float(certify_block(narrow).parts["interpolation"].max()) > eps


@given(seed=st.integers(0, 2**16), size=st.sampled_from([4, 6, 8]), most=st.integers(1, 2))
def test_the_sparse_solver_finds_the_nearest_sum_with_few_terms_per_half(seed, size, most):
    gen = generator(seed, CPU)
    pools = sample_uniform((3, size), gen)
    targets = sample_uniform((3,), gen)
    mask = best_sparse_subsets(pools, targets, most)
    half = size // 2
    assert (mask[:, :half].sum(-1) <= most).all() and (mask[:, half:].sum(-1) <= most).all()
    got = ((mask * pools).sum(-1) - targets).abs()
    for row in range(3):
        best = min(abs(float(targets[row]) - sum(float(pools[row, i]) for i in a + b))
                   for ka in range(most + 1) for kb in range(most + 1)
                   for a in itertools.combinations(range(half), ka)
                   for b in itertools.combinations(range(half, size), kb))
        assert float(got[row]) <= best + 1e-12


@pytest.mark.claim("universal.poly.ticket")
def test_the_polynomial_ticket_check_holds_at_quick_scale():
    record = run_claim("universal.poly.ticket", sample_points=1024, sweep=())
    assert record.verdict == "holds", record.reason
    assert record.certified.value <= record.bound.value
    assert record.empirical.value <= record.certified.value


@pytest.mark.claim("universal.poly.ticket")
def test_the_polynomial_ticket_check_fails_when_a_kept_path_is_flipped():
    record = run_claim("universal.poly.ticket", sample_points=1024, sweep=(), faults={"flip_kept": True})
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("universal.fourier.ticket")
def test_the_fourier_ticket_check_holds_at_quick_scale():
    record = run_claim("universal.fourier.ticket", sample_points=1024, sweep=(), dense_pools=())
    assert record.verdict == "holds", record.reason


@pytest.mark.claim("universal.poly.ticket")
@pytest.mark.claim("universal.fourier.ticket")
@pytest.mark.parametrize("claim_id", ["universal.poly.ticket", "universal.fourier.ticket"])
def test_the_ticket_checks_fail_when_a_kept_first_layer_unit_is_swapped(claim_id):
    extra = {"dense_pools": ()} if "fourier" in claim_id else {}
    record = run_claim(claim_id, sample_points=1024, sweep=(), faults={"flip_unit": True}, **extra)
    assert record.verdict == "fails", record.reason


@pytest.mark.claim("universal.fourier.ticket")
def test_the_fourier_ticket_check_fails_when_a_kept_path_is_flipped():
    record = run_claim("universal.fourier.ticket", sample_points=1024, sweep=(), dense_pools=(),
                        faults={"flip_kept": True})
    assert record.verdict == "fails", record.reason


@pytest.fixture(scope="module")
def small_ticket():
    ticket = construct_poly_ticket(3, 1e-4, 3e-4, 128, generator(3, CPU))
    r = multi_indices(2, 3)
    basis = certify_poly_basis(ticket, r, certify_block(ticket.log_block).value,
                               certify_block(ticket.exp_block).value).parts["per_basis"]
    return ticket, r, basis


@pytest.mark.claim("universal.transfer")
@given(seed=st.integers(0, 2**16), scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_fitting_on_the_ticket_never_beats_the_exact_basis_by_more_than_the_bound(small_ticket, seed, scale):
    ticket, r, basis = small_ticket
    gen = generator(seed, CPU)
    x = torch.rand((300, 2), generator=gen, dtype=torch.float64)
    y = scale * torch.sin(3 * x[:, 0]) * torch.cos(2 * x[:, 1]) + 0.01 * torch.randn(300, generator=gen,
                                                                                       dtype=torch.float64)
    fit, _, _ = compare_fits(poly_features(ticket, x, r), exact_poly_features(x, r), y, float(basis.max()),
                             basis, 1e-9)
    assert fit["within"]


@pytest.mark.claim("universal.poly.ticket")
@given(seed=st.integers(0, 2**16))
def test_one_last_layer_moves_by_at_most_its_l1_norm_times_the_certified_basis_error(small_ticket, seed):
    ticket, r, basis = small_ticket
    gen = generator(seed, CPU)
    x = torch.rand((300, 2), generator=gen, dtype=torch.float64)
    coef = torch.randn(r.shape[0] + 1, generator=gen, dtype=torch.float64)
    moved = (predict(poly_features(ticket, x, r), coef) - predict(exact_poly_features(x, r), coef)).abs().max()
    assert float(moved) <= bound_transfer_gap(coef, basis) * (1 + 1e-12)


@pytest.mark.parametrize("r", [[[2, -1]], [[-1, 0]]])
def test_negative_exponents_are_refused_by_features_and_certificate(small_ticket, r):
    ticket, _, _ = small_ticket
    x = torch.full((4, 2), 0.5, dtype=torch.float64)
    with pytest.raises(ValueError, match="non-negative integers"):
        poly_features(ticket, x, torch.tensor(r))
    with pytest.raises(ValueError, match="non-negative integers"):
        certify_poly_basis(ticket, torch.tensor(r), 1e-4, 1e-4)


@given(dim=st.integers(1, 3), max_freq=st.integers(1, 3))
def test_signed_frequencies_hold_one_of_every_pair_plus_minus_n(dim, max_freq):
    freqs = frequencies(dim, max_freq)
    pairs = {tuple(row) for row in freqs.tolist()} | {tuple(-v for v in row) for row in freqs.tolist()}
    assert len(pairs) == 2 * freqs.shape[0] == (2 * max_freq + 1) ** dim - 1
    corners = torch.cartesian_prod(*[torch.tensor([0.0, 1.0], dtype=torch.float64)] * dim).reshape(-1, dim)
    phases = corners @ freqs.T.to(torch.float64) + phase_offsets(freqs).to(torch.float64)  # extremes at vertices
    assert float(phases.min()) == 0.0
    assert float(phases.max()) <= bound_phase_interval(dim, max_freq) - 0.25


@pytest.mark.claim("universal.fourier.ticket")
def test_the_fourier_ticket_fits_a_difference_of_coordinates():
    block = construct_fourier_ticket(2, 1, 1e-2, 64, generator(5, CPU))
    freqs = frequencies(2, 1)
    x = torch.rand((2000, 2), generator=generator(6, CPU), dtype=torch.float64)
    y = torch.cos(2 * math.pi * (x[:, 0] - x[:, 1]))
    _, exact_rms = fit_last_layer(exact_fourier_features(x, freqs), y)
    coef, ticket_rms = fit_last_layer(fourier_features(block, x, freqs), y)
    assert exact_rms < 1e-10
    assert ticket_rms <= float(coef[1:].abs().sum()) * certify_block(block).value + 1e-9


def test_kept_parameters_are_counted_in_both_layers_as_the_demo_counts(small_ticket):
    """Two per kept path (w, v), two per first-layer unit some kept path reads (a, b), one per non-zero
    exponent; the total is every draw (2N first-layer plus 2·P·n path weights)."""
    ticket, r, _ = small_ticket
    for block in (ticket.log_block, ticket.exp_block):
        read = {int(f) for f, row in zip(block.feature, block.mask) if row.any() and f > 0}
        assert block.kept_paths == 2 * int(block.mask.sum()) and block.kept_units == len(read)
        assert block.kept == block.kept_paths + 2 * len(read)
        assert block.total == 2 * block.layer_weight.numel() + 2 * block.w.numel()
    assert ticket.kept_as_demo(r) == ticket.log_block.kept + ticket.exp_block.kept + int((r != 0).sum())


@pytest.mark.claim("universal.transfer")
def test_the_transfer_check_holds_at_quick_scale():
    record = run_claim("universal.transfer", samples=600)
    assert record.verdict == "holds", record.reason
    tasks = {row["task"] for row in record.details["rows"]}
    assert "diabetes (sklearn)" in tasks and len(tasks) == 4


@pytest.mark.claim("universal.transfer")
def test_the_transfer_check_fails_on_a_ticket_with_a_flipped_path():
    record = run_claim("universal.transfer", samples=600, faults={"flip_kept": True})
    assert record.verdict == "fails", record.reason


def test_inputs_outside_the_cube_are_refused_with_a_rescaling_hint():
    ticket = construct_poly_ticket(2, 1e-3, 1e-3, 32, generator(0, CPU))
    with pytest.raises(ValueError, match="rescale"):
        poly_features(ticket, torch.tensor([[1.5, 0.2]], dtype=torch.float64), multi_indices(2, 2))


def test_an_interpolation_tolerance_outside_the_unit_interval_is_refused():
    with pytest.raises(ValueError, match="eps_interp"):
        construct_block(log_piece(), 1.5, 16, generator(0, CPU))


def test_the_command_line_saves_a_certified_ticket_whose_weights_reload(tmp_path):
    from safetensors.torch import load_file

    from lth.cli import main
    from lth.store import read_json

    status = main(["universal", "fourier", "--dim", "1", "--max-freq", "1", "--eps-interp", "2e-2",
                   "--pool-size", "32", "--points", "2000", "--device", "cpu", "--out", str(tmp_path)])
    assert status == 0
    stored = read_json(tmp_path / "universal_fourier.json")
    weights = load_file(str(tmp_path / "universal_fourier.safetensors"))
    block = construct_fourier_ticket(1, 1, 2e-2, 32, generator(0, CPU))
    assert torch.equal(weights["sin.w"], block.w) and torch.equal(weights["sin.mask"], block.mask)
    assert torch.equal(weights["sin.first_weight"], block.layer_weight) and torch.equal(weights["sin.units"], block.units)
    sin = stored["blocks"]["sin"]
    assert sin["sampled_error"] <= sin["certified_sup_error"] == certify_block(block).value


def test_the_command_line_rejects_a_bad_tolerance_with_exit_status_2(tmp_path):
    from lth.cli import main

    assert main(["universal", "poly", "--eps-log", "2", "--out", str(tmp_path)]) == 2


def test_fourier_basis_functions_stay_within_the_sin_block_certificate(device):
    block = construct_fourier_ticket(2, 2, 1e-2, 64, generator(1, device))
    freqs = frequencies(2, 2).to(device)
    x = torch.rand((512, 2), generator=generator(2, device), device=device, dtype=torch.float64)
    error = (fourier_features(block, x, freqs) - exact_fourier_features(x, freqs)).abs().max()
    assert float(error) <= certify_block(block).value


@given(dim=st.integers(1, 6), degree=st.integers(1, 5))
def test_multi_indices_list_every_monomial_of_bounded_degree_once(dim, degree):
    r = multi_indices(dim, degree)
    assert r.shape == (math.comb(dim + degree, degree) - 1, dim)
    assert len({tuple(row) for row in r.tolist()}) == r.shape[0]
    assert (r >= 0).all() and (r.sum(-1) >= 1).all() and (r.sum(-1) <= degree).all()
    assert (r.sum(-1).diff() >= 0).all()  # ordered by total degree, so lower degrees are a prefix


def test_the_same_seed_builds_the_same_ticket_on_cpu():
    first = construct_block(PIECES["sin"], 1e-2, 64, generator(11, CPU))
    second = construct_block(PIECES["sin"], 1e-2, 64, generator(11, CPU))
    assert torch.equal(first.mask, second.mask) and torch.equal(first.w, second.w)
    assert certify_block(first).value == certify_block(second).value


@pytest.mark.claim("universal.transfer")
def test_the_figures_render_from_stored_check_results(tmp_path):
    from lth.figures import all_figures, render
    from lth.verify import run_verify

    run_verify(["universal.poly.ticket", "universal.fourier.ticket"], scale="quick", device="cpu", seed=0,
               out=tmp_path, progress=False, overrides={"sample_points": 256, "grid_points": 2000, "sweep": (4.0,)})
    run_verify(["universal.transfer"], scale="quick", device="cpu", seed=0, out=tmp_path, progress=False,
               overrides={"samples": 300, "sample_points": 256, "grid_points": 2000})
    figures = all_figures()
    for name in ("universal_basis_error", "universal_task_error", "universal_approximations"):
        paths = render(figures[name], tmp_path, tmp_path / "figures")
        assert all(path.stat().st_size > 0 for path in paths)


@pytest.mark.claim("universal.fourier.ticket")
@given(dim=st.integers(1, 3), max_freq=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_the_fourier_basis_count_and_phase_range_are_those_the_proof_states(dim, max_freq, seed):
    """proofs/universal.md: |F| = ((2N+1)^d − 1)/2 signed frequencies (one of ±n), 2|F| basis functions,
    and the phase n·x + o_n + c in [0, dN + 1/4] for every x in the cube."""
    freqs = frequencies(dim, max_freq)
    assert freqs.shape[0] == ((2 * max_freq + 1) ** dim - 1) // 2
    assert not any(torch.equal(a, -b) for a in freqs for b in freqs)
    x = torch.rand(256, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = torch.cat([x, torch.zeros(1, dim, dtype=torch.float64), torch.ones(1, dim, dtype=torch.float64)])
    phase = x @ freqs.to(x).T + phase_offsets(freqs).to(x)
    assert phase.min() >= 0 and phase.max() + max(SHIFTS) <= bound_phase_interval(dim, max_freq)


@pytest.mark.claim("universal.poly.ticket")
@given(seed=st.integers(0, 2**16), piece=st.sampled_from(sorted(PIECES)))
def test_the_kink_shift_term_bounds_the_exact_gap_between_real_and_float64_kinks(seed, piece):
    """``Σ_k |c̃_k a_k|·|τ_k − t_k|`` with ``τ_k = −b_k/a_k`` and ``c̃_k`` in exact rationals, against the
    certificate's ``kink_shift`` (the division rounding the proof bounds by ``γ_1|t_k|``)."""
    from fractions import Fraction

    block = construct_block(PIECES[piece], 1e-2, 16, generator(seed, CPU))
    coef = [Fraction(0)] * (block.units.shape[0] + 1)
    for p, f in enumerate(block.feature.tolist()):
        for i in block.mask[p].nonzero()[:, 0].tolist():
            coef[f] += Fraction(float(block.w[p, i])) * Fraction(float(block.v[p, i]))
    exact = sum(abs(c * Fraction(a)) * abs(Fraction(-b) / Fraction(a) - Fraction(t))
                for c, a, b, t in zip(coef[1:], block.first_weight.tolist(), block.first_bias.tolist(),
                                      block.kinks.tolist()))
    assert Fraction(float(certify_block(block).parts["kink_shift"][0])) >= exact
