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
