"""The ``lth`` command line.

Subcommands: ``list``, ``verify``, ``figures`` here; further subcommands live in the modules named in
``_PLUGINS``, each exposing ``register(subparsers)`` that adds its parser with ``func`` set. Only the
modules of the command being run are imported, and every parser is built without torch (flags made
from settings dataclasses read them from torch-free modules: ``lth.simulations.*_settings``,
:mod:`lth.basin_params`), so ``lth --help`` and a refusal answer at once, on the first run too; every
parser is an :class:`lth.validate.Parser` (one-line usage errors, no prefix matching). Rules between
flags (:mod:`lth.commands.rules`) are judged on the parsed values. The claims' parameters, faults and
declared domains need the check modules (torch) to be read: ``lth verify`` keeps them in the catalogue
of :mod:`lth.validate`, so once it has run, a bad id or ``--param`` is refused from there without
importing torch while the modules they were read from are unchanged.
Exit status: 0 success, 1 a claim fails or errors, 2 usage errors (one line, before any work), 130
interrupted (Ctrl-C; stored work is kept and a rerun resumes from it).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

from lth.validate import (DEVICE_CHOICES, Parser, describe_type, input_dir, non_negative_int, out_dir, param_problem,
                          positive_int, rebuild_type, recall, remember, unknown_names, wrong_type)

# command -> (modules whose register() adds it, its line in `lth --help`); the line is the help that
# register() gives the command (tests/test_cli_bad_input.py checks they agree)
_PLUGINS: dict[str, tuple[tuple[str, ...], str]] = {
    "universal": (("lth.commands.universal",), "build a universal ticket from random weights, certify and save it"),
    "ticket": (("lth.commands.ticket",), "prune a random network into a certified ε-approximation of MODEL"),
    "simulate": (("lth.commands.simulate", "lth.commands.supermask"),
                 "run simulations of pruning phenomena on real data"),
    "paper": (("lth.manuscript",), "build the paper (PDF) and the README results block from results"),
    "minitron": (("lth.commands.minitron",),
                 "structured pruning + distillation of a Llama-style LM (SmolLM2-135M-Instruct packaged)"),
}


class UsageError(Exception):
    """Bad input from the user: reported in one line with exit status 2."""


def _list(args: argparse.Namespace) -> int:
    from lth.audit import claim_links
    from lth.registry import KINDS, all_claims, parameter_table

    links = claim_links(packages=True)
    for claim_id, entry in all_claims().items():
        print(f"{claim_id}\n  {entry.statement}\n  proof:   {entry.proof_anchor}")
        print(f"  checks:  {entry.kind}: {KINDS[entry.kind]}")
        if entry.protocol is not None:
            print(f"  protocol: {entry.protocol_digest} (proofs/amendments.md); margin: {entry.protocol.margin}")
        # another package's tests are found only where its sources are (lth.extensions.suite_folders)
        absent = f"(none found: {entry.origin}'s tests are not installed)" if entry.origin else "(none)"
        print(f"  tests:   {', '.join(links.tests.get(claim_id, [])) or absent}")
        print(f"  figures: {', '.join(links.figures.get(claim_id, [])) or '(none)'}")
        if args.uses:
            print(f"  uses:    {', '.join(entry.uses) or '(none)'}")
        if args.params:
            print(parameter_table(entry))
    return 0


@dataclass(frozen=True)
class ClaimSettings:
    """What ``lth verify`` checks a claim's ``--param``/``--fault`` against: the parameters of each
    scale, the faults' defaults and the parameters' declared domains (:func:`lth.registry.param`; as
    :func:`lth.validate.describe_type` stores them), from the registry, or from the catalogue without
    importing it."""

    quick: dict
    full: dict
    faults: dict
    domains: dict


def _registered_claim_settings() -> dict[str, dict]:
    """Every registered claim's :class:`ClaimSettings` as catalogue data, read from the registry."""
    from lth.registry import all_claims, domains

    return {claim_id: dataclasses.asdict(ClaimSettings(
        *(dataclasses.asdict(entry.parameters(scale)) for scale in ("quick", "full")),
        {f.name: None if f.default is dataclasses.MISSING else f.default for f in dataclasses.fields(entry.faults)},
        {name: describe_type(kind) for name, kind in domains(entry.params).items()}))
        for claim_id, entry in all_claims().items()}


def _claim_settings() -> dict[str, ClaimSettings]:
    """Every registered claim's settings, from the catalogue when it holds them for this code."""
    stored = recall("claims")
    if stored is None:
        stored = _registered_claim_settings()
        remember("claims", stored)
    return {claim_id: ClaimSettings(**entry) for claim_id, entry in stored.items()}


def _checked_claims(args: argparse.Namespace) -> tuple[list[str], dict, dict]:
    """The claim ids, parameter overrides and faults of ``lth verify``, each checked before any work:
    known ids, ``KEY=VALUE`` form, known names, types (:func:`lth.validate.wrong_type`) and ranges
    (:func:`_check_overrides`)."""
    known = _claim_settings()
    unknown = [c for c in args.ids if c not in known]
    if unknown:
        raise UsageError(f"unknown claim id(s): {', '.join(unknown)}; `lth list` shows the registered ones")
    ids = args.ids or list(known)
    overrides = dict(_parse_param(text) for text in args.param)
    faults = dict(_parse_param(text) for text in args.fault)
    if (overrides or faults) and not args.ids:
        raise UsageError("--param and --fault need explicit claim ids (they differ between claims)")
    for claim_id in ids:
        entry = known[claim_id]
        for given, defaults, what in ((overrides, entry.quick, "parameter(s)"), (faults, entry.faults, "fault(s)")):
            problem = unknown_names(given, defaults, f"{claim_id} has no {what}") or next(
                (p for p in (wrong_type(k, v, defaults[k]) for k, v in given.items()) if p), None)
            if problem:
                raise UsageError(problem)
        _check_overrides(claim_id, entry, args.scale, overrides)
    return ids, overrides, faults


def _verify(args: argparse.Namespace) -> int:
    ids, overrides, faults = _checked_claims(args)
    from lth.registry import all_claims
    from lth.sweep import open_sweep
    from lth.verify import exit_status, format_table, run_verify, summary
    from lth.theory.device import resolve_device

    known = all_claims()
    resolve_device(args.device)  # refuse an unavailable device before any work starts
    if args.scale == "full":  # say what full scale costs before it starts
        for claim_id in ids:
            print(f"full scale {claim_id}: {known[claim_id].full_cost or 'cost not measured'}", file=sys.stderr)
    if args.seeds is not None:
        return _verify_seeds(args, ids, known, overrides, faults)
    with open_sweep(args.workers, args.scheduler) as sweep:
        records = run_verify(ids, scale=args.scale, device=args.device, seed=args.seed, out=args.out,
                             progress=not args.no_progress, overrides=overrides, faults=faults, sweep=sweep)
    print(format_table(records))
    print(summary(records))
    print(f"\nwrote {args.out / 'verify.json'} and {args.out / 'verify.md'}")
    return exit_status(records, strict=args.strict)


def _verify_seeds(args: argparse.Namespace, ids: list[str], known: dict, overrides: dict, faults: dict) -> int:
    from lth.sweep import open_sweep
    from lth.verify import format_seed_table, run_seeds, seeds_exit_status

    kinds = {claim_id: known[claim_id].kind for claim_id in ids}
    with open_sweep(args.workers, args.scheduler) as sweep:
        rows = run_seeds(ids, args.seeds, kinds, scale=args.scale, device=args.device, out=args.out,
                         progress=not args.no_progress, overrides=overrides, faults=faults, sweep=sweep)
    print(format_seed_table(rows))
    for row in rows:
        if row["verdict"] != "holds":
            print(f"{row['claim']}: {row['reason']}")
    print(f"\nwrote {args.out / 'seeds.json'} and {args.out / 'seeds.md'} (each seed's reports under "
          f"{args.out / 'seeds'})")
    return seeds_exit_status(rows, strict=args.strict)


def _seeds(text: str) -> list[int]:
    from lth.verify import parse_seeds

    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _check_overrides(claim_id: str, entry: ClaimSettings, scale: str, overrides: dict) -> None:
    """Refuse ``--param`` values outside the parameter's declared domain (:func:`lth.registry.param`: the
    claim's hypotheses, e.g. ε in (0, 1)). A parameter without one gets the range
    :func:`lth.validate.field_type` gives its default (a count whose default is >= 1 must be >= 1; floats
    finite, positive where the default is); a value the rule allows for the default of either scale is
    accepted (``0`` where one scale uses 0). Faults are exempt: they are broken on purpose."""
    defaults = {"quick": entry.quick, "full": entry.full}
    for name, value in overrides.items():
        if name in entry.domains:
            problem = param_problem(name, value, None, rebuild_type(entry.domains[name]))
            problems = {scale: problem} if problem else {}
        else:
            problems = {s: param_problem(name, value, d[name]) for s, d in defaults.items()}
        if problems and all(problems.values()):
            raise UsageError(f"{claim_id}: {problems[scale]}")


def _parse_param(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE a Python literal (``trials=5000``, ``eps_test=(1e-3,)``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise UsageError(f"--param expects KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _figures(args: argparse.Namespace) -> int:
    """Draw the named figures (default: all). A results folder holding no claim record, or none that a
    requested figure needs, is refused in one line (exit 2) naming the command to run first; a figure
    whose records are missing while others are drawn is one line each (exit 1)."""
    if not args.index:  # refused before the figure scripts (and torch) are imported
        from lth.manuscript import require_records

        require_records(args.results)
        names = _figure_names()
        unknown = [name for name in args.names if name not in names]
        if unknown:
            raise UsageError(f"unknown figure(s): {', '.join(unknown)}; known: {', '.join(names)}")
    from lth.figures import MissingResult, all_figures, index_markdown, render

    if args.index:
        print(index_markdown(), end="")
        return 0
    figures = all_figures()
    names = args.names or list(figures)
    skipped: dict[str, MissingResult] = {}
    for name in names:
        try:
            paths = render(figures[name], args.results, args.out)
        except MissingResult as exc:
            skipped[name] = exc
            continue
        print(f"{name}: {', '.join(str(p) for p in paths)}")
    if len(skipped) == len(names):  # nothing drawn, nothing written
        if len(names) == 1:
            raise UsageError(f"{names[0]}: {skipped[names[0]]}")
        claims = sorted({c for name in names for c in figures[name].claims})
        raise UsageError(f"nothing to draw: {args.results} holds no record of the claims these {len(names)} figures "
                         f"show ({', '.join(claims)}); run `lth verify --out {args.results}` first")
    for name, exc in skipped.items():
        print(f"{name}: skipped, {exc}", file=sys.stderr)
    return 1 if skipped else 0


def _figures_key() -> str:
    """The catalogue key of the figures' names: a hash of ``paper/scripts`` (the code fingerprint does not
    cover them)."""
    import hashlib
    import importlib.util

    scripts = importlib.util.find_spec("lth.paper.scripts")
    digest = hashlib.sha256()
    for path in sorted(Path(next(iter(scripts.submodule_search_locations))).glob("*.py")):
        digest.update(path.name.encode() + b":" + path.read_bytes())
    return f"figures {digest.hexdigest()[:16]}"


def _registered_figure_names() -> list[str]:
    from lth.figures import all_figures

    return list(all_figures())


def _figure_names() -> list[str]:
    """Every registered figure's name, from the catalogue when it holds them for these figure scripts."""
    key = _figures_key()
    names = recall(key)
    if names is None:
        names = _registered_figure_names()
        remember(key, names)
    return names


def write_shipped_catalogue() -> None:
    """Write ``lth/catalogue.json`` (``make catalogue``): the claims' settings and the figures' names of the
    code as it is, so a first refusal after an install needs no torch (:func:`lth.validate.recall_shipped`)."""
    from lth.store import write_atomic
    from lth.validate import SHIPPED, shipped_catalogue

    write_atomic(SHIPPED, shipped_catalogue({"claims": _registered_claim_settings()},
                                            {_figures_key(): _registered_figure_names()}))


def add_sweep_flags(parser: argparse.ArgumentParser) -> None:
    """``--workers`` / ``--scheduler``: where a sweep's tasks run (default: in this process)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="run tasks on a local Dask cluster of N worker processes (one thread each)")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run tasks on a running Dask scheduler, e.g. tcp://host:8786 (many machines)")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``lth`` parser with every command's full parser (``command`` None), or with only ``command``'s
    plugin modules imported and the other plugin commands as stubs that carry their help line."""
    parser = Parser(prog="lth", description="Verify lottery-ticket theory numerically.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="print every claim with its proof anchor, tests and figures")
    p.add_argument("--params", action="store_true",
                   help="also print each claim's parameters (help, quick and full values) and faults")
    p.add_argument("--uses", action="store_true", help="also print the claims each claim builds on")
    p.set_defaults(func=_list)

    p = sub.add_parser("verify", help="run claim checks and write results/verify.{json,md}")
    p.add_argument("ids", nargs="*", help="claim ids to run (default: all)")
    p.add_argument("--scale", choices=("quick", "full"), default="quick",
                   help="quick: every claim in minutes on a laptop; full: paper-grade (GPU or hours)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="auto picks CUDA when present")
    p.add_argument("--seed", type=non_negative_int, default=0, help="base seed; same seed, same numbers on CPU")
    p.add_argument("--seeds", type=_seeds, default=None, metavar="A..B",
                   help="run every claim at each seed (A..B inclusive, or 0,3,7) and judge over the draws: "
                        "theorem claims must hold at every seed, rate claims pool their failures")
    p.add_argument("--out", type=out_dir, default="results", help="output directory (default results)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a check parameter (repeatable), e.g. --param trials=5000")
    p.add_argument("--fault", action="append", default=[], metavar="KEY=VALUE",
                   help="inject a fault (a deliberately broken instance) to see the check fail; "
                        "`lth list --params` names each claim's faults")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 also when an empirical claim (no certified value) fails; by default such a "
                        "measured non-replication is reported but only errors and failing certified claims exit 1")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_sweep_flags(p)
    p.set_defaults(func=_verify)

    p = sub.add_parser("figures", help="draw the paper figures from stored results")
    p.add_argument("names", nargs="*", help="figure names (default: all)")
    p.add_argument("--results", type=input_dir, default=Path("results"), help="where stored results live")
    p.add_argument("--out", type=out_dir, default="paper/figures", help="where figures are written")
    p.add_argument("--index", action="store_true", help="print the figure → script → claims table and exit")
    p.set_defaults(func=_figures)

    for name, (modules, text) in _PLUGINS.items():
        if command is None or command == name:
            for module in modules:
                importlib.import_module(module).register(sub)
        else:
            sub.add_parser(name, help=text)
    return parser


def _refuse_broken_rules(args: argparse.Namespace) -> None:
    """Refuse flags that break a rule between flags (:mod:`lth.commands.rules`), in one line."""
    from lth.commands.rules import rule_problem

    if hasattr(args, "lth_presets"):
        problem = rule_problem(args)
        if problem:
            raise UsageError(problem)


def main(argv: list[str] | None = None) -> int:
    """Run ``lth ARGV`` and return its exit status (``--help`` and usage errors too: no SystemExit)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and not argv[0].startswith("-") else ""
    prog = f"lth {command}".strip()
    try:
        try:
            args = build_parser(command).parse_args(argv)
        except SystemExit as stop:  # argparse's --help (0) and one-line usage errors (2)
            return stop.code if isinstance(stop.code, int) else 2
        prog = args.lth_prog
        _refuse_broken_rules(args)
        return args.func(args)
    except (UsageError, ValueError) as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; finished work is stored and the same command resumes from it", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
