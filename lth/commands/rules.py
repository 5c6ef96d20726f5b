"""Rules between the flags of ``lth simulate`` that no flag's type can state alone, judged before any work.

A rule reads the values a run would use: the preset's settings (``dataclasses.asdict`` of the settings
the preset gives, which the command stores in its namespace as ``lth_presets``), overridden by the flags
given. :func:`rule_problem` is called by :func:`lth.cli.main` on the parsed namespace, before the
command's library (torch) is imported, and refuses in one line naming the flags and what is allowed.

The settings dataclasses of :mod:`simulations` check the same conditions in ``__post_init__`` (or when
the data are loaded) for callers of the library; tests/test_cli_bad_input.py checks that each rule here
refuses exactly what they refuse. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

# Image side of each data set before resizing (lth.simulations.data; tests/test_cli_bad_input.py checks it).
NATIVE_SIDE = {"digits": 8, "mnist5k": 28, "fashion_mnist": 28}
# cap_images cuts 70/10/20: fewer images leave a part empty (lth.simulations.imp.cap_images).
MIN_IMAGES = 10

Rule = Callable[[dict[str, Any]], "str | None"]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def rewind_within_training(values: dict[str, Any]) -> str | None:
    """Every rewind point k lies in [0, iterations)."""
    bad = [k for k in values["rewind_to"] if not 0 <= k < values["iterations"]]
    if not bad:
        return None
    return (f"--rewind-to {' '.join(map(str, bad))} is not allowed with --iterations {values['iterations']}: "
            "give rewind points k with 0 <= k < iterations")


def images_fill_every_part(values: dict[str, Any]) -> str | None:
    """``max_images`` is 0 (all) or leaves images in each of train, validation and test."""
    if 0 < values["max_images"] < MIN_IMAGES:
        return (f"--max-images {values['max_images']} leaves an empty train/validation/test part: "
                f"give 0 (all) or at least {MIN_IMAGES}")
    return None


def _side(dataset: str, image_size: int) -> int:
    return image_size or NATIVE_SIDE[dataset]


def transfer_shapes_agree(values: dict[str, Any]) -> str | None:
    """The source data set, resized, gives the target's input shape (the tickets' first layer fits both)."""
    source, target = _side(values["source"], values["source_image_size"]), _side(values["dataset"],
                                                                               values["image_size"])
    if source == target:
        return None
    return (f"--source {values['source']} gives {source}x{source} images and --dataset {values['dataset']} "
            f"{target}x{target}: set --source-image-size or --image-size so that they match")


def construction_within_seeds(values: dict[str, Any]) -> str | None:
    """The construction is built for at most every replica."""
    if values["construction_seeds"] <= values["seeds"]:
        return None
    return (f"--construction-seeds {values['construction_seeds']} is not allowed with --seeds {values['seeds']}: "
            "give 0..seeds")


# Leaf command (its words after ``lth``) -> its rules.
RULES: dict[tuple[str, ...], tuple[Rule, ...]] = {
    ("simulate", "imp"): (rewind_within_training, images_fill_every_part),
    ("simulate", "transfer"): (rewind_within_training, images_fill_every_part, transfer_shapes_agree),
    ("simulate", "edge-popup"): (construction_within_seeds,),
}


def run_values(args: argparse.Namespace) -> dict[str, Any]:
    """The settings a parsed command would run with: its preset's, overridden by every flag given."""
    preset = args.lth_presets[getattr(args, "preset", None) or "default"]
    given = {name: value for name, value in vars(args).items() if value is not None}
    return {**preset, **given}


def rule_problem(args: argparse.Namespace) -> str | None:
    """The first rule of the parsed leaf command that its values break (None: all hold, or no rules)."""
    rules = RULES.get(tuple(args.lth_prog.split()[1:]), ())
    if not rules:
        return None
    values = run_values(args)
    return next((problem for problem in (rule(values) for rule in rules) if problem), None)
