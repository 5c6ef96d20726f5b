"""The claim registry: one id links a proof section, a check, tests and figures.

A claim is registered by decorating its check::

    @claim("rss.lueker", "With n >= C log2(1/eps) uniform samples ...", proof="proofs/rss.md",
           params=LuekerParams, full={"eps_test": (1e-3,)})
    def check_rss_lueker(p: LuekerParams, ctx: Context) -> Record: ...

``params`` is a frozen dataclass whose defaults are the quick scale; ``full`` overrides fields for
``--scale full``. Tests pass further overrides (too few samples, a flipped mask) to feed a check a
broken instance. Check modules live in :mod:`theory.claims` and are discovered automatically.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from tqdm.auto import tqdm

from theory.device import generator, resolve_device

VERDICTS = ("holds", "fails", "inconclusive", "error")
SCALES = ("quick", "full")


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
    seed: int | None = None
    device: str = ""
    wall_s: float = 0.0

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} not in {VERDICTS}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Context:
    """Run-time settings handed to a check: device, seed, progress bars."""

    device: torch.device
    seed: int
    progress: bool = True

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh generator seeded by ``seed + offset`` on the run's device."""
        return generator(self.seed + offset, self.device)

    def bar(self, iterable: Iterable, desc: str, total: int | None = None) -> Iterable:
        return tqdm(iterable, desc=desc, total=total, leave=False, disable=not self.progress)


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    proof: str
    check: Callable[[Any, Context], Record]
    params: type
    full: dict[str, Any]

    @property
    def proof_anchor(self) -> str:
        return f"{self.proof}#{self.id}"

    def parameters(self, scale: str, overrides: dict[str, Any] | None = None) -> Any:
        if scale not in SCALES:
            raise ValueError(f"scale {scale!r} not in {SCALES}")
        names = {f.name for f in dataclasses.fields(self.params)}
        unknown = sorted(set(overrides or {}) - names)
        if unknown:
            raise ValueError(f"{self.id} has no parameter(s) {', '.join(unknown)}; "
                             f"its parameters: {', '.join(sorted(names))}")
        values = dict(self.full) if scale == "full" else {}
        values.update(overrides or {})
        return self.params(**values)


_CLAIMS: dict[str, Claim] = {}
_CLAIM_PACKAGES = ("theory.claims",)


def claim(claim_id: str, statement: str, *, proof: str, params: type, full: dict[str, Any] | None = None):
    """Register the decorated function as the check of ``claim_id``; duplicate ids are refused."""

    def register(check: Callable[[Any, Context], Record]) -> Callable[[Any, Context], Record]:
        if claim_id in _CLAIMS:
            raise ValueError(f"claim id {claim_id!r} registered twice ({_CLAIMS[claim_id].check.__module__} "
                             f"and {check.__module__})")
        if not dataclasses.is_dataclass(params):
            raise TypeError(f"params of {claim_id!r} must be a dataclass")
        _CLAIMS[claim_id] = Claim(claim_id, statement, proof, check, params, dict(full or {}))
        return check

    return register


def import_package_modules(package_name: str) -> None:
    """Import every module of a package, so that their registration decorators run.

    Importing is idempotent, so a module a caller imported earlier is not registered twice.
    """
    package = importlib.import_module(package_name)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package_name}.{module.name}")


def all_claims() -> dict[str, Claim]:
    """Every registered claim, by id (all check modules are imported on first use)."""
    for package_name in _CLAIM_PACKAGES:
        import_package_modules(package_name)
    return dict(sorted(_CLAIMS.items()))


def get_claim(claim_id: str) -> Claim:
    claims = all_claims()
    if claim_id not in claims:
        raise KeyError(f"unknown claim id {claim_id!r}; `lth list` shows the registered ones")
    return claims[claim_id]


def run_claim(claim_id: str, *, scale: str = "quick", device: str | torch.device = "auto", seed: int = 0,
              progress: bool = False, **overrides: Any) -> Record:
    """Run one check and return its completed record.

    An exception inside the check becomes verdict ``error`` with the traceback's last line as reason,
    so one broken check never hides the others' results.
    """
    entry = get_claim(claim_id)
    params = entry.parameters(scale, overrides)
    ctx = Context(device=resolve_device(device), seed=seed, progress=progress)
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
    record.seed = seed
    record.device = str(ctx.device)
    return record
