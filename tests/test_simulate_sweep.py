"""``lth simulate imp|transfer --workers N``: one task per seed, merged into the batched run's rows.

Every random stream of an IMP run is drawn per seed (``lth.simulations.imp._generators``), so seed ``s``
run alone trains exactly the replica ``s`` of the batched run; these tests check that the merged
per-seed rows equal the batched rows bit for bit, in-process and on a two-process LocalCluster.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lth.cli import main
from lth.imp_seeds import merge_seeds, one_seed
from lth.simulations.imp import protocol, run_imp, run_transfer

TINY = {"seeds": 2, "rounds": 1, "iterations": 40, "eval_every": 20}
CPU = torch.device("cpu")


def tiny(**changes):
    return protocol("quick", **{**TINY, **changes})


def test_imp_seeds_run_one_by_one_merge_into_the_batched_run():
    settings = tiny()
    batched = run_imp(settings, CPU, progress=False).levels
    alone = [run_imp(one_seed(settings, i), CPU, progress=False).levels for i in range(settings.seeds)]
    assert merge_seeds(alone) == batched


def test_transfer_seeds_run_one_by_one_merge_into_the_batched_run():
    target = tiny()
    source = dataclasses.replace(target, optimizer="sgd", lr=0.05, controls=False)
    batched = run_transfer(source, target, CPU, progress=False)
    alone = [run_transfer(one_seed(source, i), one_seed(target, i), CPU, progress=False) for i in range(target.seeds)]
    assert merge_seeds(alone) == batched


@given(st.lists(st.floats(0, 1), min_size=1, max_size=4), st.lists(st.floats(0, 1), min_size=1, max_size=4))
def test_merging_concatenates_every_metric_in_seed_order(first, second):
    rows = [[{"level": 0, "remaining": 1.0, "variants": {"dense": {"test_acc": values}}}] for values in (first, second)]
    assert merge_seeds(rows)[0]["variants"]["dense"]["test_acc"] == first + second


def test_seeds_that_disagree_on_a_shared_field_are_refused():
    rows = [[{"level": 1, "remaining": r, "variants": {}}] for r in (0.5, 0.6)]
    with pytest.raises(ValueError, match="remaining"):
        merge_seeds(rows)


def test_lth_simulate_imp_on_two_workers_writes_the_in_process_rows_and_stores_each_seed(tmp_path):
    pytest.importorskip("distributed")
    flags = ["simulate", "imp", "--preset", "quick", "--seeds", "2", "--rounds", "1", "--iterations", "40",
             "--eval-every", "20", "--device", "cpu", "--no-progress"]
    assert main(flags + ["--out", str(tmp_path / "local")]) == 0
    assert main(flags + ["--out", str(tmp_path / "dask"), "--workers", "2"]) == 0
    local, = (tmp_path / "local").glob("imp/*/result.json")
    dask, = (tmp_path / "dask").glob("imp/*/result.json")
    assert json.loads(dask.read_text())["levels"] == json.loads(local.read_text())["levels"]
    assert len(list(dask.parent.glob("seeds/*.json"))) == 2  # one stored task per seed


def test_an_imp_claim_on_two_dask_workers_gives_the_in_process_record(tmp_path):
    pytest.importorskip("distributed")
    from lth.registry import run_claim
    from lth.sweep import open_sweep

    small = {"seeds": 3, "rounds": 2, "iterations": 40, "eval_every": 20}
    local = run_claim("sim.imp.controls", results=tmp_path / "local", **small).to_dict()
    with open_sweep(2, announce=lambda text: None) as sweep:
        dask = run_claim("sim.imp.controls", engine=sweep, results=tmp_path / "dask", **small).to_dict()
    for record in (local, dask):
        record.pop("wall_s")
    assert dask == local
    assert len(list((tmp_path / "dask").glob("tasks/sim.imp.controls/*/*/imp-*.json"))) == 3
