"""The side-by-side table of four strong-ticket constructions (lth/claims/slth_compare.py, proofs/slth_compare.md)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lth.claims.slth_compare import (CONSTRUCTIONS, JUDGED, WIDTHS, CompareFaults, CompareParams, build, compare,
                                     crossing, judge_ordering, normalised, refuse_bad_params, source_size)
from lth.registry import Context, run_claim
from lth.theory.dense import Target, build_ticket, random_target
from lth.theory.dense_bounds import bound_weight_accuracy
from lth.theory.depth import activation, build_depth_ticket
from lth.theory.device import generator
from lth.theory.hyperbolic import build_hyperbolic_ticket
from lth.theory.sparse import build_sparse_ticket

CLAIM = "slth.constructions.compare"
CPU = torch.device("cpu")
CHEAP = {"target": (6, 4, 3), "digits_steps": 0, "eps_grid": (0.1,), "max_parameters": 200_000}


# The comparison rule ---------------------------------------------------------------------------------

def scans():
    """A scan: certified at a count (``width`` set), or censored with its largest built count."""
    certified = st.builds(lambda n: {"width": 1, "random_parameters": n, "tried_random_parameters": n},
                          st.integers(1, 1000))
    censored = st.builds(lambda n: {"width": None, "tried_random_parameters": n}, st.integers(0, 1000))
    return st.one_of(certified, censored)


@given(scans(), scans(), st.integers(1, 1000), st.integers(1, 1000))
def test_a_decided_comparison_holds_for_every_least_count_the_censored_scans_allow(first, second, extra_a, extra_b):
    """A censored scan's least certified count is any count above its largest built source."""
    truth_a = first["random_parameters"] if first["width"] else first["tried_random_parameters"] + extra_a
    truth_b = second["random_parameters"] if second["width"] else second["tried_random_parameters"] + extra_b
    outcome = compare(first, second)
    if outcome == "first":
        assert truth_a < truth_b
    elif outcome == "second":
        assert truth_b < truth_a
    elif outcome == "tie":
        assert first["width"] and second["width"] and truth_a == truth_b
    else:
        assert not (first["width"] and second["width"])


def test_the_crossing_is_the_largest_eps_from_which_on_the_ordering_holds():
    cells = [{"target": "t", "eps": e, "draw": 0, "fewer": f}
             for e, f in [(0.3, "hyperbolic"), (0.1, "pensia"), (0.03, "undecided"), (0.01, "pensia"),
                          (0.001, "pensia")]]
    assert crossing(cells, "pensia") == 0.01
    assert judge_ordering(cells, "pensia")[0] == "holds"
    assert crossing(cells, "hyperbolic") is None
    assert judge_ordering(cells, "hyperbolic")[0] == "fails"
    censored = cells[:-1] + [{"target": "t", "eps": 0.001, "draw": 0, "fewer": "undecided"}]
    assert judge_ordering(censored, "pensia")[0] == "inconclusive"
    tie = cells[:-1] + [{"target": "t", "eps": 0.001, "draw": 0, "fewer": "tie"}]
    assert judge_ordering(tie, "pensia")[0] == "fails"


# The targets and the counts -----------------------------------------------------------------------------

@given(st.lists(st.integers(1, 5), min_size=2, max_size=4), st.integers(0, 2 ** 16), st.floats(0.1, 4.0))
def test_the_normalised_target_is_unbiased_of_norm_at_most_one_and_computes_c_times_f(widths, seed, scale):
    gen = generator(seed, CPU)
    weights = [scale * torch.randn(b, a, generator=gen, dtype=torch.float64) for a, b in zip(widths[:-1], widths[1:])]
    biases = [torch.randn(b, generator=gen, dtype=torch.float64) for b in widths[1:]]
    target = Target(weights, biases)
    unbiased, factor = normalised(target)
    assert not unbiased.has_bias and unbiased.widths[0] == widths[0] + 1
    assert all(torch.linalg.matrix_norm(w, ord=2) <= 1 + 1e-9 for w in unbiased.weights)
    x = torch.randn(16, widths[0], generator=gen, dtype=torch.float64)
    ones = torch.ones(16, 1, dtype=torch.float64)
    assert torch.allclose(unbiased(torch.cat([x, ones], 1)), factor * target(x), rtol=1e-9, atol=1e-12)


def _rebuilt(name: str, target: Target, eps: float, width: int, seed: int, p: CompareParams):
    """The construction rebuilt through the theory API alone: (entries of the source, kept entries)."""
    layers = [width] * target.depth
    if name == "pensia":
        net, ticket = build_ticket(target, eps, p.delta, seed=seed, units_per_input=layers, pool_cap=p.pool_cap,
                                   pool_rule="blocks", pool_tolerance=bound_weight_accuracy(target.widths, eps))
        tensors = net.weights
    elif name == "hyperbolic":
        net, ticket = build_hyperbolic_ticket(target, eps, p.delta, seed=seed, units_per_input=layers)
        tensors = net.weights
    elif name == "burkholz":
        net, ticket, _ = build_depth_ticket(target, eps, p.delta, activation("relu"), seed=seed, copies=layers,
                                            pool_cap=p.pool_cap)
        tensors = net.weights
    else:
        source, ticket = build_sparse_ticket(target, eps, p.delta, (p.density, p.density), seed=seed,
                                             units_per_input=layers, pool_cap=p.pool_cap)
        return int(sum(int(m.sum()) for m in source.present)), int(sum(int(m.sum()) for m in ticket.masks)), \
            sum(v.numel() for v in source.values)
    entries = sum(t.numel() for t in tensors)
    return entries, int(sum(int(m.sum()) for m in ticket.masks)), entries


@pytest.mark.claim("slth.constructions.compare")
@given(st.lists(st.integers(2, 5), min_size=2, max_size=3), st.sampled_from(CONSTRUCTIONS), st.sampled_from((4, 8)),
       st.integers(0, 2 ** 16))
def test_the_table_counts_are_the_built_tensors_counts(widths, name, width, seed):
    """Random weights = the source's entries (present ones for the sparse source), kept = the masks' sums,
    both recomputed from a rebuild through the theory API; the dense shape is :func:`source_size`."""
    p = CompareParams()
    ctx = Context(device=CPU, seed=0, progress=False, faults=CompareFaults())
    target = random_target(widths, generator(seed, CPU))
    row = build(name, target, 0.1, width, seed, p, ctx)
    random, kept, shape = _rebuilt(name, target, 0.1, width, seed, p)
    assert (row["random_parameters"], row["kept_parameters"]) == (random, kept)
    assert shape == source_size(name, target.widths, width)
    assert row["depth"] == (target.depth + 1 if name == "burkholz" else 2 * target.depth)
    assert row["kept_parameters"] <= row["random_parameters"]


# The claim ------------------------------------------------------------------------------------------

@pytest.mark.claim("slth.constructions.compare")
def test_the_comparison_holds_on_the_real_code_and_tabulates_all_four_constructions():
    record = run_claim(CLAIM, **{**CHEAP, "eps_grid": (0.1, 0.03)})
    assert record.verdict == "holds", record.reason
    rows = record.details["rows"]
    assert {r["construction"] for r in rows} == set(CONSTRUCTIONS)
    for r in rows:
        if r["width"] is not None:
            assert r["certified"] <= r["eps"] and r["width"] in WIDTHS
            assert r["random_per_target_weight"] == r["random_parameters"] / r["target_parameters"]
        assert r["proven_random_parameters"] is None or r["proven_random_parameters"] > 0
    assert record.details["crossing_eps"] in (0.1, 0.03)
    assert record.details["judged"] == list(JUDGED)


@pytest.mark.claim("slth.constructions.compare")
@pytest.mark.parametrize("faults", [{"flip": 3}, {"swap": True}])
def test_a_broken_pensia_ticket_or_the_reversed_prediction_fails(faults):
    record = run_claim(CLAIM, faults=faults, **CHEAP)
    assert record.verdict == "fails", record.reason
    assert record.details["crossing_eps"] is None


@pytest.mark.parametrize("bad", [{"eps_grid": ()}, {"eps_grid": (0.1, 1.5)}, {"delta": 0.0}, {"density": 0.0},
                                 {"target": (4,)}, {"digits_hidden": (0,)}, {"mnist_steps": -1}])
def test_bad_parameters_are_refused_in_one_line_before_any_work(bad):
    with pytest.raises(ValueError) as error:
        refuse_bad_params(CompareParams(**bad))
    assert "\n" not in str(error.value)


@pytest.mark.claim("slth.constructions.compare")
def test_the_figure_renders_from_a_stored_record(tmp_path):
    from lth.figures import all_figures, render
    from lth.verify import run_verify

    run_verify([CLAIM], scale="quick", device="cpu", seed=0, out=tmp_path, progress=False, overrides=CHEAP)
    paths = render(all_figures()["compare_constructions"], tmp_path, tmp_path / "figures")
    assert all(path.stat().st_size > 0 for path in paths)
