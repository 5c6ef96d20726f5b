"""``lth ticket --construction pensia|orseau|burkholz-l1``: each construction's ticket file reloads as the
masked random network its seed regenerates, stays within its rigorous certificate on points of the
domain, and its sidecar orders sampled ≤ certified ≤ ε; flags a construction cannot take are refused in
one line before any work, and broken tickets are seen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lth.commands.ticket as command
from lth.cli import main
from lth.commands.ticket import load_ticket
from lth.store import read_json

SEARCH = ["--no-progress", "--steps", "8", "--restarts", "4", "--samples", "256"]


def _mlp(seed: int, widths: list[int], scale: float, bias: bool) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(a, b, bias=bias))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model


def _saved(tmp_path: Path, model: torch.nn.Module) -> Path:
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    return path


def _domain_points(domain: dict, dim: int, count: int, seed: int) -> torch.Tensor:
    """``count`` points of the certified domain ``[count, dim]``: half on the ball's sphere (or the box's
    corners), half inside."""
    gen = torch.Generator().manual_seed(seed)
    if domain["kind"] == "ball":
        x = torch.randn(count, dim, generator=gen, dtype=torch.float64)
        x = x / x.norm(dim=1, keepdim=True)
        x[count // 2:] *= torch.rand(count - count // 2, 1, generator=gen, dtype=torch.float64) ** (1 / dim)
        return x * domain["radius"]
    lo, hi = domain["box"]
    u = torch.rand(count, dim, generator=gen, dtype=torch.float64)
    u[: count // 2] = u[: count // 2].round()
    return lo + (hi - lo) * u


def _regenerated(saved: dict, report: dict) -> list[torch.Tensor]:
    """The masked random matrices that the file's seed and widths regenerate, from the libraries alone."""
    from lth.theory.dense import construct_random_network
    from lth.theory.depth import construct_depth_network
    from lth.theory.hyperbolic import construct_hyperbolic_network

    name, widths = report["construction"], list(report["target_widths"])
    bias = report["construction"] != "burkholz-l1" and report["target_parameters"] > sum(
        a * b for a, b in zip(widths[:-1], widths[1:]))
    augmented = [widths[0] + bias] + [d + bias for d in widths[1:-1]] + [widths[-1]]
    if name == "pensia":
        net = construct_random_network(augmented, saved["fan_out"], saved["seed"])
    elif name == "orseau":
        net = construct_hyperbolic_network(augmented, saved["fan_out"], saved["bits"], saved["seed"])
    else:
        net = construct_depth_network(widths, saved["copies"], saved["scale"], saved["seed"])
    return [torch.where(m, w, torch.zeros((), dtype=w.dtype)) for w, m in zip(net.weights, saved["masks"])]


def _masked_forward(weights: list[torch.Tensor], x: torch.Tensor, bias: bool, scale: float) -> torch.Tensor:
    if bias:  # the 2L-layer constructions read (x, 1)
        x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    for i, w in enumerate(weights):
        x = x @ w.T
        if i < len(weights) - 1:
            x = torch.relu(x)
    return x * scale


CASES = {  # construction, bias, scale of the weights (0.9: no layer needs --rescale), extra flags
    "pensia, biases, unit ball": ("pensia", True, 0.5, []),
    "orseau, biases, box [0, 1]": ("orseau", True, 0.5, ["--domain", "box", "--box", "0", "1"]),
    "orseau, no biases, unit ball": ("orseau", False, 0.9, []),
    "burkholz-l1, rescaled entries, unit ball": ("burkholz-l1", False, 3.0, []),
    "burkholz-l1, box [-1, 1]": ("burkholz-l1", False, 0.9, ["--domain", "box", "--box", "-1", "1"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_construction_saves_a_ticket_that_reloads_as_its_masked_random_network_within_the_certificate(
        tmp_path, case):
    name, bias, scale, extra = CASES[case]
    model = _mlp(3, [4, 3, 2], scale, bias)
    out = tmp_path / "t.pt"
    assert main(["ticket", str(_saved(tmp_path, model)), "--eps", "0.1", "--delta", "0.1", "--rescale",
                 "--construction", name, "--out", str(out), *SEARCH, *extra]) == 0
    report = read_json(Path(str(out) + ".json"))["ticket"]
    assert report["construction"] == name and report["construction_parameters"]["description"]
    assert report["empirical_sup_error"] <= report["certified_sup_error"] <= 0.1
    assert 0 < report["kept_parameters"] < report["random_parameters"]
    assert report["random_depth"] == (3 if name == "burkholz-l1" else 4)
    assert (report["rescale_factor"] < 1) == (scale > 1)
    saved = torch.load(out, weights_only=True)
    ticket = load_ticket(out)
    x = _domain_points(report["domain"], 4, 2048, seed=5)
    with torch.no_grad():
        reloaded, target = ticket(x), model(x)
    regenerated = _masked_forward(_regenerated(saved, report), x, bias, 1 / report["rescale_factor"])
    assert torch.allclose(reloaded, regenerated, rtol=1e-12, atol=1e-12)
    assert sum(int(m.sum()) for m in saved["masks"]) == report["kept_parameters"]
    assert float((reloaded - target).norm(dim=1).max()) <= report["certified_sup_error"]


@pytest.mark.parametrize("construction", ["pensia", "orseau", "burkholz-l1"])
def test_under_rescale_a_model_twice_as_large_gets_the_same_ticket_and_twice_the_errors(tmp_path, construction):
    """ReLU is positively homogeneous: 2·f at 2ε normalises to the same target at the same ε (powers of two
    scale exactly), so the same ticket is built and the certificate and sampled error in the model's units
    double."""
    reports = []
    for double in (False, True):
        model = _mlp(8, [4, 3, 2], 4.0, construction != "burkholz-l1")
        if double:  # the last layer's weight and bias: the model's outputs double
            with torch.no_grad():
                for p in model[-1].parameters():
                    p.mul_(2.0)
        folder = tmp_path / str(double)
        folder.mkdir()
        out = folder / "t.pt"
        assert main(["ticket", str(_saved(folder, model)), "--eps", "0.2" if double else "0.1", "--delta", "0.1",
                     "--rescale", "--construction", construction, "--out", str(out), *SEARCH]) == 0
        reports.append(read_json(Path(str(out) + ".json"))["ticket"])
    single, twice = reports
    assert single["rescale_factor"] < 1 and twice["kept_parameters"] == single["kept_parameters"]
    for key in ("certified_sup_error", "empirical_sup_error"):
        assert twice[key] == pytest.approx(2 * single[key], rel=1e-9)


def test_a_corrupted_ticket_file_is_seen_outside_its_certificate(tmp_path):
    model = _mlp(4, [4, 3, 2], 0.9, False)
    out = tmp_path / "t.pt"
    assert main(["ticket", str(_saved(tmp_path, model)), "--eps", "0.1", "--delta", "0.1",
                 "--construction", "burkholz-l1", "--out", str(out), *SEARCH]) == 0
    certified = read_json(Path(str(out) + ".json"))["ticket"]["certified_sup_error"]
    saved = torch.load(out, weights_only=True)
    last = max(k for k in saved["state_dict"] if k.endswith(".weight"))
    saved["state_dict"][last] = saved["state_dict"][last] * 1.5
    torch.save(saved, out)
    x = _domain_points({"kind": "ball", "radius": 1.0}, 4, 2048, seed=6)
    with torch.no_grad():
        gap = float((load_ticket(out)(x) - model(x)).norm(dim=1).max())
    assert gap > certified


def _flip_last(construction: str, monkeypatch) -> None:
    """Prune the kept entries with the largest products of the ticket's last layer as it is built."""
    from lth.claims.slth_dense import flip_largest_kept
    from lth.claims.slth_depth import flip_largest_last

    if construction == "burkholz-l1":
        import lth.theory.depth as library

        def broken(target, network, act, **kwargs):
            ticket = real(target, network, act, **kwargs)
            flip_largest_last(ticket, 2)
            return ticket

        real = library.construct_depth_ticket
        monkeypatch.setattr(library, "construct_depth_ticket", broken)
        return
    import lth.theory.dense as dense
    import lth.theory.hyperbolic as hyperbolic

    library, attribute = (hyperbolic, "construct_hyperbolic_ticket") if construction == "orseau" else (
        dense, "construct_ticket")
    real = getattr(library, attribute)

    def broken(target, net, *args, **kwargs):
        ticket = real(target, net, *args, **kwargs)
        flip_largest_kept(ticket, target.depth - 1, 2)
        return ticket

    monkeypatch.setattr(library, attribute, broken)


@pytest.mark.parametrize("construction", ["pensia", "orseau", "burkholz-l1"])
def test_a_ticket_with_pruned_entries_misses_eps_and_exits_1(tmp_path, monkeypatch, capsys, construction):
    _flip_last(construction, monkeypatch)
    out = tmp_path / "t.pt"
    path = _saved(tmp_path, _mlp(5, [4, 3, 2], 0.9, False))
    assert main(["ticket", str(path), "--eps", "0.1", "--delta", "0.1", "--construction", construction,
                 "--out", str(out), *SEARCH]) == 1
    report = read_json(Path(str(out) + ".json"))["ticket"]
    assert report["certified_sup_error"] > 0.1 and not report["holds"]
    assert "NOT within" in capsys.readouterr().out


def _refused(argv: list[str], capsys, out: Path, *words: str) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert all(word in lines[0] for word in words), lines[0]
    assert not out.exists() and not Path(str(out) + ".json").exists()


@pytest.fixture
def no_building(monkeypatch):
    """Every construction's build fails the test: a refusal must come before it."""
    def build(*args, **kwargs):
        raise AssertionError("a refused command started building")

    monkeypatch.setattr(command, "BUILDERS", {name: build for name in command.BUILDERS})


@pytest.mark.parametrize("construction", ["orseau", "burkholz-l1"])
def test_c_is_refused_with_the_proven_width_constructions_before_the_model_is_read(tmp_path, capsys, construction):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model")
    out = tmp_path / "t.pt"
    _refused(["ticket", str(garbage), "--eps", "0.1", "--c", "2", "--construction", construction, "--out", str(out)],
             capsys, out, "--c", construction)


def test_the_c_refusal_answers_without_importing_torch(tmp_path):
    code = ("import sys; from lth.cli import main; "
            "assert main(['ticket', sys.argv[1], '--eps', '0.1', '--c', '2', '--construction', 'orseau']) == 2; "
            "assert 'torch' not in sys.modules")
    model = tmp_path / "m.pt"
    model.write_bytes(b"never read")
    run = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_burkholz_refuses_a_model_with_biases_naming_the_layer(tmp_path, capsys, no_building):
    out = tmp_path / "t.pt"
    path = _saved(tmp_path, _mlp(6, [4, 3, 2], 0.5, True))
    _refused(["ticket", str(path), "--eps", "0.1", "--construction", "burkholz-l1", "--out", str(out)],
             capsys, out, "--construction burkholz-l1", "'0'", "bias")


def test_burkholz_refuses_entries_above_one_without_rescale(tmp_path, capsys, no_building):
    out = tmp_path / "t.pt"
    path = _saved(tmp_path, _mlp(6, [4, 3, 2], 3.0, False))
    _refused(["ticket", str(path), "--eps", "0.1", "--construction", "burkholz-l1", "--out", str(out)],
             capsys, out, "burkholz-l1", "|w_ij| <= 1", "--rescale")


def test_a_construction_flag_on_a_cnn_is_refused(tmp_path, capsys, no_building):
    state = {"conv.weight": 0.1 * torch.randn(2, 1, 3, 3), "fc.weight": 0.1 * torch.randn(2, 8)}
    path = tmp_path / "cnn.pt"
    torch.save(state, path)
    out = tmp_path / "t.pt"
    _refused(["ticket", str(path), "--eps", "0.1", "--construction", "orseau", "--input-shape", "1", "4", "4",
              "--out", str(out)], capsys, out, "--construction orseau", "Conv2d")


@pytest.mark.parametrize("flags", [["--n-max", "8"], ["--padding", "same"], ["--input-shape", "1", "2", "2"]])
def test_a_cnn_flag_on_an_mlp_is_refused(tmp_path, capsys, no_building, flags):
    out = tmp_path / "t.pt"
    path = _saved(tmp_path, _mlp(6, [4, 3, 2], 0.5, False))
    _refused(["ticket", str(path), "--eps", "0.1", *flags, "--out", str(out)], capsys, out, flags[0], "CNNs only")


def test_the_width_constant_on_a_cnn_is_refused(tmp_path, capsys, no_building):
    state = {"conv.weight": 0.1 * torch.randn(2, 1, 3, 3), "fc.weight": 0.1 * torch.randn(2, 8)}
    path = tmp_path / "cnn.pt"
    torch.save(state, path)
    out = tmp_path / "t.pt"
    _refused(["ticket", str(path), "--eps", "0.1", "--c", "2", "--input-shape", "1", "4", "4", "--out", str(out)],
             capsys, out, "--c 2", "MLPs only")


@pytest.mark.parametrize("construction", ["pensia", "orseau", "burkholz-l1"])
def test_a_construction_larger_than_free_memory_is_refused_before_building(tmp_path, capsys, monkeypatch,
                                                                           no_building, construction):
    monkeypatch.setattr(command, "available_memory", lambda device: 1024)
    out = tmp_path / "t.pt"
    path = _saved(tmp_path, _mlp(7, [4, 3, 2], 0.9, False))
    _refused(["ticket", str(path), "--eps", "0.1", "--construction", construction, "--out", str(out)],
             capsys, out, "GiB")


def test_the_memory_estimates_cover_the_random_weights_they_are_built_from():
    from lth.theory.depth import construct_depth_network
    from lth.theory.hyperbolic import construct_hyperbolic_network

    widths = [5, 7, 3]
    net = construct_hyperbolic_network(widths, [10, 12], [4, 5], 0)
    assert command.estimate_hyperbolic_bytes(widths, [10, 12]) >= 3 * 8 * net.parameters
    network = construct_depth_network(widths, [9, 4], 1.0, 0)
    assert [tuple(w.shape) for w in network.weights] == command.depth_shapes(widths, [9, 4])
    assert command.estimate_depth_bytes(widths, [9, 4]) >= 2 * 8 * network.parameters
