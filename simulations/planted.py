r"""Planted tickets as ground truth for search (after Fischer & Burkholz 2022, "Plant 'n' Seek").

The objects, batched over $R$ seeds ([R, *weight_shape] per layer):

* the *target* $f(x) = W_l\sigma(\dots\sigma(W_1x))$, an unbiased random ReLU MLP with
  $\lVert W_i\rVert_2 = 1$ (``lth.theory.dense.random_target``), one per run;
* target-labelled data: $x$ uniform in the unit ball $\{\lVert x\rVert_2 \le 1\}$ (the construction's
  domain, so the certificate covers every point), label $y = \arg\max_c f(x)_c$;
* per seed, the *source network*: Pensia et al.'s $2l$-layer U[−1, 1] network at the width rule
  (``lth.theory.dense.build_ticket``), and in it the *planted ticket* $P$, the construction's masks,
  whose sup error on the ball is certified in float64 (``certify_sup_error``) — a ticket known to
  exist, not one written into the weights (Fischer & Burkholz overwrite weights of a He-initialised
  network with the target's; here nothing is overwritten, the ticket is found by subset sum);
* the *searches*, on the same frozen source weights, masks only: edge-popup
  (``lth.simulations.edge_popup.popup_masks``) keeping per layer the planted ticket's density, and the
  learned supermask (``lth.simulations.supermask.bernoulli_masks``, its density is its own); both
  trained on the target labels by ``supermask.fit_scores``, and IMP (weights trained, per-layer
  magnitude pruning down to the planted density), whose mask is compared only;
* *overlap* of a found mask $F$ with $P$, per layer and pooled over layers:
  recall $|F\cap P|/|P|$ and Jaccard $|F\cap P|/|F\cup P|$; the *baseline* is a uniformly random mask
  with $F$'s per-layer counts (expected recall = its density).

What is certified: the planted ticket's sup error on the ball and hence a lower bound on its accuracy
(a test point whose top-two target gap exceeds twice the certificate keeps its class). What is
measured: everything about the searches (overlap, accuracy, and the largest error found on the ball
by ``search_sup_error``, a lower bound on their sup error).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from lth.simulations.data import Split, Splits
from lth.simulations.edge_popup import initial_scores, popup_masks
from lth.simulations.imp import stream
from lth.simulations.masks import prune_masks, random_masks_like
from lth.simulations.models import Architecture, WeightLayer
from lth.simulations.supermask import ScoreOptimisation, bernoulli_masks, fit_scores, generators
from lth.simulations.training import Optimisation, accuracy, train
from lth.theory.dense import (DEFAULT_C, DEFAULT_POOL_CAP, DenseTicket, Domain, RandomNetwork, Target, build_ticket,
                              certify_sup_error, random_target, search_sup_error)
from lth.theory.device import cpu_threads, generator

SEARCHES = ("edge_popup", "supermask")  # the judged mask searches; IMP trains weights and is compared only


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass(frozen=True)
class PlantedSettings:
    """One planted-ticket experiment: target, construction, data, searches and seeds."""

    widths: tuple[int, ...] = _help("widths of the random target (‖W_i‖₂ = 1, no biases)", default=(8, 8, 4))
    eps: float = _help("ε of the planted ticket's certificate (sup error on the unit ball) and of the width rule",
                       default=0.05)
    delta: float = _help("δ of the width rule", default=0.05)
    c: float = _help("constant C of the width rule", default=DEFAULT_C)
    pool_cap: int = _help("subset-sum pool per target weight and branch", default=DEFAULT_POOL_CAP)
    points: tuple[int, int, int] = _help("train, validation and test points", default=(4000, 1000, 2000))
    seeds: int = _help("independent source networks (seed, seed+1, ...)", default=6)
    seed: int = _help("first seed (the target and the data are drawn from it)", default=0)
    score_iterations: int = _help("SGD iterations of each search's scores", default=600)
    batch_size: int = _help("mini-batch size", default=60)
    popup_lr: float = _help("edge-popup's SGD learning rate (momentum 0.9, cosine, weight decay 5e-4)", default=0.1)
    supermask_lr: float = _help("the learned supermask's SGD learning rate (Zhou et al. use 100 at another "
                                "weight scale)", default=10.0)
    eval_every: int = _help("evaluate validation and test accuracy every this many iterations", default=50)
    imp_rounds: int = _help("IMP rounds down to the planted density (0: no IMP)", default=3)
    imp_iterations: int = _help("Adam iterations per IMP round (lr 1.2e-3)", default=300)
    restarts: int = _help("gradient-ascent restarts of the sup-error search", default=8)
    steps: int = _help("gradient-ascent steps per restart", default=40)
    samples: int = _help("random points of the ball tried before the ascent", default=1024)

    def __post_init__(self) -> None:
        if len(self.widths) < 2 or any(w < 1 for w in self.widths) or self.widths[-1] < 2:
            raise ValueError(f"widths needs >= 2 positive entries and >= 2 outputs (classes), got {self.widths}")
        if not 0 < self.eps < 1 or not 0 < self.delta < 1:
            raise ValueError(f"eps and delta must lie in (0, 1), got {self.eps} and {self.delta}")
        if len(self.points) != 3 or min(self.points) < 1:
            raise ValueError(f"points needs three positive counts (train, validation, test), got {self.points}")
        if self.seeds < 2:
            raise ValueError(f"seeds must be >= 2 (intervals over seeds), got {self.seeds}")
        positive = ("pool_cap", "score_iterations", "batch_size", "eval_every", "imp_iterations", "restarts", "samples")
        bad = [name for name in positive if getattr(self, name) < 1]
        if bad or self.imp_rounds < 0 or self.steps < 0 or self.c <= 0:
            raise ValueError(f"{', '.join(bad) or 'imp_rounds, steps or c'} out of range: counts must be >= 1, "
                             "imp_rounds and steps >= 0, c > 0")

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]


# Data labelled by the target ------------------------------------------------------------------------

def ball_points(count: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    """``count`` points uniform in the unit ball of R^dim, ``[count, dim]`` float64."""
    direction = torch.randn(count, dim, generator=gen, device=gen.device, dtype=torch.float64)
    radius = torch.rand(count, 1, generator=gen, device=gen.device, dtype=torch.float64) ** (1 / dim)
    return direction / direction.norm(dim=1, keepdim=True) * radius


def target_data(target: Target, points: tuple[int, int, int], gen: torch.Generator) -> Splits:
    """Train / validation / test points uniform in the unit ball labelled by $\\arg\\max f$ (``x`` as
    ``[N, 1, 1, d_0]`` float64, the image layout of ``lth.simulations.models``)."""
    d0 = target.widths[0]
    with torch.no_grad():
        parts = []
        for count in points:
            x = ball_points(count, d0, gen)
            parts.append(Split(x.reshape(count, 1, 1, d0), target(x).argmax(1)))
    return Splits("planted-ball", *parts, num_classes=target.widths[-1])


def top_two_gaps(target: Target, x: torch.Tensor) -> torch.Tensor:
    """$f(x)_{(1)} - f(x)_{(2)}$, the target's top-two output gap at each point of ``x`` ``[n, d_0]``."""
    with torch.no_grad():
        top = target(x).topk(2, dim=1).values
    return top[:, 0] - top[:, 1]


# Overlap of masks -----------------------------------------------------------------------------------

def overlap(found: list[torch.Tensor], planted: list[torch.Tensor]) -> dict[str, list]:
    """Overlap of bool masks ``found`` with ``planted`` (per layer ``[R, *shape]``), per replica.

    Returns ``{"recall", "jaccard", "density"}``, each ``[R]`` pooled over layers (counts summed before
    dividing), and ``"layers"``: the same three per layer, ``[layer][R]``. An empty union counts as
    Jaccard 1 (two empty masks agree); an empty planted mask as recall 1.
    """
    def ratio(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.where(b > 0, a / b.clamp(min=1), torch.ones_like(a))

    rows, totals = [], torch.zeros(4, found[0].shape[0], dtype=torch.float64, device=found[0].device)
    for f, p in zip(found, planted):
        if f.shape != p.shape:
            raise ValueError(f"masks of one layer must have the same shape, got {tuple(f.shape)} and {tuple(p.shape)}")
        f, p = f.flatten(1).bool(), p.flatten(1).bool()
        counts = torch.stack([(f & p).sum(1), p.sum(1), (f | p).sum(1), f.sum(1)]).double()
        totals += counts
        rows.append({"recall": ratio(counts[0], counts[1]).tolist(), "jaccard": ratio(counts[0], counts[2]).tolist(),
                     "density": (counts[3] / f.shape[1]).tolist()})
    size = sum(f[0].numel() for f in found)
    return {"recall": ratio(totals[0], totals[1]).tolist(), "jaccard": ratio(totals[0], totals[2]).tolist(),
            "density": (totals[3] / size).tolist(), "layers": rows}


def random_like(masks: list[torch.Tensor], gens: list[torch.Generator]) -> list[torch.Tensor]:
    """Uniformly random masks with each replica's own per-layer counts (``masks`` ``[R, *shape]``)."""
    per_replica = [random_masks_like([m[r:r + 1] for m in masks], [g]) for r, g in enumerate(gens)]
    return [torch.cat([replica[i] for replica in per_replica]) for i in range(len(masks))]


# The planted ticket ---------------------------------------------------------------------------------

@dataclass
class Planted:
    """The source networks of all seeds and their planted tickets.

    ``networks[r]``/``tickets[r]``: seed ``r``'s random network and construction; ``weights`` and
    ``masks``: the same stacked ``[R, *shape]`` per layer (float64 / bool); ``alternative``: the
    certificates of a second construction and its overlap with the planted one.
    """

    networks: list[RandomNetwork]
    tickets: list[DenseTicket]
    weights: list[torch.Tensor]
    masks: list[torch.Tensor]
    alternative: dict


def plant(target: Target, settings: PlantedSettings, device: torch.device, *, random_planted: bool = False) -> Planted:
    """Build each seed's source network and planted ticket.

    Beside it, a second construction on the same network (pool rule ``blocks``) is built and certified:
    another ticket known to exist, whose overlap with the planted one says how far from unique tickets
    are. ``random_planted`` (a deliberately broken instance) replaces the planted masks by random masks
    with the same per-layer counts, certified like any mask (∞ when not of the construction's form).
    """
    networks, tickets, alternatives = [], [], []
    for s in settings.seed_list():
        net, ticket = build_ticket(target, settings.eps, settings.delta, seed=stream(s, "planted/network"),
                                   device=device, c=settings.c, pool_cap=settings.pool_cap)
        _, other = build_ticket(target, settings.eps, settings.delta, seed=stream(s, "planted/network"), device=device,
                                units_per_input=net.units_per_input, pool_cap=settings.pool_cap, pool_rule="blocks")
        networks.append(net)
        tickets.append(ticket)
        alternatives.append(other)
    weights = [torch.stack([n.weights[i] for n in networks]) for i in range(len(networks[0].weights))]
    masks = [torch.stack([t.masks[i] for t in tickets]) for i in range(len(weights))]
    if random_planted:
        masks = random_like(masks, generators(settings.seed_list(), "planted/fault", 0, device))
        tickets = [as_ticket(t, [m[r] for m in masks]) for r, t in enumerate(tickets)]
    domain = Domain("ball")
    alt_masks = [torch.stack([t.masks[i] for t in alternatives]) for i in range(len(weights))]
    alternative = {"certified": [certify_sup_error(target, t, domain).value for t in alternatives],
                   "overlap": overlap(alt_masks, masks)}
    return Planted(networks, tickets, weights, masks, alternative)


def as_ticket(like: DenseTicket, masks: list[torch.Tensor]) -> DenseTicket:
    """``masks`` (one seed's, per layer) on ``like``'s random network, so the construction's certificate
    and error search apply to them."""
    return DenseTicket(like.random, [m.bool() for m in masks], like.signed, like.has_bias, like.output_scale)


def source_architecture(weights: list[torch.Tensor]) -> Architecture:
    """The source network as a fully connected architecture of ``lth.simulations.models`` (zero biases)."""
    d0 = weights[0].shape[-1]
    return Architecture("pensia-source", (1, 1, d0), tuple(WeightLayer("linear", w.shape[-1], w.shape[-2])
                                                            for w in weights))


# The searches ---------------------------------------------------------------------------------------

def layer_popup_masks(keeps: list[float]) -> Callable[[list[torch.Tensor], bool], list[torch.Tensor]]:
    """Edge-popup's mask function with its own kept fraction per layer (``popup_masks`` per layer)."""
    per_layer = [popup_masks(k) for k in keeps]
    return lambda scores, training: [f([s], training)[0] for f, s in zip(per_layer, scores)]


@dataclass
class Found:
    """A search's masks ``[R, *shape]`` per layer (bool) and its per-seed test accuracy at the early stop."""

    masks: list[torch.Tensor]
    test_acc: list[float]


def search_popup(arch: Architecture, planted: Planted, data: Splits, settings: PlantedSettings,
                 device: torch.device, progress=None) -> Found:
    """Edge-popup on the frozen source weights, each layer keeping the planted ticket's mean density."""
    seeds = settings.seed_list()
    keeps = [float(m.flatten(1).double().mean()) for m in planted.masks]
    masks = layer_popup_masks(keeps)
    opt = ScoreOptimisation(settings.score_iterations, settings.batch_size, settings.popup_lr, weight_decay=5e-4,
                            eval_every=settings.eval_every)
    scores = initial_scores(arch, generators(seeds, "planted/popup/scores", 0, device), device)
    fitted = fit_scores(arch, planted.weights, scores, masks, data, opt,
                        generators(seeds, "planted/popup/order", 0, device), progress)
    return Found([m > 0 for m in masks(fitted.best, False)], fitted.early_stop_test_acc())


def search_supermask(arch: Architecture, planted: Planted, data: Splits, settings: PlantedSettings,
                     device: torch.device, progress=None) -> Found:
    """The learned supermask (sampled Bernoulli masks, dynamic rescaling) on the frozen source weights;
    its mask is $[\\sigma(s) > 1/2]$ at the early stop.

    The search sees layer $i$ times $\\sqrt{6/n_i}$ ($n_i$ its fan-in: U[−1, 1] becomes Kaiming-uniform,
    the scale Zhou et al.'s weights have). With no biases and ReLU, positive per-layer factors multiply
    every subnetwork's output by their product and change nothing else: a temperature on the logits,
    under which the scores train (at factor 1 the logits saturate the cross-entropy).
    """
    seeds = settings.seed_list()
    weights = [w * math.sqrt(6 / w.shape[-1]) for w in planted.weights]
    score_gens = generators(seeds, "planted/supermask/scores", 0, device)
    scores = [0.2 * (torch.stack([torch.rand(w.shape[1:], generator=g, device=device)
                                  for g in score_gens]) - 0.5) for w in planted.weights]
    masks = bernoulli_masks("sampled", True, generators(seeds, "planted/supermask/bernoulli", 0, device))
    opt = ScoreOptimisation(settings.score_iterations, settings.batch_size, settings.supermask_lr,
                            eval_every=settings.eval_every)
    fitted = fit_scores(arch, weights, scores, masks, data, opt,
                        generators(seeds, "planted/supermask/order", 0, device), progress)
    return Found([m > 0 for m in masks(fitted.best, False)], fitted.early_stop_test_acc())


def search_imp(arch: Architecture, planted: Planted, data: Splits, settings: PlantedSettings,
               device: torch.device, progress=None) -> list[torch.Tensor]:
    """IMP from $\\theta_0$ = the source weights: train (Adam), prune each layer by magnitude at the rate
    that reaches the planted density after ``imp_rounds`` rounds, rewind to $\\theta_0$, repeat.
    Returns the final masks (IMP's ticket trains its weights: only its mask is compared)."""
    seeds = settings.seed_list()
    keeps = [float(m.flatten(1).double().mean()) for m in planted.masks]
    rates = [1 - k ** (1 / settings.imp_rounds) for k in keeps]
    opt = Optimisation(settings.imp_iterations, settings.batch_size, 1.2e-3, settings.imp_iterations)
    masks = [torch.ones_like(w, dtype=torch.bool) for w in planted.weights]
    for level in range(settings.imp_rounds):
        trained = train(arch, planted.weights, masks, data, opt, generators(seeds, "planted/imp/order", level, device),
                        progress=progress)
        masks = prune_masks(masks, trained.weights, rates)
    return masks


# Recovery -------------------------------------------------------------------------------------------

def subnetwork_errors(target: Target, planted: Planted, masks: list[torch.Tensor], settings: PlantedSettings,
                      purpose: str) -> dict[str, list[float]]:
    """Per seed: the construction's certificate of ``masks`` against the target on the unit ball (∞ when
    a kept first-layer unit reads two inputs: no certificate of that kind exists) and the largest error
    found there by sampling and gradient ascent (a lower bound on the sup error)."""
    certified, found = [], []
    for r, (ticket, s) in enumerate(zip(planted.tickets, settings.seed_list())):
        candidate = as_ticket(ticket, [m[r] for m in masks])
        certified.append(certify_sup_error(target, candidate, Domain("ball")).value)
        found.append(search_sup_error(target, candidate, Domain("ball"), restarts=settings.restarts,
                                      steps=settings.steps, samples=settings.samples,
                                      seed=stream(s, f"planted/witness/{purpose}")).error)
    return {"certified": certified, "sup_error_found": found}


def recovery(arch: Architecture, planted: Planted, masks: list[torch.Tensor], data: Splits,
             settings: PlantedSettings, purpose: str, device: torch.device) -> dict:
    """A mask's overlap with the planted one and its test accuracy on the frozen source weights, beside
    a random mask with the same per-layer counts (drawn per seed from the stream ``purpose``)."""
    control = random_like(masks, generators(settings.seed_list(), f"planted/random/{purpose}", 0, device))
    return {"overlap": overlap(masks, planted.masks), "test_acc": float64_accuracy(arch, planted, masks, data.test),
            "random": {"overlap": overlap(control, planted.masks),
                       "test_acc": float64_accuracy(arch, planted, control, data.test)}}


def float64_accuracy(arch: Architecture, planted: Planted, masks: list[torch.Tensor], split: Split) -> list[float]:
    """Per-seed accuracy on ``split`` (float64) of the source weights under bool ``masks`` (no biases)."""
    biases = [torch.zeros(len(planted.networks), layer.fan_out, dtype=torch.float64, device=split.x.device)
              for layer in arch.layers]
    return accuracy(arch, planted.weights, biases, [m.double() for m in masks], split).tolist()


def run_planted(settings: PlantedSettings, device: torch.device, *, progress: Callable[[int], None] | None = None,
                random_planted: bool = False) -> dict:
    """The experiment: plant, search, compare. JSON-able result (lists over seeds):

    ``{"settings", "target": {"widths", "parameters"}, "source": {"units_per_input", "weights", "layers"},
    "planted": {"certified", "sup_error_found", "test_acc", "guaranteed_acc", "density", "alternative"},
    "searches": {name: {"overlap", "test_acc", "random", "certified", "sup_error_found"}},
    "imp": {"overlap", "random"} | None}``. ``random_planted``: the broken instance of :func:`plant`.
    """
    with cpu_threads(1 if device.type == "cpu" else None):
        return _run(settings, device, progress, random_planted)


def _run(settings: PlantedSettings, device: torch.device, progress, random_planted: bool) -> dict:
    target = random_target(list(settings.widths), generator(stream(settings.seed, "planted/target"), device))
    data = target_data(target, settings.points, generator(stream(settings.seed, "planted/data"), device))
    planted = plant(target, settings, device, random_planted=random_planted)
    arch = source_architecture(planted.weights)
    # the searches train in float32 (the toolkit's score loops add float32 biases); every reported accuracy,
    # certificate and error is evaluated in float64 on the source weights themselves
    single = Planted(planted.networks, planted.tickets, [w.float() for w in planted.weights], planted.masks, {})
    data32 = Splits(data.name, *(Split(part.x.float(), part.y) for part in (data.train, data.val, data.test)),
                    num_classes=data.num_classes)
    searches = {}
    for name, search in (("edge_popup", search_popup), ("supermask", search_supermask)):
        found = search(arch, single, data32, settings, device, progress)
        searches[name] = {**recovery(arch, planted, found.masks, data, settings, name, device),
                          "early_stop_test_acc": found.test_acc,
                          **subnetwork_errors(target, planted, found.masks, settings, name)}
    imp = None
    if settings.imp_rounds:
        imp_masks = search_imp(arch, single, data32, settings, device, progress)
        control = random_like(imp_masks, generators(settings.seed_list(), "planted/random/imp", 0, device))
        imp = {"overlap": overlap(imp_masks, planted.masks), "random": {"overlap": overlap(control, planted.masks)}}
    errors = subnetwork_errors(target, planted, planted.masks, settings, "planted")
    gaps = top_two_gaps(target, data.test.x.flatten(1))
    return {"settings": asdict(settings),
            "target": {"widths": list(settings.widths), "parameters": target.parameters},
            "source": {"units_per_input": planted.networks[0].units_per_input,
                       "weights": planted.networks[0].parameters,
                       "layers": [list(w.shape[1:]) for w in planted.weights]},
            "planted": {**errors, "test_acc": float64_accuracy(arch, planted, planted.masks, data.test),
                        "guaranteed_acc": [guaranteed_accuracy(gaps, c) for c in errors["certified"]],
                        "density": overlap(planted.masks, planted.masks)["density"],
                        "alternative": planted.alternative},
            "searches": searches, "imp": imp}


def guaranteed_accuracy(gaps: torch.Tensor, certified: float) -> float:
    """A lower bound on the accuracy, on target-labelled points with top-two target gaps ``gaps`` ``[n]``,
    of any network within ``certified`` of the target in $\\sup\\lVert\\cdot\\rVert_2$: a point whose
    gap exceeds twice it keeps the target's class (every output moves by at most ``certified``)."""
    if not math.isfinite(certified):
        return 0.0
    return float((gaps > 2 * certified).double().mean())
