"""The claim audit: every claim id must link a proof section, a check and a test; no dangling ids.

Links are read from the tree:
- proof sections: ``<a id="CLAIM-ID"></a>`` anchors in ``proofs/*.md`` (every such anchor must name a
  registered claim; use plain headings for lemmas that are not claims);
- tests: ``@pytest.mark.claim("CLAIM-ID")`` decorators (or ``pytestmark``) in ``tests/test_*.py``,
  found by parsing the source, so a test file need not be imported; with ``packages=True`` also in the
  test folders of every installed ``lth.claims`` package (:func:`lth.extensions.suite_folders`), which
  ``lth list`` and the paper show (this repository's audit leaves them to the package's own suite);
- figures: the ``claims=`` of every registered figure;
- the manuscript: ``\\claim{CLAIM-ID}`` in ``paper/*.tex`` and ``paper/sections/*.tex``
  (:func:`lth.manuscript.manuscript_files`).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from lth.store import REPO_ROOT

ANCHOR = re.compile(r'<a\s+id="([^"]+)"\s*>\s*</a>')


@dataclass
class Links:
    proofs: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # id -> files
    tests: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # id -> test names
    figures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # id -> figures
    paper: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # id -> file:line


def proof_anchors(proofs_dir: Path) -> dict[str, list[str]]:
    anchors: dict[str, list[str]] = defaultdict(list)
    for path in sorted(proofs_dir.glob("*.md")):
        for claim_id in ANCHOR.findall(path.read_text(encoding="utf-8")):
            anchors[claim_id].append(f"{proofs_dir.name}/{path.name}")
    return anchors


def _claim_marks(decorators: list[ast.expr]) -> list[str]:
    ids = []
    for node in decorators:
        for call in ast.walk(node):
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "claim"
                    and call.args and isinstance(call.args[0], ast.Constant)):
                ids.append(call.args[0].value)
    return ids


def marked_tests(tests_dir: Path) -> dict[str, list[str]]:
    """claim id -> ``file::test`` names carrying ``pytest.mark.claim(id)``."""
    marks: dict[str, list[str]] = defaultdict(list)
    for path in sorted(tests_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_ids = [claim_id for node in tree.body if isinstance(node, ast.Assign)
                      and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
                      for claim_id in _claim_marks([node.value])]
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name.startswith(("test", "Test")):
                for claim_id in _claim_marks(node.decorator_list) + module_ids:
                    marks[claim_id].append(f"{path.name}::{node.name}")
    return marks


def figure_claims() -> dict[str, list[str]]:
    from lth.figures import all_figures

    claims: dict[str, list[str]] = defaultdict(list)
    for name, fig in all_figures().items():
        for claim_id in fig.claims:
            claims[claim_id].append(name)
    return claims


def paper_claims(paper_dir: Path) -> dict[str, list[str]]:
    """claim id -> ``file:line`` places where the manuscript cites it with ``\\claim{id}``."""
    from lth.manuscript import CLAIM_USE, cited, manuscript_files

    return cited(CLAIM_USE, manuscript_files(paper_dir))


def package_tests() -> dict[str, list[str]]:
    """claim id -> ``distribution:folder/file::test`` names marked in the test folders of the installed
    ``lth.claims`` packages (the folder relative to the package's project when it has one)."""
    from lth.extensions import claim_packages, source_folder, suite_folders

    marks: dict[str, list[str]] = defaultdict(list)
    for package in claim_packages():
        project = source_folder(package)
        base = project.resolve() if project is not None else package.root.parent
        for folder in suite_folders(package):
            where = folder.relative_to(base).as_posix() if folder.is_relative_to(base) else folder.name
            for claim_id, names in marked_tests(folder).items():
                marks[claim_id] += [f"{package.distribution}:{where}/{name}" for name in names]
    return marks


def claim_links(root: Path = REPO_ROOT, packages: bool = False) -> Links:
    tests = marked_tests(root / "tests")
    if packages:
        for claim_id, names in package_tests().items():
            tests[claim_id] += names
    return Links(proof_anchors(root / "proofs"), tests, figure_claims(), paper_claims(root / "paper"))


def audit(claims: dict[str, str], links: Links, root: Path = REPO_ROOT) -> list[str]:
    """Problems found; empty when every link holds.

    ``claims`` maps each registered id to the proof file its check names (``proofs/<topic>.md``).
    """
    problems = []
    for claim_id, proof in claims.items():
        if not (root / proof).exists():
            problems.append(f"{claim_id}: proof file {proof} does not exist")
        elif proof not in links.proofs.get(claim_id, []):
            problems.append(f"{claim_id}: no section <a id=\"{claim_id}\"></a> in {proof}")
        if not links.tests.get(claim_id):
            problems.append(f"{claim_id}: no test marked @pytest.mark.claim(\"{claim_id}\")")
    for kind, table in (("proof anchor", links.proofs), ("test mark", links.tests), ("figure", links.figures),
                        ("paper \\claim", links.paper)):
        for claim_id, where in table.items():
            if claim_id not in claims:
                problems.append(f"{kind} names unknown claim {claim_id!r} ({', '.join(where)})")
    return problems
