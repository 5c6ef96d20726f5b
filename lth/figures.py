"""Figure registry and runner (``lth figures``).

A figure script in ``paper/scripts/`` reads stored results only, never trains or solves::

    @figure("rss_phase_transition", claims=("rss.lueker",), produced_by="lth verify rss.lueker")
    def draw(results: Path) -> matplotlib.figure.Figure: ...

Inputs are loaded with :func:`load_claim_record` or :func:`require`, which raise
:class:`MissingResult` naming the command that produces the missing file. Every record a figure
draws is listed in ``<name>.json`` beside the image (claim, scale, parameter hash, commit, time), so
a caption can say which record it drew; so are the saved figure's size and the font size of each of
its text elements (:func:`text_sizes`), from which the paper computes every text's size in print.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib.text import Text  # noqa: E402

from lth.store import REPO_ROOT, select_claim_record, write_atomic, write_json  # noqa: E402
from lth.registry import import_package_modules  # noqa: E402

STYLE = REPO_ROOT / "paper" / "style.mplstyle"  # the one style of every figure, applied by render
_FIGURES: dict[str, "Figure"] = {}
_DRAWN: list[dict[str, Any]] = []  # records loaded while the current figure draws
_FIGURE_PACKAGE = "lth.paper.scripts"


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


def parameter_bars(ax, rows: list[dict], labels: list[str]) -> None:
    """Random and kept weights per construction (``rows``: ``random_parameters``, ``kept_parameters``,
    ``target_parameters``) as paired bars on a log axis, the target's parameter count dotted: the left
    panel of the side-by-side construction figures."""
    x = list(range(len(rows)))
    ax.bar([i - 0.2 for i in x], [r["random_parameters"] for r in rows], width=0.4, label="random weights")
    ax.bar([i + 0.2 for i in x], [r["kept_parameters"] for r in rows], width=0.4, label="kept weights")
    ax.axhline(rows[0]["target_parameters"], color="k", ls=":", lw=0.8, label="target")
    ax.set_yscale("log")
    ax.set_xticks(x, labels, fontsize=7.5)
    ax.set_ylabel("parameters")
    ax.set_ylim(top=1000 * max(r["random_parameters"] for r in rows))  # room for the legend above the bars
    ax.legend(ncols=2, loc="upper center")


def load_claim_record(results: Path, claim_id: str, scale: str | None = None) -> dict[str, Any]:
    """The stored record of ``claim_id`` a reader should use (:func:`lth.store.select_claim_record`:
    full scale before quick, default parameters before overrides, then the newest)."""
    document = select_claim_record(results, claim_id, scale)
    if document is None:
        scale_flag = f" --scale {scale}" if scale else ""
        raise MissingResult(f"no stored record of {claim_id} in {results}: run "
                            f"`lth verify {claim_id}{scale_flag} --out {results}` first")
    record = document["record"]
    _DRAWN.append({"claim": claim_id, "scale": record["scale"], "params_hash": record["params_hash"],
                   "path": document["path"], "git_commit": document["provenance"].get("git_commit"),
                   "git_dirty": document["provenance"].get("git_dirty"),
                   "utc_time": document["provenance"].get("utc_time")})
    return record


def text_sizes(fig) -> list[tuple[float, str]]:
    """``(font size in pt, text)`` of every text element the saved (tight) figure shows, at the
    figure's own size, smallest first: titles, axis labels, tick labels, legend entries, annotations,
    offset texts. A text is counted when it is visible, not blank and its anchor lies inside the
    figure's tight bounding box (a tick label of a tick outside the view is never drawn). The size is
    the element's font size; the sub- and superscripts of a math text scale with it."""
    renderer = fig.canvas.get_renderer()
    shown = fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)
    sizes = set()
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip():
            continue
        x, y = text.get_transform().transform(text.get_unitless_position())
        if shown.x0 - 1 <= x <= shown.x1 + 1 and shown.y0 - 1 <= y <= shown.y1 + 1:
            sizes.add((round(float(text.get_fontsize()), 2), text.get_text().strip()))
    return sorted(sizes)


def print_layout(fig) -> dict[str, Any]:
    """What the paper needs to size a figure's text in print: ``size_pt``, the width and height in pt
    (1/72 in) of the PDF that ``savefig`` writes in the shared style (the tight bounding box padded by
    ``savefig.pad_inches``), and ``texts`` (:func:`text_sizes`). The layout engine runs first, as
    ``savefig`` runs it, so the sizes are those of the saved file."""
    fig.draw_without_rendering()
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    pad = plt.rcParams["savefig.pad_inches"]
    return {"size_pt": [72.0 * (box.width + 2 * pad), 72.0 * (box.height + 2 * pad)], "texts": text_sizes(fig)}


def measure(fig_entry: Figure, results: Path) -> dict[str, Any]:
    """:func:`print_layout` of one registered figure drawn from ``results`` in the shared style, without
    saving it (the check of the real figures' print sizes)."""
    _DRAWN.clear()
    with plt.style.context(STYLE):
        fig = fig_entry.draw(results)
        try:
            return print_layout(fig)
        finally:
            plt.close(fig)


def render(fig_entry: Figure, results: Path, out: Path) -> list[Path]:
    """Draw one figure from ``results`` in the shared style (:data:`STYLE`); save ``<name>.pdf``,
    ``<name>.png`` and ``<name>.json`` (the records drawn, the PDF's size in pt and the font size of
    each text element: :func:`print_layout`) under ``out``."""
    _DRAWN.clear()
    paths = [out / f"{fig_entry.name}.{ext}" for ext in ("pdf", "png")]
    with plt.style.context(STYLE):
        fig = fig_entry.draw(results)
        undrawn = sorted(set(fig_entry.claims) - {entry["claim"] for entry in _DRAWN})
        if undrawn:  # a figure must show the records of every claim it is registered for
            plt.close(fig)
            raise ValueError(f"figure {fig_entry.name} is registered for {', '.join(undrawn)} but drew no record of it")
        if not fig.axes or not any(ax.has_data() for ax in fig.axes):
            plt.close(fig)
            raise ValueError(f"figure {fig_entry.name} drew no data")
        for path in paths:
            write_atomic(path, lambda handle, fmt=path.suffix[1:]: fig.savefig(handle, format=fmt))
        layout = print_layout(fig)
    plt.close(fig)
    sources = out / f"{fig_entry.name}.json"
    write_json(sources, {"figure": fig_entry.name, "records": list(_DRAWN), **layout}, seed=None, device=None)
    return [*paths, sources]
