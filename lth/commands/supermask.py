"""``lth simulate supermask``, ``lth simulate learned-supermask`` and ``lth simulate edge-popup``.

Every field of the experiment's settings (``lth.simulations.supermask.CriteriaSettings``,
``LearnedSettings``, ``lth.simulations.edge_popup.EdgePopupSettings``) is a flag with the field's help
text; ``--preset quick`` (default) is the reduced protocol of ``lth verify`` on the MNIST subset,
``--preset paper`` the full protocol on Fashion-MNIST (hours on a CPU; a GPU is recommended).
Results go to ``OUT/<experiment>/<hash of non-default settings>/``; a finished run is loaded, an
interrupted one resumes from its last saved level (criteria) or width (edge-popup).

The parsers are built from the settings dataclasses alone (``lth.simulations.supermask_settings``: no
torch), so a bad flag is refused at once; the experiment's library is imported when it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from typing import Any, Callable

from lth.commands.simulate import add_field_flags, simulate_subcommands
from lth.simulations.supermask_settings import (CRITERIA, ESTIMATORS, INITS, WEIGHT_INITS, CriteriaSettings,
                                                EdgePopupSettings, LearnedSettings)
from lth.store import SIMULATIONS_ROOT, RunDirectory
from lth.validate import DEVICE_CHOICES, out_dir

_QUICK = {"dataset": "mnist5k", "seeds": 5, "iterations": 400, "eval_every": 50}
_PAPER = {"dataset": "fashion_mnist", "seeds": 5, "iterations": 5000, "eval_every": 100}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "supermask": {"quick": {**_QUICK, "rounds": 2, "prune_rate": 0.3, "prune_rate_output": 0.15},
                  "paper": {**_PAPER, "rounds": 8, "prune_rate": 0.3, "prune_rate_output": 0.15, "retrain": True}},
    "learned-supermask": {"quick": {**_QUICK, "score_iterations": 400}, "paper": {**_PAPER, "score_iterations": 5000}},
    "edge-popup": {"quick": {**_QUICK, "width": 0.1, "score_iterations": 300, "construction_seeds": 1,
                             "construction_step": 24, "construction_resolution": 24},
                   "paper": {**_PAPER, "width": 0.25, "score_iterations": 5000, "construction_seeds": 5,
                             "construction_step": 8, "construction_resolution": 1}},
}


def _percent(values: list[float]) -> str:
    from lth.simulations.statistics import t_interval

    if len(values) == 1:
        return f"{100 * values[0]:.2f}"
    mean, lower, upper = t_interval(values)
    return f"{100 * mean:.2f} [{100 * lower:.2f},{100 * upper:.2f}]"


def _criteria_table(result: dict) -> str:
    lines = [f"dense network: {_percent(result['dense']['test_acc'])} % test accuracy (mean [95% t-CI])"]
    for level in result["levels"]:
        lines.append(f"level {level['level']}  (test acc %: zero-shot on θ0 | sign-only | retrained)")
        for name, row in level["criteria"].items():
            cells = [_percent(row["zero_shot"]), _percent(row["sign_only"])]
            cells.append(_percent(row["trained"]) if "trained" in row else "-")
            lines.append(f"  {name:<30} {100 * row['remaining']:6.2f}% kept  " + " | ".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)


def _learned_table(result: dict) -> str:
    learned = result["learned"]
    return (f"dense network:    {_percent(result['dense']['test_acc'])} % test accuracy (mean [95% t-CI])\n"
            f"learned supermask: {_percent(learned['sampled_test_acc'])} % with masks sampled at test time "
            f"(Zhou et al.), {_percent(learned['test_acc'])} % with the fixed mask [σ > 1/2] "
            f"({100 * sum(learned['remaining']) / len(learned['remaining']):.1f}% of weights kept)")


def _edge_popup_table(result: dict) -> str:
    target = result["target"]
    lines = [f"trained target ({target['weights']:,} weights): {_percent(target['test_acc'])} % test accuracy",
             "width factor  random weights  edge-popup test acc %"]
    lines += [f"{row['factor']:>12g}  {row['weights']:>14,}  {_percent(row['test_acc']):>22}" for row in result["factors"]]
    for seed, built in enumerate(target.get("construction") or []):
        lines.append(f"seed {seed}: Pensia width rule at tolerance {built['tolerance']:.3g} needs hidden widths "
                     f"{built['hidden_widths']}, {built['weights']:,} random weights")
    for seed, search in enumerate(target.get("certified") or []):
        lines.append(f"seed {seed}: constructed tickets, ε = {search['eps_logits']:.4g} logits "
                     "(units per input | random weights | kept | certified sup error | test predictions "
                     "that may change / changed)")
        lines += [f"  {str(b['units']):<16} {b['random_weights']:>12,} {b['kept']:>9,}  {b['certificate']:>10.4g} "
                  f"{'<' if b['certified'] else '>='} ε  {b['may_change']:>5} / {b['changed']}"
                  for b in search["builds"]]
        best = search["certified"]
        lines.append("  smallest certified construction: " + (
            f"{best['random_weights']:,} random weights (units per input {best['units']}, {best['kept']:,} kept)"
            if best else "none up to the width rule's"))
    return "\n".join(lines)


# Experiment -> its settings, the library function that runs it (module, name: imported when it runs, so
# building the parser costs no torch), its table and its help line.
EXPERIMENTS: dict[str, tuple[type, tuple[str, str], Callable[[dict], str], str]] = {
    "supermask": (CriteriaSettings, ("lth.simulations.supermask", "run_criteria"), _criteria_table,
                  "Zhou et al.'s twelve mask criteria: zero-shot, sign-only and (--retrain) IMP-style tickets"),
    "learned-supermask": (LearnedSettings, ("lth.simulations.supermask", "run_learned"), _learned_table,
                          "a supermask learned on frozen θ0 (sigmoid scores, Bernoulli masks, straight-through)"),
    "edge-popup": (EdgePopupSettings, ("lth.simulations.edge_popup", "run_edge_popup"), _edge_popup_table,
                   "edge-popup on random networks of growing width beside a trained target and the width "
                   "Pensia et al.'s construction needs for it"),
}


# The allowed values of each experiment's string settings (refused by argparse, before any work).
NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "supermask": {"criteria": tuple(CRITERIA)},
    "learned-supermask": {"weights": tuple(INITS), "estimator": tuple(ESTIMATORS)},
    "edge-popup": {"weights": tuple(WEIGHT_INITS)},
}


def add_flags(parser: argparse.ArgumentParser, settings: type, name: str) -> None:
    """One flag per settings field (tuples take several values), then preset, device, out, progress."""
    add_field_flags(parser, settings, names=NAMES[name])
    quick, paper = (", ".join(f"{k}={v}" for k, v in PRESETS[name][p].items()) for p in ("quick", "paper"))
    parser.add_argument("--preset", choices=("quick", "paper"), default="quick",
                        help=f"quick: {quick} (minutes on a CPU); paper: {paper} (hours on a CPU, GPU recommended)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="auto picks CUDA when present")
    parser.add_argument("--out", type=out_dir, default=str(SIMULATIONS_ROOT), help="root of the run directories")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def settings_from(args: argparse.Namespace, settings: type, name: str) -> Any:
    """The preset, overridden by every flag the user gave (bad values raise ValueError: exit 2)."""
    values = dict(PRESETS[name][args.preset])
    for f in dataclasses.fields(settings):
        given = getattr(args, f.name)
        if given is not None:
            values[f.name] = tuple(given) if isinstance(given, list) else given
    return settings(**values)


def _runner(name: str) -> Callable[[argparse.Namespace], int]:
    settings_type, (module, function), table, _ = EXPERIMENTS[name]

    def command(args: argparse.Namespace) -> int:
        from lth.theory.device import resolve_device

        settings = settings_from(args, settings_type, name)
        run = getattr(importlib.import_module(module), function)
        device = resolve_device(args.device)
        run_dir = RunDirectory.for_settings(name.replace("-", "_"), settings, args.out, seed=settings.seed,
                                            device=str(device))
        print(f"{run_dir.path}: {name} on {settings.dataset}/{settings.arch}, {settings.seeds} seeds, {device}")
        result = run(settings, device, store=run_dir, progress=not args.no_progress)
        print(table(result))
        print(f"wrote {run_dir.path / 'result.json'}")
        return 0

    return command


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = simulate_subcommands(subparsers)
    for name, (settings_type, _, _, text) in EXPERIMENTS.items():
        p = commands.add_parser(name, help=text, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        add_flags(p, settings_type, name)
        p.set_defaults(func=_runner(name), lth_presets={preset: dataclasses.asdict(settings_type(**values))
                                                        for preset, values in PRESETS[name].items()})
