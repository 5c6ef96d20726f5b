"""The installed package adds one top-level name, ``lth``: the wheel built from this checkout, installed
outside the repository, imports ``lth.theory``, ``lth.simulations`` and ``lth.paper`` from its own
files, offers no ``theory``, ``simulations`` or ``paper`` module, and verifies a claim from there.

The fresh environment is a venv without pip whose only extra path is this venv's site-packages, added
by a ``.pth`` line (so torch and numpy resolve, while that directory's own ``.pth`` hooks, among them
the editable install of this checkout, do not run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import importlib.util, json, lth, lth.theory.subset_sum, lth.simulations.data, lth.paper.scripts
print(json.dumps({"files": [lth.__file__, lth.theory.subset_sum.__file__, lth.simulations.data.__file__,
                            lth.paper.scripts.__file__],
                  "squatted": [n for n in ("theory", "simulations", "paper") if importlib.util.find_spec(n)]}))
"""


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(python of a fresh venv holding only the wheel, its site-packages)."""
    work = tmp_path_factory.mktemp("wheel")
    built = run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                 "--wheel-dir", str(work / "dist"), str(ROOT)], work)
    assert built.returncode == 0, built.stderr
    wheel = next((work / "dist").glob("lth_toolkit-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], work)
                .stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                     str(wheel)], work)
    assert installed.returncode == 0, installed.stderr
    return python, site


def test_the_wheel_installs_one_top_level_name_and_imports_from_its_own_files(installed, tmp_path):
    python, site = installed
    modules = [p.name for p in site.iterdir() if (p / "__init__.py").is_file()] + [p.stem for p in site.glob("*.py")]
    assert modules == ["lth"]
    probe = run([str(python), "-c", PROBE], tmp_path)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert found["squatted"] == []
    assert all(Path(f).resolve().is_relative_to(site.resolve()) for f in found["files"]), found["files"]
    assert (site / "lth" / "paper" / "paper.tex").is_file()  # the manuscript's sources travel as package data


def test_a_claim_verifies_from_the_installed_wheel(installed, tmp_path):
    python, _ = installed
    out = tmp_path / "out"
    verified = run([str(python), "-m", "lth.cli", "verify", "universal.poly.identity", "--scale", "quick",
                    "--out", str(out), "--no-progress"], tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    record = json.loads((out / "verify.json").read_text())
    assert [(r["claim"], r["verdict"]) for r in record["records"]] == [("universal.poly.identity", "holds")]
