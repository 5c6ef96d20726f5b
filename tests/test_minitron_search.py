"""Lightweight architecture search: the candidates are legal sub-architectures at the asked size, and
the search ranks every one of them before and after brief distillation."""

from __future__ import annotations

import json

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lth.cli import main
from lth.simulations.minitron.llama import Architecture, check_target, tiny_llama
from lth.simulations.minitron.search import enumerate_candidates
from lth.theory.device import cpu_threads, generator

SMOLLM2 = Architecture(hidden=576, heads=9, kv_heads=3, intermediate=1536, layers=30, head_dim=64)


@settings(max_examples=20, deadline=None)
@given(st.floats(0.45, 0.95), st.floats(0.02, 0.1), st.integers(1, 8))
def test_candidates_are_legal_and_within_the_tolerance(fraction, tolerance, limit):
    target = int(fraction * SMOLLM2.parameters(49_152))
    found = enumerate_candidates(SMOLLM2, 49_152, target, tolerance, limit)
    assert len(found) <= limit
    for candidate in found:
        check_target(SMOLLM2, candidate.architecture, "within")  # raises if not a sub-architecture
        assert candidate.architecture.hidden % candidate.architecture.heads == 0
        assert abs(candidate.parameters - target) <= tolerance * target
        assert candidate.parameters == candidate.architecture.parameters(49_152)


def test_width_only_and_depth_only_candidates_are_kept_when_the_grid_has_them():
    kinds = {c.kind(SMOLLM2) for c in enumerate_candidates(SMOLLM2, 49_152, 100_000_000, 0.05, 3)}
    assert {"width-only", "depth-only"} <= kinds


def test_the_search_command_ranks_every_candidate(tmp_path, capsys):
    model = tmp_path / "tiny"
    tiny_llama(generator(0, torch.device("cpu"))).save_pretrained(model)
    arch = Architecture.of(tiny_llama(generator(0, torch.device("cpu"))))
    out = tmp_path / "search.json"
    with cpu_threads(1):
        assert main(["minitron", "search", str(model), "--params", str(int(0.8 * arch.parameters(256))),
                     "--tolerance", "0.1", "--limit", "3", "--steps", "2", "--calibration", "2", "--length", "16",
                     "--heldout", "2", "--no-progress", "--text", "code", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("cost: 3 candidates")
    result = json.loads(out.read_text())
    assert sorted(r["zero_shot_rank"] for r in result["rows"]) == [1, 2, 3]
    assert sorted(r["retrained_rank"] for r in result["rows"]) == [1, 2, 3]
    assert -1 <= result["spearman"] <= 1


def test_a_size_no_candidate_reaches_is_refused_in_one_line(tmp_path, capsys):
    model = tmp_path / "tiny"
    tiny_llama(generator(0, torch.device("cpu"))).save_pretrained(model)
    assert main(["minitron", "search", str(model), "--params", "10", "--out", str(tmp_path / "s.json"),
                 "--no-progress", "--text", "code"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no grid sub-architecture" in err and len(err.splitlines()) == 1
