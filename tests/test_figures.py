"""Figure rendering: a figure shows data from the records of every claim it is registered for."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from lth.figures import Figure, all_figures, load_claim_record, render
from lth.manuscript import RECORDS_DIR
from lth.store import read_json, write_claim_record


def _store(root: Path) -> None:
    record = {"claim": "x.y", "scale": "quick", "params_hash": "", "default_params": True, "value": 3.0}
    write_claim_record(root, record, seed=0, device="cpu")


def _plot(results: Path, load: bool = True, data: bool = True):
    value = load_claim_record(results, "x.y")["value"] if load else 1.0
    fig, ax = plt.subplots()
    if data:
        ax.plot([0, 1], [0, value])
    return fig


def test_a_rendered_figure_lists_the_record_it_drew(tmp_path: Path):
    _store(tmp_path)
    paths = render(Figure("ok", ("x.y",), "lth verify x.y", _plot), tmp_path, tmp_path / "out")
    assert [p.name for p in paths] == ["ok.pdf", "ok.png", "ok.json"]
    (entry,) = read_json(tmp_path / "out" / "ok.json")["records"]
    assert entry["claim"] == "x.y" and entry["scale"] == "quick" and Path(entry["path"]).exists()


def test_a_figure_that_ignores_its_claims_records_is_refused(tmp_path: Path):
    _store(tmp_path)
    with pytest.raises(ValueError, match="drew no record"):
        render(Figure("lazy", ("x.y",), "lth verify x.y", lambda r: _plot(r, load=False)), tmp_path, tmp_path / "out")
    assert not (tmp_path / "out" / "lazy.png").exists()


def test_an_empty_figure_is_refused(tmp_path: Path):
    _store(tmp_path)
    with pytest.raises(ValueError, match="no data"):
        render(Figure("empty", ("x.y",), "lth verify x.y", lambda r: _plot(r, data=False)), tmp_path, tmp_path / "out")



# Titles and legends say what the figure plots (on the committed records) ---------------------------

def _titles_and_legend_texts(name: str) -> list[str]:
    fig = all_figures()[name].draw(RECORDS_DIR)
    try:
        return [t.get_text() for ax in fig.axes
                for t in (ax.title, *(ax.get_legend().get_texts() if ax.get_legend() else ()))]
    finally:
        plt.close(fig)


def test_the_early_stop_figure_names_the_stop_rule_its_run_used():
    rule = load_claim_record(RECORDS_DIR, "sim.imp.controls")["details"]["settings"]["stop_on"]
    title = _titles_and_legend_texts("sim_imp_early_stop")[0]
    assert ("validation loss" in title) == (rule == "val_loss")
    assert ("validation accuracy" in title) == (rule == "val_acc")


def test_the_learned_supermask_curve_is_labelled_with_the_mask_it_evaluates():
    """The curve uses the deterministic mask [σ(s) > ½]; the estimator only trained the scores."""
    assert any("σ(s) > ½" in text for text in _titles_and_legend_texts("sim_supermask_learned"))
