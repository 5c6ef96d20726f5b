"""Empirical claims of the lottery-ticket simulations (proofs/simulations.md): there is no proof.

Each check runs IMP (``simulations.imp``) on real data and judges a phenomenon by Student-t
confidence intervals of per-seed paired differences (``simulations.statistics``) through
``lth.verdict``: superiority and non-inferiority by :func:`judge_above`, "no difference" by the
equivalence test :func:`judge_equivalent` on the TOST interval. Nothing is certified, so
``certified`` stays empty and ``empirical`` holds the deciding interval end. Every interval is
conditional on one train/validation/test split (``split_seed``): seeds resample initialisations,
data orders and random masks, never the test images.

The protocol is defined once, in ``simulations.imp.PROTOCOLS``: the parameters' defaults are its
"quick" preset, ``--scale full`` its "paper" preset (:data:`FULL_IMP`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from simulations.data import MissingDataset
from lth.imp_seeds import imp_result, transfer_rows
from simulations.imp import PROTOCOLS, ImpSettings, load_splits
from simulations.statistics import describe, t_interval
from lth.registry import Context, Quantity, Record, claim, param
from lth.verdict import combine, judge_above, judge_below, judge_equivalent, tost_interval

PROOF = "proofs/simulations.md"
_SETTINGS = {f.name for f in dataclasses.fields(ImpSettings)}


def _settings(self, seed: int, **changes: Any) -> ImpSettings:
    """The run's ``ImpSettings``: every protocol field of these parameters, ``seed``, then ``changes``."""
    values = {k: v for k, v in dataclasses.asdict(self).items() if k in _SETTINGS}
    return ImpSettings(**{**values, "seed": seed, **changes})


def _protocol_params() -> type:
    """``ImpParams``: every field of ``ImpSettings`` but the seed (``lth verify --seed`` gives it), with
    the quick protocol's values as defaults and the field's help text, plus the confidence level."""
    quick = PROTOCOLS["quick"]
    fields = [(f.name, f.type, dataclasses.field(default=quick.get(f.name, f.default), metadata=f.metadata))
              for f in dataclasses.fields(ImpSettings) if f.name != "seed"]
    fields.append(("confidence", "float", param(0.95, "confidence level of the two-sided t-intervals")))
    made = dataclasses.make_dataclass("ImpParams", fields, frozen=True, namespace={"settings": _settings})
    made.__module__ = __name__
    return made


ImpParams = _protocol_params()
# --scale full: the "paper" protocol, i.e. every field the quick preset changes back at its paper value.
FULL_IMP = {name: getattr(ImpSettings(), name) for name in PROTOCOLS["quick"]}


def paired(a: list[float], b: list[float]) -> list[float]:
    """Per-seed differences a - b."""
    return [x - y for x, y in zip(a, b)]


def interval_text(name: str, stats: tuple[float, float, float], unit: str = "pp", scale: float = 100.0) -> str:
    mean, lower, upper = stats
    return f"{name} = {scale * mean:+.2f} {unit} [{scale * lower:+.2f}, {scale * upper:+.2f}]"


def interval_dict(stats: tuple[float, float, float]) -> dict:
    return {"mean": stats[0], "ci": [stats[1], stats[2]]}


def split_note(settings: ImpSettings, test_images: int) -> str:
    return (f"conditional on one split (split_seed {settings.split_seed}: {test_images} test images, "
            f"{100 / test_images:.2f} pp per image)")


@dataclass(frozen=True)
class TicketParams(ImpParams):
    # Three quick rounds reach 26% of the hidden weights (0.64**3); the fourth would be below 20%.
    rounds: int = param(3, "pruning rounds after the dense run")
    # Seed count from the measured spread: the paired ticket - dense SD measured 0.56-0.63 pp at quick
    # scale (20 seeds, validation-loss early stop), so 12 seeds give a 95% half-width of about 0.4 pp
    # against the 1 pp margin (5 seeds: about 0.75 pp).
    seeds: int = param(12, "number of independent seeds")
    # 250 iterations (12 epochs of digits) end before the dense network's validation-loss minimum
    # (its early stop was the last evaluation for 15 of 20 seeds), which would censor "learns faster".
    iterations: int = param(500, "training iterations per level")
    controls: bool = param(False, "also train the random controls (sim.imp.controls runs them)")
    min_remaining: float = param(0.2, "judge every level with at least this fraction of weights left")
    margin: float = param(0.01, "non-inferiority margin on ticket - dense test accuracy (1 pp)")


def imp_run(settings: ImpSettings, ctx: Context) -> Any:
    """The IMP run ``settings`` on this check's engine (batched here, or one Dask task per seed)."""
    return imp_result(settings, ctx.device, ctx.sweep, store=ctx.tasks, progress=ctx.progress)


def ticket_levels(p: TicketParams, ctx: Context) -> tuple[Any, list[dict]]:
    """The IMP run and its levels with at least ``min_remaining`` of the weights left."""
    run = imp_run(p.settings(ctx.seed), ctx)
    return run, [level for level in run.levels[1:] if level["remaining"] + 1e-12 >= p.min_remaining]


@claim("sim.imp.tickets", "IMP tickets (rewound to θ0, retrained) stay within a 1-point margin of the dense "
       "network's test accuracy down to ~20% of weights remaining (paired t-intervals across seeds)",
       proof=PROOF, params=TicketParams, full={**FULL_IMP, "rounds": 7})
def check_imp_tickets(p: TicketParams, ctx: Context) -> Record:
    run, levels = ticket_levels(p, ctx)
    if not levels:
        return Record("inconclusive", f"no pruned level keeps >= {p.min_remaining:.0%} of weights",
                      details=run.summary())
    dense = run.levels[0]["variants"]["dense"]["test_acc"]
    judged, parts = [], []
    for level in levels:
        stats = t_interval(paired(level["variants"]["ticket@0"]["test_acc"], dense), p.confidence)
        judged.append({"level": level["level"], "remaining": level["remaining"], **interval_dict(stats)})
        parts.append(judge_above(stats[1], stats[2], -p.margin, f"{100 * level['remaining']:.1f}% left: "
                                 "ticket - dense accuracy", ""))
    verdict, why = combine(parts)
    worst = min(judged, key=lambda j: j["ci"][0])
    return Record(
        verdict, f"{why} ({p.seeds} seeds, {p.confidence:.0%} t-intervals, "
        f"{split_note(run.settings, test_images(run.settings))})",
        bound=Quantity(-p.margin, "non-inferiority margin on ticket - dense test accuracy"),
        empirical=Quantity(worst["ci"][0], f"lowest lower {p.confidence:.0%} t-bound of ticket - dense "
                           f"accuracy over levels with >= {p.min_remaining:.0%} weights left (sampled seeds)"),
        details={**run.summary(), "judged": judged, "dense": describe(dense, p.confidence)},
    )


def test_images(settings: ImpSettings) -> int:
    """Size of the test part the run with ``settings`` is judged on (loads the data set)."""
    return len(load_splits(settings, "cpu").test)


@dataclass(frozen=True)
class EarlyStopFaults:
    delay: int = param(0, "iterations added to every ticket's early-stop iteration: a ticket that learns slower")


@claim("sim.imp.early_stop", "IMP tickets learn faster: at the sparsest level with >= 20% of weights left, "
       "their early-stop iteration (minimum of validation loss) is earlier than the dense network's "
       "(paired t-interval across seeds)", proof=PROOF, params=TicketParams, full={**FULL_IMP, "rounds": 7},
       uses=("sim.imp.tickets",), faults=EarlyStopFaults)
def check_imp_early_stop(p: TicketParams, ctx: Context) -> Record:
    run, levels = ticket_levels(p, ctx)
    if not levels:
        return Record("inconclusive", f"no pruned level keeps >= {p.min_remaining:.0%} of weights",
                      details=run.summary())
    dense = [float(v) for v in run.levels[0]["variants"]["dense"]["early_stop"]]
    rows = [{"level": lv["level"], "remaining": lv["remaining"],
             **interval_dict(t_interval(paired([float(v) + ctx.faults.delay
                                                for v in lv["variants"]["ticket@0"]["early_stop"]], dense),
                                        p.confidence))} for lv in levels]
    last = rows[-1]
    verdict, why = judge_below(*last["ci"], 0.0, f"{100 * last['remaining']:.1f}% left: ticket - dense "
                               "early-stop iteration", " it")
    if last["ci"] == [0.0, 0.0] and all(d >= p.iterations for d in dense):
        # every seed of both stopped at the last evaluation: the training ended before either minimum
        verdict, why = "inconclusive", why + " — censored: every run stopped at the last evaluation; train longer"
    return Record(
        verdict, f"{why} (dense stops at {sum(dense) / len(dense):.0f} it on average; {p.seeds} seeds, "
        f"{p.confidence:.0%} t-intervals, evaluation every {p.eval_every} it)",
        bound=Quantity(0.0, "ticket - dense early-stop iteration must lie below this"),
        empirical=Quantity(last["ci"][1], f"upper {p.confidence:.0%} t-bound of ticket - dense early-stop "
                           "iteration at the sparsest level with >= 20% left (sampled seeds)"),
        details={"settings": run.summary()["settings"], "judged": rows,
                 "dense_early_stop": describe(dense, p.confidence)},
    )


@dataclass(frozen=True)
class ControlParams(ImpParams):
    pass


@claim("sim.imp.controls", "at the sparsest IMP level, the same mask from a fresh random init and a random "
       "mask of the same layer-wise sparsity both reach lower test accuracy than the ticket "
       "(paired t-intervals across seeds)", proof=PROOF, params=ControlParams, full=FULL_IMP)
def check_imp_controls(p: ControlParams, ctx: Context) -> Record:
    run = imp_run(p.settings(ctx.seed), ctx)
    level = run.levels[-1]
    ticket = level["variants"]["ticket@0"]["test_acc"]
    gaps = {name: t_interval(paired(ticket, level["variants"][name]["test_acc"]), p.confidence)
            for name in ("reinit", "random")}
    where = f"at {100 * level['remaining']:.1f}% of weights left"
    verdict, why = combine(judge_above(s[1], s[2], 0.0, f"ticket - {name} accuracy") for name, s in gaps.items())
    weakest = min(stats[1] for stats in gaps.values())
    return Record(
        verdict, f"{why} {where} ({p.seeds} seeds, {p.confidence:.0%} t-intervals)",
        bound=Quantity(0.0, "ticket - control accuracy must exceed this"),
        empirical=Quantity(weakest, f"smaller lower {p.confidence:.0%} t-bound of ticket - control accuracy "
                           "at the sparsest level (sampled seeds)"),
        details={**run.summary(), "gaps": {name: interval_dict(s) for name, s in gaps.items()}},
    )


@dataclass(frozen=True)
class LateFaults:
    late_criterion: str = param("magnitude", "criterion of the k > 0 chains; reverse_magnitude breaks them")


@dataclass(frozen=True)
class LateParams(ImpParams):
    rounds: int = param(3, "pruning rounds of both regimes")
    # Sparser than the quick protocol (12.5% of hidden, 34% of conv weights left after 3 rounds): the
    # effect is reported at high sparsity.
    prune_rate: float = param(0.5, "fraction of surviving fully connected weights pruned per round")
    prune_rate_conv: float = param(0.3, "fraction of surviving convolution weights pruned per round")
    iterations: int = param(200, "training iterations T per level (a θk ticket trains T - k)")
    rewind_to: tuple[int, ...] = param((0, 15), "rewind points k; 0 plus at least one k > 0 (15 = 7.5% of T)")
    # The paired θk - θ0 SD was 1.3 pp at quick scale (20 seeds measured); 12 seeds give a 90% TOST
    # half-width of about 0.7 pp inside the 1 pp margin.
    seeds: int = param(12, "number of independent seeds of the adam regime")
    margin: float = param(0.01, "equivalence / non-inferiority margin (1 pp)")
    regimes: tuple[str, ...] = param(("adam", "sgd"), "regimes to run: adam (the base fields) and sgd "
                                     "(the sgd_* fields: a conv net, SGD + momentum at a high learning rate)")
    sgd_arch: str = param("conv2", "architecture of the SGD regime")
    sgd_width: float = param(0.125, "width factor of the SGD regime")
    sgd_dataset: str = param("digits", "data set of the SGD regime")
    sgd_image_size: int = param(0, "image side of the SGD regime (0: native)")
    # 0.1 made some dense Conv-2 runs diverge (dense accuracy 0.82 [0.69, 0.95] over 8 seeds); 0.05 trains.
    sgd_lr: float = param(0.05, "SGD learning rate (momentum 0.9)")
    # The effect sought here is large (θ0 tickets several points below dense), so fewer seeds suffice.
    sgd_seeds: int = param(8, "number of independent seeds of the SGD regime")


def late_regimes(p: LateParams) -> dict[str, dict]:
    changes = {"adam": {}, "sgd": {"arch": p.sgd_arch, "width": p.sgd_width, "dataset": p.sgd_dataset,
                                    "image_size": p.sgd_image_size, "optimizer": "sgd", "lr": p.sgd_lr,
                                    "seeds": p.sgd_seeds}}
    unknown = sorted(set(p.regimes) - set(changes))
    if unknown or not p.regimes:
        raise ValueError(f"regimes {p.regimes} must be a non-empty subset of {tuple(changes)}")
    return {name: changes[name] for name in p.regimes}


def judge_late(sweep: list[dict], dense: list[float], late: tuple[int, ...], p: LateParams) -> dict:
    """Verdict of one regime at its sparsest level (see proofs/simulations.md#sim.late_resetting)."""
    last = sweep[-1]
    zero = last["acc"]["0"]["values"]
    premise = t_interval(paired(zero, dense), p.confidence)
    best_k = max(late, key=lambda k: last["acc"][str(k)]["mean"])
    diffs = paired(last["acc"][str(best_k)]["values"], zero)
    gain, tost = t_interval(diffs, p.confidence), tost_interval(diffs, 1 - p.confidence)
    k0_fails = judge_below(premise[1], premise[2], -p.margin)[0] == "holds"
    label = f"θ{best_k} - θ0 ticket accuracy at {100 * last['remaining']:.1f}% left"
    if k0_fails:
        verdict, why = judge_above(gain[1], gain[2], 0.0, label + " (θ0 tickets fall below dense)")
    elif tost[1] >= p.margin:
        verdict, why = "holds", f"{label} [{tost[1]:+.3g}, {tost[2]:+.3g}] above +{p.margin:g}: θk helps"
    else:
        verdict, why = judge_equivalent(tost[1], tost[2], p.margin, label + f" ({2 * p.confidence - 1:.0%} "
                                        "TOST interval; θ0 tickets not below dense)")
    return {"verdict": verdict, "reason": why, "best_k": best_k, "shows_effect": k0_fails and gain[1] > 0,
            "premise": interval_dict(premise), "gain": interval_dict(gain), "tost": interval_dict(tost)}


@claim("sim.late_resetting", "rewinding to an early iterate θk (k > 0, trained T - k iterations) gives tickets "
       "equivalent to θ0-rewound ones where those match the dense network, and better ones where θ0-rewound "
       "tickets fall below it; the check runs an Adam regime and an SGD + momentum high-learning-rate regime "
       "and says which one shows the effect (paired t- and TOST intervals across seeds)", proof=PROOF,
       params=LateParams, faults=LateFaults,
       full={**FULL_IMP, "arch": "conv2", "rounds": 12, "rewind_to": (0, 100, 250, 500), "seeds": 10,
             "sgd_arch": "conv6", "sgd_width": 1.0, "sgd_dataset": "mnist5k", "sgd_seeds": 10, "sgd_lr": 0.1,
             "prune_rate": 0.2, "prune_rate_conv": 0.1})
def check_late_resetting(p: LateParams, ctx: Context) -> Record:
    if 0 not in p.rewind_to or len(p.rewind_to) < 2:
        raise ValueError(f"rewind_to={p.rewind_to} must hold 0 and at least one k > 0")
    late = tuple(k for k in p.rewind_to if k > 0)
    regimes, judged = {}, {}
    for name, changes in late_regimes(p).items():
        run = imp_run(p.settings(ctx.seed, controls=False, **changes), ctx)
        late_run = run if ctx.faults.late_criterion == p.criterion else imp_run(
            p.settings(ctx.seed, rewind_to=late, controls=False, criterion=ctx.faults.late_criterion, **changes), ctx)
        dense = run.levels[0]["variants"]["dense"]["test_acc"]
        sweep = []
        for level, late_level in zip(run.levels[1:], late_run.levels[1:]):
            row = {"level": level["level"], "remaining": level["remaining"],
                   "acc": {"0": describe(level["variants"]["ticket@0"]["test_acc"], p.confidence)}}
            for k in late:
                row["acc"][str(k)] = describe(late_level["variants"][f"ticket@{k}"]["test_acc"], p.confidence)
            sweep.append(row)
        judged[name] = judge_late(sweep, dense, late, p)
        regimes[name] = {"settings": run.summary()["settings"], "sweep": sweep,
                         "dense": describe(dense, p.confidence), **judged[name]}
    verdict, why = combine((j["verdict"], f"{name}: {j['reason']}") for name, j in judged.items())
    showing = [name for name, j in judged.items() if j["shows_effect"]]
    shows = f"regime showing the effect: {', '.join(showing)}" if showing else \
        "no regime shows θ0 tickets below dense, so the effect itself is not observed at this scale"
    deciding = min(judged.values(), key=lambda j: j["gain"]["ci"][0])
    return Record(
        verdict, f"{why}; {shows} ({p.seeds} adam / {p.sgd_seeds} sgd seeds)",
        bound=Quantity(0.0, "θk - θ0 ticket accuracy: above 0 where θ0 fails, within ±margin elsewhere"),
        empirical=Quantity(deciding["gain"]["ci"][0], f"lowest lower {p.confidence:.0%} t-bound of θk - θ0 "
                           "ticket accuracy at the sparsest level over regimes (sampled seeds)"),
        details={"regimes": regimes, "shows_effect": showing},
    )


@dataclass(frozen=True)
class TransferFaults:
    source_criterion: str = param("magnitude", "criterion of the source runs; reverse_magnitude breaks them")


@dataclass(frozen=True)
class TransferParams(ImpParams):
    dataset: str = param("mnist5k", "one data set of the pair (also the data set of the optimiser transfer)")
    source: str = param("fashion_mnist", "the other data set of the pair (transferred both ways)")
    max_images: int = param(5000, "cap both data sets at this many images (70/10/20; 0: all)")
    width: float = param(0.25, "width factor of LeNet-300-100")
    seeds: int = param(4, "number of independent seeds")
    rounds: int = param(3, "pruning rounds")
    prune_rate: float = param(0.6, "fraction of surviving hidden weights pruned per round")
    iterations: int = param(200, "training iterations per level")
    optimizers: tuple[str, ...] = param(("adam", "sgd"), "the optimiser pair transferred both ways on "
                                        "`dataset` (empty: skip)")
    sgd_lr: float = param(0.1, "SGD learning rate (momentum 0.9) of the optimiser transfer")
    margin: float = param(0.02, "non-inferiority margin of transfer - target's own ticket (2 pp)")
    all_levels: bool = param(True, "transfer every level's ticket (False: only the sparsest one)")


def transfer_cells(p: TransferParams, ctx: Context, source: ImpSettings, target: ImpSettings) -> list[dict]:
    levels = None if p.all_levels else (p.rounds,)
    rows = transfer_rows(source, target, ctx.device, ctx.sweep, levels=levels, store=ctx.tasks,
                         progress=ctx.progress)
    dense = imp_run(target, ctx).levels[0]["variants"]["dense"]["test_acc"]
    return [{"level": r["level"], "remaining": r["remaining"],
             "acc": {name: describe(v["test_acc"], p.confidence) for name, v in
                     {**r["variants"], "dense": {"test_acc": dense}}.items()}}
            for r in rows]


def winning_row(rows: list[dict], margin: float) -> dict:
    """The sparsest level whose own ticket is still a winning ticket (mean within ``margin`` of the
    dense network's mean), else the least sparse level: Morcos et al. transfer winning tickets."""
    winning = [r for r in rows if r["acc"]["ticket@0"]["mean"] >= r["acc"]["dense"]["mean"] - margin]
    return winning[-1] if winning else rows[0]


def transfer_directions(p: TransferParams, ctx: Context) -> tuple[dict[str, tuple[ImpSettings, ImpSettings]], dict]:
    """(name -> (source, target) settings) for every direction, and the directions skipped, with why."""
    opt = {"adam": {"optimizer": "adam"}, "sgd": {"optimizer": "sgd", "lr": p.sgd_lr}}
    bad = sorted(set(p.optimizers) - set(opt))
    if bad or len(p.optimizers) not in (0, 2):
        raise ValueError(f"optimizers={p.optimizers} must be empty or a pair from {tuple(opt)}")
    broken = {"criterion": ctx.faults.source_criterion, "controls": False}
    pairs, skipped = {}, {}
    for a, b in ((p.source, p.dataset), (p.dataset, p.source)):
        pairs[f"{a}->{b}"] = (p.settings(ctx.seed, dataset=a, **broken), p.settings(ctx.seed, dataset=b))
    if p.optimizers:
        x, y = p.optimizers
        for a, b in ((x, y), (y, x)):
            pairs[f"{a}->{b} on {p.dataset}"] = (p.settings(ctx.seed, **opt[a], **broken),
                                                 p.settings(ctx.seed, **opt[b]))
    for name, (source, target) in list(pairs.items()):
        for settings in (source, target):
            try:
                test_images(settings)
            except MissingDataset as exc:
                skipped[name] = str(exc)
                pairs.pop(name)
                break
    return pairs, skipped


@claim("sim.transfer", "a ticket (mask + rewound weights) found by IMP on one data set or with one optimiser, "
       "retrained on another data set or with another optimiser, beats a random mask of the same layer-wise "
       "sparsity and stays within 2 points of the target's own ticket, at the sparsest level where the target's "
       "own ticket still matches its dense network (Morcos et al.; paired t-intervals across seeds)", proof=PROOF, params=TransferParams, faults=TransferFaults,
       full={**FULL_IMP, "dataset": "mnist5k", "max_images": 0, "width": 1.0, "seeds": 5, "rounds": 15,
             "prune_rate": 0.2, "iterations": 5000})
def check_transfer(p: TransferParams, ctx: Context) -> Record:
    pairs, skipped = transfer_directions(p, ctx)
    directions = {name: transfer_cells(p, ctx, source, target) for name, (source, target) in pairs.items()}
    judged, parts = {}, []
    for name, rows in directions.items():
        row = winning_row(rows, p.margin)
        acc = row["acc"]
        transfer = acc["transfer"]["values"]
        vs_random = t_interval(paired(transfer, acc["random"]["values"]), p.confidence)
        vs_own = tost_interval(paired(transfer, acc["ticket@0"]["values"]), 1 - p.confidence)
        judged[name] = {"level": row["level"], "remaining": row["remaining"], "vs_random": interval_dict(vs_random),
                        "vs_target_ticket": interval_dict(vs_own)}
        where = f"{name} at {100 * row['remaining']:.1f}% left: "
        parts.append(judge_above(vs_random[1], vs_random[2], 0.0, where + "transfer - random mask"))
        parts.append(judge_above(vs_own[1], vs_own[2], -p.margin, where + "transfer - target's own ticket "
                                 f"(one-sided {p.confidence:.0%})"))
    parts += [("inconclusive", f"{name} not run: {why}") for name, why in skipped.items()]
    verdict, why = combine(parts)
    lowers = [j["vs_random"]["ci"][0] for j in judged.values()]
    return Record(
        verdict, f"{why} ({p.seeds} seeds, {p.confidence:.0%} t-intervals)",
        bound=Quantity(0.0, "transfer - random-mask accuracy must exceed this"),
        empirical=Quantity(min(lowers) if lowers else None, f"lowest lower {p.confidence:.0%} t-bound of "
                           "transferred ticket - random mask accuracy at the judged levels (sampled seeds)"),
        details={"directions": directions, "judged": judged, "skipped": skipped},
    )
