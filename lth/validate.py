"""The one validation layer of the ``lth`` command line: every bad input ends in one line and exit 2
before any model, data or record is read.

Three parts:

- :class:`Parser`, the ``argparse.ArgumentParser`` of every ``lth`` command: prefix matching off
  (``allow_abbrev=False``, so ``--seed`` is never taken for ``--seeds``), and a usage error is one
  line ``lth COMMAND: error: ...`` on stderr with exit status 2 (argparse's default prints the whole
  usage block first);
- argparse ``type=`` functions: :func:`positive_int`, :func:`non_negative_int`, :func:`int_at_least`,
  :func:`finite_float` (optionally within bounds), :func:`input_file` (exists, is a file, not empty),
  :func:`input_dir`, :func:`out_dir` (a folder that exists or can be created and where a probe file
  can really be written: :func:`lth.store.out_probe`) and :func:`out_file`. Each refusal names the
  value and what is allowed; argparse adds the flag. A string default goes through the type too, so
  a default output folder is probed like a given one;
- :func:`field_type`, the rule for flags made from a settings dataclass (``lth simulate``) and for
  ``lth verify --param``: see its docstring.

Nothing here imports torch, so a refusal costs the interpreter's start and the parser's construction.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Callable, NoReturn

from lth.store import out_probe

# theory.device.DEVICE_CHOICES, without importing torch (tests/test_cli_bad_input.py checks they agree).
DEVICE_CHOICES = ("auto", "cpu", "cuda")


class Parser(argparse.ArgumentParser):
    """``ArgumentParser`` with prefix matching off and one-line usage errors (exit status 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        if not hasattr(namespace, "lth_prog"):  # the innermost (sub)command's name, e.g. "lth paper readme"
            namespace.lth_prog = self.prog
        return namespace, extras

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:  # named by the subcommand that was given them, not by the top-level parser
            self._refuse(namespace.lth_prog, f"unrecognized arguments: {' '.join(extras)}")
        return namespace

    def error(self, message: str) -> NoReturn:
        self._refuse(self.prog, message)

    def _refuse(self, prog: str, message: str) -> NoReturn:
        text = " ".join(message.split())  # argparse wraps some messages over several lines
        self.exit(2, f"{prog}: error: {text}; `{prog} --help` lists what is allowed\n")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def int_at_least(lo: int) -> Callable[[str], int]:
    """A type accepting integers ≥ ``lo``."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value} is not allowed: give an integer >= {lo}")
        return value

    parse.__name__ = "integer"
    return parse


positive_int = int_at_least(1)  # counts: seeds, iterations, batch sizes, samples
non_negative_int = int_at_least(0)  # seeds of random generators; sizes where 0 means none or native


def finite_float(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 hi_open: bool = False) -> Callable[[str], float]:
    """A type accepting finite floats in the interval from ``lo`` to ``hi`` (None: unbounded; open
    ends where ``lo_open``/``hi_open``)."""
    left = "-inf" if lo is None else f"{lo:g}"
    right = "inf" if hi is None else f"{hi:g}"
    opening = "(" if lo_open or lo is None else "["
    closing = ")" if hi_open or hi is None else "]"
    allowed = f"a finite number in {opening}{left}, {right}{closing}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; give {allowed}") from None
        below = lo is not None and (value <= lo if lo_open else value < lo)
        above = hi is not None and (value >= hi if hi_open else value > hi)
        if not math.isfinite(value) or below or above:
            raise argparse.ArgumentTypeError(f"{text} is not allowed: give {allowed}")
        return value

    parse.__name__ = "number"
    return parse


def input_file(text: str) -> Path:
    """An existing, non-empty file."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text} does not exist")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} is not a file")
    if path.stat().st_size == 0:
        raise argparse.ArgumentTypeError(f"{text} is empty")
    return path


def input_dir(text: str) -> Path:
    """An existing folder."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} {'is not a folder' if path.exists() else 'does not exist'}")
    return path


def out_dir(text: str) -> Path:
    """A folder that exists or can be created, and is writable (nothing is created here)."""
    path = Path(text)
    try:
        out_probe(path)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return path


def out_file(text: str) -> Path:
    """A file that can be written: not a folder, in an existing folder where a file can be created."""
    path = Path(text)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file name")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: folder {folder} does not exist")
    try:
        out_probe(folder)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return path


# Settings fields whose range differs from the generic rule of field_type (a field whose help says what
# 0 means allows 0).
FIELD_RANGES: dict[str, Callable[[str], Any]] = {
    "prune_rate": finite_float(0, 1, lo_open=True, hi_open=True),
    "prune_rate_conv": finite_float(0, 1, hi_open=True),
    "prune_rate_output": finite_float(0, 1, hi_open=True),
    "keep": finite_float(0, 1, lo_open=True, hi_open=True),
    "delta": finite_float(0, 1, lo_open=True, hi_open=True),
    "confidence": finite_float(0, 1, lo_open=True, hi_open=True),
    "momentum": finite_float(0, 1, hi_open=True),
    "score_init": finite_float(),
    "weight_decay": finite_float(0),  # 0: no decay
    "construction_seeds": non_negative_int,  # 0: no construction
    "retry_cap": non_negative_int,  # 0: no retry
    "max_images": non_negative_int,  # 0: all
    "loss_images": non_negative_int,  # 0: all (basin.generalisation at full scale)
}


def field_type(name: str, default: Any) -> Callable[[str], Any]:
    """The argparse type of a settings field, from its default (the generic rule).

    An ``int`` whose default is ≥ 1 is a count and must be ≥ 1; one whose default is 0 must be ≥ 0
    (seeds, offsets, sizes where 0 means native). A ``float`` must be finite, and > 0 when its default
    is > 0 (widths, learning rates, tolerances), ≥ 0 when it is 0. A negative default allows any finite
    value. :data:`FIELD_RANGES` sets named fields (rates and probabilities in (0, 1), fields whose 0
    means "none"). Strings and booleans are taken as given.
    """
    if name in FIELD_RANGES:
        return FIELD_RANGES[name]
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return str
    if isinstance(default, int):
        return positive_int if default >= 1 else non_negative_int if default == 0 else _int
    return finite_float() if default < 0 else finite_float(0, lo_open=default > 0)


def param_problem(name: str, value: Any, default: Any) -> str | None:
    """Why ``--param name=value`` is refused for a claim parameter with this default (None: accepted),
    by :func:`field_type`'s rule applied to numbers and to the elements of tuples."""
    if isinstance(default, tuple) and isinstance(value, (tuple, list)):
        element = default[0] if default else None
        return next((p for p in (param_problem(name, v, element) for v in value) if p), None)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or isinstance(default, bool) \
            or not isinstance(default, (int, float)):
        return None
    try:
        field_type(name, default)(repr(value) if isinstance(value, float) else str(value))
    except argparse.ArgumentTypeError as exc:
        return f"--param {name}={value!r}: {exc}"
    return None
