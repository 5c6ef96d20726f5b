"""Empirical claims on strong tickets found by search (proofs/supermask.md): there is no proof.

Zero-shot supermasks (Zhou et al. 2019), learned supermasks on frozen weights, and edge-popup
(Ramanujan et al. 2020) beside the width Pensia et al.'s construction needs for the same target.
Every verdict comes from ``lth.verdict`` on Student-t intervals over seeds (paired by seed where two
variants are compared). The one certified number is the constructed side of the edge-popup bridge:
Pensia et al.'s construction built for the trained target and its rigorous sup-error certificate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from simulations.edge_popup import EdgePopupSettings, run_edge_popup
from simulations.statistics import describe, t_interval
from simulations.supermask import CriteriaSettings, LearnedSettings, run_criteria, run_learned
from lth.claims.simulations import paired
from lth.registry import Context, Quantity, Record, claim, param
from lth.verdict import combine, judge_above, judge_certificate, judge_equivalent, tost_interval

PROOF = "proofs/supermask.md"


def settings_of(kind: type, p, **changes):
    """The library settings ``kind`` from the claim parameters that share its field names."""
    names = {f.name for f in dataclasses.fields(kind)}
    return kind(**{**{k: v for k, v in dataclasses.asdict(p).items() if k in names}, **changes})


def interval(stats: tuple[float, float, float]) -> dict:
    return {"mean": stats[0], "ci": [stats[1], stats[2]]}


@dataclass(frozen=True)
class DataParams:
    """Data, model and the dense reference, shared by the three checks (one dense run per process)."""

    dataset: str = param("mnist5k", "data set: digits, mnist5k or fashion_mnist")
    arch: str = param("lenet", "architecture: lenet, conv2 or conv4")
    seeds: int = param(5, "independent seeds; verdicts are t-intervals over them")
    iterations: int = param(400, "Adam iterations of the dense network (batch 60, lr 1.2e-3)")
    eval_every: int = param(50, "evaluate validation/test accuracy every this many iterations")
    confidence: float = param(0.95, "confidence of the two-sided t-intervals")


# Full scale: Fashion-MNIST (55,000 training images), the paper's 5,000 iterations.
FULL_DATA = {"dataset": "fashion_mnist", "iterations": 5000, "eval_every": 100}


@dataclass(frozen=True)
class ZeroShotFaults:
    scores_ignored: bool = param(False, "judge a random mask in place of large_final_same_sign (scores ignored)")


@dataclass(frozen=True)
class ZeroShotParams(DataParams):
    rounds: int = param(2, "pruning levels (one-shot masks from the dense run unless retrain)")
    prune_rate: float = param(0.3, "fraction of hidden-layer weights pruned per level")
    prune_rate_output: float = param(0.15, "fraction of output-layer weights pruned per level")
    retrain: bool = param(False, "IMP-style: retrain every criterion's ticket each level (12 x seeds replicas)")
    judged_level: int = param(1, "the level whose masks are judged (70% of hidden weights kept)")
    min_gain: float = param(0.3, "'far above chance': the accuracy must exceed chance by this much")


@claim("sim.supermask.zero_shot", "the large_final_same_sign mask applied to the untrained weights θ0 "
       "(zero-shot supermask) reaches test accuracy far above chance (by > 30 points) and above the random "
       "mask and the large_final mask at the same layer-wise sparsity (t-intervals over seeds, paired by seed)",
       proof=PROOF, params=ZeroShotParams, faults=ZeroShotFaults,
       full={**FULL_DATA, "rounds": 8, "retrain": True},
       full_cost='estimated ≈ 4 CPU-hours (Fashion-MNIST, 12 criteria retrained over 8 levels); minutes on a GPU')
def check_zero_shot(p: ZeroShotParams, ctx: Context) -> Record:
    if not 1 <= p.judged_level <= p.rounds:
        raise ValueError(f"judged_level={p.judged_level} must lie in 1..rounds={p.rounds}")
    run = run_criteria(settings_of(CriteriaSettings, p, seed=ctx.seed), ctx.device, progress=ctx.progress)
    level = run["levels"][p.judged_level - 1]
    acc = {name: v["zero_shot"] for name, v in level["criteria"].items()}
    judged = "random" if ctx.faults.scores_ignored else "large_final_same_sign"
    chance = 1.0 / 10
    own = t_interval(acc[judged], p.confidence)
    gaps = {name: t_interval(paired(acc[judged], acc[name]), p.confidence) for name in ("random", "large_final")}
    verdict, why = combine([
        judge_above(own[1], own[2], chance + p.min_gain, "large_final_same_sign zero-shot accuracy"),
        judge_above(*gaps["random"][1:], 0.0, "minus random mask"),
        judge_above(*gaps["large_final"][1:], 0.0, "minus large_final mask")])
    kept = level["criteria"]["large_final_same_sign"]["remaining"]
    return Record(
        verdict, f"{why} (at {100 * kept:.1f}% of weights kept, {p.seeds} seeds, {p.confidence:.0%} t-intervals)",
        bound=Quantity(chance + p.min_gain, "chance + min_gain: the zero-shot accuracy must exceed this"),
        empirical=Quantity(own[1], f"lower {p.confidence:.0%} t-bound of large_final_same_sign zero-shot test "
                           "accuracy (sampled seeds)"),
        details={**run, "judged": {"level": p.judged_level, "remaining": kept, "accuracy": interval(own),
                                   "minus": {name: interval(s) for name, s in gaps.items()}}},
    )


@dataclass(frozen=True)
class LearnedFaults:
    scores_ignored: bool = param(False, "masks are drawn at random whatever the scores (nothing is learned)")


@dataclass(frozen=True)
class LearnedParams(DataParams):
    estimator: str = param("sampled", "sampled (Bernoulli forward) or straight_through (threshold forward)")
    weights: str = param("glorot", "frozen weights: glorot (θ0) or signed_constant")
    score_iterations: int = param(400, "SGD iterations of the scores")
    score_lr: float = param(100.0, "SGD learning rate of the scores (Zhou et al. use 100)")
    margin: float = param(0.05, "equivalence margin on learned - dense test accuracy")


@claim("sim.supermask.learned", "a supermask learned on frozen random weights θ0 (sigmoid scores, Bernoulli "
       "masks, straight-through gradient) reaches the trained dense network's test accuracy within a stated "
       "margin (5 points at quick scale; TOST on per-seed differences)",
       proof=PROOF, params=LearnedParams, faults=LearnedFaults,
       full={**FULL_DATA, "score_iterations": 5000, "margin": 0.03},
       full_cost='measured 3 min 20 s wall, 181 CPU-s on 2 cores (Fashion-MNIST, 5 seeds, 5,000 iterations)')
def check_learned(p: LearnedParams, ctx: Context) -> Record:
    run = run_learned(settings_of(LearnedSettings, p, seed=ctx.seed), ctx.device, progress=ctx.progress,
                      ignore_scores=ctx.faults.scores_ignored)
    learned, dense = run["learned"]["test_acc"], run["dense"]["test_acc"]
    alpha = (1 - p.confidence) / 2
    diff = tost_interval(paired(learned, dense), alpha)
    verdict, why = judge_equivalent(diff[1], diff[2], p.margin, "learned supermask - dense accuracy")
    return Record(
        verdict, f"{why} ({p.seeds} seeds, {1 - 2 * alpha:.0%} t-interval = TOST at α = {alpha:g}); learned "
        f"{100 * sum(learned) / len(learned):.2f}%, dense {100 * sum(dense) / len(dense):.2f}%",
        bound=Quantity(-p.margin, "equivalence margin (±) on learned - dense test accuracy"),
        empirical=Quantity(diff[1], f"lower end of the {1 - 2 * alpha:.0%} t-interval of learned - dense accuracy "
                           "(sampled seeds)"),
        details={**run, "difference": interval(diff), "learned_acc": describe(learned, p.confidence),
                 "dense_acc": describe(dense, p.confidence)},
    )


@dataclass(frozen=True)
class WidthFaults:
    scores_ignored: bool = param(False, "edge-popup ranks by the untrained scores (a random subnetwork)")
    construction_perturbed: bool = param(False, "constructed tickets are built for the target with its first layer "
                                         "1% off and certified against the true target")


@dataclass(frozen=True)
class WidthParams(DataParams):
    width: float = param(0.1, "the dense target's hidden width factor (LeNet 300-100 times this)")
    factors: tuple[float, ...] = param((1, 2, 4, 8, 16), "random-network widths as multiples of the target's")
    keep: float = param(0.5, "fraction of each layer's weights edge-popup keeps")
    weights: str = param("signed_constant", "frozen random weights: signed_constant or kaiming_normal")
    score_iterations: int = param(300, "SGD iterations of the scores per width")
    score_lr: float = param(0.1, "SGD learning rate of the scores (momentum 0.9, cosine, weight decay 5e-4)")
    margin: float = param(0.02, "equivalence margin on edge-popup - target test accuracy")
    accuracy_gap: float = param(0.01, "the construction may change at most this fraction of test predictions")
    construction_seeds: int = param(1, "replicas whose construction is built and certified (the first ones)")
    construction_step: int = param(24, "units per input the certified-width search descends by from the rule's")
    construction_resolution: int = param(24, "the search bisects until certified and failed widths are this close")


@claim("sim.edge_popup.width", "edge-popup subnetworks of frozen random networks gain test accuracy with width, "
       "and at some width factor they match a trained dense target within a stated margin (2 points; TOST); "
       "Pensia et al.'s construction for the same target is built and certified (rigorous sup-error bound on the "
       "ball holding the test images) within the tolerance that keeps all but 1% of the test predictions, and "
       "its smallest certified width is reported beside the matching factor",
       proof=PROOF, params=WidthParams, faults=WidthFaults,
       full={**FULL_DATA, "width": 0.25, "score_iterations": 5000, "margin": 0.01, "construction_seeds": 5,
             "construction_step": 8, "construction_resolution": 1},
       full_cost='measured 42.5 min wall, 2,504 CPU-s on 2 shared cores (widths ×1…×16, 5 seeds, certified '
                 'constructions for every seed)')
def check_edge_popup_width(p: WidthParams, ctx: Context) -> Record:
    if len(p.factors) < 2:
        raise ValueError("factors needs at least two widths")
    run = run_edge_popup(settings_of(EdgePopupSettings, p, seed=ctx.seed), ctx.device, progress=ctx.progress,
                         ignore_scores=ctx.faults.scores_ignored,
                         perturb_construction=0.01 if ctx.faults.construction_perturbed else 0.0)
    target, rows = run["target"], run["factors"]
    alpha = (1 - p.confidence) / 2
    rise = t_interval(paired(rows[-1]["test_acc"], rows[0]["test_acc"]), p.confidence)
    rises = judge_above(rise[1], rise[2], 0.0, f"accuracy(×{rows[-1]['factor']:g}) - accuracy(×{rows[0]['factor']:g})")
    per_factor = []
    for row in rows:
        diff = tost_interval(paired(row["test_acc"], target["test_acc"]), alpha)
        outcome = judge_equivalent(diff[1], diff[2], p.margin, f"×{row['factor']:g}: edge-popup - target")
        per_factor.append({"factor": row["factor"], "weights": row["weights"], "difference": interval(diff),
                           "verdict": outcome[0], "reason": outcome[1]})
    matching = [row for row in per_factor if row["verdict"] == "holds"]
    if matching:
        within = ("holds", matching[0]["reason"])
    elif all(row["verdict"] == "fails" for row in per_factor):
        within = ("fails", "no width is within the margin: " + "; ".join(r["reason"] for r in per_factor))
    else:
        within = ("inconclusive", "no width is shown within the margin: " + "; ".join(r["reason"] for r in per_factor))
    constructed = [judged for c in target.get("certified") or [] for judged in _judge_construction(c, p.accuracy_gap)]
    verdict, why = combine([rises, within] + constructed)
    bridge = _bridge(target, matching[0] if matching else None)
    built = target.get("certified") or []
    return Record(
        verdict, f"{why}; {bridge['text']} ({p.seeds} seeds)",
        bound=Quantity(p.margin, "equivalence margin (±) on edge-popup - target accuracy"),
        certified=Quantity(max((_final(c)["certificate"] for c in built), default=None),
                           "rigorous float64 upper bound on sup over the ball ||x||_2 <= max test-image norm of "
                           "||target(x) - ticket(x)||_2 (logits), smallest certified construction (else the rule's "
                           "width), max over the constructed seeds"),
        empirical=Quantity(matching[0]["factor"] if matching else None,
                           "smallest width factor whose edge-popup subnetwork is within the margin (sampled seeds)"),
        details={**run, "rise": interval(rise), "per_factor": per_factor, "bridge": bridge},
    )


def _final(construction: dict) -> dict:
    """The reported build: the smallest certified one, else the rule's width (always built first)."""
    return construction["certified"] or construction["builds"][0]


def _judge_construction(c: dict, accuracy_gap: float) -> list[tuple[str, str]]:
    """The certificate against ε (the sup error on the test images must not exceed it), and the test
    predictions that may change against ``accuracy_gap`` (the measured changes must not exceed them)."""
    build, n = _final(c), c["n_test"]
    where = f"construction m1 = {build['units'][0]} ({build['random_weights']:,} random weights)"
    return [judge_certificate(build["certificate"], build["max_test_error"], c["eps_logits"],
                              f"{where}: sup error (logits) vs ε"),
            judge_certificate(build["may_change"] / n, build["changed"] / n, accuracy_gap,
                              f"{where}: fraction of {n} test predictions that may change (measured: changed)")]


def _bridge(target: dict, match: dict | None) -> dict:
    """Searched vs constructed: weight counts relative to the target's (means over seeds)."""
    built = target.get("construction")
    out: dict = {"target_weights": target["weights"]}
    parts = []
    if match is not None:
        out["searched_weights"] = match["weights"]
        parts.append(f"searched: width ×{match['factor']:g}, {match['weights']:,} random weights "
                     f"({match['weights'] / target['weights']:.1f}× the target's)")
    certified = [c["certified"] for c in target.get("certified") or [] if c["certified"] is not None]
    if certified:
        weights = sum(b["random_weights"] for b in certified) / len(certified)
        out.update(certified_weights=weights, certified_kept=[b["kept"] for b in certified],
                   certified_units=[b["units"] for b in certified],
                   certificates=[b["certificate"] for b in certified])
        parts.append(f"constructed and certified: {weights:,.0f} random weights ({weights / target['weights']:.0f}× "
                     f"the target's; units per input {certified[0]['units']}, {certified[0]['kept']:,} kept, "
                     f"certificate {certified[0]['certificate']:.3g})")
        if match is not None:
            out["ratio"] = weights / match["weights"]
            parts.append(f"the searched ticket's network is {out['ratio']:.0f}× smaller than the certified one")
    if built:
        weights = sum(c["weights"] for c in built) / len(built)
        out.update(constructed_weights=weights, constructed_hidden=[c["hidden_widths"] for c in built],
                   constructed_tolerance=[c["tolerance"] for c in built])
        parts.append(f"Pensia width rule: {weights:,.0f} random weights ({weights / target['weights']:.0f}× the "
                     f"target's; hidden widths {built[0]['hidden_widths']})")
        if match is not None:
            out["rule_ratio"] = weights / match["weights"]
    out["text"] = "; ".join(parts) or "no construction (convolutional target)"
    return out
