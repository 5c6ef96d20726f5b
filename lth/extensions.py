"""Claims from other packages: the ``lth.claims`` entry-point group.

An installed distribution registers claims by naming, in its ``pyproject.toml``, the module that holds
its ``@claim`` checks (a package: every module of it is imported)::

    [project.entry-points."lth.claims"]
    my_bound = "my_package.claims"

Its proof files ship inside its top-level package, under ``proofs/``, and each claim's ``proof=`` is
relative to that package's folder (``proof="proofs/my_bound.md"``), so the claim's four links hold in an
installed wheel as in a checkout. ``lth list``, ``lth verify`` and ``lth paper`` read the claims through
:func:`lth.registry.all_claims`; ``lth paper`` typesets each package's proof files as an appendix of its own;
the package's own test suite audits its links with :func:`lth.testing.assert_claims_linked`.

Its tests are found where its source is (:func:`suite_folders`): a wheel installed from an index ships none,
so ``lth list`` names them only for a package installed from a local folder (pip's ``direct_url.json``) or
imported from its checkout.

Nothing here imports torch (the fingerprint of :mod:`lth.sweep` reads it on the refusal path).
"""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

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


def _normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them (``LTH_Example.bound`` is ``lth-example-bound``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject(folder: Path) -> dict:
    path = folder / "pyproject.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def source_folder(package: ClaimPackage) -> Path | None:
    """The project folder (its ``pyproject.toml``) ``package`` was installed or is imported from: the local
    folder pip recorded in the distribution's ``direct_url.json`` (PEP 610: ``pip install DIR``, editable or
    not), else the folder above a flat or ``src/`` layout whose ``pyproject.toml`` names the distribution
    (the checkout on ``sys.path``). None for a wheel from an index: its sources are not on this machine."""
    candidates = []
    try:
        direct = metadata.distribution(package.distribution).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        direct = None
    if direct:
        url = urlparse(json.loads(direct).get("url", ""))
        if url.scheme == "file":
            candidates.append(Path(unquote(url.path)))
    candidates += [package.root.parent, package.root.parent.parent]
    for folder in candidates:
        name = _pyproject(folder).get("project", {}).get("name")
        if name and _normalized(name) == _normalized(package.distribution):
            return folder
    return None


def suite_folders(package: ClaimPackage) -> list[Path]:
    """The folders holding ``package``'s tests: its project's pytest ``testpaths`` (``tests`` when it names
    none) under :func:`source_folder`, and a ``tests`` folder shipped inside the package itself; those that
    exist."""
    folders = [package.root / "tests"]
    project = source_folder(package)
    if project is not None:
        options = _pyproject(project).get("tool", {}).get("pytest", {}).get("ini_options", {})
        folders += [project / path for path in options.get("testpaths", ["tests"])]
    return list(dict.fromkeys(folder.resolve() for folder in folders if folder.is_dir()))
