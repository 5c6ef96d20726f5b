"""lth-toolkit: one top-level name, ``lth``.

The repository keeps the design card's layout, ``theory/``, ``simulations/`` and ``paper/`` beside
``lth/``; an installed wheel maps them to ``lth.theory``, ``lth.simulations`` and ``lth.paper``
(pyproject's ``package-dir``), so installing the toolkit adds no generic top-level module to a
researcher's path. In a source checkout (a clone run with ``PYTHONPATH``, an editable install, the
copy ``make mutants`` tests) the same names resolve to that checkout's own directories: the
repository root joins this package's search path. Only those three directories are meant to be
imported through it.
"""
from pathlib import Path as _Path

_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "theory" / "__init__.py").is_file() and (_checkout / "pyproject.toml").is_file():
    __path__.append(str(_checkout))
