"""The claim registry, check records, provenance and atomic result files."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from lth import registry, store
from lth.store import SCHEMA_VERSION, read_json, write_atomic, write_json
from lth.registry import Quantity, Record, all_claims, claim, run_claim


@dataclass(frozen=True)
class _Params:
    value: int = 1


def test_a_duplicate_claim_id_is_refused():
    existing = next(iter(all_claims()))
    with pytest.raises(ValueError, match="registered twice"):
        claim(existing, "again", proof="proofs/rss.md", params=_Params)(lambda p, ctx: None)


def test_an_unknown_parameter_override_names_the_valid_ones():
    with pytest.raises(ValueError, match="has no parameter"):
        run_claim("rss.lueker", no_such_field=3)


def test_an_exception_inside_a_check_becomes_an_error_verdict(monkeypatch):
    def broken(p, ctx):
        raise RuntimeError("boom")

    monkeypatch.setitem(registry._CLAIMS, "tmp.broken",
                        registry.Claim("tmp.broken", "s", "proofs/rss.md", broken, _Params, {}))
    record = run_claim("tmp.broken")
    assert record.verdict == "error" and "boom" in record.reason
    assert record.claim == "tmp.broken" and record.params == {"value": 1}


def test_records_refuse_unknown_verdicts():
    with pytest.raises(ValueError):
        Record("maybe", "no such verdict")


@pytest.mark.claim("rss.lueker")
def test_the_same_seed_gives_the_same_numbers_on_cpu():
    kwargs = dict(device="cpu", seed=5, eps_fit=(0.2, 0.1), eps_test=(0.05,), trials=200, test_trials=300)
    first, second = run_claim("rss.lueker", **kwargs), run_claim("rss.lueker", **kwargs)
    assert first.details == second.details
    assert (first.certified, first.empirical, first.verdict) == (second.certified, second.empirical, second.verdict)
    third = run_claim("rss.lueker", **{**kwargs, "seed": 6})
    assert third.details["scan"]["rows"] != first.details["scan"]["rows"]


def test_result_files_carry_schema_and_provenance(tmp_path: Path):
    path = write_json(tmp_path / "r.json", {"x": 1}, seed=3, device="cpu")
    doc = read_json(path)
    assert doc["schema"] == SCHEMA_VERSION and doc["x"] == 1
    prov = doc["provenance"]
    assert prov["seed"] == 3 and prov["device"] == "cpu" and prov["versions"]["torch"]
    assert {"git_commit", "git_dirty", "argv", "utc_time"} <= set(prov)


def test_a_record_names_the_code_at_the_start_of_the_run_not_at_its_end(tmp_path: Path, monkeypatch):
    """A long run whose tree is committed to meanwhile must not name the later commit as its code."""
    heads = iter(["start-commit", "later-commit"])
    monkeypatch.setattr(store, "_git", lambda *args: next(heads) if args[0] == "rev-parse" else "")
    store.code_state.cache_clear()
    try:
        store.code_state()  # what lth verify does before any work
        doc = read_json(write_json(tmp_path / "r.json", {}, seed=0, device="cpu"))
    finally:
        store.code_state.cache_clear()
    assert doc["provenance"]["git_commit"] == "start-commit" and doc["provenance"]["git_dirty"] is False


def test_an_interrupted_atomic_write_leaves_the_old_file_intact(tmp_path: Path, monkeypatch):
    target = tmp_path / "r.json"
    write_atomic(target, "old")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_quantities_serialise_to_json():
    record = Record("holds", "ok", bound=Quantity(0.1, "b"))
    assert json.loads(json.dumps(record.to_dict()))["bound"] == {"value": 0.1, "label": "b"}


def test_a_fault_is_kept_apart_from_the_parameters_and_recorded():
    record = run_claim("rss.lueker", eps_fit=(0.2, 0.1), eps_test=(0.05,), trials=100, test_trials=100,
                       faults={"n_offset": -3})
    assert "n_offset" not in record.params and record.faults == {"n_offset": -3}
    assert not record.default_params and "-faults-" in record.params_hash


def test_an_unknown_fault_or_a_mistyped_parameter_is_refused_before_work():
    with pytest.raises(ValueError, match="has no fault"):
        run_claim("rss.lueker", faults={"nope": 1})
    with pytest.raises(ValueError, match="wrong type"):
        run_claim("rss.lueker", trials="abc")


def test_every_claim_builds_its_quick_and_full_parameters():
    for claim_id, entry in all_claims().items():
        quick, full = entry.parameters("quick"), entry.parameters("full")
        assert set(entry.full) <= set(dataclasses.asdict(full)), claim_id
        assert type(quick) is type(full) is entry.params


def test_runs_at_different_seeds_share_no_draw():
    """Draw j at seed s must not be draw j' at seed s' (with seed + offset, draw 1 at seed 0 was draw 0
    at seed 1, so `lth verify --seeds` pooled the same draws several times)."""
    from lth.registry import Context

    streams = [Context(torch.device("cpu"), seed).stream(offset) for seed in range(20) for offset in range(200)]
    assert len(set(streams)) == len(streams) and all(0 <= s < 2**63 for s in streams)
    assert Context(torch.device("cpu"), 3).stream(7) == Context(torch.device("cpu"), 3).stream(7)
    a, b = Context(torch.device("cpu"), 0).generator(1), Context(torch.device("cpu"), 1).generator(0)
    assert not torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))
