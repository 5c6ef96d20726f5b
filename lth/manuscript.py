"""The paper: every number, figure and claim of ``paper/paper.tex`` generated from stored results.

``lth paper build`` (``make paper``) reads the committed records (``records/``, or ``--results``) and
writes, under ``paper/build/``:

- ``generated/macros.tex``: ``\\lthvalue{KEY}{TEXT}`` for every value of :data:`VALUES` and every
  per-claim field (:func:`claim_values`: verdict, bound, certified, empirical, scale, commit, seed),
  each formatted from its stored record by :func:`collect`; a value from a quick-scale record carries
  ``\\lthquick`` (a dagger) when it is measured (not a closed-form constant, a published number, a
  threshold or a setting: ``Value.measured``), one whose record is absent ``\\lthmissing``. The prose cites a value as
  ``\\val{KEY}``, a claim as ``\\claim{ID}`` and a figure as ``\\lthfigure{NAME}{caption}``; an id,
  key or figure name the generator does not know stops the build (here, before TeX runs, and again
  in TeX, by ``\\PackageError``);
- ``generated/claims.tex`` and ``generated/claims_table.tex``: every registered claim with its
  statement, proof section, stored record (scale, parameter hash, commit, seed) and marked tests, so
  a newly registered claim appears without editing the manuscript;
- ``generated/figures.tex``: per registered figure, whether it was drawn and which records it drew
  (from the figure's ``<name>.json``); ``figures/``: the figures, drawn by :func:`lth.figures.render`;
- ``generated/proofs/*.tex``: ``proofs/*.md`` converted by pandoc (``paper/anchors.lua`` turns each
  ``<a id="ID"></a>`` into ``\\label{proof:ID}``), and ``generated/proofs/<distribution>/*.tex``: the
  proof files of each installed package registering claims (``lth.claims``), one appendix per package;
- ``generated/statements.tex``: per claim its registered statement, typeset by ``\\lthstatement{ID}``
  as a Theorem (with its proof), a Measured constant, or, for a claim with a preregistered protocol,
  a Hypothesis with its protocol digest and never a proof; and its record's verdict and reason
  (``\\lthoutcome{ID}``); ``generated/protocols.tex``: every protocol and its amendment-log entries;
- ``paper.pdf``, by latexmk (with BibTeX: ``paper/references.bib``).

The build refuses a bad paper, one line per defect with its place: before TeX, a claim without a
record, a cited value its record lacks, a table cell or figure it could not fill, a character without
a LaTeX form (:func:`paper_problems`), a figure whose smallest text would print under 7 pt
(:func:`figure_font_problems`); after TeX, a box overfull by more than 5 pt, an undefined reference or
citation (printed as ``??``), a character missing from its font (:func:`log_problems`), a figure whose
smallest text is under 7 pt at the size TeX printed it (:func:`printed_figure_problems`).
``--draft`` reports them and builds anyway.

``lth paper readme`` rewrites the block of ``README.md`` between :data:`README_BEGIN` and
:data:`README_END` with the same values as a Markdown table.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable

from lth.protocol import AMENDMENTS
from lth.store import REPO_ROOT, out_probe, read_json, select_claim_record, write_atomic

PAPER_DIR = REPO_ROOT / "paper"
TOOLS = ("pandoc", "latexmk", "pdflatex")
INSTALL_HINT = ("apt-get install pandoc latexmk lmodern texlive-latex-recommended texlive-latex-extra "
                "texlive-fonts-recommended")
README_BEGIN = "<!-- results:begin -->"
README_END = "<!-- results:end -->"
SEEDS_BEGIN = "<!-- seeds:begin -->"
SEEDS_END = "<!-- seeds:end -->"
SEEDS_RECORD = REPO_ROOT / "records" / "seeds-quick" / "seeds.json"
RECORDS_BEGIN = "<!-- records:begin -->"
RECORDS_END = "<!-- records:end -->"
RECORDS_DIR = REPO_ROOT / "records"
COST_BEGIN = "<!-- verify-cost:begin -->"
COST_END = "<!-- verify-cost:end -->"
# A README section's own generated list: ``<!-- reasons:begin ID ID … -->`` … ``<!-- reasons:end -->``.
# A benchmark's table kept in records/bench/NAME.json (its ``readme_table``): ``<!-- bench:begin NAME -->`` … end.
BENCH_BLOCK = re.compile(r"<!-- bench:begin ([\w.-]+) -->.*?<!-- bench:end -->", re.S)
# An exploratory table kept in records/exploratory/NAME.json: ``<!-- exploratory:begin NAME -->`` … end.
EXPLORATORY_BLOCK = re.compile(r"<!-- exploratory:begin ([\w.-]+) -->.*?<!-- exploratory:end -->", re.S)
REASONS_BLOCK = re.compile(r"<!-- reasons:begin ([^>]*?) -->.*?<!-- reasons:end -->", re.S)
# The order of the proof appendices; proof files not named here follow alphabetically.
PROOF_ORDER = ("rss", "slth_dense", "slth_conv", "universal", "simulations")

CLAIM_USE = re.compile(r"\\claim(?:ref)?\{([^}#]*)\}")
THEOREM_USE = re.compile(r"\\claim\{([^}#]*)\}")  # a proved statement's citation (links its proof)
STATEMENT_USE = re.compile(r"\\lthstatement\{([^}#]*)\}")  # a claim's registered statement, typeset by kind
OUTCOME_USE = re.compile(r"\\lthoutcome\{([^}#]*)\}")  # a claim's verdict and reason, from its record
VALUE_USE = re.compile(r"\\val\{([^}]*)\}")
FIGURE_USE = re.compile(r"\\lthfigure\{([^}]*)\}")


# Formatting ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shown:
    """One value as the reader sees it: plain text (README) and LaTeX (paper). A value of several
    numbers (``from A to B``, an interval) holds :data:`MARK` after each: where that number's quick-scale
    dagger goes (:func:`place_marks`); a value without it is one number, its dagger at the end."""

    text: str
    latex: str


MARK = "\uE000"  # the place of one number's quick-scale dagger in a Shown of several numbers


def place_marks(shown: str, mark: str) -> str:
    """``shown`` with ``mark`` (the dagger, or "" for a value that carries none) after each of its
    numbers: at each :data:`MARK`, else at the end."""
    return shown.replace(MARK, mark) if MARK in shown else shown + mark


def each_marked(*numbers: Shown) -> tuple[Shown, ...]:
    """Numbers to be shown together, each followed by :data:`MARK`."""
    return tuple(Shown(n.text + MARK, n.latex + MARK) for n in numbers)


def _scientific(value: float, digits: int) -> Shown:
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    exponent = int(exponent)
    return Shown(f"{mantissa}e{exponent}", f"\\ensuremath{{{mantissa}\\times 10^{{{exponent}}}}}")


def _minus(text: str) -> str:
    return text.replace("-", "\\ensuremath{-}") if text.startswith("-") else text


def _needs_scientific(value: Any) -> bool:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return False
    return value != 0 and math.isfinite(value) and (abs(value) < 1e-3 or abs(value) >= 1e5)


def sig(digits: int = 3, scientific: bool = False) -> Callable[[Any], Shown]:
    """At most ``digits`` significant figures (trailing zeros dropped); scientific notation below
    1e-3 and from 1e5, or for every non-zero value with ``scientific``. A table column formats all its
    values alike: ``show.for_column(values)`` is the scientific formatter when any of them needs it."""

    def show(value: Any) -> Shown:
        value = float(value)
        if value == 0 or not math.isfinite(value):
            return Shown(f"{value:g}", _minus(f"{value:g}"))
        if scientific or _needs_scientific(value):
            return _scientific(value, digits)
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
        text = f"{value:.{decimals}f}"
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return Shown(text, _minus(text))

    show.for_column = lambda values: sig(digits, True) if any(map(_needs_scientific, values)) else show
    return show


def fixed(decimals: int, scale: float = 1.0, signed: bool = False) -> Callable[[Any], Shown]:
    """``value·scale`` with ``decimals`` decimals (``scale=100`` for percentage points)."""

    def show(value: Any) -> Shown:
        text = f"{float(value) * scale:{'+' if signed else ''}.{decimals}f}"
        return Shown(text, text.replace("-", "\\ensuremath{-}").replace("+", "\\ensuremath{+}"))

    return show


def integer(value: Any) -> Shown:
    text = f"{int(value):,}"
    return Shown(text, text.replace(",", "{,}"))


def word(value: Any) -> Shown:
    return Shown(str(value), latex_escape(str(value)))


def phrase(value: Any) -> Shown:
    """A name written by a check (``adam->sgd on mnist5k``) with its ASCII symbols printed (:func:`prose`)."""
    return Shown(str(value), prose(str(value)))


def _dims(value: Any) -> Shown:
    return word("-".join(map(str, value)))


def _listed(value: Any) -> Shown:
    return word(", ".join(map(str, value)))


# The values the prose cites ------------------------------------------------------------------------

Path_ = tuple  # keys (str) and list indices (int) from the stored record down to one value
FIRST = "*"  # a path step: the first entry of a mapping (e.g. the one direction a transfer check judged)


@dataclass(frozen=True)
class Value:
    """One number the paper cites: ``\\val{CLAIM:NAME}``, read at ``path`` in the claim's record.

    ``measured`` False: a closed-form constant of a proof, a published number, a threshold or a
    chosen setting stored in the record; such a value never carries the quick-scale dagger."""

    claim: str
    name: str
    path: Path_
    show: Callable[[Any], Shown]
    measured: bool = True

    @property
    def key(self) -> str:
        return f"{self.claim}:{self.name}"


def _values(claim_id: str, *rows: tuple) -> tuple[Value, ...]:
    """``(name, path, show)`` rows, or ``(name, path, show, measured)``."""
    return tuple(Value(claim_id, *row) for row in rows)


GIVEN = False  # a row's ``measured`` flag: a constant, published number, threshold or chosen setting


def _rss(claim_id: str) -> tuple[Value, ...]:
    test = ("details", "tests", 0)
    return _values(claim_id,
                   ("C", ("details", "C"), fixed(2)), ("C_se", ("details", "C_se"), fixed(2)),
                   ("c0", ("details", "c0"), fixed(2)), ("proof_C", ("details", "proof", "C"), fixed(2), GIVEN),
                   ("proof_c0", ("details", "proof", "c0"), fixed(2), GIVEN),
                   ("trials", ("details", "scan", "trials"), integer),
                   ("confidence", ("params", "confidence"), fixed(0, 100.0)),
                   ("test_eps", (*test, "eps"), sig(2), GIVEN), ("test_n", (*test, "n_pred"), integer),
                   ("test_n_proof", (*test, "n_proof"), integer, GIVEN),
                   ("test_failures", (*test, "failures"), integer),
                   ("test_trials", (*test, "trials"), integer), ("test_ci_hi", (*test, "ci", 1), sig(2)))


def _interval(claim_id: str, name: str, path: Path_, layout: tuple[Path_, ...] = (("mean",), ("ci", 0), ("ci", 1)),
              scale: float = 100.0, decimals: int = 2) -> tuple[Value, ...]:
    """Mean and 95% interval of a difference, in signed percentage points (``scale`` 100: of an
    accuracy) or its own unit (``scale`` 1), to ``decimals`` places; ``layout`` says where mean, lower
    and upper end sit below ``path``."""
    pp = fixed(decimals, scale, signed=True)
    return _values(claim_id, *((f"{name}_{part}", (*path, *where), pp) for part, where in zip(("mean", "lo", "hi"),
                                                                                            layout)))


def span(field: str) -> Callable[[Any], Shown]:
    """A list of rows as ``from A to B``: ``field`` in its first and in its last row (a sweep's ends),
    each end a number of its own (its own dagger)."""
    def show(rows: Any) -> Shown:
        first, last = each_marked(integer(rows[0][field]), integer(rows[-1][field]))
        return Shown(f"from {first.text} to {last.text}", f"from {first.latex} to {last.latex}")

    return show


def count(value: Any) -> Shown:
    return integer(len(value))


def count_within(value: Any) -> Shown:
    return integer(sum(bool(row["within"]) for row in value))


def _dense() -> tuple[Value, ...]:
    layer = _values("slth.dense.layer", ("over", ("details", "over_parameterisation"), fixed(0)),
                    ("kept", ("details", "kept_parameters"), integer),
                    ("random", ("details", "random_parameters"), integer),
                    ("d_in", ("params", "d_in"), integer), ("d_out", ("params", "d_out"), integer),
                    ("eps", ("params", "eps"), sig(2)))
    network = _values("slth.dense.network", ("eps", ("params", "eps"), sig(2)))
    sweep = ("details", "eps_sweep", "rows")
    rule = _values("slth.dense.rule", ("c", ("params", "c"), sig(2)), ("draws", ("params", "draws"), integer),
                   ("pool_cap", ("params", "pool_cap"), integer),
                   ("sweep_eps", sweep, lambda rows: word(f"{rows[0]['eps']:g} to {rows[-1]['eps']:g}"), GIVEN),
                   ("sweep_kept", sweep, span("kept_parameters")), ("sweep_random", sweep, span("random_parameters")))
    return layer + network + rule


def _conv() -> tuple[Value, ...]:
    lenet = ("details", "instances", 1)
    # the sweep's widest draw (an exploratory draw of its own, beside the judged instances of the same n)
    widest = (("sweep_n", ("details", "sweep", -1, "n"), integer, GIVEN),
              ("sweep_certified", ("details", "sweep", -1, "certified"), sig(3)))
    kernel = _values("slth.conv.kernel", ("n", ("params", "n"), integer), ("eps", ("params", "eps"), sig(2)), *widest)
    layer = _values("slth.conv.layer", ("n", ("params", "n"), integer), ("eps", ("params", "eps"), sig(2)), *widest)
    network = _values("slth.conv.network", ("eps", ("params", "eps"), sig(2)),
                      ("lenet_channels", (*lenet, "channels"), _listed),
                      ("lenet_certified", (*lenet, "certified"), sig(3)),
                      ("lenet_empirical", (*lenet, "empirical"), sig(2)),
                      ("lenet_kept", (*lenet, "kept"), integer), ("lenet_random", (*lenet, "random_size"), integer),
                      ("lenet_target", (*lenet, "target_size"), integer),
                      ("lenet_target_acc", ("details", "lenet", "target_accuracy"), fixed(3)),
                      ("lenet_ticket_acc", ("details", "lenet", "ticket_accuracy"), fixed(3)),
                      ("lenet_agreement", ("details", "lenet", "agreement"), fixed(3)))
    return kernel + layer + network


def _universal() -> tuple[Value, ...]:
    anchor = ("details", "anchor")
    poly = _values("universal.poly.ticket", ("kept", ("details", "kept"), integer),
                   ("total", ("details", "total"), integer), ("dim", ("params", "dim"), integer),
                   ("degree", ("params", "degree"), integer), ("eps", ("params", "eps"), sig(2)),
                   ("grid_points", ("params", "grid_points"), integer),
                   ("log_certified", ("details", "log_block", "certified"), sig(3)),
                   ("exp_certified", ("details", "exp_block", "certified"), sig(3)),
                   ("anchor_kept", (*anchor, "poly_kept"), integer, GIVEN),
                   ("anchor_total", (*anchor, "poly_total"), integer, GIVEN),
                   *((f"r{i + 1}_{kind}", ("details", "univariate", kind, i), sig(3))
                     for i in range(4) for kind in ("certified", "sampled")),
                   *((f"anchor_r{i + 1}", (*anchor, "poly_sampled", i), sig(2), GIVEN) for i in range(4)))
    fourier = _values("universal.fourier.ticket", ("sin_certified", ("details", "unit_sin", "certified"), sig(4)),
                      ("sin_sampled", ("details", "unit_sin", "sampled"), sig(3)),
                      ("sin_kept", ("details", "unit_sin", "kept"), integer),
                      ("sin_total", ("details", "unit_sin", "total"), integer),
                      ("kept", ("details", "sin_block", "kept"), integer),
                      ("total", ("details", "sin_block", "total"), integer),
                      ("max_freq", ("params", "max_freq"), integer), ("dim", ("params", "dim"), integer),
                      ("anchor_sin", (*anchor, "sin_sampled"), sig(3), GIVEN),
                      ("anchor_kept", (*anchor, "sin_kept"), integer, GIVEN),
                      ("anchor_total", (*anchor, "sin_total"), integer, GIVEN))
    transfer = _values("universal.transfer", ("fits", ("details", "rows"), count),
                       ("within", ("details", "rows"), count_within))
    return poly + fourier + transfer


VALUES: tuple[Value, ...] = (
    *_rss("rss.lueker"), *_rss("rss.product"), *_dense(), *_conv(), *_universal(),
    *_interval("sim.imp.controls", "reinit", ("details", "gaps", "reinit")),
    *_interval("sim.imp.controls", "random", ("details", "gaps", "random")),
    *_values("sim.imp.controls", ("seeds", ("params", "seeds"), integer),
             ("confidence", ("params", "confidence"), fixed(0, 100.0)),
             ("dataset", ("params", "dataset"), word), ("arch", ("params", "arch"), word),
             ("remaining", ("details", "levels", -1, "remaining"), fixed(1, 100.0), GIVEN)),
    # the level the verdict names: the sparsest judged level (the last of ``judged``)
    *_interval("sim.imp.tickets", "named", ("details", "judged", -1)),
    *_values("sim.imp.tickets", ("named_remaining", ("details", "judged", -1, "remaining"), fixed(1, 100.0), GIVEN),
             ("levels", ("details", "judged"), count, GIVEN),
             ("down_to", ("details", "matches_down_to"), fixed(1, 100.0)),
             ("dense_acc", ("details", "dense", "mean"), fixed(1, 100.0)),
             ("seeds", ("params", "seeds"), integer), ("dataset", ("params", "dataset"), word),
             ("margin", ("params", "margin"), fixed(1, 100.0))),
    *_values("sim.imp.early_stop", ("dense_stop", ("details", "dense_early_stop", "mean"), sig(3))),
    # iterations, evaluated every 100: whole iterations, not hundredths
    *_interval("sim.imp.early_stop", "named", ("details", "judged", -1), scale=1.0, decimals=0),
    *_values("sim.late_resetting", ("adam_seeds", ("params", "seeds"), integer),
             ("sgd_seeds", ("params", "sgd_seeds"), integer)),
    *_values("sim.transfer", ("seeds", ("params", "seeds"), integer), ("margin", ("params", "margin"), fixed(0, 100.0)),
             ("directions", ("details", "judged"), count, GIVEN)),
)


def claim_values(claim_ids: Iterable[str], bound_measured: bool = True) -> tuple[Value, ...]:
    """The per-claim fields every registered claim has (the claims table and appendix cite them).
    The paper passes ``bound_measured`` False: a bound is a threshold, never marked as quick; the
    README's results table (``lth paper readme``) keeps the format it has always had."""
    rows = (("verdict", ("verdict",), word), ("bound", ("bound", "value"), sig(3), bound_measured),
            ("certified", ("certified", "value"), sig(3)), ("empirical", ("empirical", "value"), sig(3)),
            ("wall", ("wall_s",), sig(2)), ("seed", ("seed",), word), ("scale", ("scale",), word),
            ("params_hash", ("params_hash",), word), ("device", ("device",), word))
    return tuple(value for claim_id in claim_ids for value in _values(claim_id, *rows))


# Reading the records ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """A formatted value and where it came from (``scale`` None: no record; ``shown`` None: the
    record lacks the value — a value of None (no certificate) is shown as a dash)."""

    value: Value
    shown: Shown | None
    scale: str | None

    @property
    def latex(self) -> str:
        if self.scale is None:
            return "\\lthmissing{no record}"
        if self.shown is None:
            return "\\lthmissing{not in record}"
        return place_marks(self.shown.latex, "\\lthquick{}" if self.marked else "")

    @property
    def text(self) -> str:
        if self.scale is None:
            return "no record"
        if self.shown is None:
            return "not in record"
        return place_marks(self.shown.text, "†" if self.marked else "")

    @property
    def marked(self) -> bool:
        """A measured number (not a word, not a parameter, not an absent value) from a quick-scale
        record."""
        return (self.scale == "quick" and self.value.measured and self.value.show is not word
                and self.shown is not _ABSENT and self.value.name not in _RECORD_FIELDS
                and self.value.path[:1] != ("params",))


# Identity fields of a record: not measured numbers, so never marked as quick.
_RECORD_FIELDS = frozenset({"verdict", "seed", "scale", "params_hash", "device"})
_ABSENT = Shown("—", "---")


def walk(node: Any, path: Path_) -> Any:
    """The value at ``path`` below ``node`` (None once a step meets None); LookupError if absent."""
    for step in path:
        if node is None:
            return None
        try:
            node = next(iter(node.values())) if step == FIRST else node[step]
        except (KeyError, IndexError, TypeError):
            raise LookupError("/".join(map(str, path))) from None
    return node


def lookup(document: dict[str, Any], path: Path_) -> Any:
    """The value at ``path`` in a stored document's record."""
    return walk(document["record"], path)


def load_documents(results: Path, claim_ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
    """The stored document each claim's values are read from (full scale before quick), or None."""
    return {claim_id: select_claim_record(results, claim_id) for claim_id in claim_ids}


def collect(values: Iterable[Value], documents: dict[str, dict[str, Any] | None]) -> dict[str, Cell]:
    """Every value formatted from its claim's document; problems are kept in the cells."""
    cells = {}
    for value in values:
        document = documents.get(value.claim)
        if document is None:
            cells[value.key] = Cell(value, None, None)
            continue
        try:
            raw = lookup(document, value.path)
            shown = _ABSENT if raw is None else value.show(raw)
        except (LookupError, TypeError, ValueError):
            shown = None
        cells[value.key] = Cell(value, shown, document["record"]["scale"])
    return cells


SUMMARY = ("claims", "records", "quick", "holds", "fails", "inconclusive", "error")
SUMMARY_KEYS = [f"summary:{name}" for name in (*SUMMARY, "verdicts", "quick_claims")]


def summary_cells(documents: dict[str, dict[str, Any] | None]) -> dict[str, Cell]:
    """``\\val{summary:NAME}``: how many claims are registered, have a record, are quick-scale, and
    how many records hold, fail, are inconclusive or errored; ``summary:quick_claims`` names the
    claims whose record is quick-scale."""
    records = [d["record"] for d in documents.values() if d is not None]
    counts = {"claims": len(documents), "records": len(records),
              "quick": sum(r["scale"] == "quick" for r in records),
              **{verdict: sum(r["verdict"] == verdict for r in records) for verdict in SUMMARY[3:]}}
    cells = {f"summary:{name}": Cell(Value("summary", name, (), integer), integer(counts[name]), "summary")
             for name in SUMMARY}
    cells["summary:verdicts"] = Cell(Value("summary", "verdicts", (), word), word(verdict_phrase(counts)), "summary")
    quick = sorted(r["claim"] for r in records if r["scale"] == "quick")
    cells["summary:quick_claims"] = Cell(Value("summary", "quick_claims", (), word),
                                         Shown(", ".join(quick) or "none",
                                               ", ".join(f"\\texttt{{{latex_escape(c)}}}" for c in quick) or "none"),
                                         "summary")
    return cells


def verdict_phrase(counts: dict[str, int]) -> str:
    """``"24 hold, 6 are inconclusive, 1 fails and none raised an error"``: the verdict counts as a
    phrase whose verbs agree with their numbers."""
    def said(n: int, one: str, many: str) -> str:
        return f"none {many}" if n == 0 else f"{n} {one if n == 1 else many}"

    parts = [said(counts["holds"], "holds", "hold"),
             said(counts["inconclusive"], "is inconclusive", "are inconclusive"),
             said(counts["fails"], "fails", "fail"), said(counts["error"], "raised an error", "raised an error")]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def commit_of(document: dict[str, Any] | None) -> str:
    if document is None:
        return "none"
    provenance = document["provenance"]
    commit = (provenance.get("git_commit") or "unknown")[:7]
    return commit + ("-dirty" if provenance.get("git_dirty") else "")


# LaTeX text ---------------------------------------------------------------------------------------

_SPECIAL = {"\\": "\\textbackslash{}", "{": "\\{", "}": "\\}", "$": "\\$", "&": "\\&", "#": "\\#",
            "^": "\\^{}", "_": "\\_", "%": "\\%", "~": "\\textasciitilde{}", "<": "\\textless{}",
            ">": "\\textgreater{}", "|": "\\textbar{}"}


def latex_escape(text: str) -> str:
    """``text`` as LaTeX text: special characters escaped (Unicode is declared in unicode.tex)."""
    # "--" would print as a dash (a TeX ligature): keep the hyphens apart.
    escaped = "".join(_SPECIAL.get(ch, ch) for ch in text).replace("--", "-{}-").replace("--", "-{}-")
    return combine_accents(escaped)


COMBINING = {"\u0300": "grave", "\u0301": "acute", "\u0302": "hat", "\u0303": "tilde", "\u0304": "bar",
             "\u0307": "dot", "\u0308": "ddot"}


# ASCII spellings of symbols in registered statements and record reasons, and the symbol the paper prints.
TYPED_SYMBOLS = ((re.compile(r"<="), "≤"), (re.compile(r">="), "≥"), (re.compile(r"(?<!-)->(?!-)"), "→"),
                 (re.compile(r"\beps\b"), "ε"), (re.compile(r"\blog2\("), "log₂("))


# An ASCII sub- or superscript in a statement or a reason: ``m_i``, ``ρ_{L-1}``, ``W_Q^T``, ``[0,1]^{D×D×c}``,
# ``(...)^{r_i}``, ``{−N..N}^d``. The base is one letter standing alone (so ``pool_cap`` and ``large_final``
# stay names) or a closing bracket; a bare script is at most three letters or digits.
_SCRIPT = r"[_^](?:\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}|[A-Za-z0-9]{1,3}(?![A-Za-z0-9_]))"
SCRIPTED = re.compile(r"(?:(?<![A-Za-z0-9_])[A-Za-zα-ωΑ-Ω]|[\])}])(?:" + _SCRIPT + ")+")
_SCRIPT_PART = re.compile(r"([_^])(?:\{(.*)\}|(.*))", re.S)
_MATH_SPECIAL = {"\\": "\\backslash{}", "$": "\\$", "&": "\\&", "#": "\\#", "%": "\\%", "~": "\\sim{}"}


def _math_text(text: str) -> str:
    """``text`` inside math mode: scripts nested, the characters math mode cannot take escaped."""
    return _scripts_to_latex(text, lambda plain: "".join(_MATH_SPECIAL.get(ch, ch) for ch in plain), in_math=True)


def _scripted(match: str) -> str:
    """One :data:`SCRIPTED` match (a base and its scripts) as math: ``ρ_{L-1}`` as ρ with subscript L-1."""
    base, rest = match[0], match[1:]
    parts = ["\\}" if base == "}" else base]
    for script in re.findall(_SCRIPT, rest):
        mark, braced, bare = _SCRIPT_PART.fullmatch(script).groups()
        parts.append(f"{mark}{{{_math_text(braced if braced is not None else bare)}}}")
    return "".join(parts)


def _scripts_to_latex(text: str, plain: Callable[[str], str], in_math: bool = False) -> str:
    out, at = [], 0
    for m in SCRIPTED.finditer(text):
        out += [plain(text[at:m.start()]), _scripted(m[0]) if in_math else f"\\ensuremath{{{_scripted(m[0])}}}"]
        at = m.end()
    return "".join(out + [plain(text[at:])])


# A name from the code in a statement or a reason (``pool_cap``, ``large_final_same_sign``, ``v_proj``,
# ``fashion_mnist``): words joined by ``_``. A one-letter symbol with a short script (``m_i``, ``W_Q``, ``w_ij``:
# a whole :data:`SCRIPTED` match) is mathematics, not a name.
CODE_NAME = re.compile(r"(?<![\w\\{^])[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+(?![\w{])")
# A Greek symbol with a bare index (``θ0``, ``θk``, ``θ15``, ``½δ0``): the index is a subscript. Index letters are
# i to n and t only, so a product such as ``πx`` stays as written.
INDEXED_GREEK = re.compile(r"(?<![A-Za-z0-9_α-ωΑ-Ω\\])([α-ωΑ-Ω])(\d+|[i-nt])(?!\w)")


def prose(text: str) -> str:
    """A statement or a record's reason (plain text written by a check) as LaTeX: its ASCII symbols
    ``<=``, ``>=``, ``->``, ``eps``, ``log2(`` printed as ≤, ≥, →, ε, log₂(, its ASCII sub- and
    superscripts (:data:`SCRIPTED`: ``m_i``, ``ρ_{L-1}``, ``[0,1]^d``) and indexed Greek symbols
    (:data:`INDEXED_GREEK`: ``θk``) as math, names from the code (:data:`CODE_NAME`: ``pool_cap``) in
    typewriter type (the README keeps the text as written), the rest through :func:`latex_escape`."""
    for pattern, symbol in TYPED_SYMBOLS:
        text = pattern.sub(symbol, text)
    text = INDEXED_GREEK.sub(r"\1_\2", text)
    out, at = [], 0
    for m in CODE_NAME.finditer(text):
        if SCRIPTED.fullmatch(m[0]):
            continue
        out += [_scripts_to_latex(text[at:m.start()], latex_escape), code_name(m[0])]
        at = m.end()
    return "".join(out + [_scripts_to_latex(text[at:], latex_escape)])


def combine_accents(text: str) -> str:
    """A letter followed by a combining accent (``V̂``: V, U+0302) as one LaTeX accent
    (``\\ensuremath{\\hat{V}}``): a combining character cannot be declared on its own, it follows
    the letter it modifies."""
    return re.sub("(\\w)([" + "".join(COMBINING) + "])",
                  lambda m: f"\\ensuremath{{\\{COMBINING[m[2]]}{{{m[1]}}}}}", text)


def code_name(name: str) -> str:
    """A name from the code in running text, in typewriter type and unbroken (a break after its ``_``
    can split it across pages)."""
    return "\\texttt{" + latex_escape(name) + "}"


def breakable_tt(name: str) -> str:
    """A test or figure name in typewriter type that may break after ``::`` and ``_``."""
    return "\\texttt{" + latex_escape(name).replace("\\_", "\\_\\allowbreak{}").replace("::", "::\\allowbreak{}") + "}"


def _math(command: str) -> str:
    return f"\\ensuremath{{{command}}}"


_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi o pi rho varsigma sigma "
          "tau upsilon phi chi psi omega").split()
UNICODE_LATEX: dict[str, str] = {
    **{chr(0x3B1 + i): _math("\\" + name) for i, name in enumerate(_GREEK) if name not in ("o",)},
    "ε": _math("\\varepsilon"), "ϵ": _math("\\epsilon"), "ο": "o",
    **{ch: _math("\\" + name) for ch, name in zip("ΓΔΘΛΞΠΣΦΨΩ", "Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi "
                                                                   "Omega".split())},
    "≤": _math("\\le"), "≥": _math("\\ge"), "≠": _math("\\ne"), "≈": _math("\\approx"), "∼": _math("\\sim"),
    "±": _math("\\pm"), "×": _math("\\times"), "·": _math("\\cdot"), "−": _math("-"), "∈": _math("\\in"),
    "∉": _math("\\notin"), "∖": _math("\\setminus"), "⊆": _math("\\subseteq"), "∪": _math("\\cup"),
    "∩": _math("\\cap"), "∞": _math("\\infty"), "∑": _math("\\sum"), "∏": _math("\\prod"), "√": _math("\\surd"),
    "∂": _math("\\partial"), "∇": _math("\\nabla"), "∀": _math("\\forall"), "∃": _math("\\exists"),
    "→": _math("\\to"), "←": _math("\\leftarrow"), "↦": _math("\\mapsto"), "⇒": _math("\\Rightarrow"),
    "‖": _math("\\|"), "⊙": _math("\\odot"), "⊗": _math("\\otimes"), "∘": _math("\\circ"), "⌈": _math("\\lceil"),
    "⌉": _math("\\rceil"), "⌊": _math("\\lfloor"), "⌋": _math("\\rfloor"), "′": _math("'"), "∗": _math("*"),
    "⟨": _math("\\langle"), "⟩": _math("\\rangle"), "▼": _math("\\blacktriangledown"), "∣": _math("\\mid"),
    "½": _math("\\tfrac12"), "¼": _math("\\tfrac14"), "§": "\\S{}", "…": "\\ldots{}", "–": "--", "—": "---",
    "‘": "`", "’": "'", "“": "``", "”": "''", "•": "\\textbullet{}", "✓": _math("\\checkmark"),
    "²": _math("^2"), "³": _math("^3"), "¹": _math("^1"), "⁰": _math("^0"), "⁴": _math("^4"), "⁺": _math("^+"),
    "⁻": _math("^-"), "ᵀ": _math("^T"), "₀": _math("_0"), "₁": _math("_1"), "₂": _math("_2"), "₃": _math("_3"),
    "ᵢ": _math("_i"), "ₖ": _math("_k"), "ₙ": _math("_n"), "ℓ": _math("\\ell"), "∝": _math("\\propto"),
    "ő": "\\H{o}", "ű": "\\H{u}", "ỹ": _math("\\tilde{y}"), "ẽ": _math("\\tilde{e}"), "ŷ": _math("\\hat{y}"),
}


def unicode_declarations(texts: Iterable[str]) -> tuple[str, list[str]]:
    """``\\DeclareUnicodeCharacter`` lines for :data:`UNICODE_LATEX` and for every character above
    Latin-1 met in ``texts`` that the table lacks (shown as its code point, and named in the list
    returned so the build can warn)."""
    unknown = sorted({ch for text in texts for ch in text if ord(ch) > 0xFF and ch not in UNICODE_LATEX})
    lines = [f"\\DeclareUnicodeCharacter{{{ord(ch):04X}}}{{{latex}}}" for ch, latex in UNICODE_LATEX.items()
             if ord(ch) > 0x7F]
    lines += [f"\\DeclareUnicodeCharacter{{{ord(ch):04X}}}{{\\lthunknownchar{{U+{ord(ch):04X}}}}}" for ch in unknown]
    return "\n".join(lines) + "\n", [f"U+{ord(ch):04X} {ch}" for ch in unknown]


# Tables: one row per stored list entry --------------------------------------------------------------

KEY = ("<key>",)  # a column path: the name of the row in a keyed table (``Table.keyed``)


@dataclass(frozen=True)
class Table:
    """A table drawn from a claim's record: ``\\lthtable{NAME}``. ``rows`` are paths to a list of
    row dicts or to one row dict (``keyed``: to a mapping name -> row dict, the name read by the column
    path :data:`KEY`); each column ``(header, path, show[, measured])`` reads ``path`` inside a row. A
    measured column's cells from a quick-scale record carry the dagger; a column of settings (an
    instance's name, its widths, a chosen channel count) passes ``measured`` False."""

    name: str
    claim: str
    rows: tuple[Path_, ...]
    columns: tuple[tuple, ...]
    keyed: bool = False

    def row_documents(self, document: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for path in self.rows:
            try:
                found = lookup(document, path)
            except LookupError:
                continue
            if self.keyed:
                rows.extend({**row, KEY[0]: name} for name, row in found.items())
            else:
                rows.extend(found if isinstance(found, list) else [found])
        return rows


def pp_interval(summary: Any) -> Shown:
    """``{mean, ci}`` of an accuracy difference as signed percentage points with its interval (three
    numbers, each with its own dagger, as the prose prints an interval of three values)."""
    show = fixed(2, 100.0, signed=True)
    mean, lo, hi = each_marked(show(summary["mean"]), *(show(end) for end in summary["ci"]))
    return Shown(f"{mean.text} [{lo.text}, {hi.text}]", f"{mean.latex} [{lo.latex}, {hi.latex}]")


def pp_intervals(summaries: Any) -> Shown:
    """``{k: {mean, ci}}`` (one interval per rewind point k) as ``k: interval`` entries."""
    shown = [(str(k), pp_interval(v)) for k, v in summaries.items()]
    return Shown("; ".join(f"k={k}: {v.text}" for k, v in shown),
                 "; ".join(f"$k={latex_escape(k)}$: {v.latex}" for k, v in shown))


def percent(value: Any) -> Shown:
    return fixed(1, 100.0)(value)


def yes_no(value: Any) -> Shown:
    return Shown("yes" if value else "no", "yes" if value else "no")


def width_factor(value: Any) -> Shown:
    return Shown(f"×{value:g}", f"\\ensuremath{{\\times}}{value:g}")


def final_build(construction: dict[str, Any]) -> dict[str, Any]:
    """The build an edge-popup record judges for one constructed seed: the smallest certified one,
    else the width rule's (built first)."""
    return construction["certified"] or construction["builds"][0]


def of_final(field: str, show: Callable[[Any], Shown], index: int | None = None) -> Callable[[Any], Shown]:
    """A column of :func:`final_build`'s ``field`` (its ``index``-th entry for a list), in one notation
    for the whole column where ``show`` has one (:func:`sig`'s ``for_column``)."""
    def value(construction: Any) -> Any:
        found = final_build(construction)[field]
        return found if index is None else found[index]

    def shown(construction: Any) -> Shown:
        return show(value(construction))

    if hasattr(show, "for_column"):
        shown.for_column = lambda constructions: of_final(field, show.for_column(list(map(value, constructions))),
                                                          index)
    return shown


TABLES: tuple[Table, ...] = (
    Table("dense_instances", "slth.dense.network", (("details", "instances"),),
          (("instance", ("name",), word), ("widths", ("widths",), _dims, GIVEN),
           ("over-param.", ("over_parameterisation",), fixed(1)),
           ("kept", ("kept_parameters",), integer), ("certified", ("certified",), sig(2)),
           ("empirical", ("empirical",), sig(2)), ("union bound", ("union_bound",), sig(2)),
           ("domain", ("domain",), word))),
    Table("conv_instances", "slth.conv.network", (("details", "instances"),),
          (("instance", ("instance",), word), ("channels n", ("channels",), _listed, GIVEN),
           ("kept", ("kept",), integer), ("random", ("random_size",), integer), ("target", ("target_size",), integer),
           ("certified", ("certified",), sig(3)), ("searched", ("empirical",), sig(2)))),
    Table("conv_lenet", "slth.conv.network", (("details", "table"),),
          (("n", ("n",), integer, GIVEN), ("max |ΔK|", ("max_abs_weight_error",), sig(2)),
           ("certified", ("certified",), sig(2)), ("searched", ("empirical",), sig(2)),
           ("build (s)", ("build_s",), sig(2)), ("kept", ("kept",), integer))),
    # every direction the transfer check judged, at the level fixed in its protocol
    Table("transfer_directions", "sim.transfer", (("details", "judged"),),
          (("direction", KEY, phrase, GIVEN), ("weights left (%)", ("remaining",), percent, GIVEN),
           ("transfer − random mask (pp)", ("vs_random",), pp_interval),
           ("transfer − own ticket (pp)", ("vs_target_ticket",), pp_interval)), keyed=True),
    # each regime's sparsest level: the premise (θ0 ticket − dense) and the gain of each rewind point
    Table("late_regimes", "sim.late_resetting", (("details", "regimes"),),
          (("regime", KEY, word), ("network", ("settings", "arch"), word),
           ("left (%)", ("sweep", -1, "remaining"), percent, GIVEN), ("θ₀ − dense (pp)", ("premise",), pp_interval),
           ("θₖ − θ₀ (pp)", ("gain",), pp_intervals), ("verdict", ("verdict",), word)), keyed=True),
    # edge-popup against the target per width factor (the TOST of each width, Holm over the widths)
    Table("edge_popup_widths", "sim.edge_popup.width", (("details", "per_factor"),),
          (("width", ("factor",), width_factor, GIVEN), ("random weights", ("weights",), integer, GIVEN),
           ("edge-popup − target (pp)", ("difference",), pp_interval), ("TOST p", ("tost_p",), sig(2)),
           ("within margin", ("matches",), yes_no, GIVEN))),
    # Pensia's construction for the trained target, one row per constructed seed: the build the check judged
    Table("edge_popup_constructions", "sim.edge_popup.width", (("details", "target", "certified"),),
          (("m₁", (), of_final("units", integer, 0)), ("random weights", (), of_final("random_weights", integer)),
           ("kept", (), of_final("kept", integer)), ("ε (logits)", ("eps_logits",), sig(3), GIVEN),
           ("certified error", (), of_final("certificate", sig(3))),
           ("sampled error", (), of_final("max_test_error", sig(3))),
           ("may change", (), of_final("may_change", integer)), ("changed", (), of_final("changed", integer)))),
)


def table_tex(table: Table, document: dict[str, Any] | None) -> str:
    """A booktabs ``tabular`` of ``table`` and a line naming its record (a one-line note when the
    record or its rows are absent)."""
    if document is None:
        return f"\\lthmissing{{no record of {latex_escape(table.claim)}}}\n"
    rows = table.row_documents(document)
    if not rows:
        return f"\\lthmissing{{no rows in the record of {latex_escape(table.claim)}}}\n"
    # adjustbox: a table wider than the text is scaled to the text width, never overfull
    lines = ["\\begin{adjustbox}{max width=\\linewidth}",
             f"\\begin{{tabular}}{{l{'r' * (len(table.columns) - 1)}}}", "\\toprule",
             " & ".join(latex_escape(header) for header, *_ in table.columns) + " \\\\", "\\midrule"]
    quick = document["record"]["scale"] == "quick"
    columns = [(path, _column_format(show, rows, path), measured) for _, path, show, *measured in table.columns]
    for row in rows:
        cells = []
        for path, show, measured in columns:
            try:
                raw = walk(row, path)
                cell = _ABSENT.latex if raw is None else show(raw).latex
            except (LookupError, TypeError, ValueError, AttributeError):
                raw, cell = None, "\\lthmissing{not in record}"
            dagger = quick and raw is not None and show is not word and (measured or [True])[0]
            cells.append(place_marks(cell, "\\lthquick{}" if dagger else ""))
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{adjustbox}", "",
              f"\\lthsource{{{record_source(table.claim, document)}}}"]
    return "\n".join(lines) + "\n"


def _column_format(show: Callable[[Any], Shown], rows: list, path: tuple) -> Callable[[Any], Shown]:
    """The formatter of one table column: one notation for all its values (:func:`sig`'s ``for_column``)."""
    if not hasattr(show, "for_column"):
        return show
    values = []
    for row in rows:
        try:
            values.append(walk(row, path))
        except (LookupError, TypeError, ValueError, AttributeError):
            pass
    return show.for_column(values)


def record_source(claim_id: str, document: dict[str, Any]) -> str:
    """LaTeX naming one stored record: claim, scale (quick marked), parameter hash, commit, seed."""
    record = document["record"]
    scale = record["scale"] + ("\\lthquick{}" if record["scale"] == "quick" else "")
    return (f"\\texttt{{{latex_escape(claim_id)}}}, {scale} scale, "
            f"parameters \\texttt{{{latex_escape(str(record.get('params_hash', '?')))}}}, "
            f"commit \\texttt{{{latex_escape(commit_of(document))}}}, seed {latex_escape(str(record.get('seed')))}")


# What the manuscript cites ------------------------------------------------------------------------

def manuscript_files(paper_dir: Path = PAPER_DIR) -> list[Path]:
    """The hand-written LaTeX of the manuscript: ``paper/*.tex`` and ``paper/sections/*.tex``."""
    return sorted([*paper_dir.glob("*.tex"), *paper_dir.glob("sections/*.tex")])


def cited(pattern: re.Pattern[str], files: Iterable[Path]) -> dict[str, list[str]]:
    """name -> ``file:line`` places where ``pattern`` cites it (``%`` comments skipped)."""
    places: dict[str, list[str]] = {}
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for name in pattern.findall(re.sub(r"(?<!\\)%.*", "", line)):
                places.setdefault(name, []).append(f"{path.parent.name}/{path.name}:{number}")
    return places


def unknown_citations(files: list[Path], claims: Iterable[str], values: Iterable[str], figures: Iterable[str],
                      tables: Iterable[str]) -> list[str]:
    """One line per ``\\claim``, ``\\val``, ``\\lthfigure`` or ``\\lthtable`` naming nothing known."""
    table_use = re.compile(r"\\lthtable\{([^}]*)\}")
    problems = []
    for kind, pattern, known in (("claim", CLAIM_USE, set(claims)), ("value", VALUE_USE, set(values)),
                                 ("figure", FIGURE_USE, set(figures)), ("table", table_use, set(tables))):
        for name, places in sorted(cited(pattern, files).items()):
            if name not in known:
                problems.append(f"unknown {kind} {name!r} at {', '.join(places)}")
    return problems


# Generated LaTeX ----------------------------------------------------------------------------------

def macros_tex(cells: dict[str, Cell]) -> str:
    lines = ["% Generated by `lth paper` from stored results: do not edit."]
    lines += [f"\\lthvalue{{{key}}}{{{cell.latex}}}" for key, cell in sorted(cells.items())]
    return "\n".join(lines) + "\n"


def claims_data_tex(claims: dict[str, Any], documents: dict[str, dict[str, Any] | None], links: Any) -> str:
    """``\\lthclaimdata{ID}{scale}{commit}{tests}`` per registered claim: what ``\\claim`` prints."""
    lines = ["% Generated by `lth paper` from the claim registry and stored results: do not edit."]
    for claim_id in claims:
        document = documents.get(claim_id)
        scale = "\\lthmissing{no record}" if document is None else document["record"]["scale"] + (
            "\\lthquick{}" if document["record"]["scale"] == "quick" else "")
        lines.append(f"\\lthclaimdata{{{claim_id}}}{{{scale}}}{{{latex_escape(commit_of(document))}}}"
                     f"{{{plural(len(links.tests.get(claim_id, [])), 'test')}}}")
    return "\n".join(lines) + "\n"


def claims_appendix_tex(claims: dict[str, Any], documents: dict[str, dict[str, Any] | None], links: Any) -> str:
    """Every registered claim's entry (statement, proof section, record, tests, figures), grouped by
    proof file; other packages' files (``distribution:proofs/<topic>.md``) after ours."""
    lines = ["% Generated by `lth paper` from the claim registry and stored results: do not edit."]
    topic = None
    for claim_id, entry in sorted(claims.items(),
                                  key=lambda item: (item[1].origin, proof_rank(Path(item[1].proof)), item[0])):
        if entry.proof_anchor.rsplit("#", 1)[0] != topic:
            topic = entry.proof_anchor.rsplit("#", 1)[0]
            lines.append(f"\\subsection{{Claims proved in \\texttt{{{latex_escape(topic)}}}}}")
        lines.append(claim_entry(claim_id, entry, documents.get(claim_id), links))
    return "\n".join(lines) + "\n"


def claim_entry(claim_id: str, entry: Any, document: dict[str, Any] | None, links: Any) -> str:
    tests = links.tests.get(claim_id, [])
    figures = links.figures.get(claim_id, [])
    rows = [("Statement", prose(entry.statement)),
            ("Proof", f"Appendix~\\ref{{proof:{claim_id}}} (\\texttt{{{latex_escape(entry.proof_anchor)}}})")]
    if document is None:
        rows.append(("Record", "\\lthmissing{no stored record: run \\texttt{lth verify "
                               f"{latex_escape(claim_id)}}}}}"))
    else:
        record = document["record"]
        rows.append(("Record", record_source(claim_id, document) + f", {latex_escape(record.get('device') or '?')}, "
                               f"{sig(2)(record.get('wall_s', 0.0)).latex}\\,s"))
        rows.append(("Verdict", f"\\textbf{{{latex_escape(record['verdict'])}}}: {outcome_reason(claim_id, record)}"))
        for name in ("bound", "certified", "empirical"):
            quantity = record.get(name)
            if quantity and quantity.get("value") is not None:
                label = quantity_label(quantity["label"])
                rows.append((name.capitalize(), f"\\val{{{claim_id}:{name}}} --- {label}"))
    rows.append(("Tests", f"{len(tests)}: " + ", ".join(map(breakable_tt, tests)) if tests else "\\lthmissing{none}"))
    if figures:
        rows.append(("Figures", ", ".join(map(breakable_tt, figures))))
    body = "\n".join(f"\\lthclaimrow{{{name}}}{{{text}}}" for name, text in rows)
    return f"\\lthclaimentry{{{claim_id}}}{{%\n{body}}}"


# In a record's quantity label: an operator with a subscript (``sup_{‖x‖≤1}``, ``max_i``), which
# :data:`SCRIPTED` leaves alone (its base is a word), and a subscript on a norm bar or an accented letter
# (``‖…‖_2``, ``ỹ_i``, ``h̃_t``).
_OPERATOR_SCRIPT = re.compile(r"\b(sup|max|min)_(\{[^{}]*\}|[A-Za-z0-9]{1,3}(?![A-Za-z0-9_]))")
_MARK_SCRIPT = re.compile(r"(‖|ỹ|\w\u0303)_([A-Za-z0-9])(?![A-Za-z0-9_])")


def quantity_label(text: str) -> str:
    """A record's bound/certified/empirical label as LaTeX: :func:`prose`, with ``||`` as a norm bar
    and the scripts it does not read (:data:`_OPERATOR_SCRIPT`, :data:`_MARK_SCRIPT`) set as math, so
    no ``_`` or ``^`` of a formula is printed as a character."""
    text = text.replace("||", "‖")
    for pattern, symbol in TYPED_SYMBOLS:
        text = pattern.sub(symbol, text)
    out, at = [], 0
    for m in sorted([*_OPERATOR_SCRIPT.finditer(text), *_MARK_SCRIPT.finditer(text)], key=lambda m: m.start()):
        if m.start() < at:
            continue
        script = m[2][1:-1] if m[2].startswith("{") else m[2]
        base = f"\\{m[1]}" if m[1] in ("sup", "max", "min") else combine_accents(m[1])
        out += [prose(text[at:m.start()]), f"\\ensuremath{{{base}_{{{_math_text(script)}}}}}"]
        at = m.end()
    return "".join(out + [prose(text[at:])])


def claims_table_tex(claims: Iterable[str]) -> str:
    """A longtable: every registered claim's verdict, bound, certified and empirical value, scale."""
    lines = ["\\begin{longtable}{@{}lllll@{}}",
             "\\caption{Every registered claim and its stored record (generated; \\lthquick: quick scale).}"
             "\\label{tab:claims}\\\\",
             "\\toprule claim & verdict & bound & certified & empirical \\\\ \\midrule \\endfirsthead",
             "\\toprule claim & verdict & bound & certified & empirical \\\\ \\midrule \\endhead",
             "\\bottomrule \\endfoot"]
    for claim_id in claims:
        lines.append(f"\\claimref{{{claim_id}}} & \\val{{{claim_id}:verdict}} & \\val{{{claim_id}:bound}} & "
                     f"\\val{{{claim_id}:certified}} & \\val{{{claim_id}:empirical}} \\\\")
    lines.append("\\end{longtable}")
    return "\n".join(lines) + "\n"


# check kind -> LaTeX environment; a protocol makes a hypothesis
STATEMENT_KIND = {"rate": "measured", "instance": "certified"}


def statement_environment(entry: Any) -> str:
    """``hypothesis`` for an empirical claim (a preregistered protocol, no proof), ``measured`` for a
    measured constant, ``certified`` for a statement certified on the drawn instances at a measured size
    (kind ``instance``: what the proof gives is the certificate, not the statement at every size),
    ``theorem`` for a proved statement."""
    return "hypothesis" if entry.protocol is not None else STATEMENT_KIND.get(entry.kind, "theorem")


def statements_tex(claims: dict[str, Any], documents: dict[str, dict[str, Any] | None]) -> str:
    """Per claim ``\\lthoutcomedata{ID}{scale}{verdict}{reason}`` (what ``\\lthoutcome`` prints: the
    record's verdict and its own reason, the deciding numbers as the check stated them) and
    ``\\lthstatementdata{ID}{environment}{statement}{digest}`` (what ``\\lthstatement`` prints: the
    registered statement as a Theorem with its proof, a Measured constant, or a Hypothesis with its
    protocol digest and never a proof)."""
    lines = ["% Generated by `lth paper` from the claim registry and stored results: do not edit."]
    for claim_id, entry in claims.items():
        document = documents.get(claim_id)
        if document is None:
            lines.append(f"\\lthoutcomedata{{{claim_id}}}{{\\lthmissing{{no record}}}}{{}}{{}}")
        else:
            record = document["record"]
            scale = record["scale"] + ("\\lthquick{}" if record["scale"] == "quick" else "")
            lines.append(f"\\lthoutcomedata{{{claim_id}}}{{{scale}}}{{{latex_escape(record['verdict'])}}}"
                         f"{{{outcome_reason(claim_id, record)}}}")
        lines.append(f"\\lthstatementdata{{{claim_id}}}{{{statement_environment(entry)}}}"
                     f"{{{prose(sentence(entry.statement))}}}{{{entry.protocol_digest or ''}}}")
    return "\n".join(lines) + "\n"


def outcome_reason(claim_id: str, record: dict[str, Any]) -> str:
    """What the paper prints as a record's reason: the check's own text (:func:`prose`), or for a claim
    in :data:`OUTCOME_SUMMARIES` (a reason that lists every seed's and width's numbers) a summary made
    from the record's details, whose rows the paper's tables hold (the README keeps the reason whole); a
    record without the details it reads prints its reason and ``[not in record]``, which refuses the paper."""
    summarise = OUTCOME_SUMMARIES.get(claim_id)
    if summarise is None:
        return prose(record["reason"])
    try:
        return summarise(record)
    except (LookupError, TypeError, ValueError, AttributeError):
        return f"{prose(record['reason'])} \\lthmissing{{not in record}}"


def edge_popup_width_outcome(record: dict[str, Any]) -> str:
    """``sim.edge_popup.width``: the rise from the narrowest to the widest network, the first width within
    the margin (Holm over the widths; rows in Table ``tab:edge_popup_widths``), how many of the
    construction's checks hold (certificate within ε, predictions that may change within the allowed
    share, at each constructed seed; rows in Table ``tab:edge_popup_constructions``), and the size of the
    searched ticket's network against the constructed one."""
    from lth.verdict import judge_certificate

    details, params = record["details"], record["params"]
    mark = "\\lthquick{}" if record["scale"] == "quick" else ""
    pp = fixed(2, 100.0, signed=True)
    rows, rise = details["per_factor"], details["rise"]
    mean, lo, hi = (place_marks(pp(v).latex, mark) for v in (rise["mean"], *rise["ci"]))
    widths = f"{width_factor(rows[-1]['factor']).latex} minus {width_factor(rows[0]['factor']).latex}"
    margin = f"\\ensuremath{{\\pm}}{fixed(0, 100.0)(params['margin']).latex}~pp"
    first = next((row for row in rows if row["matches"]), None)
    parts = [f"edge-popup accuracy, width {widths}: {mean}~pp [{lo}, {hi}]",
             (f"within {margin} of the target from width {width_factor(first['factor']).latex}"
              if first else f"no width shown within {margin} of the target")
             + f" (TOST, Holm over {len(rows)} widths; Table~\\ref{{tab:edge_popup_widths}})"]
    built = details["target"].get("certified") or []
    if built:
        checks = [judge_certificate(b["certificate"], b["max_test_error"], c["eps_logits"])[0]
                  for c in built for b in [final_build(c)]]
        checks += [judge_certificate(b["may_change"] / c["n_test"], b["changed"] / c["n_test"],
                                     params["accuracy_gap"])[0] for c in built for b in [final_build(c)]]
        certified = sum(c["certified"] is not None for c in built)
        parts.append(f"Pensia et al.'s construction, built for the target at {len(built)} seeds "
                     f"(certified at {certified} of them): {checks.count('holds')} of {len(checks)} "
                     f"checks hold (certified sup error of the logits within ε, and at most "
                     f"{sig(2)(100 * params['accuracy_gap']).latex}\\% of the {integer(built[0]['n_test']).latex} test "
                     f"predictions may change; Table~\\ref{{tab:edge_popup_constructions}})")
    bridge = details.get("bridge", {})
    if "ratio" in bridge:
        parts.append(f"the searched ticket's network ({integer(bridge['searched_weights']).latex} random weights) "
                     f"is {place_marks(fixed(0)(bridge['ratio']).latex, mark)}\\ensuremath{{\\times}} smaller than "
                     "the certified one")
    return "; ".join(parts)


OUTCOME_SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {"sim.edge_popup.width": edge_popup_width_outcome}


def sentence(text: str) -> str:
    """A registered statement as a sentence: a capital first letter and a full stop."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


AMENDMENT_ENTRY = re.compile(r"^### (?P<claim>\S+)\s*\n(?P<body>.*?)(?=^### |^## |\Z)", re.M | re.S)


def amendment_entries(text: str) -> dict[str, list[str]]:
    """Claim id -> the bodies of its ``### <id>`` entries in ``proofs/amendments.md``, oldest first."""
    entries: dict[str, list[str]] = {}
    for match in AMENDMENT_ENTRY.finditer(text):
        entries.setdefault(match["claim"], []).append(match["body"].strip())
    return entries


def markdown_inline(text: str) -> str:
    """One line of the amendment log as LaTeX: escaped, with ``code`` and **bold** kept."""
    text = latex_escape(text)
    text = re.sub(r"`([^`]*)`", lambda m: breakable_tt_escaped(m[1]), text)
    return re.sub(r"\*\*([^*]+)\*\*", r"\\textbf{\1}", text)


def breakable_tt_escaped(text: str) -> str:
    """Already escaped text in typewriter type, breakable after ``/``, ``_`` and ``.``."""
    return "\\texttt{" + re.sub(r"(\\_|/|\.)", r"\1\\allowbreak{}", text) + "}"


def markdown_entry(body: str) -> str:
    """An amendment-log entry (``- key: text`` items, continuation lines indented) as an itemize."""
    items: list[str] = []
    for line in body.splitlines():
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif line.strip() and items:
            items[-1] += " " + line.strip()
        elif line.strip():
            items.append(line.strip())
    return "\\begin{itemize}\\tightlist\n" + "\n".join(f"\\item {markdown_inline(i)}" for i in items) + \
        "\n\\end{itemize}"


def protocols_tex(claims: dict[str, Any], amendments: str) -> str:
    """The preregistered protocol of every empirical claim (its six fields and digest) and its entries
    in the amendment log, one labelled subsection each (``\\ref{protocol:ID}``)."""
    entries = amendment_entries(amendments)
    lines = ["% Generated by `lth paper` from the claim registry and proofs/amendments.md: do not edit."]
    for claim_id, entry in sorted(claims.items()):
        if entry.protocol is None:
            continue
        lines.append(f"\\subsection{{\\texttt{{{latex_escape(claim_id)}}}}}\\label{{protocol:{claim_id}}}")
        lines.append(f"Registered protocol, digest \\texttt{{{entry.protocol_digest}}} (over the text below and the "
                     "claim's quick and full parameters).")
        lines.append("\\begin{description}\\tightlist")
        for name, text in entry.protocol.as_dict().items():
            lines.append(f"\\item[{name}] {latex_escape(text)}")
        lines.append("\\end{description}")
        logged = entries.get(claim_id, [])
        lines.append(f"\\noindent Amendment log ({len(logged)} {'entry' if len(logged) == 1 else 'entries'}, oldest "
                     "first):" if logged else "\\noindent No entry in the amendment log.")
        lines += [markdown_entry(body) for body in logged]
    return "\n".join(lines) + "\n"


# Figures ------------------------------------------------------------------------------------------

def draw_figures(results: Path, out: Path) -> dict[str, str | None]:
    """Draw every registered figure from ``results`` into ``out``: name -> None, or why it was not drawn
    (a missing result, or the script's error: the paper shows the reason instead of the figure)."""
    from lth.figures import MissingResult, all_figures, render

    problems: dict[str, str | None] = {}
    for name, entry in all_figures().items():
        try:
            render(entry, results, out)
            problems[name] = None
        except MissingResult as exc:
            problems[name] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a broken script must not hide the other figures
            problems[name] = f"the figure script raised {type(exc).__name__}: {exc}"
    return problems


def figure_summary(name: str) -> str:
    """The first sentence of a figure script's docstring (the caption of an undiscussed figure)."""
    from lth.figures import all_figures

    doc = (sys.modules[all_figures()[name].script].__doc__ or name).strip()
    return " ".join(doc.split("\n\n")[0].split())


def figures_tex(problems: dict[str, str | None], out: Path, cited_names: Iterable[str]) -> str:
    """``\\lthfiguredata{NAME}{drawn}{source}`` per registered figure, then ``\\lthotherfigures``:
    the figures the prose does not cite, captioned by their scripts, under an appendix section of their
    own (empty when the prose cites every figure)."""
    from lth.store import read_json

    lines = ["% Generated by `lth paper` from the figure registry and the drawn figures: do not edit."]
    for name, problem in problems.items():
        if problem is None:
            drawn = read_json(out / f"{name}.json")["records"]
            source = "; ".join(_drawn_source(entry) for entry in drawn) or "no stored record"
            lines.append(f"\\lthfiguredata{{{name}}}{{1}}{{{source}}}")
        else:
            lines.append(f"\\lthfiguredata{{{name}}}{{0}}{{{latex_escape(problem)}}}")
    lines.append("\\newcommand{\\lthotherfigures}{%")
    others = [name for name in problems if name not in set(cited_names)]
    if others:
        lines.append("\\section{Figures not discussed in the text}\\label{app:figures}")
        lines.append("Registered figures that no section cites appear here, captioned by their scripts.")
    lines += [f"\\lthfigure{{{name}}}{{{latex_escape(figure_summary(name))}}}" for name in others]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _drawn_source(entry: dict[str, Any]) -> str:
    """A figure's ``<name>.json`` entry as LaTeX (the same words as :func:`record_source`)."""
    document = {"record": {"scale": entry["scale"], "params_hash": entry["params_hash"], "seed": entry.get("seed")},
                "provenance": {"git_commit": entry.get("git_commit"), "git_dirty": entry.get("git_dirty")}}
    return record_source(entry["claim"], document).rsplit(", seed", 1)[0]


# Proofs -------------------------------------------------------------------------------------------

def proof_files(proofs_dir: Path) -> list[Path]:
    """``proofs/*.md`` in :data:`PROOF_ORDER`, the rest alphabetically."""
    return sorted(proofs_dir.glob("*.md"), key=proof_rank)


def breakable_code(latex: str) -> str:
    """pandoc's ``\\texttt{…}`` code spans made breakable after ``_``, ``/``, ``.``, ``,`` and ``=``
    (a file path or identifier in a proof would otherwise overflow the line)."""
    def soften(match: re.Match[str]) -> str:
        return "\\texttt{" + re.sub(r"(\\_|/|\.|,|=)", r"\1\\allowbreak{}", match[1]) + "}"

    return re.sub(r"\\texttt\{((?:[^{}\\]|\\.)*)\}", soften, latex)


def small_tables(latex: str) -> str:
    """pandoc's tables in small type: their columns are fixed fractions of the line, so a wide cell
    (a constants table of proofs/rss.md) would overflow at the text size."""
    return latex.replace("\\begin{longtable}", "\\begingroup\\small\\begin{longtable}").replace(
        "\\end{longtable}", "\\end{longtable}\\endgroup")


def proof_rank(path: Path) -> tuple[int, str]:
    """Where a proof file's appendix goes: :data:`PROOF_ORDER`, then alphabetically."""
    return (PROOF_ORDER.index(path.stem) if path.stem in PROOF_ORDER else len(PROOF_ORDER), path.stem)


def package_proof_files(claims: dict[str, Any]) -> dict[str, list[Path]]:
    """Distribution -> the proof files its claims name, for each installed package registering claims through
    the ``lth.claims`` entry point (:mod:`lth.extensions`), in :func:`proof_rank` order."""
    files: dict[str, set[Path]] = {}
    for entry in claims.values():
        if entry.origin:
            files.setdefault(entry.origin, set()).add(entry.proof_path)
    return {origin: sorted(paths, key=proof_rank) for origin, paths in sorted(files.items())}


def convert_proof(path: Path, target: Path, paper_dir: Path, *options: str) -> None:
    """``path`` converted by pandoc into ``target`` (``options``: further pandoc options)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(["pandoc", "--from", "markdown-blank_before_header", "--to", "latex", "--no-highlight",
                          "--lua-filter", str(paper_dir / "anchors.lua"), *options, str(path), "--output",
                          str(target)], capture_output=True, text=True)
    if run.returncode != 0:
        raise BuildError(f"pandoc could not convert {path.name}: {run.stderr.strip()}")
    target.write_text(small_tables(breakable_code(combine_accents(target.read_text(encoding="utf-8")))),
                      encoding="utf-8")


def package_proofs_heading(distribution: str, label: str) -> str:
    """The appendix section of another package's proofs (``\\label{app:proofs:<label>}``): titled with its
    distribution name, and its version."""
    try:
        version = f" {metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        version = ""
    name = latex_escape(distribution)
    return (f"\\section{{Proofs from the package \\texttt{{{name}}}}}\\label{{app:proofs:{label}}}\n"
            f"Converted from the proof files shipped with the installed distribution \\texttt{{{name}}}"
            f"{latex_escape(version)}, which registers its claims through the \\texttt{{lth.claims}} entry point.\n")


def convert_proofs(proofs_dir: Path, out: Path, paper_dir: Path = PAPER_DIR,
                   packages: dict[str, list[Path]] | None = None) -> str:
    """Convert each proof file with pandoc into ``out/<stem>.tex``, then each of ``packages``'s (distribution
    -> its proof files, :func:`package_proof_files`) into ``out/<distribution>/<stem>.tex``, under an
    appendix section per distribution with the files' headings one level down; returns the LaTeX that
    inputs them. A claim's anchor becomes ``\\label{proof:ID}`` in either (``paper/anchors.lua``)."""
    out.mkdir(parents=True, exist_ok=True)
    inputs = []
    for path in proof_files(proofs_dir):
        convert_proof(path, out / f"{path.stem}.tex", paper_dir)
        inputs.append(f"\\input{{proofs/{path.stem}}}")
    for distribution, paths in (packages or {}).items():
        folder = re.sub(r"[^A-Za-z0-9]+", "-", distribution)  # a TeX-safe path and label prefix
        inputs.append(package_proofs_heading(distribution, folder).rstrip("\n"))
        for path in paths:
            convert_proof(path, out / folder / f"{path.stem}.tex", paper_dir, "--shift-heading-level-by=1",
                          "--metadata", f"anchor-prefix={folder}-{path.stem}")
            inputs.append(f"\\input{{proofs/{folder}/{path.stem}}}")
    return "\n".join(inputs) + "\n"


# Build --------------------------------------------------------------------------------------------

class BuildError(Exception):
    """The manuscript could not be built (a tool failed); the message says where."""


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@dataclass
class Generated:
    """What :func:`generate` wrote: the values, and the problems a reader should be told about
    (``problems``: each a line naming the place; any one of them makes the paper a bad paper)."""

    cells: dict[str, Cell]
    missing_records: list[str]
    figure_problems: dict[str, str]
    unknown_characters: list[str]
    problems: list[str]


def first_place(needle: str, texts: dict[str, str]) -> str:
    """``name:line`` of the first of ``texts`` (name -> text) holding ``needle``."""
    for name, text in texts.items():
        for number, line in enumerate(text.splitlines(), start=1):
            if needle in line:
                return f"{name}:{number}"
    return "?"


def paper_problems(cells: dict[str, Cell], documents: dict[str, dict[str, Any] | None], texts: dict[str, str],
                   unknown: Iterable[str], figure_problems: dict[str, str], files: list[Path]) -> list[str]:
    """Every defect a reader would see, one line each with its place: a claim without a record, a
    value the manuscript cites that its record lacks, a generated table or entry showing a missing
    value, a figure not drawn, a character without a LaTeX form (``texts``: name -> generated or
    hand-written LaTeX)."""
    problems = [f"claim {claim_id} has no record (run `lth verify {claim_id} --out DIR`)"
                for claim_id, document in documents.items() if document is None]
    for key, places in sorted(cited(VALUE_USE, files).items()):
        cell = cells.get(key)
        if cell is not None and cell.scale is not None and cell.shown is None:
            problems.append(f"\\val{{{key}}} at {', '.join(places)}: [not in record] (its record has no "
                            f"{'/'.join(map(str, cell.value.path))})")
    for name, text in texts.items():
        if (name.startswith("table_") or name == "statements.tex") and "\\lthmissing{not in record}" in text:
            problems.append(f"{first_place('lthmissing{not in record}', {name: text})}: a table cell or a "
                            "record's summarised outcome is [not in record]")
    problems += [f"figure {name} not drawn: {why}" for name, why in figure_problems.items()]
    problems += [f"character {ch} has no LaTeX form (add it to lth.manuscript.UNICODE_LATEX), first at "
                 f"{first_place(ch.split(' ', 1)[1], texts)}" for ch in unknown]
    return problems


# Figures at print size -------------------------------------------------------------------------------

# The box ``\\lthfigure`` (paper.tex) scales each figure's PDF into, keeping its aspect ratio:
# ``\\linewidth`` × ``0.45\\textheight`` of an A4 page with 2.4 cm margins (162 mm × 112.05 mm), in
# PostScript points (1/72 in), the unit of matplotlib's font sizes and of a PDF's size. The TeX log
# states every figure's printed size (``lth-figure NAME printed …``), and :func:`printed_figure_problems`
# checks it again after TeX, so a change of the box in paper.tex cannot pass unnoticed.
FIGURE_BOX_BP = (459.21, 317.63)
MIN_FONT_PT = 7.0
TEX_PT_PER_BP = 72.27 / 72.0


def print_scale(size_bp: tuple[float, float], box_bp: tuple[float, float] = FIGURE_BOX_BP) -> float:
    """How much ``\\includegraphics[width=…,height=…,keepaspectratio]`` scales a figure of ``size_bp``
    (its PDF's width and height) to fit ``box_bp``: the smaller of the two ratios."""
    return min(box_bp[0] / size_bp[0], box_bp[1] / size_bp[1])


def small_text_problems(name: str, drawn: dict[str, Any], scale: float, minimum: float = MIN_FONT_PT) -> list[str]:
    """One line naming the figure and its smallest text when that text is under ``minimum`` pt once the
    figure is scaled by ``scale`` (``drawn``: the figure's ``<name>.json``, with ``size_pt`` and
    ``texts`` as :func:`lth.figures.render` writes them)."""
    if "texts" not in drawn or "size_pt" not in drawn:
        return [f"figure {name}: no text sizes beside it (drawn by an older build): redraw it"]
    small = [(size, text) for size, text in drawn["texts"] if size * scale < minimum - 1e-9]
    if not small:
        return []
    size, text = min(small)
    width, height = (v / 72.0 for v in drawn["size_pt"])
    return [f"figure {name}: {len(small)} text(s) under {minimum:g} pt in print, the smallest {text!r} at "
            f"{size * scale:.1f} pt ({size:g} pt drawn, the {width:.2f} x {height:.2f} in figure printed at "
            f"{scale:.0%}): draw it nearer its print size (6.2 in wide) or its text larger"]


def figure_font_problems(figures_dir: Path, names: Iterable[str], box_bp: tuple[float, float] = FIGURE_BOX_BP,
                         minimum: float = MIN_FONT_PT) -> list[str]:
    """Before TeX: each drawn figure (``names``, their ``<name>.json`` under ``figures_dir``) whose
    smallest text would print under ``minimum`` pt in the figure box ``box_bp``."""
    problems = []
    for name in names:
        drawn = read_json(Path(figures_dir) / f"{name}.json")
        scale = print_scale(drawn["size_pt"], box_bp) if "size_pt" in drawn else 1.0
        problems += small_text_problems(name, drawn, scale, minimum)
    return problems


LOG_FIGURE = re.compile(r"^lth-figure (?P<name>\S+) printed (?P<w>[\d.]+)pt x (?P<h>[\d.]+)pt$", re.M)


def printed_figure_problems(log: str, figures_dir: Path, minimum: float = MIN_FONT_PT) -> list[str]:
    """After TeX: each figure whose smallest text is under ``minimum`` pt at the width TeX printed it
    (the log's ``lth-figure NAME printed Wpt x Hpt`` lines, written by ``\\lthfigure``)."""
    problems = []
    for found in LOG_FIGURE.finditer(log):
        drawn = read_json(Path(figures_dir) / f"{found['name']}.json")
        if "size_pt" not in drawn:
            problems += small_text_problems(found["name"], drawn, 1.0, minimum)
            continue
        scale = float(found["w"]) / TEX_PT_PER_BP / drawn["size_pt"][0]
        problems += [p.replace("in print", "as printed") for p in small_text_problems(found["name"], drawn, scale,
                                                                                      minimum)]
    return list(dict.fromkeys(problems))


LOG_OVERFULL = re.compile(r"^Overfull \\[hv]box \((?P<pt>[\d.]+)pt too (?:wide|high)\) (?P<where>.*)$")
LOG_UNDEFINED = re.compile(r"(?:LaTeX|Package natbib) Warning: (?P<what>Reference|Citation) `(?P<key>[^']*)' "
                           r"(?:on page \S+ )?undefined(?: on input line (?P<line>\d+))?")
LOG_MISSING_CHAR = re.compile(r"^Missing character: There is no (?P<ch>.+?) in font (?P<font>\S+)!")
LOG_FILE = re.compile(r"\(((?:\./|/)[^()\s]+\.(?:tex|bbl|aux|toc|lof|lot|out))")
OVERFULL_LIMIT_PT = 5.0


def log_problems(log: str, limit_pt: float = OVERFULL_LIMIT_PT) -> list[str]:
    """The defects of a built PDF read from its TeX log, one line each with the file and lines: boxes
    overfull by more than ``limit_pt``, undefined references and citations (printed as ``??``),
    characters missing from their font. Needs an unwrapped log (``max_print_line`` large, as
    :func:`latexmk` sets it): the file is tracked by TeX's ``(file`` … ``)`` nesting."""
    problems: list[str] = []
    stack: list[str | None] = []
    skipping = False
    for line in log.splitlines():
        if skipping:  # the box's contents, printed after an overfull warning up to a blank line
            skipping = bool(line.strip())
            continue
        found = LOG_OVERFULL.match(line)
        if found:
            skipping = True
            if float(found["pt"]) > limit_pt:
                here = next((f for f in reversed(stack) if f), "paper.tex")
                problems.append(f"overfull box by {found['pt']} pt in {'/'.join(Path(here).parts[-2:])} "
                                f"{found['where']}")
            continue
        found = LOG_UNDEFINED.search(line)
        if found:
            where = f" (input line {found['line']})" if found["line"] else ""
            problems.append(f"undefined {found['what'].lower()} {found['key']!r}{where}: printed as ??")
        found = LOG_MISSING_CHAR.match(line)
        if found:
            problems.append(f"missing character {found['ch']} in font {found['font']}")
            continue
        for match in re.finditer(r"\((?:(?:\./|/)[^()\s]+\.\w+)?|\)", line):
            token = match.group(0)
            if token == ")":
                if stack:
                    stack.pop()
            else:
                stack.append(token[1:] or None)
    return list(dict.fromkeys(problems))


def registry() -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Registered claims, their links (proofs, tests, figures) and registered figures."""
    from lth.audit import claim_links
    from lth.figures import all_figures
    from lth.registry import all_claims

    return all_claims(), claim_links(packages=True), all_figures()


def check_citations(paper_dir: Path = PAPER_DIR) -> None:
    """Refuse a manuscript citing an unknown claim, value, figure or table (ValueError, one line each)."""
    claims, _, figures = registry()
    keys = [value.key for value in (*VALUES, *claim_values(claims, bound_measured=False))] + SUMMARY_KEYS
    files = manuscript_files(paper_dir)
    problems = unknown_citations(files, claims, keys, figures, [t.name for t in TABLES])
    for claim_id, places in sorted(cited(THEOREM_USE, files).items()):
        if claim_id in claims and claims[claim_id].protocol is not None:
            problems.append(f"\\claim{{{claim_id}}} at {', '.join(places)} cites an empirical claim as proved: "
                            f"state it with \\lthstatement{{{claim_id}}} (a Hypothesis with its protocol, no proof)")
    for pattern in (STATEMENT_USE, OUTCOME_USE):
        for claim_id, places in sorted(cited(pattern, files).items()):
            if claim_id not in claims:
                problems.append(f"unknown claim {claim_id!r} at {', '.join(places)}")
    if problems:
        raise ValueError("the manuscript cites what the generator does not know:\n  " + "\n  ".join(problems))


def generate(results: Path, out: Path, paper_dir: Path = PAPER_DIR, proofs: bool = True,
             figures: bool = True) -> Generated:
    """Write everything ``paper.tex`` inputs under ``out/generated`` (and the figures under
    ``out/figures``) from the records in ``results``."""
    check_citations(paper_dir)
    claims, links, registered_figures = registry()
    documents = load_documents(results, claims)
    cells = collect((*VALUES, *claim_values(claims, bound_measured=False)), documents) | summary_cells(documents)
    generated = out / "generated"
    files = {"macros.tex": macros_tex(cells), "claims_data.tex": claims_data_tex(claims, documents, links),
             "claims_appendix.tex": claims_appendix_tex(claims, documents, links),
             "claims_table.tex": claims_table_tex(claims), "statements.tex": statements_tex(claims, documents),
             "protocols.tex": protocols_tex(claims, AMENDMENTS.read_text(encoding="utf-8"))}
    for table in TABLES:
        files[f"table_{table.name}.tex"] = table_tex(table, documents.get(table.claim))
    if figures:
        problems = draw_figures(results, out / "figures")
    else:  # keep the figures drawn by an earlier build
        problems = {name: None if (out / "figures" / f"{name}.json").exists() else "not drawn yet (--no-figures)"
                    for name in registered_figures}
    files["figures.tex"] = figures_tex(problems, out / "figures", cited(FIGURE_USE, manuscript_files(paper_dir)))
    files["proofs.tex"] = (convert_proofs(REPO_ROOT / "proofs", generated / "proofs", paper_dir,
                                          package_proof_files(claims)) if proofs else "")
    converted = {f"{name}.tex": (generated / f"{name}.tex").read_text(encoding="utf-8")
                 for name in re.findall(r"\\input\{(proofs/[^}]+)\}", files["proofs.tex"])}
    texts = [*files.values(), *(p.read_text(encoding="utf-8") for p in manuscript_files(paper_dir)),
             *converted.values()]
    files["unicode.tex"], unknown = unicode_declarations(texts)
    for name, text in files.items():
        write_atomic(generated / name, text)
    figure_problems = {name: why for name, why in problems.items() if why is not None}
    named = {**files, **{f"{path.parent.name}/{path.name}": path.read_text(encoding="utf-8")
                         for path in manuscript_files(paper_dir)}}
    named |= converted
    drawn = [name for name, why in problems.items() if why is None]
    return Generated(cells, [c for c, d in documents.items() if d is None], figure_problems, unknown,
                     paper_problems(cells, documents, named, unknown, figure_problems, manuscript_files(paper_dir))
                     + figure_font_problems(out / "figures", drawn))


def latexmk(out: Path, paper_dir: Path = PAPER_DIR) -> Path:
    """Run latexmk on ``paper.tex`` with the generated files on TeX's search path; the PDF's path."""
    env = dict(os.environ, TEXINPUTS=os.pathsep.join([str(out / "generated"), str(out / "figures"),
                                                      str(paper_dir / "sections"), ""]),
               BIBINPUTS=os.pathsep.join([str(paper_dir), ""]), max_print_line="100000", error_line="254",
               half_error_line="238")
    run = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
                          f"-output-directory={out}", "paper.tex"], cwd=paper_dir, env=env, capture_output=True,
                         text=True)
    if run.returncode != 0:
        # latexmk refuses to rerun an unchanged failed build; forget its state so the next run retries.
        (out / "paper.fdb_latexmk").unlink(missing_ok=True)
        output = (run.stdout + run.stderr).splitlines()
        errors = [line for line in output if line.startswith("!") or re.match(r"^\.?/[^:]+:\d+:", line)] or output[-8:]
        raise BuildError("latexmk failed (log: {}):\n  {}".format(out / "paper.log", "\n  ".join(errors[-8:])))
    return out / "paper.pdf"


# README -------------------------------------------------------------------------------------------

def readme_block(claims: Iterable[str], cells: dict[str, Cell]) -> str:
    """The Markdown results table between the README markers (same values as the paper)."""
    lines = [README_BEGIN,
             "<!-- generated by `lth paper readme --results DIR`: do not edit by hand -->",
             "",
             "| claim | verdict | bound | certified | empirical | record |",
             "|---|---|---|---|---|---|"]
    for claim_id in claims:
        cell = {name: cells[f"{claim_id}:{name}"] for name in ("verdict", "bound", "certified", "empirical",
                                                               "scale", "seed")}
        record = "none" if cell["scale"].scale is None else f"{cell['scale'].text}, seed {cell['seed'].text}"
        lines.append(f"| `{claim_id}` | {cell['verdict'].text} | {cell['bound'].text} | {cell['certified'].text} | "
                     f"{cell['empirical'].text} | {record} |")
    lines += ["", "† from a quick-scale record. `make paper` builds the PDF with every number, proof and figure.",
              README_END]
    return "\n".join(lines)


def replace_readme_block(readme: str, block: str, begin_marker: str = README_BEGIN,
                         end_marker: str = README_END) -> str:
    """``readme`` with the text between the markers (markers included) replaced by ``block``."""
    begin, end = readme.find(begin_marker), readme.find(end_marker)
    if begin < 0 or end < begin:
        raise ValueError(f"README.md has no {begin_marker} … {end_marker} block")
    return readme[:begin] + block + readme[end + len(end_marker):]


def seeds_block(document: dict) -> str:
    """The README's seed-robustness table from an ``lth verify --seeds`` report (``seeds.json``):
    per claim the verdict counts and the verdict over the seeds, then the measured constants pooled
    over the seeds (failure rates of smaller width constants, channel counts per layer)."""
    from lth.verdict import clopper_pearson

    seeds = document["seeds"]
    commit = (document.get("provenance") or {}).get("git_commit") or "unknown"
    lines = [SEEDS_BEGIN, "<!-- generated by `lth paper readme` from records/seeds-quick/seeds.json: do not edit "
             "by hand -->", "",
             f"`lth verify --scale {document['scale']} --seeds {seeds[0]}..{seeds[-1]}` over the theory claims "
             f"(commit `{commit[:10]}`):", "",
             "| claim | checks | seeds | holds | fails | inconclusive | error | over the seeds |",
             "|---|---|---|---|---|---|---|---|"]
    pooled: dict[str, list[int]] = {}
    judged: dict[str, list[int]] = {}
    channels: dict[str, list[list[int]]] = {}
    for row in document["claims"]:
        lines.append(f"| `{row['claim']}` | {row['kind']} | {len(row['seeds'])} | {row['holds']} | {row['fails']} | "
                     f"{row['inconclusive']} | {row['error']} | {row['verdict']} |")
        for seed in row["per_seed"]:
            for cell in seed.get("rate_cells", []):
                total = judged.setdefault(f"`{row['claim']}` {cell['name']} (threshold {cell['threshold']:g})", [0, 0])
                total[0] += cell["failures"]
                total[1] += cell["trials"]
            measured = seed.get("measured") or {}
            for cell in measured.get("constants", []):
                total = pooled.setdefault(f"`{row['claim']}` {cell['name']} (δ = {cell['threshold']:g})", [0, 0])
                total[0] += cell["failures"]
                total[1] += cell["trials"]
            for instance, used in measured.get("channels", {}).items():
                channels.setdefault(f"`{row['claim']}` {instance}", []).append(used)
    if judged:
        lines += ["", "Judged failure rates of the rate claims, pooled over the seeds:", ""]
    for name, (failures, trials) in judged.items():
        lo, hi = clopper_pearson(failures, trials)
        lines.append(f"- {name}: {failures}/{trials} fail, 95 % CI [{lo:.4f}, {hi:.4f}]")
    if pooled or channels:
        lines += ["", "Measured constants over the same seeds (reported, not judged):", ""]
    for name, (failures, trials) in pooled.items():
        lo, hi = clopper_pearson(failures, trials)
        lines.append(f"- {name}: {failures}/{trials} draws fail, 95 % CI [{lo:.3f}, {hi:.3f}]")
    for name, used in channels.items():
        per_layer = ", ".join(f"{min(layer)}–{max(layer)}" for layer in zip(*used))
        lines.append(f"- {name}: channels per kernel by layer, range over seeds: {per_layer}")
    lines.append(SEEDS_END)
    return "\n".join(lines)


def records_block(records: Path, digests: dict[str, str | None]) -> str:
    """The README's list of committed paper-grade records (``records/claims/<id>/<scale>-<hash>.json``):
    per record its claim, scale, seed, verdict and the record's own reason (the deciding numbers), the
    protocol digest it was judged under — flagged when the claim's registered protocol (``digests``)
    has changed since, so the amendment log decides which rule applies — and the code it ran."""
    lines = [RECORDS_BEGIN, "<!-- generated by `lth paper readme` from records/claims: do not edit by hand -->", ""]
    paths = sorted(Path(records).glob("claims/*/*.json"))
    if not paths:
        lines.append("No paper-grade record is committed yet.")
    for path in paths:
        document = read_json(path)
        record, prov = document["record"], document.get("provenance") or {}
        digest = record.get("protocol_hash")
        protocol = "" if digest is None else f"; protocol `{digest[:12]}`" + (
            "" if digests.get(record["claim"]) in (None, digest)
            else f" (registered now: `{digests[record['claim']][:12]}`; see proofs/amendments.md)")
        dirty = " (uncommitted changes)" if prov.get("git_dirty") else ""
        lines.append(f"- **`{record['claim']}`**, {record['scale']} scale, seed {record['seed']}: "
                     f"**{record['verdict']}**. {record['reason']}. Code `{(prov.get('git_commit') or 'unknown')[:8]}`"
                     f"{dirty}{protocol}; `{path.relative_to(Path(records).parent).as_posix()}`.")
    lines.append(RECORDS_END)
    return "\n".join(lines)


def reasons_blocks(readme: str, documents: dict[str, dict[str, Any] | None]) -> str:
    """``readme`` with every reasons block refilled: for each claim id its marker names, the verdict
    and reason of the record ``documents`` holds for it (the deciding numbers as the check stated
    them), the record's scale and seed; a claim without a record is said to have none."""
    def fill(match: re.Match[str]) -> str:
        ids = match.group(1).split()
        lines = [f"<!-- reasons:begin {' '.join(ids)} -->",
                 "<!-- generated by `lth paper readme --results DIR`: do not edit by hand -->", ""]
        for claim_id in ids:
            document = documents.get(claim_id)
            if document is None:
                lines.append(f"- **`{claim_id}`**: no record in the results folder (run `lth verify {claim_id}`).")
                continue
            record = document["record"]
            commit = (document.get("provenance") or {}).get("git_commit") or "unknown"
            lines.append(f"- **`{claim_id}`** ({record['scale']}, seed {record['seed']}, code `{commit[:8]}`): "
                         f"**{record['verdict']}**. {record['reason']}.")
        return "\n".join(lines + ["<!-- reasons:end -->"])

    return REASONS_BLOCK.sub(fill, readme)


def _ci(summary: dict, digits: int = 3, signed: bool = False) -> str:
    lo, hi = summary["ci"]
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    spread = "" if lo != lo else f" [{f.format(lo)}, {f.format(hi)}]"  # one seed: no interval (nan)
    return f.format(summary["mean"]) + spread


def _nll_rows(rows: list[dict], reference: str) -> list[str]:
    lines = [f"| row | held-out NLL (nats, 95% t-interval) | minus {reference} |", "|---|---|---|"]
    return lines + [f"| {r['row']} | {_ci(r)} | {_ci(r['minus_reference'], signed=True)} |" for r in rows]


def exploratory_table(name: str, document: dict[str, Any]) -> list[str]:
    """Markdown of one exploratory table record (``lth minitron losses|intermediate|schedule|search``):
    its budget, seeds and commit, then the rows as the command stored them."""
    prov = document.get("provenance") or {}
    budget = document.get("budget") or {}
    seeds = budget.get("seeds")
    head = (f"`records/exploratory/{name}.json` (code `{(prov.get('git_commit') or 'unknown')[:8]}`"
            f"{', uncommitted changes' if prov.get('git_dirty') else ''}; "
            + (f"{budget['steps']} steps × {budget['batch']} windows × {budget['length']} tokens per run, "
               if "length" in budget else f"{budget.get('tokens_per_candidate', '?')} training tokens per candidate, ")
            + (f"{seeds} seeds" if seeds else "one draw") + "; exploratory, no verdict):")
    lines = [head, ""]
    if "zero_shot" in document:  # the schedule table
        for part in ("zero_shot", "distilled"):
            lines += [f"*{part.replace('_', '-')}*", ""] + _nll_rows(document[part], "T=1") + [""]
        return lines[:-1]
    if "spearman" in document:  # the architecture search
        lines += ["| parameters | kind | hidden | heads | MLP | layers | zero-shot NLL (rank) | distilled NLL (rank) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in document["rows"]:
            a = r["architecture"]
            lines.append(f"| {r['parameters'] / 1e6:.1f}M | {r['kind']} | {a['hidden']} | {a['heads']} | "
                         f"{a['intermediate']} | {a['layers']} | {r['zero_shot_nll']:.3f} ({r['zero_shot_rank']}) | "
                         f"{r['retrained_nll']:.3f} ({r['retrained_rank']}) |")
        return lines + ["", f"Spearman rank correlation zero-shot vs distilled: {document['spearman']:+.2f}"]
    reference = document["rows"][0]["row"]
    lines += _nll_rows(document["rows"], reference)
    pruned = document.get("pruned_nll")
    if pruned:
        lines += ["", f"The pruned student before any training: NLL {sum(pruned) / len(pruned):.3f} (mean of "
                      f"{len(pruned)} seeds)."]
    return lines


def exploratory_blocks(readme: str, records: Path) -> str:
    """``readme`` with every exploratory block refilled from ``records/exploratory/NAME.json``; a block
    whose record is missing says so and how to make it."""
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        path = Path(records) / "exploratory" / f"{name}.json"
        body = (exploratory_table(name, read_json(path)) if path.is_file()
                else [f"No record `records/exploratory/{name}.json` yet."])
        return "\n".join([f"<!-- exploratory:begin {name} -->",
                          "<!-- generated by `lth paper readme` from records/exploratory: do not edit by hand -->",
                          "", *body, "<!-- exploratory:end -->"])

    return EXPLORATORY_BLOCK.sub(fill, readme)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def verify_cost_block(document: dict[str, Any]) -> str:
    """The README's quick-scale cost line from a ``verify.json`` (:func:`lth.verify.cost_since`)."""
    cost, records = document["cost"], document["records"]
    provenance = document["provenance"]
    commit = str(provenance.get("git_commit"))[:7] + (", uncommitted changes" if provenance.get("git_dirty") else "")
    verdicts = {v: sum(r["verdict"] == v for r in records) for v in ("holds", "inconclusive", "fails", "error")}
    counts = ", ".join(f"{n} {v}" for v, n in verdicts.items() if n)
    return "\n".join([
        COST_BEGIN, "<!-- generated by `lth paper readme --results DIR` from DIR/verify.json: do not edit by hand -->",
        f"**Quick-scale cost** (recorded by the run itself in `verify.json`: `lth verify --scale {document['scale']}`, "
        f"{len(records)} claims, seed {provenance.get('seed')}, commit {commit}): **{_clock(cost['wall_s'])} wall, "
        f"{cost['user_s']:,.0f} s user + {cost['system_s']:,.0f} s system CPU**, peak memory "
        f"{cost['peak_rss_gb']:.1f} GB, on {cost['cores']} cores with {cost['torch_threads']} torch thread(s), load "
        f"average {cost['load_start']:.1f} at the start and {cost['load_end']:.1f} at the end (other work on the "
        f"machine inflates the wall time; the CPU time is the better guide); verdicts: {counts}.", COST_END])


def bench_blocks(readme: str, records: Path) -> str:
    """``readme`` with every benchmark block refilled from ``records/bench/NAME.json``'s ``readme_table``
    (written by the benchmark with the machine's load); a block whose record is missing says so."""
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        path = Path(records) / "bench" / f"{name}.json"
        body = (read_json(path)["readme_table"] if path.is_file()
                else f"No record `records/bench/{name}.json` yet (`benchmarks/bench_{name}.py --out` it).")
        return "\n".join([f"<!-- bench:begin {name} -->",
                          "<!-- generated by `lth paper readme` from records/bench: do not edit by hand -->",
                          "", body, "<!-- bench:end -->"])

    return BENCH_BLOCK.sub(fill, readme)


# Command line -------------------------------------------------------------------------------------

def require_records(results: Path) -> None:
    """Refuse (ValueError, exit 2) a results folder holding no claim record: the paper and the README
    would be written with every value missing."""
    if not any(Path(results).glob("claims/*/*.json")):
        raise ValueError(f"no claim records in {results}; nothing was written (run `lth verify --out {results}` "
                         "first, or pass --results with the folder that holds them)")


def _build(args: argparse.Namespace) -> int:
    missing = missing_tools()
    if missing:
        print(f"lth paper: {', '.join(missing)} not found; install them with `{INSTALL_HINT}`", file=sys.stderr)
        return 3
    require_records(args.results)
    report = generate(args.results, args.out, figures=not args.no_figures)
    if _refused(report.problems, "before TeX", args.draft):
        return 1
    try:
        pdf = latexmk(args.out)
    except BuildError as exc:
        print(f"lth paper: {exc}", file=sys.stderr)
        return 1
    log = (args.out / "paper.log").read_text(encoding="utf-8", errors="replace")
    if _refused(log_problems(log) + printed_figure_problems(log, args.out / "figures"), f"in {args.out / 'paper.log'}",
                args.draft):
        return 1
    print(f"wrote {pdf}")
    return 0


def _refused(problems: list[str], where: str, draft: bool) -> bool:
    """Print the problems (one line each); True when they refuse the paper (not a ``--draft``)."""
    for problem in problems:
        print(f"lth paper: {problem}", file=sys.stderr)
    if problems and not draft:
        print(f"lth paper: refused: {len(problems)} problem(s) {where} (--draft builds the PDF anyway, marked)",
              file=sys.stderr)
    return bool(problems) and not draft


def _generate(args: argparse.Namespace) -> int:
    require_records(args.results)
    report = generate(args.results, args.out, proofs=shutil.which("pandoc") is not None, figures=not args.no_figures)
    _refused(report.problems, "", True)
    print(f"wrote {args.out / 'generated'}")
    return 0


def _readme(args: argparse.Namespace) -> int:
    require_records(args.results)
    from lth.registry import all_claims

    path = args.readme
    out_probe(path.parent)
    claims = all_claims()
    documents = load_documents(args.results, claims)
    if all(document is None for document in documents.values()):
        raise ValueError(f"--results {args.results} holds no record of any registered claim; {path} is unchanged")
    cells = collect(claim_values(claims), documents)
    text = replace_readme_block(path.read_text(encoding="utf-8"), readme_block(claims, cells))
    text = reasons_blocks(text, documents)
    if SEEDS_BEGIN in text and args.seeds_record.is_file():
        text = replace_readme_block(text, seeds_block(read_json(args.seeds_record)), SEEDS_BEGIN, SEEDS_END)
    text = bench_blocks(exploratory_blocks(text, args.records), args.records)
    run = Path(args.results) / "verify.json"
    if COST_BEGIN in text and run.is_file() and "cost" in read_json(run):
        text = replace_readme_block(text, verify_cost_block(read_json(run)), COST_BEGIN, COST_END)
    if RECORDS_BEGIN in text:
        text = replace_readme_block(text, records_block(args.records, {claim_id: entry.protocol_digest
                                                                       for claim_id, entry in claims.items()}),
                                    RECORDS_BEGIN, RECORDS_END)
    write_atomic(path, text)
    print(f"rewrote the results block of {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from lth.validate import input_dir, input_file, out_dir

    parser = subparsers.add_parser("paper", help="build the paper (PDF) and the README results block from results")
    sub = parser.add_subparsers(dest="paper_command", metavar="COMMAND", required=True)
    for name, func, text in (("build", _build, "generate the numbers, figures and proofs, then run latexmk"),
                             ("generate", _generate, "only write the generated LaTeX (no TeX needed)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--results", type=input_dir, default=RECORDS_DIR,
                       help="where the stored records live (default: the committed records/)")
        p.add_argument("--out", type=out_dir, default=str(PAPER_DIR / "build"), help="build directory")
        p.add_argument("--no-figures", action="store_true", help="do not draw the figures (faster)")
        p.set_defaults(func=func)
        if name == "build":
            p.add_argument("--draft", action="store_true", help="build the PDF despite a missing record, value, "
                           "figure, character, overfull box or undefined reference (each still reported)")
    p = sub.add_parser("readme", help="rewrite README.md's generated results block")
    p.add_argument("--results", type=input_dir, default=Path("results"), help="where stored results live")
    p.add_argument("--readme", type=input_file, default=REPO_ROOT / "README.md",
                   help="the README to rewrite (its block between the results markers)")
    p.add_argument("--seeds-record", type=input_file, default=SEEDS_RECORD,
                   help="the `lth verify --seeds` report whose table fills the README's seed block")
    p.add_argument("--records", type=input_dir, default=RECORDS_DIR,
                   help="the committed records (claims/<id>/*.json) listed in the README's records block")
    p.set_defaults(func=_readme)
