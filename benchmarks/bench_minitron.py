"""Minitron: inference speed of SmolLM2-135M-Instruct and its pruned students, side by side.

What structured pruning is for (the talk: ≈ 3× throughput for the pruned 4B model on GPU). One process
loads the original once and builds each pruned student from it (weight-magnitude importance: speed
depends on the shapes only, not on which units are kept):

* ``width``  hidden 576 → 432, MLP 1536 → 1152 (the full-scale width target, 86M parameters);
* ``depth``  30 → 24 blocks, widths kept;
* ``70M``    hidden 432, 6 of 9 heads, MLP 1024, 26 blocks (the issue's ≈ 70M student).

For each model and batch size (1 and 8): **prefill** tokens/s (one forward over ``--prompt`` tokens
per sequence, building the KV cache) and **decode** tokens/s (``--new`` greedy steps of one token per
sequence reading the cache), each the best of ``--repeat`` runs; parameters; weight bytes; KV-cache
bytes after decoding; on CUDA the peak allocated memory of the run (on CPU the process's peak RSS,
which only grows, so it bounds the largest model's need). The last columns give throughput ratios
to the original against its parameter ratio.

Usage: ``python benchmarks/bench_minitron.py [--device cpu|cuda|auto] [--prompt 128] [--new 32] [--repeat 2]``.
Timings on a shared, loaded machine are lower bounds; say so when quoting them.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_time, save, table  # noqa: E402
from lth.simulations.minitron.importance import magnitude_scores  # noqa: E402
from lth.simulations.minitron.llama import Architecture, load_causal_lm  # noqa: E402
from lth.simulations.minitron.pruning import prune  # noqa: E402
from lth.theory.device import generator, resolve_device  # noqa: E402


def students(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The original and its pruned students (magnitude importance; only the shapes matter here)."""
    arch = Architecture.of(model)
    scores = magnitude_scores(model)
    depth_keep = [i for i in range(arch.layers) if i % 5 != 4]  # every fifth block dropped: 30 -> 24
    targets = {
        "width": (arch.replace(hidden=432, intermediate=1152), None),
        "depth": (arch.replace(layers=len(depth_keep)), depth_keep),
        "70M": (arch.replace(hidden=432, heads=6, intermediate=1024, layers=26), list(range(26))),
    }
    return {"original": model, **{name: prune(model, scores, target, keep).model for name, (target, keep) in targets.items()}}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def prefill_and_decode(model: torch.nn.Module, prompt: torch.Tensor, new: int) -> tuple[float, float, int]:
    """(prefill seconds, decode seconds, KV-cache bytes) of greedy generation of ``new`` tokens."""
    device = prompt.device
    _sync(device)
    start = time.perf_counter()
    out = model(input_ids=prompt, use_cache=True)
    _sync(device)
    prefill = time.perf_counter() - start
    cache, token = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
    start = time.perf_counter()
    for _ in range(new):
        out = model(input_ids=token, cache=cache, use_cache=True)
        cache, token = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
    _sync(device)
    decode = time.perf_counter() - start
    kv = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    return prefill, decode, kv


def measure(name: str, model: torch.nn.Module, batch: int, args: argparse.Namespace, device: torch.device) -> dict:
    prompt = torch.randint(0, model.config.vocab_size, (batch, args.prompt), generator=generator(batch, torch.device("cpu")))
    prompt = prompt.to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    best_prefill = best_decode = float("inf")
    kv = 0
    for _ in range(args.repeat):
        prefill, decode, kv = prefill_and_decode(model, prompt, args.new)
        best_prefill, best_decode = min(best_prefill, prefill), min(best_decode, decode)
    params = sum(p.numel() for p in model.parameters())
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"model": name, "batch": batch, "params M": params / 1e6,
            "weights MB": sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6,
            "prefill tok/s": batch * args.prompt / best_prefill, "decode tok/s": batch * args.new / best_decode,
            "KV cache MB": kv / 1e6, "peak MB": peak / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--prompt", type=int, default=128, help="prompt tokens per sequence (prefill)")
    parser.add_argument("--new", type=int, default=32, help="generated tokens per sequence (decode)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best is kept")
    args, _ = parser.parse_known_args()
    device = resolve_device(args.device)
    start = time.perf_counter()
    original = load_causal_lm("smollm2", device)
    load_s = time.perf_counter() - start
    models = students(original)
    best_time(lambda: prefill_and_decode(original, torch.zeros(1, 8, dtype=torch.long, device=device), 2), 1)  # warm-up
    rows = [measure(name, model, batch, args, device) for batch in args.batches for name, model in models.items()]
    for row in rows:
        base = next(r for r in rows if r["model"] == "original" and r["batch"] == row["batch"])
        row["params ratio"] = base["params M"] / row["params M"]
        row["prefill x"] = row["prefill tok/s"] / base["prefill tok/s"]
        row["decode x"] = row["decode tok/s"] / base["decode tok/s"]
    print(f"SmolLM2-135M-Instruct (Q4_1 de-quantised, float32) and pruned students on {device}, "
          f"{torch.get_num_threads()} torch threads; load {load_s:.1f} s; prompt {args.prompt}, {args.new} new tokens")
    columns = ["model", "batch", "params M", "params ratio", "prefill tok/s", "prefill x", "decode tok/s", "decode x",
               "weights MB", "KV cache MB", "peak MB"]
    print(table(rows, columns))
    save("minitron", {"rows": rows, "load_s": load_s, "threads": torch.get_num_threads(), "prompt": args.prompt,
                      "new": args.new, "architectures": {name: Architecture.of(m).to_dict() for name, m in models.items()}},
         seed=0, device=str(device))


if __name__ == "__main__":
    main()
