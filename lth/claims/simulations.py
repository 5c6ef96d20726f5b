"""Empirical claims of the lottery-ticket simulations (proofs/simulations.md): there is no proof.

Each check runs IMP (``simulations.imp``) on real data and judges a phenomenon by Student-t
confidence intervals of per-seed paired accuracy differences (``simulations.statistics``); nothing
is certified, so ``certified`` stays empty and ``empirical`` holds the deciding interval end.
At quick scale the protocol is reduced (8x8 digits, 5 seeds, few rounds of a larger pruning rate,
short training); ``--scale full`` runs the paper's protocol on the MNIST subset / Fashion-MNIST.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from simulations.imp import ImpSettings, run_imp, run_transfer
from simulations.statistics import describe, t_interval
from lth.registry import Context, Quantity, Record, claim

PROOF = "proofs/simulations.md"


@dataclass(frozen=True)
class ImpParams:
    """The IMP protocol (quick scale). Fields mirror ``simulations.imp.ImpSettings``."""

    dataset: str = "digits"
    image_size: int = 0
    arch: str = "lenet"
    width: float = 1.0
    seeds: int = 5
    rounds: int = 5
    # Two paper rounds per quick round: 0.8**2 = 0.64 of hidden, 0.9**2 = 0.81 of output weights kept.
    prune_rate: float = 0.36
    prune_rate_conv: float = 0.19
    prune_rate_output: float = 0.19
    criterion: str = "magnitude"
    iterations: int = 250
    eval_every: int = 25
    batch_size: int = 60
    lr: float = 1.2e-3
    confidence: float = 0.95

    def settings(self, seed: int, **changes) -> ImpSettings:
        names = {f.name for f in dataclasses.fields(ImpSettings)}
        values = {k: v for k, v in dataclasses.asdict(self).items() if k in names}
        return ImpSettings(**{**values, "seed": seed, **changes})


# Frankle & Carbin's LeNet-300-100 protocol on the 5,000-image MNIST subset (3,500 training images):
# 20% per round (output 10%), 15 rounds (3.5% of weights left), Adam 1.2e-3, batch 60, 5 seeds.
FULL_IMP = {"dataset": "mnist5k", "seeds": 5, "rounds": 15, "prune_rate": 0.2, "prune_rate_conv": 0.1,
            "prune_rate_output": 0.1, "iterations": 5000, "eval_every": 100}


def paired(a: list[float], b: list[float]) -> list[float]:
    """Per-seed differences a - b."""
    return [x - y for x, y in zip(a, b)]


def interval_text(name: str, stats: tuple[float, float, float]) -> str:
    mean, lower, upper = stats
    return f"{name} = {100 * mean:+.2f} pp [{100 * lower:+.2f}, {100 * upper:+.2f}]"


@dataclass(frozen=True)
class TicketParams(ImpParams):
    min_remaining: float = 0.2  # judge every level with at least this fraction of weights left
    margin: float = 0.01  # non-inferiority margin on test accuracy (1 percentage point)


@claim("sim.imp.tickets", "IMP tickets (rewound to θ0, retrained) stay within a 1-point margin of the dense "
       "network's test accuracy down to ~20% of weights remaining (paired t-intervals across seeds)",
       proof=PROOF, params=TicketParams, full=FULL_IMP)
def check_imp_tickets(p: TicketParams, ctx: Context) -> Record:
    run = run_imp(p.settings(ctx.seed), ctx.device, progress=ctx.progress)
    dense = run.levels[0]["variants"]["dense"]["test_acc"]
    judged = []
    for level in run.levels[1:]:
        if level["remaining"] + 1e-12 < p.min_remaining:
            continue
        stats = t_interval(paired(level["variants"]["ticket@0"]["test_acc"], dense), p.confidence)
        judged.append({"level": level["level"], "remaining": level["remaining"], "mean": stats[0],
                       "ci": [stats[1], stats[2]]})
    if not judged:
        return Record("inconclusive", f"no pruned level keeps >= {p.min_remaining:.0%} of weights",
                      details=run.summary())
    worst = min(judged, key=lambda j: j["ci"][0])
    text = "; ".join(interval_text(f"{100 * j['remaining']:.1f}% left: ticket-dense", (j["mean"], *j["ci"]))
                     for j in judged)
    if any(j["ci"][1] < -p.margin for j in judged):
        verdict, why = "fails", f"some level's whole interval lies below -{100 * p.margin:g} pp"
    elif worst["ci"][0] >= -p.margin:
        verdict, why = "holds", f"every interval's lower end >= -{100 * p.margin:g} pp"
    else:
        verdict, why = "inconclusive", f"an interval straddles -{100 * p.margin:g} pp (more seeds would decide)"
    return Record(
        verdict, f"{why}; {text} ({p.seeds} seeds, {p.confidence:.0%} t-intervals)",
        bound=Quantity(-p.margin, "non-inferiority margin on ticket - dense test accuracy"),
        empirical=Quantity(worst["ci"][0], f"lowest lower {p.confidence:.0%} t-bound of ticket - dense "
                           f"accuracy over levels with >= {p.min_remaining:.0%} weights left (sampled seeds)"),
        details={**run.summary(), "judged": judged, "dense": describe(dense, p.confidence)},
    )


@dataclass(frozen=True)
class ControlParams(ImpParams):
    reinit_offset: int = 1_000_000  # 0 makes the "fresh" re-init the ticket's own θ0: a broken control


@claim("sim.imp.controls", "at the sparsest IMP level, the same mask from a fresh random init and a random "
       "mask of the same layer-wise sparsity both reach lower test accuracy than the ticket "
       "(paired t-intervals across seeds)", proof=PROOF, params=ControlParams, full=FULL_IMP)
def check_imp_controls(p: ControlParams, ctx: Context) -> Record:
    run = run_imp(p.settings(ctx.seed, reinit_offset=p.reinit_offset), ctx.device, progress=ctx.progress)
    level = run.levels[-1]
    ticket = level["variants"]["ticket@0"]["test_acc"]
    gaps = {name: t_interval(paired(ticket, level["variants"][name]["test_acc"]), p.confidence)
            for name in ("reinit", "random")}
    text = "; ".join(interval_text(f"ticket-{name}", stats) for name, stats in gaps.items())
    where = f"at {100 * level['remaining']:.1f}% of weights left"
    if any(stats[2] <= 0 for stats in gaps.values()):
        verdict, why = "fails", "a control is not below the ticket (interval's upper end <= 0)"
    elif all(stats[1] > 0 for stats in gaps.values()):
        verdict, why = "holds", "both controls are below the ticket (intervals above 0)"
    else:
        verdict, why = "inconclusive", "an interval straddles 0 (more seeds or sparser levels would decide)"
    weakest = min(stats[1] for stats in gaps.values())
    return Record(
        verdict, f"{why} {where}: {text} ({p.seeds} seeds, {p.confidence:.0%} t-intervals)",
        bound=Quantity(0.0, "ticket - control accuracy must exceed this"),
        empirical=Quantity(weakest, f"smaller lower {p.confidence:.0%} t-bound of ticket - control accuracy "
                           "at the sparsest level (sampled seeds)"),
        details={**run.summary(), "gaps": {name: {"mean": s[0], "ci": [s[1], s[2]]} for name, s in gaps.items()}},
    )


@dataclass(frozen=True)
class LateFaults:
    late_criterion: str = "magnitude"  # criterion of the k > 0 chains; "reverse_magnitude" breaks them


@dataclass(frozen=True)
class LateParams(ImpParams):
    arch: str = "conv2"
    width: float = 0.125
    rounds: int = 4
    iterations: int = 200
    rewind_to: tuple[int, ...] = (0, 15)  # k = 15 is 7.5% of 200 iterations
    margin: float = 0.01


@claim("sim.late_resetting", "for a Conv network, tickets rewound to an early iterate θk (k > 0) are no "
       "worse than tickets rewound to θ0 at the sparsest level, and better where θ0-rewound tickets fall "
       "below the dense network (paired t-intervals across seeds)", proof=PROOF, params=LateParams, faults=LateFaults,
       full={**FULL_IMP, "arch": "conv2", "width": 1.0, "rounds": 12, "rewind_to": (0, 100, 250, 500)})
def check_late_resetting(p: LateParams, ctx: Context) -> Record:
    if 0 not in p.rewind_to or len(p.rewind_to) < 2:
        raise ValueError(f"rewind_to={p.rewind_to} must hold 0 and at least one k > 0")
    late = tuple(k for k in p.rewind_to if k > 0)
    run = run_imp(p.settings(ctx.seed, rewind_to=p.rewind_to, controls=False), ctx.device, progress=ctx.progress)
    late_run = run if ctx.faults.late_criterion == p.criterion else run_imp(
        p.settings(ctx.seed, rewind_to=late, controls=False, criterion=ctx.faults.late_criterion), ctx.device,
        progress=ctx.progress)
    dense = run.levels[0]["variants"]["dense"]["test_acc"]
    sweep = []
    for level, late_level in zip(run.levels[1:], late_run.levels[1:]):
        row = {"level": level["level"], "remaining": level["remaining"],
               "acc": {"0": describe(level["variants"]["ticket@0"]["test_acc"], p.confidence)}}
        for k in late:
            row["acc"][str(k)] = describe(late_level["variants"][f"ticket@{k}"]["test_acc"], p.confidence)
        sweep.append(row)
    last = sweep[-1]
    zero = last["acc"]["0"]["values"]
    premise = t_interval(paired(zero, dense), p.confidence)
    best_k = max(late, key=lambda k: last["acc"][str(k)]["mean"])
    gain = t_interval(paired(last["acc"][str(best_k)]["values"], zero), p.confidence)
    k0_fails = premise[2] < -p.margin
    text = (f"at {100 * last['remaining']:.1f}% left: {interval_text('θ0 ticket - dense', premise)}; "
            f"{interval_text(f'θ{best_k} ticket - θ0 ticket', gain)}")
    if gain[2] < -p.margin or (k0_fails and gain[2] <= 0):
        verdict, why = "fails", f"rewinding to θ{best_k} does not beat θ0"
    elif k0_fails and gain[1] > 0:
        verdict, why = "holds", f"θ0 tickets fall below dense and rewinding to θ{best_k} beats them"
    elif not k0_fails:
        verdict, why = "inconclusive", (f"θ0-rewound tickets are not below the dense network by more than "
                                        f"{100 * p.margin:g} pp with confidence at this scale, so there is "
                                        "nothing for late resetting to fix")
    else:
        verdict, why = "inconclusive", "the gain's interval straddles 0"
    return Record(
        verdict, f"{why}; {text} ({p.seeds} seeds, {p.confidence:.0%} t-intervals)",
        bound=Quantity(0.0, "θk ticket - θ0 ticket accuracy must exceed this where θ0 tickets fail"),
        empirical=Quantity(gain[1], f"lower {p.confidence:.0%} t-bound of θ{best_k} - θ0 ticket accuracy at "
                           "the sparsest level (sampled seeds)"),
        details={**run.summary(), "sweep": sweep, "dense": describe(dense, p.confidence), "best_k": best_k,
                 "premise": {"mean": premise[0], "ci": [premise[1], premise[2]]},
                 "gain": {"mean": gain[0], "ci": [gain[1], gain[2]]}},
    )


@dataclass(frozen=True)
class TransferFaults:
    source_criterion: str = "magnitude"  # "reverse_magnitude" gives the source a broken ticket


@dataclass(frozen=True)
class TransferParams(ImpParams):
    source: str = "mnist5k"
    source_image_size: int = 8  # the MNIST subset area-averaged to the digits' 8x8
    reverse: bool = False  # also transfer target -> source (the second row of the matrix)
    all_levels: bool = False  # transfer every level's ticket, not only the sparsest one


def transfer_cells(p: TransferParams, ctx: Context, source: ImpSettings, target: ImpSettings) -> list[dict]:
    levels = None if p.all_levels else (p.rounds,)
    rows = run_transfer(source, target, ctx.device, levels=levels, progress=ctx.progress)
    return [{"level": r["level"], "remaining": r["remaining"],
             "acc": {name: describe(v["test_acc"], p.confidence) for name, v in r["variants"].items()}}
            for r in rows]


@claim("sim.transfer", "a ticket (mask + rewound weights) found by IMP on one data set, retrained on another, "
       "beats a random mask of the same layer-wise sparsity on the target at the sparsest level "
       "(paired t-intervals across seeds)", proof=PROOF, params=TransferParams, faults=TransferFaults,
       full={**FULL_IMP, "dataset": "mnist5k", "source": "fashion_mnist", "source_image_size": 0,
             "reverse": True, "all_levels": True})
def check_transfer(p: TransferParams, ctx: Context) -> Record:
    target = p.settings(ctx.seed)
    source = p.settings(ctx.seed, dataset=p.source, image_size=p.source_image_size, controls=False,
                        criterion=ctx.faults.source_criterion)
    directions = {f"{p.source}->{p.dataset}": transfer_cells(p, ctx, source, target)}
    if p.reverse:
        back_source = p.settings(ctx.seed, controls=False)
        back_target = p.settings(ctx.seed, dataset=p.source, image_size=p.source_image_size)
        directions[f"{p.dataset}->{p.source}"] = transfer_cells(p, ctx, back_source, back_target)
    judged = {}
    for name, rows in directions.items():
        acc = rows[-1]["acc"]
        judged[name] = {
            "remaining": rows[-1]["remaining"],
            "vs_random": t_interval(paired(acc["transfer"]["values"], acc["random"]["values"]), p.confidence),
            "vs_target_ticket": t_interval(paired(acc["transfer"]["values"], acc["ticket@0"]["values"]),
                                           p.confidence)}
    text = "; ".join(f"{name} at {100 * j['remaining']:.1f}% left: "
                     f"{interval_text('transfer-random', j['vs_random'])}, "
                     f"{interval_text('transfer-target ticket', j['vs_target_ticket'])}"
                     for name, j in judged.items())
    uppers = [j["vs_random"][2] for j in judged.values()]
    lowers = [j["vs_random"][1] for j in judged.values()]
    if any(u <= 0 for u in uppers):
        verdict, why = "fails", "a transferred ticket is not above the random mask (upper end <= 0)"
    elif all(lo > 0 for lo in lowers):
        verdict, why = "holds", "transferred tickets beat random masks (intervals above 0)"
    else:
        verdict, why = "inconclusive", "an interval straddles 0"
    return Record(
        verdict, f"{why}; {text} ({p.seeds} seeds, {p.confidence:.0%} t-intervals)",
        bound=Quantity(0.0, "transfer - random-mask accuracy must exceed this"),
        empirical=Quantity(min(lowers), f"lowest lower {p.confidence:.0%} t-bound of transferred ticket - "
                           "random mask accuracy at the sparsest level (sampled seeds)"),
        details={"directions": directions,
                 "judged": {name: {key: (list(v) if isinstance(v, tuple) else v) for key, v in j.items()}
                            for name, j in judged.items()}},
    )
