"""The first refusal answers at once: a bad input of every ``lth`` leaf command, run in a fresh
interpreter with an empty cache folder (no catalogue: as after an install or an edit of a source file),
ends in one line on stderr and exit status 2 without importing torch (or numba, dask, transformers,
scipy). Every parser is built from torch-free modules (the settings dataclasses of
``lth.simulations.*_settings`` and :mod:`lth.basin_params`), so nothing needs the catalogue of
:mod:`lth.validate` but ``lth verify``'s claim ids and parameters, which live in the check modules.

One subprocess runs every case through :func:`lth.cli.main` in turn and reports, per case, the exit
status, stdout, stderr and the heavy modules loaded after it (about a second of CPU in all).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lth.cli import build_parser

HEAVY = ("torch", "numba", "dask", "transformers", "scipy")

# Leaf command -> a representative bad input (placeholders: {file} a non-empty file, {dir} an empty folder,
# {missing} a path that does not exist, {readme} a README with a results block). Each is one of the kinds
# tests/test_cli_bad_input.py covers: a value out of range, a rule between flags, a path of the wrong kind.
CASES: dict[tuple[str, ...], list[str]] = {
    ("list",): ["list", "--no-such-flag"],
    ("verify",): ["verify", "rss.lueker", "--seed", "-1"],
    ("figures",): ["figures", "--results", "{missing}"],
    ("universal",): ["universal", "poly", "--degree", "-1"],
    ("ticket",): ["ticket", "{file}", "--eps", "nan"],
    ("simulate", "imp"): ["simulate", "imp", "--rewind-to", "300"],
    ("simulate", "transfer"): ["simulate", "transfer", "--source", "digits", "--dataset", "mnist5k"],
    ("simulate", "basin"): ["simulate", "basin", "--seeds", "1"],
    ("simulate", "supermask"): ["simulate", "supermask", "--prune-rate", "1"],
    ("simulate", "learned-supermask"): ["simulate", "learned-supermask", "--score-init", "nan"],
    ("simulate", "edge-popup"): ["simulate", "edge-popup", "--construction-seeds", "6"],
    ("paper", "build"): ["paper", "build", "--results", "{file}"],
    ("paper", "generate"): ["paper", "generate", "--results", "{dir}"],
    ("paper", "readme"): ["paper", "readme", "--results", "{dir}", "--readme", "{readme}"],
    ("minitron", "score"): ["minitron", "score", "smollm2", "--out", "{missing}", "--batch-size", "-1"],
    ("minitron", "prune"): ["minitron", "prune", "smollm2", "--out", "{missing}", "--heads", "0"],
    ("minitron", "distill"): ["minitron", "distill", "smollm2", "--teacher", "{missing}", "--out", "{missing}"],
    ("minitron", "losses"): ["minitron", "losses", "smollm2", "--teacher", "smollm2", "--out", "{dir}"],
    ("minitron", "intermediate"): ["minitron", "intermediate", "smollm2", "--teacher", "smollm2", "--out",
                                   "{missing}", "--lr", "inf"],
    ("minitron", "schedule"): ["minitron", "schedule", "smollm2", "--out", "{missing}", "--seeds", "0"],
    ("minitron", "search"): ["minitron", "search", "smollm2", "--params", "1e8", "--out", "{missing}", "--tolerance",
                             "1"],
    ("minitron", "evaluate"): ["minitron", "evaluate", "{dir}"],
}

# Run in the subprocess: each case through lth.cli.main, stdout and stderr captured, heavy modules noted.
_DRIVER = """
import contextlib, io, json, sys
from lth.cli import main
heavy = {heavy!r}
report = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    report.append({{"argv": argv, "status": status, "out": out.getvalue(), "err": err.getvalue(),
                    "heavy": [m for m in heavy if m in sys.modules]}})
print(json.dumps(report))
"""


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every leaf command, by its path of subcommand names."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {leaf for name, sub in action.choices.items() for leaf in _leaves(sub, (*path, name))}
    return {path}


def _places(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "afile").write_text("not empty\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "readme.md").write_text("# R\n<!-- results:begin -->\nold\n<!-- results:end -->\n")
    return {"file": str(tmp_path / "afile"), "dir": str(tmp_path / "adir"), "missing": str(tmp_path / "missing"),
            "readme": str(tmp_path / "readme.md")}


def _run_cold(argvs: list[list[str]], tmp_path: Path) -> list[dict]:
    """Run ``argvs`` in a fresh interpreter whose catalogue folder is empty, from ``tmp_path``."""
    cache = tmp_path / "cache"
    cache.mkdir()
    run = subprocess.run([sys.executable, "-c", _DRIVER.format(heavy=HEAVY), json.dumps(argvs)], cwd=tmp_path,
                         env={**os.environ, "LTH_CACHE_DIR": str(cache)}, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_every_leaf_command_has_a_cold_case():
    assert _leaves(build_parser()) == set(CASES), "commands without a case here (or cases of removed commands)"


def test_the_first_refusal_of_every_command_is_one_line_exit_two_without_torch(tmp_path):
    places = _places(tmp_path)
    argvs = [[arg.format(**places) for arg in argv] for argv in CASES.values()]
    before = sorted(p.name for p in tmp_path.iterdir())
    for result in _run_cold(argvs, tmp_path):
        command = f"lth {' '.join(result['argv'])}"
        lines = result["err"].strip().splitlines()
        assert result["status"] == 2, f"{command} exited {result['status']}: {result['err']}"
        assert len(lines) == 1 and "Traceback" not in result["err"] and result["out"] == "", f"{command}:\n{result}"
        assert lines[0].startswith(f"lth {result['argv'][0]}") and "error" in lines[0], lines[0]
        assert not result["heavy"], f"{command} imported {result['heavy']} before refusing"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == before, "a refusal wrote a file"


def test_the_settings_names_kept_without_torch_agree_with_the_libraries():
    """The torch-free settings modules hold the one definition: the libraries import them back."""
    from lth.simulations import data, edge_popup, imp, masks, models, supermask, training
    from lth.simulations import imp_settings, supermask_settings, training_settings
    from lth.theory.dense import DEFAULT_C

    assert data.DATASETS is training_settings.DATASETS and models.ARCHITECTURES is training_settings.ARCHITECTURES
    assert training.Optimisation is training_settings.Optimisation and masks.CRITERIA is imp_settings.CRITERIA
    assert imp.ImpSettings is imp_settings.ImpSettings and supermask.DataSettings is supermask_settings.DataSettings
    assert edge_popup.EdgePopupSettings is supermask_settings.EdgePopupSettings
    assert supermask_settings.DEFAULT_C == DEFAULT_C  # the one constant kept in two places


def test_the_shipped_catalogue_matches_the_registry():
    """lth/catalogue.json holds what the registry says now (else: run `make catalogue`)."""
    from lth.cli import _figures_key, _registered_claim_settings, _registered_figure_names
    from lth.validate import SHIPPED, shipped_catalogue

    expected = shipped_catalogue({"claims": _registered_claim_settings()}, {_figures_key(): _registered_figure_names()})
    assert json.loads(SHIPPED.read_text(encoding="utf-8")) == json.loads(expected), \
        "lth/catalogue.json is stale: run `make catalogue`"


def test_the_first_refusals_of_a_claim_id_and_parameter_are_answered_without_torch(tmp_path):
    """With an empty user catalogue the shipped one answers: an unknown id, an out-of-domain --param and
    an unknown --param of lth verify, and an unknown figure, all before torch is imported."""
    results = _run_cold([["verify", "slth.dense.network", "--param", "eps=2"], ["verify", "no.such.claim"],
                         ["verify", "rss.lueker", "--param", "no_such=1"], ["figures", "no-such-figure"]], tmp_path)
    for result in results:
        assert result["status"] == 2 and len(result["err"].strip().splitlines()) == 1, result
        assert not result["heavy"], result
    assert "eps" in results[0]["err"] and "no.such.claim" in results[1]["err"] and "no_such" in results[2]["err"]


def test_a_shipped_catalogue_of_other_declarations_is_not_read(monkeypatch):
    from lth import validate

    assert validate.recall_shipped("claims") is not None
    monkeypatch.setattr(validate, "declarations_hash", lambda: "0" * 16)
    assert validate.recall_shipped("claims") is None
