"""The sweep layer (lth.sweep): tasks in order, stored and reused, the same records on any number of
Dask workers, and a sweep that survives a killed worker. The Dask tests start their own two-process
LocalCluster; nothing needs a running scheduler."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import lth.claims.rss as rss
from lth.cli import main
from lth.registry import run_claim
import lth.sweep as sweep_module
from lth.sweep import DaskCost, Sweep, Task, TaskStore, check_workers, in_process_hint, open_sweep

# A reduced "full" rss.lueker: several scan tasks, an early stop, and three test chunks per ε.
REDUCED_FULL = dict(eps_fit=(0.2, 0.1, 0.05), eps_test=(0.03, 0.02), trials=150, test_trials=600, n_max=24,
                    hist_n=8)
REDUCED_POOLS_PER_TASK = 200


def square_plus(x: int, offset: float) -> dict:
    return {"value": x * x + offset, "pair": (x, offset)}


def exit_once(marker: str, x: int) -> int:
    """Kills the worker process running it the first time (marker absent), then returns 2x."""
    if not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return 2 * x


def sleep_then(x: int, seconds: float) -> int:
    import time

    time.sleep(seconds)
    return x


def store_in(tmp_path: Path) -> TaskStore:
    return TaskStore.for_claim(tmp_path, "demo", "quick", "0" * 12, seed=0, device="cpu")


@pytest.fixture(scope="module")
def cluster():
    """A two-process LocalCluster (one thread per worker), shared by this module's Dask tests."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as local, distributed.Client(local) as client:
        yield local, client


def reduced_full_record(sweep: Sweep, monkeypatch) -> dict:
    monkeypatch.setattr(rss, "POOLS_PER_TASK", REDUCED_POOLS_PER_TASK)
    record = run_claim("rss.lueker", scale="full", engine=sweep, **REDUCED_FULL).to_dict()
    record.pop("wall_s")
    return record


@given(st.lists(st.integers(-50, 50), max_size=12), st.floats(-1, 1))
def test_an_in_process_sweep_returns_json_results_in_task_order(values, offset):
    tasks = [Task(f"t{i}", (x, offset)) for i, x in enumerate(values)]
    results = Sweep().map(square_plus, tasks, progress=False)
    assert results == [{"value": x * x + offset, "pair": [x, offset]} for x in values]


@given(st.integers(0, 9))
def test_a_sweep_stops_at_the_first_prefix_that_satisfies_until(stop):
    calls = []

    def record_call(x: int) -> int:
        calls.append(x)
        return x

    results = Sweep().map(record_call, (Task(f"t{i}", (i,)) for i in range(10)), progress=False,
                          until=lambda prefix: prefix[-1] == stop)
    assert results == list(range(stop + 1)) and calls == results


def test_a_second_sweep_reuses_every_stored_task_and_computes_nothing(tmp_path):
    calls = []

    def count_call(x: int) -> int:
        calls.append(x)
        return x + 1

    tasks = [Task(f"t{i}", (i,)) for i in range(5)]
    first = Sweep().map(count_call, tasks, store=store_in(tmp_path), progress=False)
    second = Sweep().map(count_call, tasks, store=store_in(tmp_path), progress=False)
    assert first == second == [1, 2, 3, 4, 5] and calls == [0, 1, 2, 3, 4]


def test_an_interrupted_sweep_resumes_with_only_the_unfinished_tasks(tmp_path):
    calls = []

    def fail_at_three(x: int) -> int:
        calls.append(x)
        if x == 3 and calls.count(3) == 1:
            raise KeyboardInterrupt  # the sweep is killed while task 3 runs
        return -x

    tasks = [Task(f"t{i}", (i,)) for i in range(6)]
    with pytest.raises(KeyboardInterrupt):
        Sweep().map(fail_at_three, tasks, store=store_in(tmp_path), progress=False)
    resumed = Sweep().map(fail_at_three, tasks, store=store_in(tmp_path), progress=False)
    assert resumed == [0, -1, -2, -3, -4, -5] and calls == [0, 1, 2, 3, 3, 4, 5]


def test_a_stored_task_with_other_inputs_is_computed_again(tmp_path):
    Sweep().map(square_plus, [Task("t0", (2, 0.0))], store=store_in(tmp_path), progress=False)
    again = Sweep().map(square_plus, [Task("t0", (3, 0.0))], store=store_in(tmp_path), progress=False)
    assert again == [{"value": 9.0, "pair": [3, 0.0]}]


def test_a_task_id_that_is_not_a_file_name_is_refused():
    with pytest.raises(ValueError, match="task id"):
        Task("../escape", ())


def test_a_repeated_task_id_in_one_sweep_is_refused():
    with pytest.raises(ValueError, match="appears twice"):
        Sweep().map(square_plus, [Task("t", (1, 0.0)), Task("t", (2, 0.0))], progress=False)


def test_zero_workers_exit_2_before_any_work(tmp_path, capsys):
    assert main(["verify", "rss.lueker", "--out", str(tmp_path), "--workers", "0"]) == 2
    assert "--workers: 0 is not allowed: give an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "verify.json").exists()


def test_workers_and_a_scheduler_together_exit_2_before_any_work(tmp_path):
    status = main(["verify", "rss.lueker", "--out", str(tmp_path), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert status == 2 and not (tmp_path / "verify.json").exists()


def test_open_sweep_refuses_workers_and_scheduler_together():
    with pytest.raises(ValueError, match="not both"), open_sweep(2, "tcp://127.0.0.1:1"):
        pass


@pytest.mark.claim("rss.lueker")
def test_a_reduced_full_lueker_run_gives_the_same_record_on_one_two_and_four_workers(cluster, monkeypatch):
    local, client = cluster
    serial = reduced_full_record(Sweep(), monkeypatch)
    assert serial["verdict"] == "holds", serial["reason"]
    assert len(serial["details"]["scan"]["rows"]) < REDUCED_FULL["n_max"]  # the scan stopped early
    assert reduced_full_record(Sweep(client), monkeypatch) == serial
    local.scale(4)
    client.wait_for_workers(4)
    try:
        assert reduced_full_record(Sweep(client), monkeypatch) == serial
    finally:
        local.scale(2)


def test_a_sweep_whose_worker_dies_finishes_with_every_result_stored(cluster, tmp_path):
    _, client = cluster
    marker = str(tmp_path / "killed-once")
    tasks = [Task(f"t{i}", (marker, i)) for i in range(6)]
    results = Sweep(client).map(exit_once, tasks, store=store_in(tmp_path), progress=False)
    assert os.path.exists(marker)  # a worker really died mid-sweep
    assert results == [0, 2, 4, 6, 8, 10]
    stored = sorted((tmp_path / "tasks").rglob("t*.json"))
    assert [json.loads(p.read_text())["result"] for p in stored] == results


def test_a_local_cluster_leaves_this_process_environment_as_it_found_it():
    # regression: Dask's nanny wrote NUMBA_NUM_THREADS=1 into the parent's environment, and numba then
    # refused to compile ("Cannot set NUMBA_NUM_THREADS to a different value") after the sweep
    pytest.importorskip("distributed")
    before = dict(os.environ)
    with open_sweep(1, announce=lambda text: None) as sweep:
        assert sweep.map(square_plus, [Task("t0", (3, 0.5))], progress=False)[0]["value"] == 9.5
    assert dict(os.environ) == before


def test_a_worker_running_other_code_is_refused_in_one_line_naming_it(cluster, monkeypatch):
    _, client = cluster
    check_workers(client)  # same checkout: accepted
    monkeypatch.setattr(sweep_module, "code_fingerprint", lambda: "0" * 16)  # the client's code changed
    with pytest.raises(ValueError, match=r"Dask worker tcp://\S+ runs other code \(fingerprint [0-9a-f]{16}, "
                                         r"this client 0{16}\)"):
        check_workers(client)


def test_a_task_submitted_under_another_fingerprint_fails_instead_of_storing_a_result(cluster, tmp_path, monkeypatch):
    _, client = cluster
    monkeypatch.setattr(sweep_module, "code_fingerprint", lambda: "f" * 16)
    with pytest.raises(RuntimeError, match="runs other code"):
        Sweep(client).map(square_plus, [Task("t0", (3, 0.5))], store=store_in(tmp_path), progress=False)
    assert not list((tmp_path / "tasks").rglob("t0.json"))


def test_a_stored_task_computed_by_other_code_is_not_reused(tmp_path, monkeypatch):
    store = store_in(tmp_path)
    Sweep().map(square_plus, [Task("t0", (3, 0.5))], store=store, progress=False)
    monkeypatch.setattr(sweep_module, "code_fingerprint", lambda: "e" * 16)
    calls = []
    Sweep().map(lambda *a: calls.append(a) or square_plus(*a), [Task("t0", (3, 0.5))], store=store, progress=False)
    assert calls == [(3, 0.5)]


def test_the_fingerprint_changes_when_a_module_changes(tmp_path, monkeypatch):
    package = tmp_path / "theory"
    package.mkdir()
    (package / "__init__.py").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sweep_module, "PACKAGES", ("theory",))
    import importlib
    import sys

    monkeypatch.delitem(sys.modules, "theory", raising=False)
    importlib.invalidate_caches()
    sweep_module.code_fingerprint.cache_clear()
    try:
        first = sweep_module.code_fingerprint()
        (package / "__init__.py").write_text("x = 2\n")
        sweep_module.code_fingerprint.cache_clear()
        assert sweep_module.code_fingerprint() != first
    finally:
        sweep_module.code_fingerprint.cache_clear()


WITHOUT_PACKAGE = ("import sys; sys.modules['lth'] = None; sys.argv = ['dask-worker', sys.argv[1], '--nthreads', '1', "
                   "'--no-nanny']; from distributed.cli.dask_worker import main; main()")


def test_a_worker_that_cannot_import_the_package_is_refused_at_connect(tmp_path):
    distributed = pytest.importorskip("distributed")
    import subprocess
    import sys

    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=None, silence_logs=50) as local, \
            distributed.Client(local) as client:
        worker = subprocess.Popen([sys.executable, "-c", WITHOUT_PACKAGE, local.scheduler_address], cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client.wait_for_workers(1, timeout=60)
            with pytest.raises(ValueError, match=r"Dask worker tcp://\S+ cannot run lth-toolkit"):
                check_workers(client)
        finally:
            worker.kill()
            worker.wait()


@given(st.integers(1, 64), st.floats(0, 100), st.floats(0, 100), st.floats(0, 1000), st.integers(0, 500))
def test_the_in_process_hint_appears_exactly_when_the_tasks_cost_less_than_start_and_wait(threads, start, wait,
                                                                                        task_s, tasks):
    hint = in_process_hint(DaskCost(threads, start, wait, task_s, tasks))
    assert (hint is None) == (task_s >= start + wait)
    if hint is not None:
        assert len(hint.splitlines()) == 1 and "--workers/--scheduler" in hint
        assert ("worker thread(s)" in hint) == (tasks < threads)


def test_a_dask_run_of_tiny_tasks_says_in_process_is_faster_and_one_of_long_tasks_does_not(cluster):
    local, _ = cluster
    for seconds, tasks, expected in ((0.0, 1, "1 task(s) for 2 worker thread(s)"), (0.5, 8, None)):
        lines: list[str] = []
        with open_sweep(scheduler=local.scheduler_address, announce=lines.append) as sweep:
            work = [Task(f"t{i}", (i, seconds)) for i in range(tasks)]
            assert sweep.map(sleep_then, work, progress=False) == list(range(tasks))
        assert sweep.cost.tasks == tasks and sweep.cost.task_s >= seconds * tasks
        hint = lines[-1] if lines[-1].startswith("dask: in-process") else None
        assert (hint is None) == (expected is None) and (expected is None or expected in hint), lines
