"""Claims from other packages: the ``lth.claims`` entry-point group.

An installed distribution registers claims by naming, in its ``pyproject.toml``, the module that holds
its ``@claim`` checks (a package: every module of it is imported)::

    [project.entry-points."lth.claims"]
    my_bound = "my_package.claims"

Its proof files ship inside its top-level package, under ``proofs/``, and each claim's ``proof=`` is
relative to that package's folder (``proof="proofs/my_bound.md"``), so the claim's four links hold in an
installed wheel as in a checkout. ``lth list``, ``lth verify`` and ``lth paper`` read the claims through
:func:`lth.registry.all_claims`; the package's own test suite audits its links with
:func:`lth.testing.assert_claims_linked`.

Nothing here imports torch (the fingerprint of :mod:`lth.sweep` reads it on the refusal path).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

GROUP = "lth.claims"


@dataclass(frozen=True)
class ClaimPackage:
    """One ``lth.claims`` entry point: the module it names, the distribution that declares it, and
    ``root``, the folder of the module's top-level package (its claims' proof paths are relative to it)."""

    name: str
    module: str
    distribution: str
    version: str
    root: Path

    @property
    def top_level(self) -> str:
        return self.module.split(".")[0]


def claim_packages() -> list[ClaimPackage]:
    """Every installed ``lth.claims`` entry point, sorted by module (their modules are not imported).

    An entry point whose top-level package cannot be found is refused: an installed distribution
    naming a module it does not ship is broken, and silently dropping its claims would hide that.
    """
    found = []
    for point in metadata.entry_points(group=GROUP):
        module = point.value.split(":")[0].strip()
        top = module.split(".")[0]
        spec = importlib.util.find_spec(top)
        if spec is None or spec.origin is None:
            dist = point.dist.name if point.dist else "an unknown distribution"
            raise ImportError(f"entry point {GROUP} {point.name} = {point.value} of {dist}: "
                              f"no importable package {top!r}")
        found.append(ClaimPackage(point.name, module, point.dist.name if point.dist else top,
                                  point.dist.version if point.dist else "unknown", Path(spec.origin).resolve().parent))
    return sorted(set(found), key=lambda package: (package.module, package.name))


def package_of(module: str, packages: list[ClaimPackage]) -> ClaimPackage | None:
    """The entry point whose top-level package holds ``module`` (None: not another package's claim)."""
    top = module.split(".")[0]
    return next((package for package in packages if package.top_level == top), None)
