"""Theorem verdicts hold for the draw, not for seed 0: every theory claim judged over several seeds.

A claim of kind ``theorem``, ``exact`` or ``instance`` must hold at every seed; a ``rate`` claim (a
measured constant) pools its binomial cells over the seeds and must not have a failure rate whose
interval lies above its threshold (``lth.verify.aggregate``). Quick scale, seeds 1..5 (seed 0 is what
``make verify`` runs); ``slth.dense.rule`` runs 20 draws per cell per seed (100 pooled per cell).
"""

from __future__ import annotations

import pytest

from lth.registry import Quantity, Record, all_claims, run_claim
from lth.verify import aggregate, parse_seeds

SEEDS = (1, 2, 3, 4, 5)
CHEAPER = {"slth.dense.rule": {"draws": 20, "c_values": (), "eps_sweep": ()},
           "slth.constructions.compare": {"digits_steps": 0, "eps_grid": (0.1,)}}
THEORY_PROOFS = ("proofs/rss.md", "proofs/slth_dense.md", "proofs/slth_conv.md", "proofs/universal.md",
                 "proofs/slth_sparse.md", "proofs/slth_attention.md", "proofs/slth_depth.md",
                 "proofs/slth_hyperbolic.md", "proofs/slth_residual.md", "proofs/slth_compare.md")
THEORY = sorted(cid for cid, c in all_claims().items() if c.proof in THEORY_PROOFS)


@pytest.mark.parametrize("claim_id", THEORY)
def test_the_claim_holds_for_the_draw_at_every_seed(claim_id):
    records = [run_claim(claim_id, seed=seed, **CHEAPER.get(claim_id, {})) for seed in SEEDS]
    verdict, reason = aggregate(all_claims()[claim_id].kind, records)
    assert verdict not in ("error", "fails"), reason
    if all_claims()[claim_id].kind != "rate":
        assert verdict == "holds", reason


def _record(verdict: str, seed: int, cells: list[dict] | None = None) -> Record:
    return Record(verdict, f"{verdict} here", empirical=Quantity(0.0, "x"), seed=seed,
                  details={} if cells is None else {"rate_cells": cells})


def test_a_theorem_that_fails_at_one_seed_fails_over_seeds():
    records = [_record("holds", 0), _record("fails", 1), _record("holds", 2)]
    verdict, reason = aggregate("theorem", records)
    assert verdict == "fails" and "[1]" in reason


def test_an_error_at_any_seed_is_an_error():
    assert aggregate("rate", [_record("holds", 0, []), _record("error", 3, [])])[0] == "error"


def test_rate_cells_are_pooled_over_seeds_before_they_are_judged():
    cell = {"name": "a", "failures": 0, "trials": 40, "threshold": 0.05}
    records = [_record("inconclusive", s, [cell]) for s in range(3)]
    assert aggregate("rate", records)[0] == "holds"  # 0/120: upper 0.030 <= 0.05, each 0/40 alone is not
    bad = [_record("inconclusive", s, [{**cell, "failures": 4}]) for s in range(3)]
    assert aggregate("rate", bad)[0] == "fails"  # 12/120: lower 0.053 > 0.05


@pytest.mark.parametrize("text, seeds", [("0..4", [0, 1, 2, 3, 4]), ("3,7,11", [3, 7, 11]), ("5", [5])])
def test_seed_lists_parse(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["4..1", "a..b", "1,1", "-1", ""])
def test_bad_seed_lists_are_refused(text):
    with pytest.raises(ValueError):
        parse_seeds(text)
