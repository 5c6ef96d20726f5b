"""What proofs/*.md cite and quote, recomputed from the code: every cited file exists, and the proven
counts the proofs tabulate are the ones the code computes (a stale number fails here)."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
import torch

from lth.store import REPO_ROOT

PROOFS = sorted((REPO_ROOT / "proofs").glob("*.md"))
CITED_PATH = re.compile(r"(?<![\w/.])((?:theory|lth|simulations|tests|proofs|benchmarks|records|paper)/[\w./-]*\w)")


def cited_paths(text: str) -> set[str]:
    return {m.group(1) for m in CITED_PATH.finditer(text)}


@pytest.mark.parametrize("proof", PROOFS, ids=lambda p: p.name)
def test_every_path_a_proof_cites_exists(proof):
    missing = sorted(path for path in cited_paths(proof.read_text(encoding="utf-8"))
                     if not (REPO_ROOT / path).exists())
    assert not missing, f"{proof.name} cites missing paths: {missing}"


def test_the_path_check_sees_a_missing_path():
    assert cited_paths("Code: `theory/claims/dense.py` and lth/claims/rss.py.") == {"theory/claims/dense.py",
                                                                                  "lth/claims/rss.py"}
    assert not (REPO_ROOT / "theory/claims/dense.py").exists()


def _fraction(text: str) -> float:
    """``"0.2/4"`` or ``"0.05"`` as a float (the η column of the table)."""
    num, *den = text.split("/")
    return float(Fraction(num) / (Fraction(den[0]) if den else 1))


def test_the_conv_table_of_proven_channel_counts_is_the_codes():
    """proofs/slth_conv.md, "proven against used width": each row's n* is bound_proven_channels."""
    from lth.theory.conv import TargetLayer, bound_proven_channels

    text = (REPO_ROOT / "proofs" / "slth_conv.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| `slth.conv.")]
    assert len(rows) >= 6
    for check, target, eta, _, proven, _ in rows:
        shapes = [tuple(map(int, s)) for s in re.findall(r"(\d+)×(\d+)×(\d+)×(\d+)", target)]
        eta_value = _fraction(eta.replace("η =", "").strip())
        counts = [bound_proven_channels(TargetLayer(torch.zeros(m, c, d, d2)), eta_value) for m, c, d, d2 in shapes]
        assert [int(v) for v in proven.split(",")] == counts, check


CITED_SYMBOL = re.compile(r"`((?:theory|lth|simulations)(?:\.\w+)+)")


def resolves(dotted: str) -> bool:
    """``lth.theory.dense.DEFAULT_C``: the longest importable module prefix, then attributes."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


@pytest.mark.parametrize("proof", PROOFS, ids=lambda p: p.name)
def test_every_dotted_name_a_proof_cites_resolves(proof):
    names = set(CITED_SYMBOL.findall(proof.read_text(encoding="utf-8")))
    assert not sorted(n for n in names if not resolves(n)), f"{proof.name} cites names the code lacks"


def test_the_name_check_sees_a_missing_name():
    assert resolves("lth.theory.dense.DEFAULT_C") and not resolves("lth.theory.dense.NO_SUCH_CONSTANT")


def test_the_closed_form_constants_in_rss_md_are_the_librarys():
    """proofs/rss.md states C, c0 of Theorem 1 and Corollaries 2–3, m(4), s and the counts the proof asks for."""
    import math

    from lth.theory.lueker import CLOSED_FORM_THETA, bound_lueker_constants, bound_lueker_samples, bound_positive_part_mgf

    text = (REPO_ROOT / "proofs" / "rss.md").read_text(encoding="utf-8")
    c_uniform = bound_lueker_constants("uniform")[0]
    c_p, c0_p = bound_lueker_constants("product")
    c_3, c0_3 = bound_lueker_constants("product", (-1.0, 1.0))
    m = bound_positive_part_mgf(CLOSED_FORM_THETA)
    for stated in (f"= {c_uniform:.4f}", f"C_p = {c_p:.2f}", f"c_{{0,p}} = 1/r_p = {c0_p:.2f}",
                   f"= {c_3:.2f}$", f"= {c0_3:.2f}$", f"$m = {m:.4f}$", f"= {math.log2(1 / m):.4f}$"):
        assert stated in text, stated
    asks = {"uniform": ((0.2, 0.1, 0.05, 0.03, 0.01), (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)),
            "product": ((0.2, 0.1, 0.05, 0.03, 0.01),)}
    for law, grids in asks.items():
        for grid in grids:
            counts = ", ".join(str(bound_lueker_samples(e, law)) for e in grid[:-1])
            assert f"{counts}" in text and str(bound_lueker_samples(grid[-1], law)) in text, (law, grid)
    whole = [bound_lueker_samples(e, "product", (-1.0, 1.0)) for e in (0.01, 0.2)]
    assert f"${whole[0]}$ samples at $\\varepsilon = 0.01$ and ${whole[1]}$ at $0.2$" in text


def _rss_text() -> str:
    return (REPO_ROOT / "proofs" / "rss.md").read_text(encoding="utf-8")


def _summary_rows(text: str) -> dict[str, list[str]]:
    """proofs/rss.md's summary table: the first cell's key word -> the cells (outer pipes dropped)."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| law") and line.count("|") == 10:
            cells = [cell.strip().strip("$") for cell in line.split("|")[1:-1]]
            key = next(k for k in ("Theorem 1", "Corollary 2", "Corollary 3", "counting") if k in cells[0])
            rows[key] = cells
    return rows


def summary_table_mismatches(text: str) -> list[str]:
    """The cells of the table ``Summary of the proven constants`` that are not lth.theory.lueker's:
    rate, C, c0 and the least n at ε = 1e-2, 1e-3, 1e-5, per law."""
    import math

    from lth.theory.lueker import bound_counting_samples, bound_lueker_constants, bound_lueker_samples

    rows = _summary_rows(text)
    if set(rows) != {"Theorem 1", "Corollary 2", "Corollary 3", "counting"}:
        return [f"rows {sorted(rows)}"]
    grid = (1e-2, 1e-3, 1e-5)
    # key -> {column: the library's text}; columns 3 rate, 4 C, 5 c0, 6-8 the least n on the grid
    expected = {"counting": {4: "1", 5: "0", **{6 + i: str(bound_counting_samples(e)) for i, e in enumerate(grid)}}}
    for key, law, interval, rate, digits in (("Theorem 1", "uniform", None, 0.75, 3),
                                             ("Corollary 2", "product", None, 1 - math.log(2) / 16, 2),
                                             ("Corollary 3", "product", (-1.0, 1.0), None, 2)):
        c, c0 = bound_lueker_constants(law, interval)
        expected[key] = {4: f"{c:.{digits}f}", 5: f"{c0:.{digits}f}",
                         **{6 + i: str(bound_lueker_samples(e, law, interval)) for i, e in enumerate(grid)}}
        if rate is not None:
            expected[key][3] = f"{rate:.4f}".rstrip("0")
    return [f"{key}, column {column}: {rows[key][column]} (library: {value})"
            for key, columns in expected.items() for column, value in columns.items() if rows[key][column] != value]


def test_the_rss_summary_table_is_the_librarys_closed_form():
    assert summary_table_mismatches(_rss_text()) == []


def test_the_table_check_sees_a_stale_count():
    text = _rss_text()
    stale = text.replace("| 56 | 80 | 128 |", "| 57 | 80 | 128 |")
    assert stale != text and summary_table_mismatches(stale) == ["Theorem 1, column 6: 57 (library: 56)"]


def test_every_other_closed_form_number_in_rss_md_is_recomputed():
    """The counting counts, the rates and weights, and the rounding-slack sizes that the prose of
    proofs/rss.md types, each recomputed (a closed form changed in the library fails here)."""
    import math

    from lth.theory.lueker import bound_counting_samples

    text = _rss_text()
    counts = [bound_counting_samples(e) for e in (0.2, 0.1, 0.05, 0.03, 0.01)]
    assert f"the counting bound asks for ${', '.join(map(str, counts[:-1]))}$\nand ${counts[-1]}$" in text
    wider = [bound_counting_samples(e) for e in (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)]
    assert f"the counting bound for ${', '.join(map(str, wider))}$" in text
    assert f"$\\log_2(4/3) = {math.log2(4 / 3):.3f}$" in text
    p = math.log(2) / 4
    assert f"$p = \\ln(2)/4 = {p:.4f}$" in text and f"$\\ln(2)/4 = {100 * p:.0f}\\%$" in text
    assert f"$r_p = \\log_2\\frac1{{1-\\ln 2/16}} = {math.log2(1 / (1 - math.log(2) / 16)):.4f}$" in text
    # the rounding slack of (c) for n = 30 uniform entries, and the two-pointer scan's optimality gap
    assert f"{34 * 2.0 ** -53 * 16:.0e}".startswith("6e-14") and "\\approx 6\\times10^{-14}$" in text
    gamma_20 = 20 * 2.0 ** -53 / (1 - 20 * 2.0 ** -53)
    assert 2 * gamma_20 * 20 < 1e-13 and "$2\\gamma_{20}\\cdot 20 < 10^{-13}$" in text


def test_the_settings_rss_md_states_are_the_registered_quick_parameters():
    """``Quick scale (…, settings: 600 pools per n, fit on ε ∈ {…}, 3,000 fresh pools … ε = 0.01)``."""
    from lth.registry import get_claim

    params = get_claim("rss.lueker").params()
    fit = ", ".join(f"{e:g}" for e in params.eps_fit)
    stated = (f"settings: {params.trials} pools per $n$, fit on\n$\\varepsilon \\in \\{{{fit}\\}}$, "
              f"{params.test_trials:,} fresh pools at the predicted $n$ for $\\varepsilon = {params.eps_test[0]:g}$")
    assert len(params.eps_test) == 1 and stated in _rss_text()
