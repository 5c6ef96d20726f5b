"""The result store: records addressed by claim, scale and parameter hash; one atomic write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lth.cli import main
from lth.figures import MissingResult, load_claim_record
from lth.store import RunDirectory, read_json, select_claim_record, settings_hash, write_atomic, write_claim_record

QUICK_RSS = ["--param", "eps_fit=(0.2, 0.1)", "--param", "eps_test=(0.05,)", "--param", "trials=150",
             "--param", "test_trials=200", "--no-progress"]


def _record(scale: str, params_hash: str, default: bool, value: float) -> dict:
    return {"claim": "x.y", "scale": scale, "params_hash": params_hash, "default_params": default,
            "certified": {"value": value, "label": ""}}


def test_a_quick_record_never_replaces_a_full_one(tmp_path: Path):
    write_claim_record(tmp_path, _record("full", "aaa", True, 1.0), seed=0, device="cpu")
    write_claim_record(tmp_path, _record("quick", "", True, 2.0), seed=0, device="cpu")
    assert select_claim_record(tmp_path, "x.y")["record"]["certified"]["value"] == 1.0
    assert select_claim_record(tmp_path, "x.y", "quick")["record"]["certified"]["value"] == 2.0
    assert len(list((tmp_path / "claims" / "x.y").glob("*.json"))) == 2


def test_default_parameters_are_preferred_over_overridden_ones_of_the_same_scale(tmp_path: Path):
    write_claim_record(tmp_path, _record("quick", "", True, 1.0), seed=0, device="cpu")
    write_claim_record(tmp_path, _record("quick", "bbb", False, 3.0), seed=0, device="cpu")
    assert select_claim_record(tmp_path, "x.y")["record"]["certified"]["value"] == 1.0


def test_a_missing_record_names_the_command_that_makes_it(tmp_path: Path):
    with pytest.raises(MissingResult, match="lth verify x.y --scale full"):
        load_claim_record(tmp_path, "x.y", "full")


@pytest.mark.claim("rss.lueker")
def test_lth_verify_quick_leaves_a_stored_full_scale_record_untouched(tmp_path: Path):
    full = _record("full", "fff", True, 9.0) | {"claim": "rss.lueker"}
    path = write_claim_record(tmp_path, full, seed=0, device="cpu")
    before = path.read_bytes()
    assert main(["verify", "rss.lueker", *QUICK_RSS, "--out", str(tmp_path)]) == 0
    assert path.read_bytes() == before
    assert load_claim_record(tmp_path, "rss.lueker")["certified"]["value"] == 9.0
    assert load_claim_record(tmp_path, "rss.lueker", "quick")["scale"] == "quick"


def test_the_settings_hash_ignores_defaults_and_sees_changes():
    from lth.simulations.imp import ImpSettings

    assert settings_hash(ImpSettings()) == settings_hash(ImpSettings(rounds=15))
    assert settings_hash(ImpSettings(rounds=3)) != settings_hash(ImpSettings())


def test_atomic_writes_take_text_bytes_and_writers(tmp_path: Path):
    write_atomic(tmp_path / "a.txt", "text")
    write_atomic(tmp_path / "b.bin", b"\x00\x01")
    write_atomic(tmp_path / "c.bin", lambda handle: handle.write(b"xyz"))
    assert (tmp_path / "a.txt").read_text() == "text"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01" and (tmp_path / "c.bin").read_bytes() == b"xyz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.bin"]


def test_a_run_directory_round_trips_state_and_finished_results(tmp_path: Path):
    import torch

    run = RunDirectory(tmp_path / "run", seed=1, device="cpu")
    assert run.load_state() is None and run.load_finished() is None
    run.save_state({"level": 2, "w": torch.ones(3)})
    assert run.load_state()["level"] == 2
    run.finish({"levels": [1]}, {"w": torch.zeros(2)})
    summary, tensors = run.load_finished()
    assert summary["levels"] == [1] and tensors["w"].tolist() == [0.0, 0.0]
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    assert read_json(tmp_path / "run" / "result.json")["provenance"]["seed"] == 1
