"""Sweeps: a check's full-scale work as independent tasks, run in-process or on Dask, stored per task.

A check splits its work into :class:`Task` objects (an id and the arguments of one module-level
function: seeds, ε values, pool chunks) and calls ``ctx.map(fn, tasks, desc=...)`` on its
:class:`lth.registry.Context`; the results come back **in task order**, so whatever merges them sees
the same list whatever the number of workers or the order they finish in. Every random draw a
task needs is either made by the caller in task order (and passed in) or seeded from the task's own
arguments, never from a worker's state.

Engines (:class:`Sweep`): without a client, tasks run one after another in the calling process (the
default; nothing to install or start); with a Dask ``distributed`` client they run on its workers —
a ``LocalCluster`` of ``--workers N`` processes with one thread each, or an existing scheduler
(``--scheduler tcp://host:8786``) for many machines. Dask does the scheduling, the retries after a
lost worker (``distributed.scheduler.allowed-failures``) and the transport; this module only orders
results, stores them and draws one progress bar over the tasks.

Storage (:class:`TaskStore`): each finished task is written by the client with
:func:`lth.store.write_atomic` to ``RESULTS/tasks/<claim>/<scale>-<params hash>/seed-<seed>-<device>/<task id>.json``
together with a digest of its function, its arguments and the code fingerprint (:func:`code_fingerprint`:
a hash of every module of the project's packages, as this process imports them); a later run with
the same digest reuses it, so a killed sweep resumes where it
stopped and a second run recomputes nothing. Results pass through JSON both when fresh and when
reused, so a resumed run merges exactly the same values as an uninterrupted one; task functions
therefore return JSON data (numbers, strings, lists, dicts with string keys).

Workers run the client's code or none: on connect every worker reports its fingerprint and a worker
that differs (another checkout, another version) or cannot import the package is refused in one line
naming it; every task also carries the client's fingerprint and a worker that does not match refuses
it, so no result computed by other code is stored under this code's digest. Caches that live in a
worker process (IMP runs shared between claims) are cleared on connect, so a long-lived worker never
hands a new client a result from an earlier session. A worker that leaves or joins during a sweep is
reported as it happens. When the run is over, one line says so if it would likely have been faster
in this process (:func:`in_process_hint`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from lth.extensions import claim_packages
from lth.store import _jsonable, read_json, write_atomic

if TYPE_CHECKING:  # imported where used: lth.validate asks for code_fingerprint without loading torch
    from tqdm.auto import tqdm

_TASK_ID = re.compile(r"[A-Za-z0-9_.=+-]+")
_MISSING = object()


@dataclass(frozen=True)
class Task:
    """One independent piece of a check: ``fn(*args)`` under an id unique within its map call.

    ``id`` names the stored result (letters, digits and ``_ . = + -``), e.g. ``scan-n0017``.
    """

    id: str
    args: tuple

    def __post_init__(self) -> None:
        if not _TASK_ID.fullmatch(self.id):
            raise ValueError(f"task id {self.id!r} may only contain letters, digits and _ . = + -")


PACKAGES = ("lth", "lth.theory", "lth.simulations")  # whose source the fingerprint covers


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 (16 hex) over the package version and every ``.py`` file of :data:`PACKAGES` as this
    process would import them (relative path and bytes, sorted), git or not, committed or not, then
    over each installed ``lth.claims`` entry point (:mod:`lth.extensions`) and its package's ``.py``
    files, so that installing, removing or changing another package's claims changes the fingerprint.

    Computed once per process: stored tasks are reused only under the code that produced them, and a
    worker whose fingerprint differs from the client's is refused.
    """
    from importlib import metadata

    try:
        version = metadata.version("lth-toolkit")
    except metadata.PackageNotFoundError:
        version = "unknown"
    digest = hashlib.sha256(f"lth-toolkit {version};".encode())
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            digest.update(f"{package}: missing;".encode())
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{package}/{path.relative_to(root).as_posix()}:".encode())
            digest.update(path.read_bytes())
    for package in claim_packages():
        digest.update(f"{package.name}={package.module} ({package.distribution} {package.version}):".encode())
        for path in sorted(package.root.rglob("*.py")):
            digest.update(f"{path.relative_to(package.root).as_posix()}:".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _feed(digest: "hashlib._Hash", value: Any) -> None:
    """Hash ``value`` by content: arrays by dtype, shape and bytes; containers element by element."""
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        digest.update(f"array:{value.dtype.str}:{value.shape}:".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (tuple, list)):
        digest.update(f"{type(value).__name__}:{len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, dict):
        digest.update(f"dict:{len(value)}:".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _feed(digest, (type(value).__qualname__, dataclasses.asdict(value)))
    elif value is None or isinstance(value, (str, int, float, bool, np.generic)):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
    else:
        raise TypeError(f"task argument of type {type(value).__name__} cannot be hashed for the task store")


def task_digest(fn: Callable, args: tuple) -> str:
    """What a stored task must match to be reused: function, arguments, code fingerprint."""
    digest = hashlib.sha256(f"{fn.__module__}.{fn.__qualname__}@{code_fingerprint()}:".encode())
    _feed(digest, args)
    return digest.hexdigest()


def as_json_data(result: Any) -> Any:
    """``result`` after a JSON round trip (tuples become lists, arrays lists, keys strings)."""
    return json.loads(json.dumps(result, default=_jsonable))


class TaskStore:
    """The finished tasks of one check run, one JSON file per task (see the module docstring)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    @classmethod
    def for_claim(cls, results: Path, claim_id: str, scale: str, params_hash: str, seed: int,
                  device: str) -> "TaskStore":
        """``RESULTS/tasks/<claim>/<scale>-<params hash>/seed-<seed>-<device type>/``."""
        import torch

        device_type = torch.device(device).type
        return cls(Path(results) / "tasks" / claim_id / f"{scale}-{params_hash}" / f"seed-{seed}-{device_type}")

    def path(self, task: Task) -> Path:
        return self.directory / f"{task.id}.json"

    def load(self, task: Task, digest: str) -> Any:
        """The stored result of ``task`` when its digest matches, else ``_MISSING``."""
        path = self.path(task)
        if not path.exists():
            return _MISSING
        try:
            stored = read_json(path)
        except (OSError, ValueError):
            return _MISSING  # unreadable: computed again and replaced
        return stored["result"] if stored.get("digest") == digest else _MISSING

    def save(self, task: Task, digest: str, result: Any) -> None:
        write_atomic(self.path(task), json.dumps({"task": task.id, "digest": digest, "result": result}) + "\n")


@dataclass
class DaskCost:
    """What the Dask runs of one command cost, in seconds (see :func:`in_process_hint`)."""

    threads: int  # worker threads of the cluster
    start_s: float = 0.0  # starting the cluster (or connecting to it) and checking every worker
    wait_s: float = 0.0  # the client blocked waiting for results
    task_s: float = 0.0  # the tasks' own compute times, summed, as measured on the workers
    tasks: int = 0  # tasks computed on the workers (stored or shared results not counted)


def in_process_hint(cost: DaskCost) -> str | None:
    """One line when the same run would likely have been faster in this process, else None.

    Rule: in-process, the client does the same work of its own (drawing tasks, storing results) and
    then runs the tasks one after another, so it spends ``task_s`` where the Dask run spent
    ``start_s + wait_s``; in-process is likely faster when ``task_s < start_s + wait_s``. ``task_s``
    is measured on workers with one thread each, and a task here runs with at least one, so the
    in-process side is not underestimated. The line names the likely reason: fewer tasks than worker
    threads, or tasks too short to amortise the start.
    """
    if cost.task_s >= cost.start_s + cost.wait_s:
        return None
    if cost.tasks < cost.threads:
        reason = f"{cost.tasks} task(s) for {cost.threads} worker thread(s)"
    else:
        reason = f"{cost.tasks} tasks of {cost.task_s / cost.tasks:.2g} s on average do not amortise the start"
    return (f"dask: in-process would likely have been faster ({reason}): the tasks took {cost.task_s:.1f} s of "
            f"compute in all, the cluster {cost.start_s:.1f} s to start and {cost.wait_s:.1f} s of waiting; "
            "leave out --workers/--scheduler for runs this small")


class Sweep:
    """Runs tasks in order in this process (``client=None``) or on the workers of a Dask client;
    with a client, :attr:`cost` adds up what the Dask runs cost."""

    def __init__(self, client: Any = None):
        self.client = client
        self.done: dict[str, Any] = {}  # results by task digest: checks sharing a task compute it once
        self.workers: set[str] | None = None
        self.cost = DaskCost(sum(client.nthreads().values())) if client is not None else None

    def _report_workers(self, bar: tqdm) -> None:
        """One line per worker that left or joined since the last look (Dask retries its tasks)."""
        now = set(self.client.nthreads())
        if self.workers is not None:
            for address in sorted(self.workers - now):
                bar.write(f"dask: worker {address} lost; its tasks are retried on the others")
            for address in sorted(now - self.workers):
                bar.write(f"dask: worker {address} joined")
        self.workers = now

    def _window(self) -> int:
        """Tasks in flight at once: all worker threads busy with one task queued behind each."""
        if self.client is None:
            return 1
        return max(2, 2 * sum(self.client.nthreads().values()))

    def map(self, fn: Callable, tasks: Iterable[Task], *, store: TaskStore | None = None, desc: str = "tasks",
            total: int | None = None, until: Callable[[list], bool] | None = None, progress: bool = True) -> list:
        """``[fn(*task.args) for task in tasks]`` as JSON data, in task order.

        ``tasks`` is consumed lazily (a generator may draw each task's pools as it is asked for).
        ``until(prefix)`` is called on every longer in-order prefix of results; when it returns True
        the sweep stops there, cancels what is still running and returns that prefix — the same
        prefix a one-by-one run returns, whatever ran ahead on other workers. Stored tasks with a
        matching digest are reused; fresh ones are stored as soon as they arrive.
        """
        from tqdm.auto import tqdm

        pending = iter(tasks)
        window = self._window()
        finished: dict[int, Any] = {}
        running: dict[Any, tuple[int, Task, str]] = {}
        prefix: list = []
        seen: set[str] = set()
        pulled, exhausted, reused = 0, False, 0

        def finish(index: int, task: Task, digest: str, result: Any) -> None:
            result = as_json_data(result)
            if store is not None:
                store.save(task, digest, result)
            self.done[digest] = result
            finished[index] = result
            bar.update()

        with tqdm(total=total, desc=desc, leave=False, disable=not progress) as bar:
            try:
                while True:
                    while len(prefix) in finished:
                        prefix.append(finished.pop(len(prefix)))
                        if until is not None and until(prefix):
                            return prefix
                    if not exhausted and len(running) < window:
                        task = next(pending, None)
                        if task is None:
                            exhausted = True
                            continue
                        if task.id in seen:
                            raise ValueError(f"task id {task.id!r} appears twice in one sweep")
                        seen.add(task.id)
                        index, pulled = pulled, pulled + 1
                        digest = task_digest(fn, task.args)
                        stored = self.done.get(digest, _MISSING)
                        if stored is _MISSING and store is not None:
                            stored = store.load(task, digest)
                        if stored is not _MISSING:
                            finished[index] = stored
                            reused += 1
                            bar.update()
                            bar.set_postfix_str(f"{reused} reused")
                        elif self.client is None:
                            finish(index, task, digest, fn(*task.args))
                        else:
                            future = self.client.submit(_on_worker, fn, code_fingerprint(), *task.args,
                                                        pure=False, key=f"{desc}/{task.id}/{digest[:12]}")
                            running[future] = (index, task, digest)
                        continue
                    if not running:
                        return prefix
                    from distributed import wait

                    waited = time.perf_counter()
                    try:
                        done = wait(list(running), timeout=WATCH_S, return_when="FIRST_COMPLETED").done
                    except TimeoutError:  # nothing finished within WATCH_S: look at the workers, wait again
                        done = set()
                    self.cost.wait_s += time.perf_counter() - waited
                    self._report_workers(bar)
                    for future in done:
                        index, task, digest = running.pop(future)
                        result, seconds = future.result()
                        self.cost.task_s += seconds
                        self.cost.tasks += 1
                        finish(index, task, digest, result)
            finally:
                if running:
                    self.client.cancel(list(running))


def _restore_environ(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


def _on_worker(fn: Callable, fingerprint: str, *args: Any) -> tuple[Any, float]:
    """``(fn(*args), its compute seconds)`` on a Dask worker with one torch and one numba thread (each
    worker thread runs one task, so more intra-op threads would only oversubscribe the cores), refused
    unless the worker runs the client's code (``fingerprint``)."""
    import numba
    import torch

    if code_fingerprint() != fingerprint:
        raise RuntimeError(f"worker code fingerprint {code_fingerprint()} differs from the client's {fingerprint}: "
                           "the worker runs other code; install the client's version there")
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


WATCH_S = 5.0  # how often a waiting sweep looks for lost or joined workers


def _worker_identity() -> str:
    """Run on each worker at connect: its code fingerprint, after clearing process-level caches."""
    from lth.simulations.imp import forget_runs

    forget_runs()
    return code_fingerprint()


def check_workers(client: Any) -> None:
    """Refuse, in one line naming the worker, a worker that cannot import the package or runs other code."""
    try:
        identities = client.run(_worker_identity, on_error="return")
    except Exception as exc:  # noqa: BLE001 - any failure to ask the workers is reported, not hidden
        raise ValueError(f"cannot query the Dask workers: {type(exc).__name__}: {exc}") from None
    mine = code_fingerprint()
    for address, identity in sorted(identities.items()):
        if isinstance(identity, BaseException):
            raise ValueError(f"Dask worker {address} cannot run lth-toolkit ({type(identity).__name__}: {identity}); "
                             "install the client's version on every worker")
        if identity != mine:
            raise ValueError(f"Dask worker {address} runs other code (fingerprint {identity}, this client {mine}); "
                             "install the same version of lth-toolkit on every worker")


@contextlib.contextmanager
def open_sweep(workers: int | None = None, scheduler: str | None = None, *,
               announce: Callable[[str], None] = print) -> Iterator[Sweep]:
    """The engine for ``--workers N`` / ``--scheduler ADDRESS`` (neither: in-process, one by one).

    ``workers``: a ``LocalCluster`` of that many worker processes, one thread each, started with
    ``spawn`` (never ``fork``: CUDA cannot be forked) and closed on exit. ``scheduler``: connect to a
    running Dask scheduler (its workers need this package installed). Bad values raise
    ``ValueError`` before any work. After a Dask run that ends normally, ``announce`` gets
    :func:`in_process_hint`'s line when in-process would likely have been faster.
    """
    if workers is not None and scheduler is not None:
        raise ValueError("give --workers or --scheduler, not both")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if workers is None and scheduler is None:
        yield Sweep()
        return
    import dask
    from distributed import Client, LocalCluster

    dashboard = importlib.util.find_spec("bokeh") is not None
    # Dask starts local workers with OMP/MKL/OpenBLAS at one thread (numba: see _on_worker). Its nanny
    # writes those variables into *this* process's environment too and never restores them; a
    # NUMBA_NUM_THREADS left there made numba refuse its next compilation here, so the environment
    # is put back when the sweep ends and numba's thread count is never passed through it.
    saved = dict(os.environ)
    started = time.perf_counter()
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        with contextlib.ExitStack() as stack:
            stack.callback(_restore_environ, saved)
            if scheduler is not None:
                try:
                    client = stack.enter_context(Client(scheduler, timeout="10s"))
                except (OSError, TimeoutError) as exc:
                    raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
            else:
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, silence_logs=logging.ERROR,
                    dashboard_address=":0"))  # a free port: never clash with another cluster's 8787
                client = stack.enter_context(Client(cluster))
            check_workers(client)
            threads = sum(client.nthreads().values())
            link = client.dashboard_link if dashboard else "none (install bokeh for the Dask dashboard)"
            announce(f"dask: {len(client.nthreads())} worker(s), {threads} thread(s) at "
                     f"{client.scheduler.address}; dashboard: {link}")
            sweep = Sweep(client)
            sweep.cost.start_s = time.perf_counter() - started
            yield sweep
            hint = in_process_hint(sweep.cost)
            if hint is not None:
                announce(hint)
