"""Checks for the strong lottery ticket hypothesis on dense ReLU networks (proofs/slth_dense.md).

Method. Build the random 2l-layer network at the theorem's widths, prune it by the proof's
construction (``theory.dense.construct_ticket``), and compare three numbers: the rigorous float64
certificate of the sup error over the domain (``certify_sup_error``), the worst error found by
sampling and projected gradient ascent (``search_sup_error``, a lower bound on the sup), and ε.
A check holds when empirical ≤ certified ≤ ε on every instance (``lth.verdict.judge_certificate``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from theory.numerics import gamma
from theory.dense import (DEFAULT_C, DEFAULT_POOL_CAP, Domain, RandomNetwork, Target, DenseTicket, build_ticket,
                          certify_sup_error, over_parameterisation, random_target, realised_layers, rescale, search_sup_error)
from lth.registry import Context, Quantity, Record, claim, param
from lth.verdict import Verdict, combine, judge_below, judge_certificate

PROOF = "proofs/slth_dense.md"


def flip_largest_kept(ticket: DenseTicket, block: int, count: int) -> None:
    """Prune the ``count`` kept second-layer entries of ``block`` with the largest |b·a| (a broken ticket)."""
    if count <= 0:
        return
    m1, m2 = ticket.random.weights[2 * block], ticket.random.weights[2 * block + 1]
    a = torch.where(ticket.masks[2 * block], m1, torch.zeros((), dtype=m1.dtype, device=m1.device)).sum(1)
    weight = torch.where(ticket.masks[2 * block + 1], (m2 * a).abs(), torch.zeros((), dtype=m2.dtype,
                                                                                 device=m2.device))
    flat = ticket.masks[2 * block + 1].flatten()
    flat[weight.flatten().topk(count).indices] = False
    ticket.masks[2 * block + 1] = flat.reshape(m2.shape)


def _instance_report(target: Target, net: RandomNetwork, ticket: DenseTicket, domain: Domain, eps: float,
                     p, ctx: Context, seed_offset: int) -> dict:
    cert = certify_sup_error(target, ticket, domain)
    search = search_sup_error(target, ticket, domain, restarts=p.restarts, steps=p.steps, samples=p.samples,
                              seed=ctx.seed + seed_offset)
    return {"widths": target.widths, "bias": target.has_bias, "eps": eps, "fan_out": net.units_per_input,
            "random_parameters": net.parameters, "target_parameters": target.parameters,
            "kept_parameters": ticket.kept,
            "over_parameterisation": over_parameterisation(target, net),
            "certified": cert.value, "ball_bound": cert.parts["ball_bound"], "box_bound": cert.parts["box_bound"],
            "union_bound": cert.parts["union_bound"], "empirical": search.error,
            "max_weight_error": ticket.info.get("max_weight_error"), "domain": domain.kind,
            "holds": judge_certificate(cert.value, search.error, eps)[0] == "holds"}


def judge_instances(instances: list[dict]) -> Verdict:
    """Every instance must have empirical ≤ certified ≤ ε (:func:`lth.verdict.judge_certificate`)."""
    return combine(judge_certificate(i["certified"], i["empirical"], i["eps"],
                                     i["name"] if "name" in i else f"widths {i['widths']}") for i in instances)


@dataclass(frozen=True)
class DenseFaults:
    flip: int = param(0, "prune this many kept entries with the largest |b·a| in the (last) block: a broken ticket")


@dataclass(frozen=True)
class LayerParams:
    """One target layer ``d_out x d_in`` with ‖W‖₂ = 1 by one pruned two-layer block, on the unit ball."""

    d_in: int = param(24, "input width of the random target layer")
    d_out: int = param(16, "output width of the random target layer")
    eps: float = param(0.01, "target sup error ε on the unit ball")
    delta: float = param(0.01, "failure probability δ in the theorem's width rule")
    c: float = param(DEFAULT_C, "width constant C: hidden units per input = 2⌈C·ln(d_in·d_out·l/min(ε, δ))⌉")
    fan_out: int | None = param(None, "hidden units per input coordinate instead of the theorem's (too few fail)")
    pool_cap: int = param(DEFAULT_POOL_CAP, "largest subset-sum pool per weight and branch")
    orthant_points: int = param(512, "random x ≥ 0 and x ≤ 0 on which the exact orthant identity is checked")
    restarts: int = param(16, "gradient-ascent restarts of the error search")
    steps: int = param(60, "gradient-ascent steps per restart")
    samples: int = param(2048, "random inputs tried before the ascent")


@claim("slth.dense.layer", "a pruned two-layer random block computes (W+E⁺)x on x ≥ 0 and (W+E⁻)x on x ≤ 0 "
       "exactly, E± the subset-sum errors; its sup error on the unit ball is ≤ ‖[E⁺, E⁻]‖₂ ≤ ε",
       proof=PROOF, params=LayerParams, faults=DenseFaults, uses=("rss.product",),
       full={"d_in": 128, "d_out": 96, "eps": 1e-3, "pool_cap": 24, "restarts": 64, "steps": 200, "samples": 16384})
def check_layer(p: LayerParams, ctx: Context) -> Record:
    target = random_target([p.d_in, p.d_out], ctx.generator())
    fan_out = None if p.fan_out is None else [p.fan_out]
    net, ticket = build_ticket(target, p.eps, p.delta, seed=ctx.seed + 1, device=ctx.device, c=p.c,
                               units_per_input=fan_out, pool_cap=p.pool_cap)
    flip_largest_kept(ticket, 0, ctx.faults.flip)
    identity = orthant_identity(target, ticket, p.orthant_points, ctx.generator(2))
    instance = _instance_report(target, net, ticket, Domain("ball"), p.eps, p, ctx, 3)
    layer = realised_layers(target, ticket)[0]
    union = float(layer.err_pos.abs().sum() + layer.err_neg.abs().sum())
    details = {**instance, "identity": identity, "per_weight_error_sum": union,
               "error_quantiles": _quantiles(torch.cat([layer.err_pos.flatten(), layer.err_neg.flatten()]))}
    # the orthant identity is exact: each deviation must stay below its own float64 rounding bound
    exact = judge_below(identity["ratio"], identity["ratio"], 1.0,
                        "orthant identity: max over points of |block − (W+E⁺)x⁺ + (W+E⁻)x⁻| / rounding bound")
    verdict, reason = combine([judge_instances([instance]), exact])
    reason += f"; per-weight sum bound {union:.3g}"
    return Record(verdict, reason,
                  bound=Quantity(p.eps, "ε (target accuracy of the block on the unit ball)"),
                  certified=Quantity(instance["certified"], "rigorous float64 bound on sup_{‖x‖≤1} ‖f−g‖₂ "
                                     "(spectral norm of the realised [E⁺, E⁻], rounding included)"),
                  empirical=Quantity(instance["empirical"], "largest error found by sampling + projected "
                                     "gradient ascent (a lower bound on the sup)"),
                  details=details)


def orthant_identity(target: Target, ticket: DenseTicket, points: int, gen: torch.Generator) -> dict:
    """Evaluate the pruned block on random x ≥ 0 and x ≤ 0 and compare with (W+E^±)x.

    The deviation must stay below the float64 rounding bound of the two evaluations,
    ``γ_{h+d+2}·(|M_2||M_1||x| + |W+E||x|)``: the identity itself is exact.
    """
    layer = realised_layers(target, ticket)[0]
    d_in = target.widths[0]
    device = layer.weight.device
    half = torch.rand(points // 2, d_in, generator=gen, device=device, dtype=torch.float64)
    x = torch.cat([half, -half])
    net = ticket.sequential()
    with torch.no_grad():
        block = net(x)
    linear = x.clamp(min=0) @ (layer.weight + layer.err_pos).T - (-x).clamp(min=0) @ (layer.weight + layer.err_neg).T
    w1, w2 = ticket.masked_weights()
    magnitude = (x.abs() @ w1.abs().T) @ w2.abs().T + x.abs() @ (layer.weight.abs() + layer.err_pos.abs()
                                                                 + layer.err_neg.abs()).T
    rounding = gamma(w1.shape[0] + d_in + 2) * magnitude + x.abs() @ layer.slack_pos.T
    deviation = (block - linear).abs()
    return {"max_deviation": float(deviation.max()), "rounding_bound": float(rounding.max()),
            "ratio": float((deviation / rounding.clamp(min=1e-300)).max()), "points": points}


def _quantiles(values: torch.Tensor) -> list[float]:
    qs = torch.tensor([0.0, 0.5, 0.9, 0.99, 1.0], dtype=torch.float64, device=values.device)
    return torch.quantile(values.abs(), qs).tolist()


@dataclass(frozen=True)
class NetworkParams:
    """Random targets with ‖W_i‖₂ = 1 (several depths/widths) and a ReLU MLP trained on digits."""

    targets: tuple[tuple[int, ...], ...] = param(((16, 12, 10), (12, 12, 12, 8)),
                                                 "widths of the random targets (‖W_i‖₂ = 1)")
    biases: tuple[bool, ...] = param((False, True), "whether each random target has biases (missing: False)")
    eps: float = param(0.01, "target sup error ε on the unit ball")
    delta: float = param(0.01, "failure probability δ in the theorem's width rule")
    c: float = param(DEFAULT_C, "width constant C of the theorem")
    fan_out: int | None = param(None, "hidden units per input coordinate for every block instead of the "
                                      "theorem's (too few fail)")
    pool_cap: int = param(DEFAULT_POOL_CAP, "largest subset-sum pool per weight and branch")
    width_factors: tuple[float, ...] = param((0.75, 1.0), "C multipliers for the error-vs-width curve (below 1: "
                                                           "exploratory, not judged)")
    eps_sweep: tuple[float, ...] = param((0.1, 0.01), "ε values for kept parameters vs log(1/ε) (judged, at the "
                                                      "width for (ε, δ))")
    digits_hidden: tuple[int, ...] = param((32,), "hidden widths of the MLP trained on digits")
    digits_steps: int = param(200, "full-batch Adam steps training the digits MLP")
    digits_eps: float = param(0.1, "ε of the digits ticket, in logit units over the data box [0, 1]^64")
    digits_retry_cap: int | None = param(None, "digits ticket: re-solve the 2% worst weights with pools of up to "
                                               "this many units (None: no retry pass)")
    restarts: int = param(8, "gradient-ascent restarts of the error search")
    steps: int = param(40, "gradient-ascent steps per restart")
    samples: int = param(1024, "random inputs tried before the ascent")


FULL_NETWORK = {"targets": ((64, 64, 10), (32, 32, 32, 10), (100, 64, 48, 32, 10)), "biases": (False, True, False),
                "eps": 1e-3, "pool_cap": 24, "width_factors": (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2),
                "eps_sweep": (0.1, 0.03, 0.01, 3e-3, 1e-3), "digits_hidden": (64, 32), "digits_steps": 1500,
                "digits_retry_cap": 32,
                "restarts": 64, "steps": 200, "samples": 16384}


def train_digits_mlp(hidden: tuple[int, ...], steps: int, seed: int, device: torch.device):
    """A ReLU MLP ``64-hidden-10`` trained full-batch with Adam on scikit-learn's digits (seeded).

    Trained in float32 (as users train); the target is its weights converted exactly to float64.
    """
    from simulations.data import load_dataset
    from simulations.training import fit_full_batch

    data = load_dataset("digits", seed=seed).to(device)
    x, y = data.train.flat(), data.train.y
    torch.manual_seed(seed)
    widths = [x.shape[1], *hidden, data.num_classes]
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(a, b, device=device))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = fit_full_batch(torch.nn.Sequential(*layers), x, y, steps)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    target = Target([m.weight.detach().double() for m in linears], [m.bias.detach().double() for m in linears])
    return target, data


def digits_instance(p: NetworkParams, ctx: Context) -> dict:
    """DenseTicket for the trained digits MLP on the data box [0, 1]^64, with test accuracy and agreement."""
    target, data = train_digits_mlp(p.digits_hidden, p.digits_steps, ctx.seed, ctx.device)
    scaled, factor = rescale(target)
    fan_out = None if p.fan_out is None else [p.fan_out] * scaled.depth
    net, ticket = build_ticket(scaled, p.digits_eps * factor, p.delta, seed=ctx.seed + 11, device=ctx.device,
                               c=p.c, units_per_input=fan_out, signed_input=False, output_scale=1 / factor,
                               pool_cap=p.pool_cap, retry_cap=p.digits_retry_cap)
    flip_largest_kept(ticket, scaled.depth - 1, ctx.faults.flip)
    d0 = target.widths[0]
    box = Domain("box", lo=(0.0,) * d0, hi=(1.0,) * d0)
    report = _instance_report(scaled, net, ticket, box, p.digits_eps, p, ctx, 12)
    x, y = data.test.flat().to(torch.float64), data.test.y
    with torch.no_grad():
        f_pred = target(x).argmax(1)
        g_pred = ticket.sequential()(x).argmax(1)
        logits = target(x)
        observed = float((logits - ticket.sequential()(x)).norm(dim=1).max())
    # where the top-two logit margin exceeds 2·certified, the ticket provably predicts the same class
    top2 = logits.topk(2, dim=1).values
    guaranteed = float(((top2[:, 0] - top2[:, 1]) > 2 * report["certified"]).double().mean())
    return {**report, "name": "digits MLP", "rescale_factor": factor,
            "target_test_accuracy": float((f_pred == y).double().mean()),
            "ticket_test_accuracy": float((g_pred == y).double().mean()),
            "prediction_agreement": float((f_pred == g_pred).double().mean()),
            "max_error_on_test_set": observed, "certified_agreement": guaranteed, "test_images": int(y.shape[0])}


def check_network_instances(p: NetworkParams, ctx: Context) -> list[dict]:
    instances = []
    biases = p.biases + (False,) * (len(p.targets) - len(p.biases))
    for index, (widths, bias) in enumerate(ctx.bar(list(zip(p.targets, biases)), desc="slth.dense targets")):
        target = random_target(list(widths), ctx.generator(100 + index), bias=bias)
        fan_out = None if p.fan_out is None else [p.fan_out] * target.depth
        net, ticket = build_ticket(target, p.eps, p.delta, seed=ctx.seed + 200 + index, device=ctx.device,
                                   c=p.c, units_per_input=fan_out, pool_cap=p.pool_cap)
        flip_largest_kept(ticket, target.depth - 1, ctx.faults.flip)
        instances.append({**_instance_report(target, net, ticket, Domain("ball"), p.eps, p, ctx, 300 + index),
                          "name": f"random {'-'.join(map(str, widths))}{' +bias' if bias else ''}"})
    return instances


EXPLORATORY = ("exploratory: random networks narrower than the theorem's width (C below the claim's), drawn for "
               "the error-vs-width curve; reported, not judged, and not part of the statement")


def width_sweep(p: NetworkParams, ctx: Context) -> dict:
    """Certified and empirical error of the first target as the constant C (hence width) varies, and
    kept parameters against ε.

    Width rows with C below the claim's are exploratory (labelled, not judged); rows at C or above are
    instances of the statement and carry ``judged``. The ε rows use the claim's δ: the width rule is in
    ``min(ε, δ)``, so for ε ≥ δ they share the width of ε = δ (with δ = ε = 0.1 the rule gives 17 units
    per sign and certified 0.163 > 0.1 in one draw, which a failure probability of 0.1 allows).
    """
    target = random_target(list(p.targets[0]), ctx.generator(100))
    rows = []
    for factor in ctx.bar(p.width_factors, desc="slth.dense width sweep"):
        net, ticket = build_ticket(target, p.eps, p.delta, seed=ctx.seed + 400, device=ctx.device, c=p.c * factor,
                                    pool_cap=p.pool_cap)
        cert = certify_sup_error(target, ticket, Domain("ball"))
        search = search_sup_error(target, ticket, Domain("ball"), restarts=p.restarts // 2, steps=p.steps // 2,
                                  samples=p.samples // 2, seed=ctx.seed + 401)
        rows.append({"c": p.c * factor, "fan_out": net.units_per_input, "random_parameters": net.parameters,
                     "certified": cert.value, "union_bound": cert.parts["union_bound"], "empirical": search.error,
                     "eps": p.eps, "judged": factor >= 1, "name": f"width sweep C = {p.c * factor:g}"})
    eps_rows = []
    for eps in ctx.bar(p.eps_sweep, desc="slth.dense eps sweep"):
        net, ticket = build_ticket(target, eps, p.delta, seed=ctx.seed + 500, device=ctx.device, c=p.c,
                                   pool_cap=p.pool_cap)
        cert = certify_sup_error(target, ticket, Domain("ball"))
        search = search_sup_error(target, ticket, Domain("ball"), restarts=p.restarts // 2, steps=p.steps // 2,
                                  samples=p.samples // 2, seed=ctx.seed + 501)
        eps_rows.append({"eps": eps, "delta": p.delta, "log_inv_eps": math.log(1 / eps),
                         "fan_out": net.units_per_input, "kept_parameters": ticket.kept,
                         "random_parameters": net.parameters, "certified": cert.value, "empirical": search.error,
                         "judged": True, "name": f"eps sweep ε = {eps:g}"})
    return {"widths": list(p.targets[0]), "width_rows": rows, "eps_rows": eps_rows,
            "target_parameters": target.parameters,
            "status": {"width_rows": EXPLORATORY + " (rows with judged = false)",
                       "eps_rows": "judged: empirical ≤ certified ≤ ε at the theorem's width for (ε, δ)"}}


def judged_sweep_rows(sweep: dict) -> list[dict]:
    """The sweep rows that are instances of the statement (every ε row, width rows at C or above)."""
    return [row for row in sweep["width_rows"] + sweep["eps_rows"] if row["judged"]]


@claim("slth.dense.network", "a random 2l-layer U[-1,1] ReLU network of widths C·d_{i-1}·ln(d_{i-1}d_i l/min(ε,δ)) "
       "contains a subnetwork within ε of a target l-layer network with ‖W_i‖₂ ≤ 1 on the unit ball "
       "(Pensia et al. 2020); certified in float64 on random and trained targets",
       proof=PROOF, params=NetworkParams, faults=DenseFaults, full=FULL_NETWORK,
       uses=("slth.dense.layer", "rss.product"))
def check_network(p: NetworkParams, ctx: Context) -> Record:
    instances = check_network_instances(p, ctx)
    digits = digits_instance(p, ctx)
    sweep = width_sweep(p, ctx)
    judged = judged_sweep_rows(sweep)
    swept, swept_reason = judge_instances(judged)
    verdict, reason = combine([judge_instances(instances + [digits]),
                               (swept, swept_reason if swept != "holds" else
                                f"sweep: {len(judged)} rows at the theorem's width, empirical ≤ certified ≤ ε")])
    worst = max(instances + [digits], key=lambda i: i["certified"] / i["eps"])
    reason += (f"; digits MLP: target accuracy {digits['target_test_accuracy']:.3f}, ticket "
               f"{digits['ticket_test_accuracy']:.3f}, agreement {digits['prediction_agreement']:.3f} "
               f"({digits['certified_agreement']:.3f} certified by the logit margin); "
               f"{len(sweep['width_rows']) + len(sweep['eps_rows']) - len(judged)} narrower sweep rows exploratory")
    return Record(verdict, reason,
                  bound=Quantity(worst["eps"], "ε of the instance with the least margin"),
                  certified=Quantity(worst["certified"], "rigorous float64 bound on the sup error over the "
                                     "domain, instance with the least margin"),
                  empirical=Quantity(worst["empirical"], "largest error found by sampling + projected gradient "
                                     "ascent on that instance (a lower bound on the sup)"),
                  details={"instances": instances, "digits": digits, "sweep": sweep})
