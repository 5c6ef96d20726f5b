r"""Supermasks: masks that make an *untrained* network accurate (Zhou et al. 2019).

The objects, per layer and batched over $R$ replicas ([R, *weight_shape]):

* a **mask criterion** scores every weight from its initial value $w_i$ and its trained value
  $w_f$; a layer keeps its $k = \lfloor \rho n + \tfrac12\rfloor$ highest-scoring weights (ties: the
  lower flat index is kept). The twelve criteria of Zhou et al. (larger score = kept):

  ========================  ==========================================================
  large_final               $|w_f|$
  small_final               $-|w_f|$
  random                    $u \sim U[0, 1]$, one draw per weight
  large_init                $|w_i|$
  small_init                $-|w_i|$
  large_init_large_final    $\min(|w_i|, |w_f|)$ (large at both times)
  small_init_small_final    $-\max(|w_i|, |w_f|)$ (small at both times)
  magnitude_increase        $|w_f| - |w_i|$
  movement                  $|w_f - w_i|$
  large_final_same_sign     $|w_f|$ where $\operatorname{sign} w_i = \operatorname{sign} w_f$, else excluded
  large_final_diff_sign     $|w_f|$ where the sign flipped, else excluded
  magnitude_increase_same_sign  $|w_f| - |w_i|$ where the sign did not flip, else excluded
  ========================  ==========================================================

  "Excluded" weights get score $-\infty$: they are kept only when a layer keeps more weights than
  the criterion admits (the paper zeroes such scores; with scores that can be negative, $-\infty$
  is the reading that never prefers an excluded weight).
* the **zero-shot supermask**: the mask applied to $\theta_0$ with no training; the **sign-only**
  variant keeps $\operatorname{sign}(w_i)\,\sigma_\ell$ with $\sigma_\ell$ the standard deviation of
  layer $\ell$'s initial distribution (Zhou's "signed constant").
* a **learned supermask**: weights frozen at $\theta_0$, one real score $s$ per weight, the forward
  mask $m \sim \mathrm{Bernoulli}(\sigma(s))$ (``sampled``) or $m = [\sigma(s) > \tfrac12]$
  (``straight_through``); either way the backward pass treats $\partial m/\partial s$ as
  $\sigma'(s)$ (straight-through). Evaluation reports both estimators: masks sampled
  $m \sim \mathrm{Bernoulli}(\sigma(s))$ at test time (Zhou et al.'s; ``test_samples`` draws per seed,
  averaged) and the fixed mask $m = [\sigma(s) > \tfrac12]$, which also picks the early stop.

:func:`run_criteria` runs every criterion IMP-style (train, score, prune, rewind to $\theta_0$,
retrain) or one-shot from the dense run, recording trained, zero-shot and sign-only accuracies per
level; :func:`run_learned` trains learned supermasks beside the dense reference. Both take an
optional :class:`lth.simulations.imp.RunStore` and resume from its last saved step.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from lth.simulations.data import Splits, load_dataset, resize
from lth.simulations.imp import RunStore, stream
from lth.simulations.models import Architecture, build_architecture, forward, init_weights, zero_biases
# Defined without torch (the command line reads them before any work); imported here for the library's callers.
from lth.simulations.supermask_settings import (CRITERIA, ESTIMATORS, INITS, CriteriaSettings, DataSettings,  # noqa: F401
                                                LearnedSettings)
from lth.simulations.training import accuracy, train
from lth.theory.device import cpu_threads, generator

# Scores -------------------------------------------------------------------------------------------

def criterion_scores(criterion: str, initial: torch.Tensor, final: torch.Tensor,
                     generators: list[torch.Generator] | None = None) -> torch.Tensor:
    """Scores [R, *shape] of one layer under ``criterion`` (larger = kept); ``random`` needs generators."""
    a, b = initial.abs(), final.abs()
    same = torch.sign(initial) == torch.sign(final)
    excluded = torch.tensor(-math.inf, dtype=final.dtype, device=final.device)
    if criterion == "random":
        if generators is None:
            raise ValueError("criterion 'random' needs one generator per replica")
        return torch.stack([torch.rand(final.shape[1:], generator=g, device=final.device) for g in generators])
    table: dict[str, Callable[[], torch.Tensor]] = {
        "large_final": lambda: b,
        "small_final": lambda: -b,
        "large_init": lambda: a,
        "small_init": lambda: -a,
        "large_init_large_final": lambda: torch.minimum(a, b),
        "small_init_small_final": lambda: -torch.maximum(a, b),
        "magnitude_increase": lambda: b - a,
        "movement": lambda: (final - initial).abs(),
        "large_final_same_sign": lambda: torch.where(same, b, excluded),
        "large_final_diff_sign": lambda: torch.where(same, excluded, b),
        "magnitude_increase_same_sign": lambda: torch.where(same, b - a, excluded),
    }
    if criterion not in table:
        raise ValueError(f"unknown mask criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    return table[criterion]()


def keep_count(size: int, fraction: float) -> int:
    """How many of ``size`` weights a layer keeping ``fraction`` holds (round half up, at least 1)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"kept fraction must lie in (0, 1], got {fraction}")
    return max(1, min(size, int(fraction * size + 0.5)))


def top_k_mask(scores: torch.Tensor, keep: int) -> torch.Tensor:
    """Boolean mask [R, *shape] keeping the ``keep`` largest scores of each replica.

    A selection (``kthvalue``, linear time) instead of a sort: everything above the keep-th largest
    score is kept, and among scores equal to it the lowest flat indices fill the count, so masks are
    deterministic and hold exactly ``keep`` entries.
    """
    flat = scores.reshape(scores.shape[0], -1)
    threshold = torch.kthvalue(flat, flat.shape[1] - keep + 1, dim=1).values.unsqueeze(1)
    above = flat > threshold
    tie = flat == threshold
    missing = keep - above.sum(dim=1, keepdim=True)
    return (above | (tie & (tie.cumsum(dim=1) <= missing))).reshape(scores.shape)


def criterion_masks(criterion: str, initial: list[torch.Tensor], final: list[torch.Tensor], keep: list[float],
                    alive: list[torch.Tensor] | None = None,
                    generators: list[torch.Generator] | None = None) -> list[torch.Tensor]:
    """Per-layer masks keeping ``keep[i]`` of layer i's weights by ``criterion``, inside ``alive``.

    Weights outside ``alive`` (the previous round's mask) rank below even excluded weights, so masks
    nest across rounds whenever each round keeps at most what survived.
    """
    out = []
    for i, (w0, wf, fraction) in enumerate(zip(initial, final, keep)):
        scores = criterion_scores(criterion, w0, wf, generators)
        if alive is not None:
            # Two tiers of "never": excluded weights move up to the lowest finite float, dead ones stay -inf.
            lowest = torch.finfo(scores.dtype).min
            scores = torch.where(alive[i], scores.clamp(min=lowest), torch.full_like(scores, -math.inf))
        out.append(top_k_mask(scores, keep_count(w0[0].numel(), fraction)))
    return out


def init_std(arch: Architecture) -> list[float]:
    """Standard deviation of each layer's Glorot-normal initial distribution (``models.init_weights``)."""
    return [math.sqrt(2.0 / ((layer.fan_in + layer.fan_out) * (layer.kernel ** 2 if layer.kind == "conv" else 1)))
            for layer in arch.layers]


def signed_constant(weights: list[torch.Tensor], stds: list[float]) -> list[torch.Tensor]:
    """Zhou's sign-only weights: $\\operatorname{sign}(w)\\,\\sigma_\\ell$ per layer."""
    return [torch.sign(w) * s for w, s in zip(weights, stds)]


# One training loop for scores (frozen weights) and for the dense reference ------------------------

@dataclass(frozen=True)
class ScoreOptimisation:
    """SGD with momentum and a cosine-decayed learning rate, for scores."""

    iterations: int = 1000
    batch_size: int = 60
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    eval_every: int = 100


@dataclass
class Fitted:
    """Outcome of :func:`fit` for R replicas.

    ``best`` holds the trained tensors of each replica at its first evaluation of maximal validation
    accuracy (the early stop); ``val_acc``/``test_acc`` are [R, E] at ``eval_iterations``.
    """

    best: list[torch.Tensor]
    eval_iterations: list[int]
    val_acc: torch.Tensor
    test_acc: torch.Tensor

    def early_stop_test_acc(self) -> list[float]:
        """Test accuracy at each replica's first evaluation of maximal validation accuracy."""
        best = self.val_acc.argmax(dim=1, keepdim=True)
        return self.test_acc.gather(1, best).squeeze(1).tolist()


Network = Callable[[list[torch.Tensor], bool], tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]]


def batch_orders(n: int, generators_: list[torch.Generator], device: torch.device) -> torch.Tensor:
    """One random permutation of range(n) per replica, [R, n] (each replica's own data order)."""
    return torch.stack([torch.randperm(n, generator=g, device=device) for g in generators_])


def fit(arch: Architecture, leaves: list[torch.Tensor], network: Network, data: Splits,
        optimiser: Callable[[list[torch.Tensor]], torch.optim.Optimizer], iterations: int, batch_size: int,
        eval_every: int, data_generators: list[torch.Generator], progress=None, cosine: bool = False) -> Fitted:
    """Train ``leaves`` (tensors [R, ...], replica first) of R replicas side by side on ``data``.

    ``network(leaves, training)`` returns (weights, biases, masks) for ``models.forward``. The loss
    is the sum over replicas of each replica's mean cross-entropy, and every leaf belongs to one
    replica along axis 0, so replicas never mix (their optimiser state is elementwise). ``cosine``
    decays the learning rate to 0 over ``iterations``. On CPU the loop runs on one intra-op thread.
    """
    with cpu_threads(1 if leaves[0].device.type == "cpu" else None):
        return _fit(arch, leaves, network, data, optimiser, iterations, batch_size, eval_every, data_generators,
                    progress, cosine)


def _fit(arch, leaves, network, data, optimiser, iterations, batch_size, eval_every, data_generators, progress,
         cosine) -> Fitted:
    device = leaves[0].device
    leaves = [t.detach().clone().requires_grad_(True) for t in leaves]
    opt = optimiser(leaves)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, iterations) / iterations)) if cosine else 1.0)
    n = len(data.train)
    order, position = batch_orders(n, data_generators, device), 0
    evals, val_acc, test_acc = [], [], []
    best = [t.detach().clone() for t in leaves]
    top = torch.full((leaves[0].shape[0],), -1.0, device=device)
    for iteration in range(iterations + 1):
        if iteration % eval_every == 0 or iteration == iterations:
            with torch.no_grad():
                evaluated = network(leaves, False)
                evals.append(iteration)
                val_acc.append(accuracy(arch, *evaluated, data.val))
                test_acc.append(accuracy(arch, *evaluated, data.test))
                better = val_acc[-1] > top
                top = torch.where(better, val_acc[-1], top)
                for kept, t in zip(best, leaves):
                    kept[better] = t.detach()[better]
        if iteration == iterations:
            break
        if position + batch_size > n:
            order, position = batch_orders(n, data_generators, device), 0
        index = order[:, position:position + batch_size]
        position += batch_size
        logits = forward(arch, *network(leaves, True), data.train.x[index])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), data.train.y[index].reshape(-1),
                               reduction="sum") / batch_size
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if progress is not None:
            progress(1)
    return Fitted(best, evals, torch.stack(val_acc, dim=1), torch.stack(test_acc, dim=1))


def fit_scores(arch: Architecture, weights: list[torch.Tensor], scores: list[torch.Tensor],
               masks: Callable[[list[torch.Tensor], bool], list[torch.Tensor]], data: Splits,
               opt: ScoreOptimisation, data_generators: list[torch.Generator], progress=None) -> Fitted:
    """Train per-weight ``scores`` ([R, *shape] per layer) of frozen ``weights`` (SGD, cosine).

    ``masks(scores, training)`` returns the float masks the forward pass multiplies the weights with
    (with a straight-through gradient to the scores while ``training``). Biases stay zero: the
    supermask papers train none. ``best`` of the result holds the scores at the early stop.
    """
    biases = zero_biases(arch, weights[0].shape[0], weights[0].device)
    return fit(arch, scores, lambda s, training: (weights, biases, masks(s, training)), data,
               lambda p: torch.optim.SGD(p, lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay),
               opt.iterations, opt.batch_size, opt.eval_every, data_generators, progress, cosine=True)


# Shared settings and the dense reference ----------------------------------------------------------

def load_splits(settings: DataSettings, device: torch.device) -> Splits:
    splits = load_dataset(settings.dataset, seed=settings.split_seed)
    if settings.image_size:
        splits = resize(splits, settings.image_size)
    return splits.to(device)


def generators(seeds: list[int], purpose: str, level: int, device: torch.device) -> list[torch.Generator]:
    """One generator per seed for (purpose, level): the same streams as ``lth.simulations.imp``."""
    return [generator(stream(s, purpose, level), device) for s in seeds]


@dataclass
class Dense:
    """The dense reference: θ0, the trained weights and biases at the early stop ([R, ...] per layer)
    and the per-seed test accuracy there."""

    theta0: list[torch.Tensor]
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    test_acc: list[float]


_DENSE: dict[tuple, Dense] = {}


def dense_reference(settings: DataSettings, arch: Architecture, splits: Splits, device: torch.device,
                    progress: bool = True) -> Dense:
    """Train the dense network (weights and biases, Adam) from θ0 (the IMP streams "init"/"order"),
    memoised per process so the supermask claims share one run."""
    base = {f.name: getattr(settings, f.name) for f in dataclasses.fields(DataSettings)}
    key = (tuple(sorted(base.items())), arch, str(device))
    if key not in _DENSE:
        seeds, layers = settings.seed_list(), len(arch.layers)
        theta0 = init_weights(arch, generators(seeds, "init", 0, device), device)
        ones = [torch.ones_like(w) for w in theta0]
        with tqdm(total=settings.iterations, desc=f"dense {arch.name}/{settings.dataset}", disable=not progress,
                  leave=False) as bar:
            fitted = fit(arch, theta0 + zero_biases(arch, len(seeds), device),
                         lambda t, training: (t[:layers], t[layers:], ones), splits,
                         lambda p: torch.optim.Adam(p, lr=settings.lr), settings.iterations, settings.batch_size,
                         settings.eval_every, generators(seeds, "order", 0, device), bar.update)
        _DENSE[key] = Dense(theta0, fitted.best[:layers], fitted.best[layers:], fitted.early_stop_test_acc())
    return _DENSE[key]


def _finish(store: RunStore | None, settings: Any, summary: dict, tensors: dict) -> None:
    if store is not None:
        store.finish({"settings": dataclasses.asdict(settings), **summary}, tensors)


def _load(store: RunStore | None, settings: Any, device: torch.device) -> tuple[dict, dict] | None:
    if store is None:
        return None
    finished = store.load_finished(map_location=device)
    if finished is None:
        return None
    summary, tensors = finished
    if summary["settings"] != json.loads(json.dumps(dataclasses.asdict(settings))):
        raise ValueError(f"{store.path} holds a run with other settings; remove it to rerun")
    return summary, tensors


def _resume(store: RunStore | None, settings: Any, device: torch.device) -> dict | None:
    state = None if store is None else store.load_state(map_location=device)
    if state is not None and state["settings"] != dataclasses.asdict(settings):
        raise ValueError("checkpoint belongs to different settings; remove the run directory to restart")
    return state


@dataclass
class Setup:
    """What every supermask experiment starts from: data on the device, the architecture at the
    settings' width, the seed list and the dense reference."""

    splits: Splits
    arch: Architecture
    seeds: list[int]
    dense: Dense


def begin(settings: DataSettings, device: torch.device, store: RunStore | None, progress: bool,
          ignore_scores: bool = False) -> tuple[dict | None, Setup | None]:
    """``(finished summary, None)`` when ``store`` holds the finished run, else ``(None, Setup)``.

    ``ignore_scores`` (a deliberately broken instance of the tests) is refused together with a store,
    so a broken run never lands in a run directory.
    """
    if ignore_scores and store is not None:
        raise ValueError("ignore_scores is a test fault; run it without a store")
    loaded = _load(store, settings, device)
    if loaded is not None:
        return loaded[0], None
    splits = load_splits(settings, device)
    arch = build_architecture(settings.arch, splits.image_shape, splits.num_classes, settings.width)
    return None, Setup(splits, arch, settings.seed_list(), dense_reference(settings, arch, splits, device, progress))


# Mask criteria, IMP-style and zero-shot -----------------------------------------------------------

def _kept_fraction(masks: list[torch.Tensor]) -> float:
    return sum(int(m[0].sum()) for m in masks) / sum(m[0].numel() for m in masks)


def run_criteria(settings: CriteriaSettings, device: torch.device, *, store: RunStore | None = None,
                 progress: bool = True, on_level: Callable[[int], None] | None = None) -> dict:
    """Every criterion at every level: kept fraction, zero-shot and sign-only accuracy on θ0 and, with
    ``retrain``, the retrained ticket's accuracy (all per seed). Returns the JSON-able summary
    ``{"settings", "dense", "levels": [{"level", "keep", "criteria": {name: {...}}}]}``.
    """
    finished, setup = begin(settings, device, store, progress)
    if finished is not None:
        return finished
    splits, arch, seeds, dense = setup.splits, setup.arch, setup.seeds, setup.dense
    n = len(seeds)
    biases = zero_biases(arch, n, device)
    signed = signed_constant(dense.theta0, init_std(arch))
    state = _resume(store, settings, device) or {
        "settings": dataclasses.asdict(settings), "level": 0, "levels": [],
        "masks": {c: None for c in settings.criteria}, "final": {c: dense.weights for c in settings.criteria}}
    total = settings.rounds * (settings.iterations if settings.retrain else 1)
    with tqdm(total=total, initial=state["level"] * (total // settings.rounds), desc="mask criteria",
              disable=not progress, leave=False) as bar, cpu_threads(1 if device.type == "cpu" else None):
        while state["level"] < settings.rounds:
            level = state["level"] + 1
            keep = settings.keep(arch, level)
            row: dict[str, Any] = {"level": level, "keep": keep, "criteria": {}}
            for c in settings.criteria:
                alive = state["masks"][c] if settings.retrain else None
                masks = criterion_masks(c, dense.theta0, state["final"][c], keep, alive,
                                        generators(seeds, f"criterion/{c}", level, device))
                state["masks"][c] = masks
                row["criteria"][c] = {
                    "remaining": _kept_fraction(masks),
                    "zero_shot": accuracy(arch, dense.theta0, biases, masks, splits.test).tolist(),
                    "sign_only": accuracy(arch, signed, biases, masks, splits.test).tolist()}
            if settings.retrain:
                names = list(settings.criteria)
                inits = [torch.cat([dense.theta0[i]] * len(names)) for i in range(len(arch.layers))]
                cat_masks = [torch.cat([state["masks"][c][i] for c in names]) for i in range(len(arch.layers))]
                orders = [g for _ in names for g in generators(seeds, "order", level, device)]
                trained = train(arch, inits, cat_masks, splits, settings.optimisation, orders, progress=bar.update)
                acc = trained.early_stop_test_acc()
                for j, c in enumerate(names):
                    state["final"][c] = [w[j * n:(j + 1) * n] for w in trained.weights]
                    row["criteria"][c]["trained"] = acc[j * n:(j + 1) * n]
            else:
                bar.update(1)
            state["levels"].append(row)
            state["level"] = level
            if store is not None:
                store.save_state(state)
            if on_level is not None:
                on_level(level)
    summary = {"experiment": "supermask_criteria", "dense": {"test_acc": dense.test_acc},
               "levels": state["levels"]}
    _finish(store, settings, summary, {"masks": state["masks"]})
    return {"settings": dataclasses.asdict(settings), **summary}


# Learned supermasks -------------------------------------------------------------------------------

def _uniforms(s: torch.Tensor, generators_: list[torch.Generator]) -> torch.Tensor:
    """One U[0, 1) draw per weight of each replica, [R, *shape], from that replica's generator."""
    return torch.stack([torch.rand(s.shape[1:], generator=g, device=s.device) for g in generators_])


def _rescaled(m: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
    """``m`` times (weights / kept weights) of each replica's 0/1 mask ``hard`` (a constant for autograd)."""
    kept = hard.flatten(1).sum(dim=1).clamp(min=1.0)
    return m * (hard[0].numel() / kept).view(-1, *([1] * (hard.dim() - 1)))


def bernoulli_masks(estimator: str, rescale: bool, generators_: list[torch.Generator],
                    ignore_scores: bool = False) -> Callable[[list[torch.Tensor], bool], list[torch.Tensor]]:
    """The mask function of a learned supermask (see the module docstring).

    With ``rescale`` each layer's mask is multiplied by (weights / kept weights) of its replica,
    a constant in the backward pass (Zhou's dynamic weight rescaling). ``ignore_scores`` draws
    Bernoulli(1/2) masks whatever the scores (training and evaluation alike).
    """

    def masks(scores: list[torch.Tensor], training: bool) -> list[torch.Tensor]:
        out = []
        for s in scores:
            p = torch.sigmoid(s)
            if ignore_scores:
                hard = (_uniforms(s, generators_) < 0.5).to(s.dtype)
            elif training and estimator == "sampled":
                hard = (_uniforms(s, generators_) < p.detach()).to(s.dtype)
            else:
                hard = (p.detach() > 0.5).to(s.dtype)
            m = hard + p - p.detach() if training else hard
            out.append(_rescaled(m, hard) if rescale else m)
        return out

    return masks


@torch.no_grad()
def sampled_masks(scores: list[torch.Tensor], rescale: bool, generators_: list[torch.Generator],
                  ignore_scores: bool = False) -> list[torch.Tensor]:
    """One evaluation draw m ~ Bernoulli(σ(s)) per replica (Bernoulli(1/2) with ``ignore_scores``),
    rescaled like the training masks: what Zhou et al. evaluate."""
    out = []
    for s in scores:
        hard = (_uniforms(s, generators_) < (0.5 if ignore_scores else torch.sigmoid(s))).to(s.dtype)
        out.append(_rescaled(hard, hard) if rescale else hard)
    return out


def run_learned(settings: LearnedSettings, device: torch.device, *, store: RunStore | None = None,
                progress: bool = True, ignore_scores: bool = False) -> dict:
    """Learned supermasks (one per seed) and the dense network from the same θ0 and data.

    ``ignore_scores`` is a deliberately broken instance for the claim's tests (masks drawn at random
    whatever the scores); it is refused together with a store, so it never lands in a run directory.

    Returns ``{"settings", "dense": {"test_acc"}, "learned": {"test_acc", "sampled_test_acc",
    "sampled_draws", "remaining", "eval_iterations", "val_curve", "test_curve"}}`` (per seed; curves
    [seed][evaluation]; ``test_acc`` of the fixed [σ > 1/2] mask at the early stop, ``sampled_test_acc``
    the mean over ``test_samples`` Bernoulli draws of the same scores, ``sampled_draws`` [seed][draw]).
    """
    finished, setup = begin(settings, device, store, progress, ignore_scores)
    if finished is not None:
        return finished
    splits, arch, seeds, dense = setup.splits, setup.arch, setup.seeds, setup.dense
    frozen = dense.theta0 if settings.weights == "glorot" else signed_constant(dense.theta0, init_std(arch))
    score_gens = generators(seeds, "scores", 0, device)
    scores = [settings.score_init + 0.2 * (torch.stack([torch.rand(w.shape[1:], generator=g, device=device)
                                                        for g in score_gens]) - 0.5) for w in frozen]
    opt = ScoreOptimisation(settings.score_iterations, settings.batch_size, settings.score_lr,
                            eval_every=settings.eval_every)
    masks = bernoulli_masks(settings.estimator, settings.rescale, generators(seeds, "bernoulli", 0, device),
                            ignore_scores)
    with tqdm(total=opt.iterations, desc=f"learned supermask {arch.name}", disable=not progress, leave=False) as bar:
        fitted = fit_scores(arch, frozen, scores, masks, splits, opt, generators(seeds, "order", 1, device),
                            bar.update)
    with torch.no_grad():
        final = [m > 0 for m in masks(fitted.best, False)]
        draws = generators(seeds, "test_masks", 0, device)
        biases = zero_biases(arch, len(seeds), device)
        sampled = torch.stack([accuracy(arch, frozen, biases, sampled_masks(fitted.best, settings.rescale, draws,
                                                                            ignore_scores), splits.test)
                               for _ in range(settings.test_samples)], dim=1)  # [R, draws]
    summary = {"experiment": "learned_supermask", "dense": {"test_acc": dense.test_acc},
               "learned": {"test_acc": fitted.early_stop_test_acc(),
                           "sampled_test_acc": sampled.mean(dim=1).tolist(), "sampled_draws": sampled.tolist(),
                           "remaining": [_kept_fraction([m[i:i + 1] for m in final]) for i in range(len(seeds))],
                           "eval_iterations": fitted.eval_iterations, "val_curve": fitted.val_acc.tolist(),
                           "test_curve": fitted.test_acc.tolist()}}
    _finish(store, settings, summary, {"masks": final})
    return {"settings": dataclasses.asdict(settings), **summary}

