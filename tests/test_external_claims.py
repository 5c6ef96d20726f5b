"""Claims from other packages: the ``lth.claims`` entry-point group (lth.extensions, lth.registry).

A distribution is put on ``sys.path`` (a package and its ``.dist-info`` with the entry point, as pip
writes them), so importlib.metadata finds it exactly as an installed one; the shared environment is never
changed. ``.ci/run`` installs examples/lth-example-bound for real and runs its checks and tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lth import cli, manuscript, registry
from lth.audit import claim_links
from lth.extensions import claim_packages
from lth.registry import all_claims, run_claim
from lth.store import REPO_ROOT
from lth.sweep import code_fingerprint
from lth.testing import assert_claims_linked

PROBE_CHECKS = '''
"""Checks of the probe distribution."""

from dataclasses import dataclass

from lth.registry import Quantity, Record, claim, param


@dataclass(frozen=True)
class Params:
    n: int = param(4, "terms")


@dataclass(frozen=True)
class Faults:
    short: int = param(0, "terms dropped (a broken instance)")


@claim("probe.sum", "1 + ... + n = n(n+1)/2", kind="exact", proof="proofs/probe.md", params=Params, faults=Faults)
def check_probe_sum(p, ctx):
    total = sum(range(1, p.n + 1 - ctx.faults.short))
    return Record("holds" if 2 * total == p.n * (p.n + 1) else "fails", f"sum {total}",
                  bound=Quantity(p.n * (p.n + 1) / 2, "n(n+1)/2"), certified=Quantity(total, "the sum, exact"))
'''

PROBE_TEST = '''
import pytest


@pytest.mark.claim("probe.sum")
def test_probe_sum():
    pass
'''


def write_distribution(site: Path, name: str, entry_points: str, files: dict[str, str]) -> None:
    """``files`` (relative path -> text) and ``<name>-0.1.dist-info`` with ``entry_points`` on ``site``."""
    for relative, text in files.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(textwrap.dedent(text))
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def probe(tmp_path: Path, monkeypatch) -> Path:
    """The distribution ``probe-claims`` registering ``probe.sum`` from its package ``probe_claims``;
    its registrations and modules are gone after the test. Returns the folder of its tests."""
    site = tmp_path / "site"
    write_distribution(site, "probe-claims", "[lth.claims]\nprobe = probe_claims\n", {
        "probe_claims/__init__.py": '"""A package of claims."""\n',
        "probe_claims/checks.py": PROBE_CHECKS,
        "probe_claims/proofs/probe.md": '# Probe\n\n<a id="probe.sum"></a>\n## Gauss\n\nInduction on n.\n'})
    # its project folder, as pip records a local install in the dist-info (PEP 610): lth list finds its tests there
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "probe_claims"\nversion = "0.1"\n')
    (project / "tests" / "test_probe.py").write_text(PROBE_TEST)
    (site / "probe_claims-0.1.dist-info" / "direct_url.json").write_text(
        json.dumps({"url": project.as_uri(), "dir_info": {}}))
    all_claims()  # ours first: the copy below is dropped after the test; a module imported once never registers again
    monkeypatch.setattr(registry, "_CLAIMS", dict(registry._CLAIMS))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("LTH_CACHE_DIR", str(tmp_path / "cache"))
    yield project / "tests"
    for module in [m for m in sys.modules if m == "probe_claims" or m.startswith("probe_claims.")]:
        del sys.modules[module]


def test_an_installed_packages_claim_is_registered_with_its_origin_and_proof(probe: Path):
    ours = {cid for cid, entry in all_claims().items() if not entry.origin}
    entry = all_claims()["probe.sum"]
    assert (entry.origin, entry.proof, entry.kind) == ("probe-claims", "proofs/probe.md", "exact")
    assert entry.root == Path(sys.modules["probe_claims"].__file__).resolve().parent
    assert entry.proof_path.is_file() and entry.proof_anchor == "probe-claims:proofs/probe.md#probe.sum"
    assert all(not all_claims()[cid].origin and all_claims()[cid].root == REPO_ROOT for cid in ours)
    assert set(all_claims()) == ours | {"probe.sum"}


def test_its_check_runs_and_its_broken_instance_fails(probe: Path):
    assert run_claim("probe.sum", n=10).verdict == "holds"
    record = run_claim("probe.sum", n=10, faults={"short": 1})
    assert record.verdict == "fails" and record.faults == {"short": 1}


def test_lth_list_and_lth_verify_treat_it_like_ours(probe: Path, tmp_path: Path, capsys):
    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "probe.sum\n  1 + ... + n = n(n+1)/2\n  proof:   probe-claims:proofs/probe.md#probe.sum" in listed
    assert "\n  tests:   probe-claims:tests/test_probe.py::test_probe_sum\n" in listed
    assert cli.main(["verify", "probe.sum", "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert "probe.sum" in capsys.readouterr().out and (tmp_path / "out" / "verify.json").is_file()
    assert cli.main(["verify", "probe.sum", "--fault", "short=2", "--out", str(tmp_path / "out2"),
                     "--no-progress"]) == 1


def test_lth_list_finds_its_tests_only_where_its_sources_are(probe: Path, capsys):
    """Without pip's record of the folder it was installed from (a wheel from an index) its tests are not
    on this machine, and lth list says so; the repository's own audit never counts them."""
    assert "probe.sum" not in claim_links().tests and claim_links(packages=True).tests["probe.sum"]
    direct_url = probe.parents[1] / "site" / "probe_claims-0.1.dist-info" / "direct_url.json"
    direct_url.write_text(json.dumps({"url": probe.parents[1].as_uri(), "dir_info": {}}))  # not its project
    assert cli.main(["list"]) == 0
    assert "\n  tests:   (none found: probe-claims's tests are not installed)\n" in capsys.readouterr().out


needs_pandoc = pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc (apt-get install pandoc)")


@needs_pandoc
def test_lth_paper_typesets_its_proof_file_as_an_appendix_of_its_own(probe: Path, tmp_path: Path):
    """Its proof file is converted after ours, under a section titled with the distribution's name, its
    headings one level down and prefixed with it, and its claim's anchor labelled as ours are, so
    ``\\claim{probe.sum}`` links its proof."""
    packages = manuscript.package_proof_files(all_claims())
    assert packages == {"probe-claims": [all_claims()["probe.sum"].proof_path]}
    inputs = manuscript.convert_proofs(tmp_path / "no-proofs", tmp_path / "proofs", packages=packages)
    assert inputs.splitlines() == [
        "\\section{Proofs from the package \\texttt{probe-claims}}\\label{app:proofs:probe-claims}",
        "Converted from the proof files shipped with the installed distribution \\texttt{probe-claims} 0.1, which "
        "registers its claims through the \\texttt{lth.claims} entry point.",
        "\\input{proofs/probe-claims/probe}"]
    tex = (tmp_path / "proofs" / "probe-claims" / "probe.tex").read_text()
    assert "\\subsection{Probe}\\label{probe-claims-probe-probe}" in tex
    assert "\\subsubsection{\\texorpdfstring{Gauss\\label{proof:probe.sum}}{Gauss}}" in tex
    assert "\\label{probe-claims-probe-gauss}" in tex and "Induction on n." in tex


@needs_pandoc
def test_lth_paper_generate_inputs_its_proofs_and_names_its_tests(probe: Path, tmp_path: Path):
    build = tmp_path / "build"
    manuscript.generate(tmp_path / "no-records", build, figures=False)
    generated = build / "generated"
    assert "\\input{proofs/probe-claims/probe}" in (generated / "proofs.tex").read_text()
    assert "\\label{proof:probe.sum}" in (generated / "proofs" / "probe-claims" / "probe.tex").read_text()
    appendix = (generated / "claims_appendix.tex").read_text()
    assert "Claims proved in \\texttt{probe-claims:proofs/probe.md}" in appendix
    assert appendix.index("probe-claims:proofs/probe.md") > appendix.index("proofs/rss.md")
    data = (generated / "claims_data.tex").read_text()
    assert "\\lthclaimdata{probe.sum}{\\lthmissing{no record}}{none}{1 test}" in data


def test_its_links_are_audited_on_its_own_files(probe: Path):
    assert_claims_linked("probe-claims", probe)
    (probe / "test_probe.py").write_text(PROBE_TEST.replace("probe.sum", "probe.other"))
    with pytest.raises(AssertionError) as caught:
        assert_claims_linked("probe-claims", probe)
    assert 'no test marked @pytest.mark.claim("probe.sum")' in str(caught.value)
    assert "test mark names unknown claim 'probe.other'" in str(caught.value)


def test_the_code_fingerprint_covers_installed_claim_packages(tmp_path: Path, monkeypatch):
    before = code_fingerprint.__wrapped__()
    site = tmp_path / "site"
    write_distribution(site, "probe-claims", "[lth.claims]\nprobe = probe_claims\n",
                       {"probe_claims/__init__.py": '"""A package of claims."""\n'})
    monkeypatch.syspath_prepend(str(site))
    with_package = code_fingerprint.__wrapped__()
    (site / "probe_claims" / "__init__.py").write_text('"""A changed package of claims."""\n')
    assert len({before, with_package, code_fingerprint.__wrapped__()}) == 3


def test_an_entry_point_naming_a_missing_package_is_refused(tmp_path: Path, monkeypatch):
    write_distribution(tmp_path, "broken-claims", "[lth.claims]\nbroken = no_such_package.claims\n", {})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="broken-claims: no importable package 'no_such_package'"):
        claim_packages()


def test_a_claim_id_taken_by_another_package_is_refused(probe: Path, tmp_path: Path, monkeypatch):
    site = tmp_path / "other"
    write_distribution(site, "copy-claims", "[lth.claims]\ncopy = copy_claims\n",
                       {"copy_claims/__init__.py": PROBE_CHECKS})
    monkeypatch.syspath_prepend(str(site))
    try:
        with pytest.raises(ValueError, match="'probe.sum' registered twice"):
            all_claims()
    finally:
        sys.modules.pop("copy_claims", None)


def test_the_example_package_is_verified_through_its_entry_point(tmp_path: Path):
    """examples/lth-example-bound as pip would install it (its src and its entry point), in a subprocess."""
    example = REPO_ROOT / "examples" / "lth-example-bound"
    write_distribution(tmp_path / "site", "lth-example-bound",
                       "[lth.claims]\nfixed_size_rss = lth_example_bound.claims\n", {})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(example / "src")]),
           "LTH_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "lth.cli", "verify", "example.fixed_size_rss", "--no-progress",
                          "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "example.fixed_size_rss" in run.stdout and "holds" in run.stdout


def test_lth_list_shows_the_example_package_claim_with_its_links(tmp_path: Path):
    """``lth list`` with examples/lth-example-bound installed through its entry point (as pip would: its src
    and its dist-info), in a subprocess: the claim is listed with the proof anchor inside the package (which
    resolves to a section of the shipped proof file), its kind, and where its tests live."""
    example = REPO_ROOT / "examples" / "lth-example-bound"
    write_distribution(tmp_path / "site", "lth-example-bound",
                       "[lth.claims]\nfixed_size_rss = lth_example_bound.claims\n", {})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(example / "src")]),
           "LTH_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "lth.cli", "list"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert "example.fixed_size_rss" in lines, run.stdout
    at = lines.index("example.fixed_size_rss")
    assert lines[at + 1].startswith("  n >= ceil(3·(k!·ln(1/ε)/ε)^(1/k))")
    assert lines[at + 2] == "  proof:   lth-example-bound:proofs/fixed_size_rss.md#example.fixed_size_rss"
    assert lines[at + 3].startswith("  checks:  rate: ")
    assert lines[at + 4] == ("  tests:   lth-example-bound:tests/test_fixed_size_rss.py::test_the_bound_holds_at_quick_"
                             "scale, lth-example-bound:tests/test_fixed_size_rss.py::test_the_check_fails_when_the_"
                             "pools_are_half_the_bound")
    proof = example / "src" / "lth_example_bound" / "proofs" / "fixed_size_rss.md"
    assert '<a id="example.fixed_size_rss"></a>' in proof.read_text()
    assert "example.fixed_size_rss" in (example / "tests" / "test_fixed_size_rss.py").read_text()
    assert "rss.lueker" in lines and run.stdout.count("lth-example-bound:tests/") == 2  # ours list their own
