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
  ``lth verify --param``: see its docstring; :func:`unknown_names` and :func:`wrong_type`, the rules
  for the names and types of claim parameters and faults (:mod:`lth.registry` uses them too);
- the catalogue (:func:`remember`, :func:`recall`): what can only be read by importing modules that
  import torch, namely the claims' parameters, faults and declared domains (the check modules) and
  the figures' names, stored as JSON in the user's cache folder. ``lth verify`` run once leaves the
  claims' settings there, and a later bad id or ``--param`` is refused from it in one line without
  importing torch. Each entry carries the hash of every toolkit source file that was loaded when it
  was stored: it is used while none of them changes, so an edit to a module the entry does not depend
  on (the paper, a command) leaves it valid, and a changed module it depends on is never read through
  a stale entry. Parsers are not stored: every command's parser is built without torch (settings
  dataclasses live in torch-free modules), so its refusals need no catalogue.

Nothing here imports torch, so a refusal costs the interpreter's start and the parser's construction.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, NoReturn

from lth.store import out_probe, write_atomic

# lth.theory.device.DEVICE_CHOICES, without importing torch (tests/test_cli_bad_input.py checks they agree).
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


_int.lth_type = ("_int", (), {})  # how the catalogue names a type: maker, arguments (see describe_type)


def int_at_least(lo: int) -> Callable[[str], int]:
    """A type accepting integers ≥ ``lo``."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value} is not allowed: give an integer >= {lo}")
        return value

    parse.__name__ = "integer"
    parse.__doc__ = f"Accepts integers >= {lo}."
    parse.lth_type = ("int_at_least", (lo,), {})
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
    parse.__doc__ = f"Accepts {allowed}."
    parse.lth_type = ("finite_float", (lo, hi), {"lo_open": lo_open, "hi_open": hi_open})
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


def param_problem(name: str, value: Any, default: Any,
                  domain: Callable[[str], Any] | None = None) -> str | None:
    """Why ``--param name=value`` is refused for a claim parameter with this default (None: accepted),
    by :func:`field_type`'s rule applied to numbers and to the elements of tuples; a ``domain`` the claim
    declares (:func:`lth.registry.param`) replaces that rule, whatever the default."""
    if isinstance(value, (tuple, list)) and (domain is not None or isinstance(default, tuple)):
        element = default[0] if isinstance(default, tuple) and default else None
        return next((p for p in (param_problem(name, v, element, domain) for v in value) if p), None)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if domain is None and (isinstance(default, bool) or not isinstance(default, (int, float))):
        return None
    try:
        (domain or field_type(name, default))(repr(value) if isinstance(value, float) else str(value))
    except argparse.ArgumentTypeError as exc:
        return f"--param {name}={value!r}: {exc}{' (the domain the claim declares)' if domain else ''}"
    return None


def unknown_names(given: Iterable[str], known: Iterable[str], message: str) -> str | None:
    """Why names outside ``known`` are refused (None: all known): ``message`` then the unknown and the
    known names, e.g. "rss.lueker has no parameter(s) no_such; known: eps_fit, ..."."""
    known = sorted(known)
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return None
    return f"{message} {', '.join(unknown)}; known: {', '.join(known) or '(none)'}"


def wrong_type(name: str, value: Any, default: Any) -> str | None:
    """Why ``value`` cannot stand for a parameter whose default is ``default`` (``trials=abc`` for an
    int), or None. A default of None (or no default) takes any value."""
    if default is None or value is None:
        return None
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) == isinstance(default, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
    elif isinstance(default, tuple):
        ok = isinstance(value, tuple)
    else:
        ok = isinstance(value, type(default))
    if ok:
        return None
    return f"parameter {name}={value!r} has the wrong type: expected {type(default).__name__} like the default {default!r}"


# The catalogue ----------------------------------------------------------------------------------------------

_NAMED_TYPES: dict[str, Callable[[str], Any]] = {"input_file": input_file, "input_dir": input_dir, "out_dir": out_dir,
                                                 "out_file": out_file, "_int": _int, "str": str, "int": int,
                                                 "float": float, "Path": Path}
_TYPE_MAKERS: dict[str, Callable[..., Callable[[str], Any]]] = {"int_at_least": int_at_least,
                                                                "finite_float": finite_float}


class NotDescribable(ValueError):
    """A value or a type the catalogue cannot store (a declared domain of a claim's own making)."""


def catalogue_path() -> Path:
    """``$LTH_CACHE_DIR`` or ``$XDG_CACHE_HOME/lth-toolkit`` (default ``~/.cache/lth-toolkit``), then
    ``catalogue-<hash of this copy's folder>.json``: one catalogue per installed copy or checkout."""
    folder = os.environ.get("LTH_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
        "lth-toolkit"
    here = hashlib.sha256(str(Path(__file__).resolve().parent).encode()).hexdigest()[:16]
    return Path(folder) / f"catalogue-{here}.json"


# The packages whose loaded modules an entry depends on (beside other packages' claims, :mod:`lth.extensions`).
_SOURCE_PACKAGES = ("lth",)  # theory, simulations and paper are lth.theory, lth.simulations, lth.paper


@functools.cache
def _environment() -> str:
    """What an entry depends on beyond source files: the toolkit's version and the installed
    ``lth.claims`` entry points (a package installed or removed changes the registered claims)."""
    from importlib import metadata

    from lth.extensions import claim_packages

    try:
        version = metadata.version("lth-toolkit")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return json.dumps([version, [[p.name, p.module, p.distribution, p.version, str(p.root)]
                                 for p in claim_packages()]])


@functools.cache
def _source_hash(path: str) -> str | None:
    """A source file's hash, read once per process (as the modules it holds are)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def _loaded_sources() -> dict[str, str]:
    """Path -> hash of every loaded module of this toolkit and of other packages' claims: a superset of
    the code that computed an entry being stored now."""
    from lth.extensions import claim_packages

    tops = set(_SOURCE_PACKAGES) | {package.top_level for package in claim_packages()}
    files = {str(Path(module.__file__).resolve()) for name, module in list(sys.modules.items())
             if name.split(".")[0] in tops and str(getattr(module, "__file__", None) or "").endswith(".py")}
    return {path: _source_hash(path) for path in sorted(files)}


def _current(entry: dict) -> bool:
    """Whether an entry was stored under this environment by code whose sources are all unchanged."""
    return entry["environment"] == _environment() and all(
        _source_hash(path) == digest for path, digest in entry["sources"].items())


def _encode(value: Any) -> Any:
    """JSON for catalogue values: tuples and paths tagged so they come back as they were."""
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) and not k.startswith("__") for k in value):
        return {k: _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise NotDescribable(f"a value of type {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__path__" in value:
            return Path(value["__path__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def recall(key: str) -> Any:
    """The catalogue's entry ``key``, or None (none stored, unreadable, or stored by code of which a source
    file has changed since: see :func:`remember`); without a user entry, the shipped one
    (:func:`recall_shipped`)."""
    try:
        entry = json.loads(catalogue_path().read_text(encoding="utf-8"))[key]
        if _current(entry):
            return _decode(entry["value"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return recall_shipped(key)


# The shipped catalogue ----------------------------------------------------------------------------------------
# ``lth/catalogue.json`` (written by ``make catalogue``, :func:`lth.cli.write_shipped_catalogue`) holds the
# same entries for the code as committed, so the first ``lth verify`` or ``lth figures`` refusal after an install
# or a clone needs no import of torch either. An entry is read only when no other package registers claims and,
# for the claims' settings, while the files where claims declare their parameters, faults and domains
# (:data:`DECLARATIONS`, read as bytes, not imported) are unchanged; the figures' entry is keyed by a hash of the
# figure scripts themselves. tests/test_cold_refusal.py fails when the file no longer matches the registry.
SHIPPED = Path(__file__).with_name("catalogue.json")
# Globs relative to a folder of ``lth.__path__`` (the package, and in a checkout the repository root).
DECLARATIONS = ("claims/*.py", "registry.py", "parameters.py", "basin_params.py", "validate.py",
                "simulations/*_settings.py")


def declarations_hash() -> str:
    """SHA-256 (16 hex) over the :data:`DECLARATIONS` files' names (relative, so a checkout and the
    installed wheel agree) and bytes."""
    import lth

    digest = hashlib.sha256()
    files = {path.relative_to(root).as_posix(): path for root in map(Path, lth.__path__)
             for pattern in DECLARATIONS for path in root.glob(pattern)}
    for name in sorted(files):
        digest.update(name.encode() + b":" + files[name].read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def recall_shipped(key: str) -> Any:
    """The shipped catalogue's entry ``key`` when it holds for this code (see above), else None."""
    from lth.extensions import claim_packages

    try:
        entry = json.loads(SHIPPED.read_text(encoding="utf-8"))[key]
        if claim_packages() or entry["declarations"] not in (None, declarations_hash()):
            return None
        return _decode(entry["value"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def shipped_catalogue(declared: dict[str, Any], keyed: dict[str, Any]) -> str:
    """The text of ``lth/catalogue.json``: ``declared`` entries (valid while :func:`declarations_hash` is
    unchanged) and ``keyed`` ones (whose key already names the content they depend on)."""
    entries = {**{k: {"declarations": declarations_hash(), "value": _encode(v)} for k, v in declared.items()},
               **{k: {"declarations": None, "value": _encode(v)} for k, v in keyed.items()}}
    return json.dumps(entries, indent=1, sort_keys=True) + "\n"


def remember(key: str, value: Any) -> None:
    """Store ``value`` (JSON data, tuples and paths) as entry ``key``, with the hash of every source file
    loaded now (:func:`_loaded_sources`: the code that computed it is among them) and the environment:
    :func:`recall` returns it while none of them changes, so an edit elsewhere in the toolkit leaves it
    valid. Entries no longer current are dropped. A cache: a folder that cannot be written, or a value
    it cannot hold, is skipped."""
    try:
        path = catalogue_path()
        try:
            entries = {k: e for k, e in json.loads(path.read_text(encoding="utf-8")).items() if _current(e)}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            entries = {}
        entries[key] = {"environment": _environment(), "sources": _loaded_sources(), "value": _encode(value)}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(entries) + "\n")
    except (OSError, NotDescribable):
        pass


def describe_type(kind: Any) -> Any:
    """How the catalogue stores an argparse type of this module (:class:`NotDescribable` for others)."""
    if kind is None:
        return None
    spec = getattr(kind, "lth_type", None)
    if spec is not None:
        return spec
    name = next((name for name, known in _NAMED_TYPES.items() if known is kind), None)
    if name is None:
        raise NotDescribable(f"type {kind!r}")
    return (name, (), {})


def rebuild_type(spec: Any) -> Any:
    """The type a :func:`describe_type` result stands for."""
    if spec is None:
        return None
    name, args, kwargs = spec
    return _TYPE_MAKERS[name](*args, **kwargs) if name in _TYPE_MAKERS else _NAMED_TYPES[name]
