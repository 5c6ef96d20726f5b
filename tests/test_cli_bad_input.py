"""Every command × every kind of bad input: exit status 2, exactly one line on stderr naming what was
refused, nothing on stdout, no traceback, and no file created or changed (the README above all).

The table :data:`LEAVES` holds, per leaf command, the arguments that get it past its required ones and
the bad values of each flag; :func:`test_every_flag_of_every_command_has_a_bad_input_case` fails when a
command gains a flag without a case here. Commands run in-process through :func:`lth.cli.main`.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lth.cli import build_parser, main
from lth.store import REPO_ROOT

# Placeholders filled per test: {file} a non-empty file, {empty} an empty file, {dir} a folder,
# {missing} a path that does not exist, {proc} a folder where nothing can be created, {full} a folder
# holding a file.
POS = ("0", "-1", "x", "1.5")  # counts
NONNEG = ("-1", "x")  # seeds, sizes where 0 means native
POS_FLOAT = ("nan", "inf", "-1", "0", "x")
NONNEG_FLOAT = ("nan", "-inf", "-1")
UNIT = ("0", "1", "nan", "-0.5")  # open interval (0, 1)
HALF_OPEN_UNIT = ("1", "-0.1", "nan")  # [0, 1)
FINITE = ("nan", "inf", "x")
CHOICE = ("nonsense",)
OUT_DIR = ("{file}", "{proc}/x", "{file}/sub")
IN_DIR = ("{missing}", "{file}")
IN_FILE = ("{missing}", "{empty}", "{dir}")
SWEEP = {"--workers": ("0", "-2", "x"), "--scheduler": (["tcp://127.0.0.1:1", "--workers", "2"],)}


@dataclass
class Leaf:
    """A leaf command: ``required`` arguments (positionals first, as ``(None, value)``) and bad values
    per flag or positional name; a value is one argument or a list of them (``nargs`` > 1)."""

    required: list[tuple[str | None, str]]
    cases: dict[str, tuple]
    exempt: dict[str, str] = field(default_factory=dict)  # flag -> why it has no bad value


_IMP_COMMON = {"--dataset": CHOICE, "--image-size": NONNEG, "--arch": CHOICE, "--width": POS_FLOAT, "--seeds": POS,
               "--seed": NONNEG, "--iterations": POS, "--batch-size": POS, "--lr": POS_FLOAT, "--eval-every": POS,
               "--split-seed": NONNEG, "--preset": CHOICE, "--device": CHOICE, "--out": OUT_DIR}
_PRUNE_RATES = {"--rounds": POS, "--prune-rate": UNIT, "--prune-rate-conv": HALF_OPEN_UNIT,
                "--prune-rate-output": HALF_OPEN_UNIT}
_IMP = {**_IMP_COMMON, **_PRUNE_RATES, **SWEEP, "--rewind-to": NONNEG, "--criterion": CHOICE,
        "--reinit-offset": POS, "--optimizer": CHOICE, "--momentum": HALF_OPEN_UNIT, "--stop-on": CHOICE,
        "--max-images": NONNEG}

_LM = {"model": ("{missing}", "{file}", "{dir}"), "--device": CHOICE, "--seed": NONNEG, "--text": CHOICE,
       "--length": ("1", "0", "x"), "--heldout": POS, "--batch-size": POS}
_LM_CALIBRATION = {**_LM, "--calibration": POS, "--batch-agg": CHOICE, "--seq-agg": CHOICE}
_LM_DIR = ("{file}", "{full}", "{proc}/x", "{missing}/sub")  # a new or empty folder in an existing one
_LM_FILE = ("{dir}", "{proc}/x/t.json", "{file}/t.json")
_LM_TARGET = {"--hidden": POS, "--heads": POS, "--intermediate": POS, "--layers": POS}
_LM_TRAINING = {"--steps": POS, "--train-batch": POS, "--lr": POS_FLOAT}

LEAVES: dict[tuple[str, ...], Leaf] = {
    ("list",): Leaf([], {}),
    ("verify",): Leaf([(None, "rss.lueker")], {
        "ids": ("no.such.claim",), "--scale": CHOICE, "--device": CHOICE, "--seed": NONNEG,
        "--seeds": ("x", "3..1", "-1..2"), "--out": OUT_DIR,
        "--param": ("trials=-5", "trials=0", "trials=abc", "novalue", "no_such=1", "eps_test=(float('nan'),)",
                    "eps_test=(-0.1,)"),
        "--fault": ("n_offset=abc", "no_such=1"), **SWEEP}),
    ("figures",): Leaf([], {"names": ("no_such_figure",), "--results": IN_DIR, "--out": OUT_DIR}),
    ("universal",): Leaf([(None, "poly")], {
        "kind": CHOICE, "--dim": POS, "--degree": POS, "--max-freq": POS, "--eps-log": UNIT, "--eps-exp": UNIT,
        "--eps-interp": UNIT, "--pool-size": POS, "--c-max": POS_FLOAT, "--solver": CHOICE, "--half-terms": POS,
        "--points": POS, "--seed": NONNEG, "--device": CHOICE, "--out": OUT_DIR}),
    ("ticket",): Leaf([(None, "{file}"), ("--eps", "0.1")], {
        "model": IN_FILE, "--eps": POS_FLOAT, "--delta": UNIT, "--domain": CHOICE, "--radius": POS_FLOAT,
        "--box": (["nan", "1"], ["0", "inf"], ["0"]), "--c": POS_FLOAT, "--seed": NONNEG, "--device": CHOICE,
        "--out": ("{dir}", "{proc}/x/t.pt", "{file}/t.pt"), "--restarts": POS, "--steps": POS, "--samples": POS,
        "--input-shape": (["1", "0", "4"], ["1", "4"], ["x", "4", "4"]), "--padding": CHOICE,
        "--n-max": ("3", "-1", "x"), "--construction": CHOICE, "--llama-layer": NONNEG, "--maps": CHOICE,
        "--units": POS, "--pool-cap": POS, "--retry-cap": POS, "--margin": ("0.5", "nan", "x"), "--text": CHOICE,
        "--heldout": ("1", "0", "x"), "--length": ("1", "0", "x"), "--batch-size": POS}),
    ("simulate", "imp"): Leaf([], _IMP),
    ("simulate", "transfer"): Leaf([("--source", "digits")], {
        **_IMP, "--source": CHOICE, "--source-image-size": NONNEG, "--source-optimizer": CHOICE,
        "--source-lr": POS_FLOAT}),
    ("simulate", "basin"): Leaf([], {
        "--dataset": CHOICE, "--width": POS_FLOAT, "--seeds": POS, "--poison": POS,
        "--target-loss": POS_FLOAT, "--max-iterations": POS, "--lr": POS_FLOAT, "--check-every": POS,
        "--directions": POS, "--tau": POS_FLOAT, "--loss-images": NONNEG, "--rtol": POS_FLOAT, "--probes": POS,
        "--lanczos-steps": POS, "--relative-floor": POS_FLOAT, "--split-seed": NONNEG, "--confidence": UNIT,
        "--seed": NONNEG, "--device": CHOICE, "--out": OUT_DIR}),
    ("simulate", "supermask"): Leaf([], {**_IMP_COMMON, **_PRUNE_RATES, "--criteria": CHOICE}),
    ("simulate", "learned-supermask"): Leaf([], {
        **_IMP_COMMON, "--weights": CHOICE, "--estimator": CHOICE, "--score-iterations": POS,
        "--score-lr": POS_FLOAT, "--score-init": FINITE, "--test-samples": POS}),
    ("simulate", "edge-popup"): Leaf([], {
        **_IMP_COMMON, "--factors": ("0", "nan", "-2"), "--keep": UNIT, "--weights": CHOICE, "--score-iterations": POS,
        "--score-lr": POS_FLOAT, "--weight-decay": NONNEG_FLOAT, "--accuracy-gap": POS_FLOAT, "--delta": UNIT,
        "--construction-c": POS_FLOAT, "--construction-seeds": NONNEG, "--construction-step": POS,
        "--construction-resolution": POS, "--pool-cap": POS, "--retry-cap": NONNEG}),
    ("paper", "build"): Leaf([], {"--results": IN_DIR + ("{dir}",), "--out": OUT_DIR}),
    ("paper", "generate"): Leaf([], {"--results": IN_DIR + ("{dir}",), "--out": OUT_DIR}),
    ("paper", "readme"): Leaf([("--readme", "{readme}")], {
        "--results": IN_DIR + ("{dir}", "{records_of_nothing}"), "--readme": IN_FILE + ("{file}",),
        "--seeds-record": IN_FILE, "--records": IN_DIR}),
    ("minitron", "score"): Leaf([(None, "smollm2"), ("--out", "{missing}")], {**_LM_CALIBRATION, "--out": _LM_DIR}),
    ("minitron", "prune"): Leaf([(None, "smollm2"), ("--out", "{missing}")], {
        **_LM_CALIBRATION, **_LM_TARGET, "--kv-heads": POS, "--importance": CHOICE, "--scores": IN_FILE,
        "--gqa": CHOICE, "--depth-by": CHOICE, "--iterative": POS, "--dtype": CHOICE, "--out": _LM_DIR}),
    ("minitron", "distill"): Leaf([(None, "smollm2"), ("--teacher", "smollm2"), ("--out", "{missing}")], {
        **_LM, **_LM_TRAINING, "--teacher": ("{missing}", "{file}"), "--method": CHOICE, "--loss": CHOICE,
        "--clm": NONNEG_FLOAT, "--alpha": NONNEG_FLOAT, "--dtype": CHOICE, "--out": _LM_DIR}),
    ("minitron", "losses"): Leaf([(None, "smollm2"), ("--teacher", "smollm2"), ("--out", "{missing}")], {
        **_LM, **_LM_TRAINING, "--teacher": ("{missing}", "{file}"), "--seeds": POS, "--out": _LM_FILE}),
    ("minitron", "intermediate"): Leaf([(None, "smollm2"), ("--teacher", "smollm2"), ("--out", "{missing}")], {
        **_LM, **_LM_TRAINING, "--teacher": ("{missing}", "{file}"), "--seeds": POS, "--out": _LM_FILE}),
    ("minitron", "schedule"): Leaf([(None, "smollm2"), ("--out", "{missing}")], {
        **_LM_CALIBRATION, **_LM_TARGET, **_LM_TRAINING, "--seeds": POS, "--out": _LM_FILE}),
    ("minitron", "search"): Leaf([(None, "smollm2"), ("--params", "1e8"), ("--out", "{missing}")], {
        **_LM_CALIBRATION, **_LM_TRAINING, "--params": POS_FLOAT, "--tolerance": UNIT, "--limit": POS,
        "--out": _LM_FILE}),
    ("minitron", "evaluate"): Leaf([(None, "smollm2")], {**_LM, "--out": _LM_FILE}),
}
# Refusals that name the parameter, fault or README block instead of the flag.
NAMED_OTHERWISE = ("--param", "--fault", "--readme")


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every leaf command's parser, by its path of subcommand names."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_leaves(sub, (*path, name)))
            return found
    return {path: parser}


def _value_keys(parser: argparse.ArgumentParser) -> set[str]:
    """Every flag that takes a value and every positional (flags without a value need no case)."""
    keys = set()
    for action in parser._actions:
        if action.nargs == 0 or isinstance(action, argparse.BooleanOptionalAction):
            continue
        keys.add(max(action.option_strings, key=len) if action.option_strings else action.dest)
    return keys


def test_every_flag_of_every_command_has_a_bad_input_case():
    leaves = _leaves(build_parser())
    assert set(leaves) == set(LEAVES), "commands without a row in LEAVES (or rows of removed commands)"
    for path, parser in leaves.items():
        leaf = LEAVES[path]
        missing = _value_keys(parser) - set(leaf.cases) - set(leaf.exempt)
        assert not missing, f"lth {' '.join(path)}: flags without a bad-input case: {sorted(missing)}"
        assert not set(leaf.cases) - _value_keys(parser), f"lth {' '.join(path)}: cases for flags it does not have"


def _cases():
    for path, leaf in LEAVES.items():
        yield pytest.param(path, ["--no-such-flag", "1"], id=f"{'-'.join(path)}-unknown-flag")
        for key, values in leaf.cases.items():
            for value in values:
                yield pytest.param(path, (key, value), id=f"{'-'.join(path)}{key}={value}")
        flags = [key for key in leaf.cases if key.startswith("--") and len(key) > 4]
        if flags:  # prefix matching is off: an abbreviated flag is refused, not guessed
            yield pytest.param(path, [flags[0][:-1], "1"], id=f"{'-'.join(path)}-abbreviated")


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def places(tmp_path: Path, monkeypatch) -> dict[str, str]:
    (tmp_path / "afile").write_text("not empty\n")
    (tmp_path / "empty").write_text("")
    (tmp_path / "adir").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old").write_text("an earlier result\n")
    (tmp_path / "readme.md").write_text("# R\n<!-- results:begin -->\nold\n<!-- results:end -->\n")
    nothing = tmp_path / "records" / "claims" / "no.such.claim"
    nothing.mkdir(parents=True)
    (nothing / "quick-0.json").write_text("{}")
    monkeypatch.chdir(tmp_path)  # default outputs (results/, ...) would land here
    import lth.manuscript

    monkeypatch.setattr(lth.manuscript, "missing_tools", lambda: [])  # judge `paper build`'s input, not this machine's TeX
    return {"file": str(tmp_path / "afile"), "empty": str(tmp_path / "empty"), "dir": str(tmp_path / "adir"),
            "missing": str(tmp_path / "missing"), "proc": "/proc", "readme": str(tmp_path / "readme.md"),
            "records_of_nothing": str(tmp_path / "records"), "full": str(tmp_path / "full")}


def _argv(path: tuple[str, ...], case, places: dict[str, str]) -> list[str]:
    leaf = LEAVES[path]
    required = dict(leaf.required)
    positionals = [value for key, value in leaf.required if key is None]
    extra: list[str] = []
    if isinstance(case, tuple):
        key, value = case
        values = value if isinstance(value, list) else [value]
        if not key.startswith("--"):
            positionals = values
        elif key in required:
            required[key] = values
        else:
            extra = [key, *values]
    else:
        extra = case
    argv = [*path, *positionals]
    for key, value in required.items():
        if key is not None:
            argv += [key, *(value if isinstance(value, list) else [value])]
    return [arg.format(**places) for arg in argv + extra]


@pytest.mark.parametrize("path,case", list(_cases()))
def test_bad_input_is_one_line_exit_two_and_writes_nothing(path, case, places, capsys):
    here, readme = Path.cwd(), REPO_ROOT / "README.md"
    before, readme_before = _snapshot(here), readme.read_bytes()
    argv = _argv(path, case, places)
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2, f"lth {' '.join(argv)} exited {status}: {out}{err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, f"lth {' '.join(argv)}:\n{err}"
    assert lines[0].startswith(f"lth {path[0]}") and "error" in lines[0]
    assert out == "", f"lth {' '.join(argv)} printed {out!r} before refusing"
    if isinstance(case, tuple) and case[0].startswith("--") and case[0] not in NAMED_OTHERWISE:
        assert case[0] in lines[0], f"the refusal does not name {case[0]}: {lines[0]}"
    assert _snapshot(here) == before, "a refused command created or changed a file"
    assert readme.read_bytes() == readme_before


def test_paper_readme_with_missing_results_leaves_the_readme_untouched(places, capsys):
    readme = Path(places["readme"])
    text = readme.read_text()
    assert main(["paper", "readme", "--results", places["missing"], "--readme", str(readme)]) == 2
    assert main(["paper", "readme", "--results", places["dir"], "--readme", str(readme)]) == 2
    assert readme.read_text() == text


def test_the_lazy_parser_lists_every_command_as_the_full_parser_does():
    import lth.cli as cli

    def listed(parser):
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return {a.dest: a.help for a in sub._choices_actions}

    assert listed(cli.build_parser()) == listed(cli.build_parser(""))


def test_the_names_kept_without_torch_agree_with_their_sources():
    import lth.commands.minitron as lm
    import lth.commands.universal as command
    import lth.validate as validate
    from lth.simulations.minitron import corpus, distillation, importance
    from lth.theory.device import DEVICE_CHOICES
    from lth.theory.universal import SOLVERS

    assert validate.DEVICE_CHOICES == DEVICE_CHOICES and command.SOLVERS == SOLVERS
    assert lm.SOURCES == corpus.SOURCES and lm.AGGREGATIONS == importance.AGGREGATIONS
    assert (lm.DEFAULT_BATCH, lm.DEFAULT_SEQUENCE) == (importance.DEFAULT_BATCH, importance.DEFAULT_SEQUENCE)
    assert lm.METHODS == distillation.METHODS and lm.LOGIT_LOSSES == distillation.LOGIT_LOSSES


def test_the_generic_parameter_rule_refuses_counts_below_one_and_non_finite_floats():
    from lth.validate import param_problem

    assert param_problem("trials", -5, 1000) and param_problem("trials", 0, 1000)
    assert param_problem("seed", 0, 0) is None and param_problem("seed", -1, 0)
    assert param_problem("eps", float("nan"), 0.1) and param_problem("eps", float("inf"), 0.1)
    assert param_problem("eps_test", (0.1, -0.2), (0.01,)) and param_problem("eps_test", (0.1,), (0.01,)) is None
    assert param_problem("name", "x", "y") is None and param_problem("flag", True, False) is None


def test_every_registered_value_passes_the_rule_it_sets_for_overrides():
    """Quick and full parameters of every claim, every settings default and every preset are allowed by
    the rule that judges the user's values (else the rule would refuse the toolkit's own settings); a
    claim parameter is allowed when the rule allows it for the default of either scale, as in
    ``lth verify``."""
    import dataclasses

    from lth.commands.supermask import EXPERIMENTS, PRESETS
    from lth.registry import all_claims
    from lth.validate import field_type, param_problem
    from lth.simulations.imp import PROTOCOLS, protocol

    from lth.registry import domains

    for claim_id, entry in all_claims().items():
        scales = [entry.parameters(scale, {}) for scale in ("quick", "full")]
        declared = domains(entry.params)
        for values in scales:
            for f in dataclasses.fields(values):
                problems = [param_problem(f.name, getattr(values, f.name), getattr(d, f.name), declared.get(f.name))
                            for d in scales]
                assert not all(problems), f"{claim_id}: {problems}"
    settings = [protocol(name) for name in PROTOCOLS]
    settings += [kind(**PRESETS[name][preset]) for name, (kind, *_) in EXPERIMENTS.items() for preset in PRESETS[name]]
    for instance in settings:
        for f in dataclasses.fields(instance):
            value, default = getattr(instance, f.name), f.default
            for v, d in (zip(value, default) if isinstance(value, tuple) and default else [(value, default)]):
                if isinstance(d, (int, float)) and not isinstance(d, bool):
                    field_type(f.name, d)(repr(v))


def test_result_files_get_the_users_normal_mode(tmp_path: Path):
    import os

    from lth.store import write_atomic

    old = os.umask(0o027)
    try:
        path = write_atomic(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    import lth.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    real = cli.build_parser

    def parser(command=None):
        built = real(command)
        built._subparsers._group_actions[0].choices["list"].set_defaults(func=interrupted)
        return built

    monkeypatch.setattr(cli, "build_parser", parser)
    assert main(["list"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted" in err[0]


def test_help_and_a_refusal_do_not_import_torch():
    code = ("import sys; from lth.cli import main; assert main(['--help']) == 0; "
            "assert main(['universal', 'poly', '--degree', '-1']) == 2; "
            "assert main(['paper', 'readme', '--results', '/nonexistent']) == 2; "
            "assert main(['minitron', '--help']) == 0 and main(['minitron', 'prune', '--help']) == 0; "
            "assert main(['minitron', 'prune', 'smollm2', '--heads', '0', '--out', 'x']) == 2; "
            "assert main(['figures', '--results', '.']) == 2; "
            "heavy = [m for m in ('torch', 'numba', 'dask', 'transformers', 'scipy') if m in sys.modules]; "
            "assert not heavy, heavy")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("argv", [["verify", "rss.lueker"], ["universal", "poly"], ["simulate", "imp"],
                                  ["simulate", "basin"], ["simulate", "supermask"], ["figures"]])
def test_a_default_output_folder_is_probed_too(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").write_text("a file where the default output folder would go\n")
    (tmp_path / "paper").write_text("likewise\n")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "is a file" in err[0]


# The catalogue: refusals of claim ids, parameters and figure names without torch once they have been read ---

@pytest.fixture
def catalogue(tmp_path_factory, monkeypatch) -> Path:
    import lth.validate as validate

    folder = tmp_path_factory.mktemp("catalogue")
    monkeypatch.setenv("LTH_CACHE_DIR", str(folder))
    # the user's catalogue alone: a current lth/catalogue.json would answer where it is refused
    monkeypatch.setattr(validate, "SHIPPED", folder / "no-shipped-catalogue.json")
    return folder


def test_the_catalogue_keeps_every_claims_settings_exactly(catalogue):
    import lth.cli as cli
    from lth.validate import recall

    live = cli._claim_settings()  # from the registry, and stored
    assert recall("claims") is not None
    assert cli._claim_settings() == live  # from the catalogue: tuples, floats and None as they were
    assert any(isinstance(v, tuple) for entry in live.values() for v in entry.quick.values())


def test_a_catalogue_of_other_code_or_a_broken_one_is_not_used(catalogue, monkeypatch, capsys):
    import json

    import lth.validate as validate
    from lth.validate import catalogue_path, recall, remember

    catalogue_path().parent.mkdir(parents=True, exist_ok=True)
    catalogue_path().write_text("{ not json")
    assert recall("claims") is None and main(["verify", "no.such"]) == 2
    remember("claims", {"x": 1})
    entries = json.loads(catalogue_path().read_text())
    source = next(iter(entries["claims"]["sources"]))
    entries["claims"]["sources"][source] = "0" * 16  # a module it was computed by has changed since
    catalogue_path().write_text(json.dumps(entries))
    assert recall("claims") is None
    remember("claims", {"x": 1})
    monkeypatch.setattr(validate, "_environment", lambda: "another version or other packages' claims")
    assert recall("claims") is None


def test_an_entry_outlives_edits_to_code_it_does_not_depend_on(catalogue, tmp_path, monkeypatch):
    """An entry is read while every source file loaded when it was stored is unchanged (an edit to
    another module, e.g. a command the claims never import, leaves it valid), and never after one of
    them changes. Before, any edit anywhere in the toolkit made every refusal cold (3-7 s, torch)."""
    import lth.validate as validate
    from lth.validate import recall, remember

    used, other = tmp_path / "used.py", tmp_path / "other.py"
    used.write_text("A = 1\n")
    other.write_text("B = 1\n")
    monkeypatch.setattr(validate, "_loaded_sources", lambda: {str(used): validate._source_hash(str(used))})
    remember("claims", {"rss.lueker": ("eps_test",)})
    other.write_text("B = 2\n")
    validate._source_hash.cache_clear()  # a later process
    assert recall("claims") == {"rss.lueker": ("eps_test",)}
    used.write_text("A = 2\n")
    validate._source_hash.cache_clear()
    assert recall("claims") is None


def test_a_stored_entry_depends_on_the_modules_loaded_when_it_was_stored(catalogue):
    import json

    import lth.commands.rules
    from lth.validate import catalogue_path, remember

    remember("x", 1)
    sources = json.loads(catalogue_path().read_text())["x"]["sources"]
    assert str(Path(lth.commands.rules.__file__).resolve()) in sources
    assert all(Path(path).suffix == ".py" for path in sources)


def test_refusals_from_the_catalogue_do_not_import_torch(catalogue):
    records = str(REPO_ROOT / "records")
    assert main(["simulate", "imp", "--seeds", "0"]) == 2 and main(["verify", "no.such"]) == 2  # fill it
    assert main(["figures", "no_such_figure", "--results", records]) == 2
    code = ("import sys; from lth.cli import main; "
            f"assert main(['figures', 'no_such_figure', '--results', {records!r}]) == 2; "
            "assert main(['simulate', 'imp', '--seeds', '0']) == 2; "
            "assert main(['simulate', 'basin', '--tau', 'nan']) == 2; "
            "assert main(['verify', 'no.such']) == 2; "
            "assert main(['verify', 'rss.lueker', '--param', 'trials=-5']) == 2; "
            "assert main(['verify', 'rss.lueker', '--param', 'trials=abc']) == 2; "
            f"assert all(main(argv) == 2 for argv in {[argv for argv, _ in RULE_CASES]!r}); "
            f"assert all(main(argv) == 2 for argv in {[argv for argv, _ in DOMAIN_CASES]!r}); "
            "heavy = [m for m in ('torch', 'numba', 'dask', 'transformers', 'scipy') if m in sys.modules]; "
            "assert not heavy, heavy")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


# Rules between flags (lth.commands.rules) and the domains claims declare (lth.registry.param) ---------------

# argv, words the one-line refusal must hold. Each of these ran before: the IMP runs trained for minutes (a
# transfer from 8x8 digits to 28x28 MNIST trains both runs, then fails), the others failed after torch was
# imported (3-7 s) or, for --param, ended as an error verdict with exit status 1.
RULE_CASES = [
    (["simulate", "imp", "--rewind-to", "300"], ("--rewind-to 300", "--iterations 250")),
    (["simulate", "imp", "--preset", "paper", "--iterations", "40", "--rewind-to", "0", "40"], ("--rewind-to 40",)),
    (["simulate", "imp", "--max-images", "5"], ("--max-images 5", "at least 10")),
    (["simulate", "transfer", "--source", "digits", "--dataset", "mnist5k"], ("--source digits", "--dataset mnist5k")),
    (["simulate", "transfer", "--source", "digits", "--source-image-size", "14"], ("14x14", "8x8")),
    (["simulate", "edge-popup", "--construction-seeds", "6"], ("--construction-seeds 6", "--seeds 5")),
    (["simulate", "edge-popup", "--seeds", "2", "--construction-seeds", "3"], ("--construction-seeds 3",)),
]
DOMAIN_CASES = [
    (["verify", "slth.dense.network", "--param", "eps=2"], ("eps=2", "(0, 1)")),
    (["verify", "slth.conv.network", "--param", "eps=1.0"], ("eps=1.0", "(0, 1)")),
    (["verify", "slth.dense.rule", "--param", "eps_sweep=(0.1, 1.5)"], ("eps_sweep", "(0, 1)")),
    (["verify", "basin.generalisation", "--param", "seeds=1"], ("seeds=1", ">= 2")),
    (["verify", "rss.lueker", "--param", "eps_test=(0.01, 2.0)"], ("eps_test", "(0, 1)")),
    (["verify", "rss.product", "--param", "eps_fit=(0.5, 1.0)"], ("eps_fit", "(0, 1)")),
    (["verify", "rss.fixed_size", "--param", "eps_test=2"], ("eps_test=2", "(0, 1)")),
    (["verify", "rss.multidim", "--param", "delta=1.5"], ("delta=1.5", "(0, 1)")),
    (["verify", "universal.poly.ticket", "--param", "eps=2"], ("eps=2", "(0, 1)")),
    (["verify", "universal.fourier.ticket", "--param", "eps_interp=0.0"], ("eps_interp=0.0", "(0, 1)")),
    (["verify", "universal.transfer", "--param", "eps_fourier=2"], ("eps_fourier=2", "(0, 1)")),
    (["verify", "universal.poly.identity", "--param", "rel_tol=0.0"], ("rel_tol=0.0", "(0, inf)")),
    (["verify", "slth.hyperbolic.network", "--param", "eps=2"], ("eps=2", "(0, 1)")),
    (["verify", "slth.depth.network", "--param", "delta=1.0"], ("delta=1.0", "(0, 1)")),
    (["verify", "slth.llama.layer", "--param", "eps=0"], ("eps=0", "(0, inf)")),
    (["simulate", "basin", "--seeds", "1"], ("--seeds", ">= 2")),
    (["simulate", "basin", "--directions", "1"], ("--directions", ">= 2")),
]


@pytest.mark.parametrize("argv,words", RULE_CASES + DOMAIN_CASES, ids=[" ".join(a) for a, _ in RULE_CASES + DOMAIN_CASES])
@pytest.mark.parametrize("source", ["registry", "catalogue"])
def test_rules_between_flags_and_declared_domains_are_refused_in_one_line_before_any_work(argv, words, source,
                                                                                         catalogue, places, capsys):
    if source == "catalogue":
        import lth.cli

        lth.cli._claim_settings()  # stores the claims' settings: `lth verify` reads them from there
    here = Path.cwd()
    before = _snapshot(here)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith(f"lth {argv[0]}"), err
    assert all(word in lines[0] for word in words), lines[0]
    assert _snapshot(here) == before


def test_the_rules_refuse_exactly_what_the_settings_refuse():
    """Each rule of lth.commands.rules agrees with the check of the library it stands for."""
    import dataclasses

    from lth.commands import rules
    from lth.simulations.data import load_dataset
    from lth.simulations.edge_popup import EdgePopupSettings
    from lth.simulations.imp import cap_images, protocol

    for iterations, rewind in [(250, 0), (250, 249), (250, 250), (40, 300), (1, 0), (5, 4)]:
        values = dataclasses.asdict(protocol("quick", iterations=iterations))
        refused = rules.rewind_within_training({**values, "rewind_to": (rewind,)}) is not None
        try:
            protocol("quick", iterations=iterations, rewind_to=(rewind,))
            raised = False
        except ValueError:
            raised = True
        assert refused == raised, (iterations, rewind)
    splits = load_dataset("digits")
    for total in (0, 1, 9, 10, 11, 50):
        refused = rules.images_fill_every_part({"max_images": total}) is not None
        if total:
            try:
                cap_images(splits, total)
                raised = False
            except ValueError:
                raised = True
            assert refused == raised, total
        else:
            assert not refused
    assert tuple(splits.train.x.shape[-2:]) == (rules.NATIVE_SIDE["digits"],) * 2
    for seeds, construction in [(5, 5), (5, 6), (1, 0), (2, 3)]:
        refused = rules.construction_within_seeds({"seeds": seeds, "construction_seeds": construction}) is not None
        try:
            EdgePopupSettings(seeds=seeds, construction_seeds=construction)
            raised = False
        except ValueError:
            raised = True
        assert refused == raised, (seeds, construction)


def test_the_native_image_sides_agree_with_the_data_sets():
    from lth.commands.rules import NATIVE_SIDE
    from lth.simulations.data import DATASETS, MissingDataset, load_dataset

    assert set(NATIVE_SIDE) == set(DATASETS)
    for name in ("digits", "mnist5k"):
        try:
            shape = load_dataset(name).train.x.shape
        except MissingDataset:
            continue
        assert tuple(shape[-2:]) == (NATIVE_SIDE[name],) * 2


def test_a_declared_domain_is_checked_by_the_library_too_and_must_be_storable():
    from lth.registry import OPEN_UNIT, get_claim, param

    entry = get_claim("slth.dense.network")
    with pytest.raises(ValueError, match="eps=2"):
        entry.parameters("quick", {"eps": 2})
    assert entry.parameters("quick", {"eps": 0.5}).eps == 0.5
    param(0.1, "fine", domain=OPEN_UNIT)
    with pytest.raises(ValueError):
        param(0.1, "a domain the catalogue cannot store", domain=lambda text: float(text))
