"""Figure registry and runner (``lth figures``).

A figure script in ``paper/scripts/`` reads stored results only, never trains or solves::

    @figure("rss_phase_transition", claims=("rss.lueker",), produced_by="lth verify rss.lueker")
    def draw(results: Path) -> matplotlib.figure.Figure: ...

Inputs are loaded with :func:`load_claim_record` or :func:`require`, which raise
:class:`MissingResult` naming the command that produces the missing file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from theory.provenance import read_json  # noqa: E402
from theory.registry import import_package_modules  # noqa: E402

_FIGURES: dict[str, "Figure"] = {}
_FIGURE_PACKAGE = "paper.scripts"


class MissingResult(FileNotFoundError):
    """A stored result a figure needs is absent; the message names the command that makes it."""


@dataclass(frozen=True)
class Figure:
    name: str
    claims: tuple[str, ...]
    produced_by: str
    draw: Callable[[Path], Any]

    @property
    def script(self) -> str:
        return self.draw.__module__


def figure(name: str, *, claims: tuple[str, ...], produced_by: str):
    """Register a figure script; ``produced_by`` is the command that writes its inputs."""

    def register(draw: Callable[[Path], Any]) -> Callable[[Path], Any]:
        if name in _FIGURES:
            raise ValueError(f"figure {name!r} registered twice")
        _FIGURES[name] = Figure(name, tuple(claims), produced_by, draw)
        return draw

    return register


def all_figures() -> dict[str, Figure]:
    """Every registered figure, by name (all scripts in ``paper/scripts`` are imported)."""
    import_package_modules(_FIGURE_PACKAGE)
    return dict(sorted(_FIGURES.items()))


def index_markdown() -> str:
    """The figure → script → claims table that ``paper/README.md`` holds (``lth figures --index``)."""
    lines = ["| figure | script | claims | produced by |", "|---|---|---|---|"]
    for name, fig in all_figures().items():
        script = "paper/scripts/" + fig.script.rsplit(".", 1)[-1] + ".py"
        lines.append(f"| `{name}` | `{script}` | {', '.join(f'`{c}`' for c in fig.claims)} | `{fig.produced_by}` |")
    return "\n".join(lines) + "\n"


def require(path: Path, command: str) -> Path:
    """``path`` if it exists, else :class:`MissingResult` telling the user to run ``command``."""
    if not path.exists():
        raise MissingResult(f"missing {path}: run `{command}` first")
    return path


def load_claim_record(results: Path, claim_id: str) -> dict[str, Any]:
    """The latest stored record of ``claim_id`` (written by ``lth verify`` to ``claims/<id>.json``)."""
    path = require(results / "claims" / f"{claim_id}.json", f"lth verify {claim_id} --out {results}")
    return read_json(path)["record"]


def render(fig_entry: Figure, results: Path, out: Path) -> list[Path]:
    """Draw one figure from ``results`` and save ``<name>.pdf`` and ``<name>.png`` under ``out``."""
    fig = fig_entry.draw(results)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{fig_entry.name}.{ext}" for ext in ("pdf", "png")]
    for path in paths:
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        tmp.replace(path)
    plt.close(fig)
    return paths
