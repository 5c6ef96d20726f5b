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
from lth.theory.dense import construct_random_network


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


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    good = _save(tmp_path, _mlp(6, [3, 2]).state_dict(), "good.pt").read_bytes()
    files = {"empty": b"", "truncated": good[: len(good) // 2], "garbage": b"\x00not a torch file\xff" * 50}
    paths = {name: tmp_path / f"{name}.pt" for name in files}
    for name, data in files.items():
        paths[name].write_bytes(data)
    module = tmp_path / "module.pt"
    torch.save(_mlp(6, [3, 2]), module)
    paths["pickled module"] = module
    bad_safetensors = tmp_path / "bad.safetensors"
    bad_safetensors.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    paths["safetensors"] = bad_safetensors
    return paths


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage", "pickled module", "safetensors"])
def test_an_unreadable_model_file_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, kind):
    path = _bad_files(tmp_path)[kind]
    out = tmp_path / "t.pt"
    assert main(["ticket", str(path), "--eps", "0.1", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
    if kind == "pickled module":
        assert "weights_only=True" in err and "state_dict" in err


@pytest.mark.parametrize("where", ["missing folder", "directory"])
def test_an_unwritable_out_is_refused_before_the_model_is_read(tmp_path, capsys, where):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"garbage")
    out = tmp_path / "no" / "such" / "t.pt" if where == "missing folder" else tmp_path
    assert main(["ticket", str(garbage), "--eps", "0.1", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err or "is a directory" in err


def test_a_construction_larger_than_free_memory_is_refused_with_the_numbers(tmp_path, capsys, monkeypatch):
    import lth.commands.ticket as ticket

    monkeypatch.setattr(ticket, "available_memory", lambda device: 1024)
    path = _save(tmp_path, _mlp(7, [4, 3]).state_dict())
    assert main(["ticket", str(path), "--eps", "0.1", "--rescale", "--no-progress"]) == 2
    assert "GiB" in capsys.readouterr().err


def test_the_memory_estimate_covers_the_random_weights():
    import lth.commands.ticket as ticket

    widths, units = [5, 7, 3], [10, 12]
    net = construct_random_network(widths, units, 0)
    assert ticket.estimate_dense_bytes(widths, units) >= 8 * net.parameters


def test_a_non_integer_claim_parameter_exits_2():
    assert main(["verify", "rss.lueker", "--param", "trials=abc", "--out", "/nonexistent"]) == 2


@pytest.mark.parametrize("state, named", [
    ({"0.weight": torch.randn(3, 4), "1.weight": torch.randn(2, 3)}, "adjacent"),
    ({"fc.weight": torch.randn(3, 4), "shortcut.weight": torch.randn(3, 4), "out.weight": torch.randn(2, 3)},
     "'shortcut'"),
    ({"a.weight": torch.randn(3, 4), "b.weight": torch.randn(2, 5)}, "'b'"),
])
def test_a_state_dict_that_is_not_a_relu_chain_is_refused_naming_the_layer(tmp_path, capsys, state, named):
    assert main(["ticket", str(_save(tmp_path, state)), "--eps", "0.1", "--rescale", "--no-progress"]) == 2
    assert named in capsys.readouterr().err


def test_the_default_ball_domain_is_announced_with_the_box_that_covers_data(tmp_path, capsys):
    path = _save(tmp_path, _mlp(8, [4, 3], scale=0.3).state_dict())
    main(["ticket", str(path), "--eps", "0.1", "--rescale", "--no-progress", "--steps", "2", "--samples", "16",
          "--out", str(tmp_path / "t.pt")])
    assert "--domain box --box 0 1" in capsys.readouterr().err
