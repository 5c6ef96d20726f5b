"""Minitron on SmolLM2-135M: tokens/s of scoring and of distillation, and peak memory.

One process loads the model once and times, on windows of the Python standard library: held-out
perplexity (forward only), width importance (forward + hooks), depth importance (BI + perplexity drop:
one forward plus a re-run of the later blocks per dropped block), and training steps of the pruned
student (hidden 504, MLP 1152) by forward-KL distillation (teacher forward + student forward/backward)
and by plain fine-tuning. Each rate is the best of ``--repeat`` runs (the least disturbed by other
load). Usage: ``python benchmarks/bench_minitron.py [--device cpu] [--windows 8] [--length 64]``.
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
from simulations.minitron.corpus import corpus_files, token_windows  # noqa: E402
from simulations.minitron.distillation import recover  # noqa: E402
from simulations.minitron.importance import perplexity, score_depth, score_width  # noqa: E402
from simulations.minitron.llama import Architecture, load_causal_lm, load_tokenizer, text_encoder  # noqa: E402
from simulations.minitron.pruning import prune, scaled  # noqa: E402
from theory.device import generator, resolve_device  # noqa: E402


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--windows", type=int, default=8, help="windows per timed pass")
    parser.add_argument("--length", type=int, default=64, help="tokens per window")
    parser.add_argument("--steps", type=int, default=3, help="training steps per timed run (2 windows each)")
    parser.add_argument("--repeat", type=int, default=2)
    args, _ = parser.parse_known_args()
    device = resolve_device(args.device)
    start = time.perf_counter()
    model = load_causal_lm("smollm2", device)
    load_s = time.perf_counter() - start
    encode = text_encoder("smollm2", load_tokenizer("smollm2"))
    ids = token_windows(corpus_files("calibration"), encode, args.windows, args.length, generator(0, torch.device("cpu"))).ids
    tokens = ids.numel()
    rows = []

    def rate(stage: str, fn, count: int) -> None:
        seconds, _ = best_time(fn, args.repeat)
        rows.append({"stage": stage, "tokens": count, "seconds": seconds, "tokens/s": count / seconds,
                     "peak RSS GiB": peak_rss_gib()})

    rate("held-out perplexity (forward)", lambda: perplexity(model, ids), tokens)
    rate("width importance", lambda: score_width(model, ids), tokens)
    depth_ids = ids[:2]
    rate("depth importance (BI + 30 drops)", lambda: score_depth(model, depth_ids), depth_ids.numel())
    target = scaled(Architecture.of(model), hidden=0.875, intermediate=0.75)
    student = prune(model, score_width(model, ids).scores(), target).model
    train_tokens = args.steps * 2 * args.length
    for method in ("kd", "ce"):
        rate(f"training step, {method} (2 x {args.length} tokens)",
             lambda: recover(student, ids, method=method, steps=args.steps, batch_size=2, lr=1e-5,
                             gen=generator(0, torch.device("cpu")), teacher=model), train_tokens)
    print(f"SmolLM2-135M on {device}, {torch.get_num_threads()} torch threads; load {load_s:.1f} s")
    print(table(rows, ["stage", "tokens", "seconds", "tokens/s", "peak RSS GiB"]))
    save("minitron", {"rows": rows, "load_s": load_s, "threads": torch.get_num_threads(),
                      "student": target.to_dict()}, seed=0, device=str(device))


if __name__ == "__main__":
    main()
