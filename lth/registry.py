"""The claim registry: one id links a proof section, a check, tests and figures.

A claim is registered by decorating its check:

.. code-block:: python

    @claim("rss.lueker", "With n >= C log2(1/eps) uniform samples ...",
           proof="proofs/rss.md", params=LuekerParams, full={"eps_test": (1e-3,)},
           faults=LuekerFaults, uses=("rss.counting",))
    def check_rss_lueker(p: LuekerParams, ctx: Context) -> Record: ...

``params`` is a frozen dataclass whose defaults are the quick scale, each field declared with
:func:`param` (default + help text, printed by ``lth list --params``, and optionally the domain the
statement covers: ``OPEN_UNIT``, ``POSITIVE``, ``COUNT``; defined without torch in
``lth.parameters`` and importable from here); ``full`` overrides fields for
``--scale full``. ``faults`` is a second frozen dataclass whose defaults mean "no fault": tests set
its fields through ``run_claim(..., faults={...})`` to feed the check a deliberately broken instance
(the check reads them as ``ctx.faults``), so fault injection never mixes with the public parameters.
``full_cost`` says what ``--scale full`` costs (measured: time, cores, device), printed before a full
run starts. ``uses`` names the claims this one builds on (leanblueprint's ``\\uses``); ``lth list --uses``
prints the graph. An empirical claim passes ``protocol`` (:class:`lth.protocol.Protocol`): its decision
rule fixed before the data; every record then carries the protocol and its digest, and a change of
either without an entry in ``proofs/amendments.md`` fails the tests (:mod:`lth.protocol`). Check modules live in :mod:`lth.claims` and are discovered automatically;
installed packages add theirs through the ``lth.claims`` entry point (:mod:`lth.extensions`): such a
claim's ``origin`` names its distribution and its ``proof`` is relative to that package's folder (``root``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import pkgutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from tqdm.auto import tqdm

from lth.extensions import claim_packages, package_of
from lth.protocol import Protocol, digest
from lth.store import REPO_ROOT, settings_hash
from lth.sweep import Sweep, Task, TaskStore
from lth.parameters import COUNT, OPEN_UNIT, POSITIVE, domains, param  # noqa: F401 - the check modules' names
from lth.validate import param_problem, unknown_names, wrong_type
from lth.verdict import VERDICTS
from lth.theory.device import generator, resolve_device

SCALES = ("quick", "full")
# Which statement a check judges (``lth list`` prints it; proofs/*.md state it per claim):
KINDS = {
    "theorem": "the theorem at its proven size: must hold on every draw (a failure is a bug, the theorem's bad "
                "event, or the construction's search missing what the theorem says exists)",
    "rate": "a measured constant: failure rate over a fixed number of draws, exact Clopper–Pearson interval "
            "against δ",
    "exact": "a deterministic identity or bound: no randomness in the statement, must hold on every instance",
    "instance": "a rigorous certificate on the drawn instance at a measured size: holds for that draw; over "
                "seeds it must hold at every seed (not a probability statement)",
    "empirical": "a published measurement replicated under a preregistered protocol (lth/protocol.py)",
}


@dataclass(frozen=True)
class NoFaults:
    """A check without fault injection."""


@dataclass(frozen=True)
class Quantity:
    """One reported number and what it is (e.g. "exact sup error, float64, rounding bounded")."""

    value: float | None
    label: str


@dataclass
class Record:
    """What a check returns; the runner fills in identity, parameters and timing.

    ``bound`` is the theorem's closed-form quantity, ``certified`` a rigorous value on the built
    instance (None where no certificate exists), ``empirical`` a sampled or searched value (a lower
    bound on a supremum, never the supremum itself).
    """

    verdict: str
    reason: str
    bound: Quantity | None = None
    certified: Quantity | None = None
    empirical: Quantity | None = None
    details: dict[str, Any] = field(default_factory=dict)
    claim: str = ""
    statement: str = ""
    scale: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    params_hash: str = ""
    default_params: bool = True
    faults: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    device: str = ""
    wall_s: float = 0.0
    protocol: dict[str, str] | None = None
    protocol_hash: str | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} not in {VERDICTS}")

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (nested dataclasses as dicts), as stored under ``results/claims/``."""
        return dataclasses.asdict(self)


@dataclass
class Context:
    """Run-time settings handed to a check: device, seed, progress bars, injected faults, and the
    sweep engine with the store of finished tasks (see :mod:`lth.sweep` and :meth:`map`)."""

    device: torch.device
    seed: int
    progress: bool = True
    faults: Any = field(default_factory=NoFaults)
    sweep: Sweep = field(default_factory=Sweep)
    tasks: TaskStore | None = None

    def stream(self, offset: int = 0) -> int:
        """The seed of draw ``offset`` of this run: a hash of (seed, offset). Runs at different seeds
        therefore never share a draw, which ``seed + offset`` would (draw 1 at seed 0 is draw 0 at seed
        1), and ``lth verify --seeds`` pools independent draws."""
        digest = hashlib.sha256(f"lth/{self.seed}/{offset}".encode()).digest()
        return int.from_bytes(digest[:8], "big") >> 1

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh generator on the run's device, seeded by ``stream(offset)`` (:meth:`stream`)."""
        return generator(self.stream(offset), self.device)

    def bar(self, iterable: Iterable, desc: str, total: int | None = None) -> Iterable:
        """``iterable`` with a progress bar titled ``desc`` (none when the run has ``progress`` off)."""
        return tqdm(iterable, desc=desc, total=total, leave=False, disable=not self.progress)

    def run_store(self, experiment: str, settings: Any) -> Any:
        """Where a long simulation run of this check keeps its state after each completed level
        (:class:`lth.store.RunDirectory`), or None when the run stores no tasks: beside the stored
        tasks, under the code fingerprint, so a killed run resumes at its last level and a state
        written by other code is never resumed."""
        if self.tasks is None:
            return None
        from lth.store import RunDirectory
        from lth.sweep import code_fingerprint

        return RunDirectory.for_settings(experiment, settings, root=self.tasks.directory / f"runs-{code_fingerprint()}",
                                         seed=self.seed, device=str(self.device))

    def map(self, fn: Callable, tasks: Iterable[Task], *, desc: str, total: int | None = None,
            until: Callable[[list], bool] | None = None) -> list:
        """``fn(*task.args)`` for each task, as JSON data in task order, on this run's sweep engine
        (in-process or Dask), finished tasks stored and reused; see :meth:`lth.sweep.Sweep.map`."""
        return self.sweep.map(fn, tasks, store=self.tasks, desc=desc, total=total, until=until,
                              progress=self.progress)


@dataclass(frozen=True)
class Claim:
    """A registered claim (made by :func:`claim`): its statement, proof file, check, parameter and fault
    dataclasses, full-scale overrides, the claims it uses, its protocol (empirical claims), its kind
    (:data:`KINDS`), and for another package's claim the distribution and folder it comes from."""

    id: str
    statement: str
    proof: str
    check: Callable[[Any, Context], Record]
    params: type
    full: dict[str, Any]
    faults: type = NoFaults
    uses: tuple[str, ...] = ()
    full_cost: str = ""
    protocol: Protocol | None = None
    kind: str = "empirical"
    origin: str = ""  # "" for this toolkit's claims, else the distribution whose entry point registered it
    root: Path = REPO_ROOT  # the folder ``proof`` is relative to

    @property
    def protocol_digest(self) -> str | None:
        """The digest of the preregistered protocol and both scales' parameters (None: no protocol)."""
        if self.protocol is None:
            return None
        return digest(self.protocol, self.parameters("quick"), self.parameters("full"))

    @property
    def proof_anchor(self) -> str:
        """``proofs/<topic>.md#<id>``, prefixed by ``<distribution>:`` for another package's claim."""
        return f"{self.origin + ':' if self.origin else ''}{self.proof}#{self.id}"

    @property
    def proof_path(self) -> Path:
        return self.root / self.proof

    def parameters(self, scale: str, overrides: dict[str, Any] | None = None) -> Any:
        """The ``params`` instance of ``scale`` (``full`` applies the claim's full-scale values) with
        ``overrides``; an unknown scale, or an override that is unknown, of the wrong type or outside its
        declared domain, is a ValueError."""
        if scale not in SCALES:
            raise ValueError(f"scale {scale!r} not in {SCALES}")
        values = dict(self.full) if scale == "full" else {}
        given = _known(self.params, overrides or {}, f"{self.id} has no parameter(s)")
        declared = domains(self.params)
        problem = next((p for p in (param_problem(name, value, None, declared[name]) for name, value in given.items()
                                    if name in declared) if p), None)
        if problem:
            raise ValueError(f"{self.id}: {problem}")
        values.update(given)
        return self.params(**values)

    def fault_settings(self, faults: dict[str, Any] | None) -> Any:
        """The ``faults`` instance with the given fields set (none given: no fault); an unknown field or a
        value of the wrong type is a ValueError."""
        return self.faults(**_known(self.faults, faults or {}, f"{self.id} has no fault(s)"))


def _known(kind: type, values: dict[str, Any], message: str) -> dict[str, Any]:
    """``values`` after checking each name is a field of ``kind`` and each value has the field's type
    (the rules of :func:`lth.validate.unknown_names` and :func:`lth.validate.wrong_type`)."""
    fields = {f.name: None if f.default is dataclasses.MISSING else f.default for f in dataclasses.fields(kind)}
    problem = unknown_names(values, fields, message) or next(
        (p for p in (wrong_type(name, value, fields[name]) for name, value in values.items()) if p), None)
    if problem:
        raise ValueError(problem)
    return values


def parameter_table(entry: Claim) -> str:
    """Indented lines: every parameter with its help text, quick/full values and declared domain, then
    the faults."""
    quick, full = entry.parameters("quick"), entry.parameters("full")
    lines = []
    for f in dataclasses.fields(entry.params):
        q, fl = getattr(quick, f.name), getattr(full, f.name)
        values = f"{q!r}" if q == fl else f"quick {q!r}, full {fl!r}"
        domain = f" [domain: {f.metadata['domain'].__doc__.removeprefix('Accepts ').rstrip('.')}]" \
            if "domain" in f.metadata else ""
        lines.append(f"    {f.name} = {values}  — {f.metadata.get('help', '(no help text)')}{domain}")
    for f in dataclasses.fields(entry.faults):
        lines.append(f"    fault {f.name} (off: {f.default!r})  — {f.metadata.get('help', '(no help text)')}")
    return "\n".join(lines)


_CLAIMS: dict[str, Claim] = {}
_CLAIM_PACKAGES = ("lth.claims",)


def claim(claim_id: str, statement: str, *, proof: str, params: type, full: dict[str, Any] | None = None,
          faults: type = NoFaults, uses: tuple[str, ...] = (), full_cost: str = "",
          protocol: Protocol | None = None, kind: str = "empirical"):
    """Register the decorated function as the check of ``claim_id``; duplicate ids are refused.

    ``kind`` says which statement the check judges (:data:`KINDS`).
    """
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} of {claim_id!r} not in {tuple(KINDS)}")

    def register(check: Callable[[Any, Context], Record]) -> Callable[[Any, Context], Record]:
        if claim_id in _CLAIMS:
            raise ValueError(f"claim id {claim_id!r} registered twice ({_CLAIMS[claim_id].check.__module__} "
                             f"and {check.__module__})")
        for given, what in ((params, "params"), (faults, "faults")):
            if not dataclasses.is_dataclass(given):
                raise TypeError(f"{what} of {claim_id!r} must be a dataclass")
        package = None if check.__module__.split(".")[0] == "lth" else package_of(check.__module__, claim_packages())
        _CLAIMS[claim_id] = Claim(claim_id, statement, proof, check, params, dict(full or {}), faults, tuple(uses),
                                  full_cost, protocol, kind, *((package.distribution, package.root) if package else ()))
        return check

    return register


def import_package_modules(package_name: str) -> None:
    """Import every module of a package, so that their registration decorators run.

    Importing is idempotent, so a module a caller imported earlier is not registered twice.
    """
    package = importlib.import_module(package_name)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package_name}.{module.name}")


def import_claim_module(module_name: str) -> None:
    """Import a module of checks; a package with all of its modules."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__path__"):
        import_package_modules(module_name)


def all_claims() -> dict[str, Claim]:
    """Every registered claim, by id: this toolkit's and those of installed packages' ``lth.claims``
    entry points (all check modules are imported on first use)."""
    for package_name in _CLAIM_PACKAGES:
        import_package_modules(package_name)
    for package in claim_packages():
        import_claim_module(package.module)
    return dict(sorted(_CLAIMS.items()))


def get_claim(claim_id: str) -> Claim:
    """The registered claim ``claim_id`` (KeyError naming ``lth list`` for an unknown id)."""
    claims = all_claims()
    if claim_id not in claims:
        raise KeyError(f"unknown claim id {claim_id!r}; `lth list` shows the registered ones")
    return claims[claim_id]


def run_claim(claim_id: str, *, scale: str = "quick", device: str | torch.device = "auto", seed: int = 0,
              progress: bool = False, faults: dict[str, Any] | None = None, engine: Sweep | None = None,
              results: Path | None = None, **overrides: Any) -> Record:
    """Run one check and return its completed record.

    ``overrides`` replace public parameters; ``faults`` set fields of the claim's fault object (a
    deliberately broken instance). An exception inside the check becomes verdict ``error`` with the
    traceback's last line as reason, so one broken check never hides the others' results.
    ``engine`` runs the check's tasks (default: in this process; not called ``sweep``, which several
    checks use as a parameter name); with ``results``, finished tasks
    are stored under ``results/tasks/`` and reused by a later run (:mod:`lth.sweep`).
    """
    entry = get_claim(claim_id)
    params = entry.parameters(scale, overrides)
    ctx = Context(device=resolve_device(device), seed=seed, progress=progress,
                  faults=entry.fault_settings(faults), sweep=engine or Sweep())
    changed_faults = {f.name: getattr(ctx.faults, f.name) for f in dataclasses.fields(ctx.faults)
                      if getattr(ctx.faults, f.name) != f.default}
    params_hash = settings_hash(params) + (f"-faults-{settings_hash(ctx.faults)}" if changed_faults else "")
    if results is not None:
        ctx.tasks = TaskStore.for_claim(results, claim_id, scale, params_hash, seed, str(ctx.device))
    start = time.perf_counter()
    try:
        record = entry.check(params, ctx)
    except Exception as exc:  # noqa: BLE001 - reported as a verdict, with the traceback kept
        record = Record("error", f"{type(exc).__name__}: {exc}",
                        details={"traceback": traceback.format_exc()})
    record.wall_s = time.perf_counter() - start
    record.claim = claim_id
    record.statement = entry.statement
    record.scale = scale
    record.params = dataclasses.asdict(params)
    record.faults = changed_faults
    record.params_hash = params_hash
    record.default_params = params == entry.parameters(scale) and not record.faults
    record.seed = seed
    record.device = str(ctx.device)
    if entry.protocol is not None:
        record.protocol = entry.protocol.as_dict()
        record.protocol_hash = entry.protocol_digest
    return record
