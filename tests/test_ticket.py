"""``lth ticket``: state-dict parsing, clear refusals, and a ticket file that plain torch reloads."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from lth.cli import main
from lth.store import read_json
from lth.commands.ticket import load_ticket, parse_layers, target_from_specs


def _mlp(seed: int, widths: list[int], scale: float = 1.0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model


def _save(tmp_path: Path, state: dict, name: str = "model.pt") -> Path:
    path = tmp_path / name
    if name.endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


def test_parsed_layers_reproduce_the_model(tmp_path):
    model = _mlp(0, [5, 7, 3])
    target = target_from_specs(parse_layers(model.state_dict()))
    x = torch.randn(9, 5)
    assert torch.allclose(target(x.double()), model(x).double(), atol=1e-5)


def test_a_ticket_file_reloads_with_plain_torch_and_matches_the_certificate(tmp_path):
    model = _mlp(1, [4, 6, 3], scale=0.4)
    path = _save(tmp_path, model.state_dict())
    out = tmp_path / "t.pt"
    assert main(["ticket", str(path), "--eps", "0.05", "--rescale", "--out", str(out), "--no-progress",
                 "--steps", "10", "--samples", "256"]) == 0
    ticket = load_ticket(out)
    report = read_json(Path(str(out) + ".json"))["ticket"]
    x = torch.randn(512, 4, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True).clamp(min=1.0)
    with torch.no_grad():
        gap = (model.double()(x) - ticket(x)).norm(dim=1).max()
    assert float(gap) <= report["certified_sup_error"] + 1e-12 <= 0.05 + 1e-12


def test_safetensors_models_are_accepted(tmp_path):
    path = _save(tmp_path, _mlp(2, [3, 4, 2], scale=0.3).state_dict(), "m.safetensors")
    assert main(["ticket", str(path), "--eps", "0.1", "--rescale", "--no-progress", "--steps", "5",
                 "--samples", "64", "--domain", "box", "--box", "0", "1"]) == 0


def test_a_target_violating_the_norm_hypothesis_exits_2_and_names_rescale(tmp_path, capsys):
    path = _save(tmp_path, _mlp(3, [4, 4, 2], scale=20.0).state_dict())
    assert main(["ticket", str(path), "--eps", "0.01", "--no-progress"]) == 2
    assert "--rescale" in capsys.readouterr().err


@pytest.mark.parametrize("eps", ["0", "1", "-0.1", "3"])
def test_eps_outside_the_unit_interval_exits_2(tmp_path, eps):
    path = _save(tmp_path, _mlp(4, [3, 2]).state_dict())
    assert main(["ticket", str(path), "--eps", eps, "--no-progress"]) == 2


def test_non_finite_weights_exit_2_naming_the_layer(tmp_path, capsys):
    state = _mlp(5, [3, 3, 2]).state_dict()
    state["2.weight"][0, 0] = math.nan
    path = _save(tmp_path, state)
    assert main(["ticket", str(path), "--eps", "0.01", "--rescale", "--no-progress"]) == 2
    assert "'2'" in capsys.readouterr().err


def test_a_conv_layer_the_cnn_construction_cannot_take_is_named_in_the_error(tmp_path, capsys):
    state = {"conv.weight": torch.randn(2, 1, 3, 3), "conv.bias": torch.zeros(2), "fc.weight": torch.randn(2, 8)}
    assert main(["ticket", str(_save(tmp_path, state)), "--eps", "0.01", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Conv2d" in err and "'conv'" in err


def test_layers_with_other_parameters_are_named_as_unsupported(tmp_path, capsys):
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    assert main(["ticket", str(_save(tmp_path, model.state_dict())), "--eps", "0.01", "--no-progress"]) == 2
    assert "unsupported layer '1'" in capsys.readouterr().err
