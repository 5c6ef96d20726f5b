"""The simulation figures render from stored claim records (tiny runs), and say what is missing."""

from __future__ import annotations

import pytest

from lth.figures import MissingResult, all_figures, render
from lth.store import write_claim_record
from lth.registry import run_claim

TINY = dict(width=0.25, seeds=2, rounds=2, iterations=20, eval_every=10)
FIGURES = ("sim_imp_accuracy", "sim_imp_early_stop", "sim_late_resetting", "sim_transfer", "basin_generalisation",
           "basin_estimator", "basin_dimension")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    overrides = {"sim.imp.controls": TINY,
                 "sim.late_resetting": {**TINY, "width": 0.125, "rewind_to": (0, 5), "regimes": ("adam",)},
                 "sim.transfer": {**TINY, "max_images": 500},
                 "basin.generalisation": {"width": 0.125, "seeds": 2, "poison": 50, "target_loss": 1.0,
                                          "directions": 2, "loss_images": 100, "probes": 2, "lanczos_steps": 3},
                 "basin.estimator": {"cases": 10, "dense_max": 50, "large_dims": (256,), "large_cases": 2,
                                     "reference_cases": 2, "shapes": (20,), "shape_directions": 4},
                 "basin.dimension": {"widths": (0.0625, 0.125, 0.25, 0.5), "seeds": 2, "directions": 2,
                                     "target_loss": 1.0}}
    for claim_id, params in overrides.items():
        record = run_claim(claim_id, **params)
        assert record.verdict != "error", record.details.get("traceback")
        write_claim_record(root, record.to_dict(), seed=0, device="cpu")
    return root


@pytest.mark.parametrize("name", FIGURES)
def test_each_simulation_figure_renders_from_stored_records(results, tmp_path, name):
    paths = render(all_figures()[name], results, tmp_path)
    assert all(p.stat().st_size > 0 for p in paths)


def test_a_missing_record_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(MissingResult, match="lth verify sim.transfer"):
        all_figures()["sim_transfer"].draw(tmp_path)
