"""``lth simulate imp``, ``transfer`` and ``basin``: IMP and basin-volume experiments from the command line.

Every field of :class:`lth.simulations.imp.ImpSettings` is a flag (its help text is the field's); a
preset fills the rest: ``quick`` is the reduced protocol ``lth verify`` uses (digits, minutes on a
CPU), ``paper`` Frankle & Carbin's LeNet-300-100 protocol (hours on a CPU). Results go to
``OUT/<experiment>/<hash of non-default settings>/``; finished runs are loaded, interrupted ones
resume from their last per-level checkpoint.

The parsers are built from the settings dataclasses alone (``lth.simulations.imp_settings``,
:mod:`lth.basin_params`: no torch), so a bad flag is refused at once; the libraries that run the
experiments are imported by the commands.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path

from lth.basin_params import GeneralisationParams
from lth.cli import add_sweep_flags
from lth.simulations.imp_settings import CRITERIA, PROTOCOLS, ImpSettings, protocol
from lth.simulations.training_settings import ARCHITECTURES, DATASETS, OPTIMIZERS, STOP_RULES
from lth.store import SIMULATIONS_ROOT, RunDirectory, write_json
from lth.validate import DEVICE_CHOICES, field_type, finite_float, non_negative_int, out_dir

# Above this many training iterations (all replicas of a level train in one batched iteration) a CPU
# run takes hours: LeNet-300-100 with 15 replicas on 28x28 images measured ~0.09 s per iteration on 2
# shared cores. Say so before starting.
_LONG_RUN = 20_000
# Settings fields whose values are names: refused by argparse, before a run directory is announced.
_NAMES = {"dataset": DATASETS, "arch": ARCHITECTURES}
# The settings of each --preset, as lth.commands.rules reads them.
_PRESETS = {name: dataclasses.asdict(protocol(name)) for name in PROTOCOLS}


def simulate_subcommands(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The subcommands of ``lth simulate``, created on first use so several plugins can share it."""
    parser = subparsers.choices.get("simulate")
    if parser is None:
        parser = subparsers.add_parser("simulate", help="run simulations of pruning phenomena on real data")
        parser.lth_subcommands = parser.add_subparsers(dest="simulation", metavar="NAME", required=True)
    return parser.lth_subcommands


def add_field_flags(parser: argparse.ArgumentParser, kind: type, default_label: str = "default",
                    names: dict[str, tuple[str, ...]] | None = None) -> None:
    """One flag per field of the dataclass ``kind`` (help text from the field's metadata); unset flags
    are None, so the caller can tell them from given values. Numbers are checked by
    :func:`lth.validate.field_type` (counts >= 1, finite floats, rates in (0, 1)), or by the domain a field
    declares (:func:`lth.registry.param`); ``names`` (beside data set and architecture) gives the allowed
    values of string fields."""
    names = {**_NAMES, **(names or {})}
    hints = typing.get_type_hints(kind)
    for f in dataclasses.fields(kind):
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        text = f"{f.metadata.get('help', '')} ({default_label}: {f.default})"
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif typing.get_origin(hint) is tuple:
            element = (typing.get_args(hint) or (str,))[0]
            check = f.metadata.get("domain") or field_type(f.name, element(f.default[0]) if f.default else element())
            parser.add_argument(flag, type=check, nargs="+", choices=names.get(f.name), default=None, help=text)
        elif f.name in names:
            parser.add_argument(flag, choices=names[f.name], default=None, help=text)
        else:
            check = f.metadata.get("domain") or field_type(f.name, hint(f.default))
            parser.add_argument(flag, type=check, default=None, help=text)


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    add_field_flags(parser, ImpSettings, "paper default",
                    {"criterion": CRITERIA, "optimizer": OPTIMIZERS, "stop_on": STOP_RULES})
    parser.add_argument("--preset", choices=tuple(PROTOCOLS), default="quick",
                        help="quick: digits, minutes on a CPU; paper: Frankle & Carbin's protocol, hours on a CPU")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="auto picks CUDA when present")
    parser.add_argument("--out", type=out_dir, default=str(SIMULATIONS_ROOT), help="root of the run directories")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_sweep_flags(parser)


def settings_from(args: argparse.Namespace, **fixed) -> ImpSettings:
    """The preset, overridden by every flag the user gave."""
    values = {}
    for f in dataclasses.fields(ImpSettings):
        given = getattr(args, f.name)
        if given is not None:
            values[f.name] = tuple(given) if isinstance(given, list) else given
    return protocol(args.preset, **{**values, **fixed})


def _announce(settings: ImpSettings, run_dir: Path, device: str, groups: int) -> None:
    work = settings.iterations + settings.rounds * settings.level_work()
    print(f"{run_dir}: {settings.rounds + 1} levels x {settings.iterations} iterations x {settings.seeds} seeds "
          f"x {groups} variant(s) on {device}")
    if work > _LONG_RUN:
        print(f"full scale: {work:,} batched training iterations; this may take hours on a CPU (GPU "
              f"recommended). Interrupt at will: the run resumes from its last finished level.")


def _table(levels: list[dict], confidence: float = 0.95) -> str:
    from lth.simulations.statistics import t_interval

    names = list(dict.fromkeys(name for level in levels for name in level["variants"]))
    lines = ["level  remaining  " + "  ".join(f"{n:>22}" for n in names) + "  (test acc %, 95% t-CI)"]
    for level in levels:
        cells = []
        for name in names:
            values = level["variants"].get(name, {}).get("test_acc")
            if not values:
                cells.append(f"{'':>22}")
            elif len(values) == 1:
                cells.append(f"{100 * values[0]:>22.2f}")
            else:
                mean, lower, upper = t_interval(values, confidence)
                cells.append(f"{f'{100 * mean:.2f} [{100 * lower:.2f},{100 * upper:.2f}]':>22}")
        lines.append(f"{level['level']:>5}  {100 * level['remaining']:>8.2f}%  " + "  ".join(cells))
    return "\n".join(lines)


def _imp(args: argparse.Namespace) -> int:
    from lth.imp_seeds import imp_result
    from lth.simulations.imp import run_imp
    from lth.sweep import TaskStore, open_sweep
    from lth.theory.device import resolve_device

    settings = settings_from(args)
    device = resolve_device(args.device)
    run_dir = RunDirectory.for_settings("imp", settings, args.out, seed=settings.seed, device=str(device))
    _announce(settings, run_dir.path, str(device), len(settings.variants()))
    with open_sweep(args.workers, args.scheduler) as sweep:
        if sweep.client is None:
            levels = run_imp(settings, device, store=run_dir, progress=not args.no_progress).levels
        else:
            # One task per seed, stored under run_dir/seeds/ (a killed sweep resumes); workers return
            # rows only, so the tickets' tensors (tensors.pt) stay with in-process runs.
            levels = imp_result(settings, device, sweep, store=TaskStore(run_dir.path / "seeds"),
                                progress=not args.no_progress).levels
            write_json(run_dir.path / "result.json", {"experiment": "imp", "settings": dataclasses.asdict(settings),
                                                      "levels": levels}, seed=settings.seed, device=str(device))
    print(_table(levels))
    print(f"wrote {run_dir.path / 'result.json'}")
    return 0


def _transfer(args: argparse.Namespace) -> int:
    from lth.imp_seeds import transfer_rows
    from lth.simulations.imp import run_transfer
    from lth.sweep import TaskStore, open_sweep
    from lth.theory.device import resolve_device

    target = settings_from(args)
    source = dataclasses.replace(target, dataset=args.source, image_size=args.source_image_size, controls=False,
                                 optimizer=args.source_optimizer or target.optimizer,
                                 lr=args.source_lr or target.lr)
    device = resolve_device(args.device)
    run_dir = RunDirectory.for_settings("transfer", target, args.out, seed=target.seed, device=str(device)).child(
        f"from-{args.source}-{args.source_image_size}-{source.optimizer}-{source.lr:g}")
    _announce(target, run_dir.path, str(device), len(target.variants()) + 2)
    with open_sweep(args.workers, args.scheduler) as sweep:
        if sweep.client is None:
            rows = run_transfer(source, target, device, store=run_dir, progress=not args.no_progress)
        else:
            rows = transfer_rows(source, target, device, sweep, store=TaskStore(run_dir.path / "seeds"),
                                 progress=not args.no_progress)
    write_json(run_dir.path / "result.json", {"experiment": "transfer", "source": dataclasses.asdict(source),
                                         "target": dataclasses.asdict(target), "levels": rows},
               seed=target.seed, device=str(device))
    print(_table(rows))
    print(f"wrote {run_dir.path / 'result.json'}")
    return 0


def _basin(args: argparse.Namespace) -> int:
    """Train clean and poisoned minima to a matched training loss and compare their basins (Huang et al.):
    filter-normalised random directions shared by a seed's two minima, radius to L(θ*) + τ by bracketing
    and bisection, and each minimum's Hessian spectrum from Hessian-vector products. Prints per kind of
    minimum: coordinates n, mean log radius (mean over seeds, 95% t-interval), training loss, clipped log det
    per coordinate, test accuracy; writes OUT/basin/<hash of non-default settings>/result.json.
    """
    from lth.claims.basin import GeneralisationFaults, check_generalisation
    from lth.registry import Context
    from lth.theory.device import resolve_device

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(GeneralisationParams)
              if getattr(args, f.name) is not None}
    params = GeneralisationParams(**values)
    device = resolve_device(args.device)
    path = RunDirectory.for_settings("basin", params, args.out).path / f"seed-{args.seed}" / "result.json"
    record = check_generalisation(params, Context(device=device, seed=args.seed, faults=GeneralisationFaults()))
    summary = record.details.get("summary", {})
    print(f"{'minimum':>9}  {'n':>8}  {'mean log r (95% t-CI over seeds)':>34}  {'train loss':>10}  "
          f"{'log det / n':>11}  {'test acc':>8}")
    for kind in record.details.get("minima", {}):
        s = summary[kind]
        mean, (lower, upper) = s["log_radius_mean"]["mean"], s["log_radius_mean"]["ci"]
        radius = f"{mean:.3f} [{lower:.3f}, {upper:.3f}]"
        print(f"{kind:>9}  {s['n']:>8}  {radius:>34}  {s['train_loss']['mean']:>10.4f}  "
              f"{s['log_det_per_dim']['mean']:>11.3f}  {100 * s['test_acc']['mean']:>7.2f}%")
    print(f"{record.verdict}: {record.reason}")
    write_json(path, {"experiment": "basin", "params": dataclasses.asdict(params), "verdict": record.verdict,
                      "reason": record.reason, "details": record.details}, seed=args.seed, device=str(device))
    print(f"wrote {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = simulate_subcommands(subparsers)
    p = commands.add_parser("imp", help="iterative magnitude pruning with rewinding and random controls",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_settings_flags(p)
    p.set_defaults(func=_imp, lth_presets=_PRESETS)
    p = commands.add_parser("transfer", help="retrain IMP tickets from a source data set on a target data set",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_settings_flags(p)
    p.add_argument("--source", required=True, choices=DATASETS, help="source data set of the tickets")
    p.add_argument("--source-image-size", type=non_negative_int, default=0,
                   help="resize source images to this side (0: native); must give the target's input shape")
    p.add_argument("--source-optimizer", choices=OPTIMIZERS, default=None,
                   help="optimiser of the source run (default: the target's): transfer across optimisers")
    p.add_argument("--source-lr", type=finite_float(0, lo_open=True), default=None,
                   help="learning rate of the source run (default: the target's)")
    p.set_defaults(func=_transfer, lth_presets=_PRESETS)
    p = commands.add_parser("basin", help="loss-basin radii and Hessian spectra: clean vs poisoned minima",
                            description=_basin.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_field_flags(p, GeneralisationParams)
    p.add_argument("--seed", type=non_negative_int, default=0, help="first seed")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="auto picks CUDA when present")
    p.add_argument("--out", type=out_dir, default=str(SIMULATIONS_ROOT), help="root of the run directories")
    p.set_defaults(func=_basin)
