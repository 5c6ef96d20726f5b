"""``lth ticket`` on CNN state dicts: Conv2d layers dispatched to the construction of lth.theory.conv."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lth.cli import main
from lth.store import read_json
from lth.commands.ticket import load_ticket


def _cnn(seed: int, scale: float = 0.3, bias: bool = False) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1, bias=bias), torch.nn.ReLU(),
                                torch.nn.Conv2d(2, 2, 3, bias=bias), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8, 3, bias=False))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model.double()


def _args(path: Path, out: Path, *extra: str) -> list[str]:
    return ["ticket", str(path), "--eps", "0.05", "--input-shape", "1", "4", "4", "--padding", "same", "valid",
            "--out", str(out), "--no-progress", "--steps", "10", "--restarts", "4", *extra]


def test_a_cnn_ticket_reloads_with_plain_torch_and_respects_its_certificate(tmp_path):
    model = _cnn(0)
    path = tmp_path / "cnn.pt"
    torch.save(model.state_dict(), path)
    out = tmp_path / "cnn.ticket.pt"
    assert main(_args(path, out, "--rescale")) == 0
    report = read_json(Path(str(out) + ".json"))["ticket"]
    assert report["architecture"] == "cnn" and report["certified_sup_error"] <= 0.05
    ticket = load_ticket(out)
    x = torch.rand(256, 1, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        gap = (model(x) - ticket(x)).abs().max()
    assert float(gap) <= report["certified_sup_error"]


def test_a_cnn_with_biases_is_refused_with_exit_status_2(tmp_path, capsys):
    path = tmp_path / "cnn.pt"
    torch.save(_cnn(1, bias=True).state_dict(), path)
    assert main(_args(path, tmp_path / "t.pt", "--rescale")) == 2
    assert "bias" in capsys.readouterr().err


def test_a_cnn_without_input_shape_is_refused(tmp_path, capsys):
    path = tmp_path / "cnn.pt"
    torch.save(_cnn(2).state_dict(), path)
    assert main(["ticket", str(path), "--eps", "0.05", "--no-progress"]) == 2
    assert "--input-shape" in capsys.readouterr().err


@pytest.mark.parametrize("box", [("-1", "1"), ("0", "2")])
def test_a_cnn_box_other_than_the_unit_box_is_refused(tmp_path, capsys, box):
    path = tmp_path / "cnn.pt"
    torch.save(_cnn(3).state_dict(), path)
    assert main(_args(path, tmp_path / "t.pt", "--rescale", "--domain", "box", "--box", *box)) == 2
    assert "[0, 1]" in capsys.readouterr().err


def test_a_non_square_input_shape_is_refused(tmp_path, capsys):
    path = tmp_path / "cnn.pt"
    torch.save(_cnn(4).state_dict(), path)
    args = _args(path, tmp_path / "t.pt", "--rescale")
    args[args.index("--input-shape") + 1: args.index("--input-shape") + 4] = ["1", "4", "5"]
    assert main(args) == 2
    assert "square" in capsys.readouterr().err


def test_an_eps_the_rescaled_cnn_cannot_reach_is_refused_before_the_work_with_the_numbers(tmp_path, capsys):
    path = tmp_path / "cnn.pt"
    torch.save(_cnn(5, scale=30.0).state_dict(), path)
    out = tmp_path / "t.pt"
    assert main(_args(path, out, "--rescale", "--n-max", "8")) == 2
    err = capsys.readouterr().err
    assert "rescale factor" in err and "an --eps of about" in err
    assert not out.exists()
