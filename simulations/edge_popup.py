r"""Edge-popup (Ramanujan et al. 2020): searching a frozen random network for an accurate subnetwork,
and the width a subset-sum construction needs for the same target (the bridge to the theory).

The objects, batched over $R$ seeds ([R, *weight_shape] per layer):

* frozen random weights, **Kaiming normal** $w \sim N(0, 2/n)$ or **signed Kaiming constant**
  $w = \pm\sqrt{2/n}$ (fair signs), with $n$ the layer's fan-in (times $k$ in the paper's "scaled"
  variant, ``scale_fan``, which keeps the pruned layer's output variance); biases are zero;
* one score $s$ per weight; the forward pass keeps, per layer, the $\lfloor kN + \tfrac12\rfloor$ weights of
  largest $|s|$ (``supermask.top_k_mask``) and the backward pass sends the gradient of the mask
  straight through to $|s|$ (the reference code's ``GetSubnet`` on ``scores.abs()``); SGD with
  momentum, weight decay and a cosine schedule updates the scores only;
* the paper puts non-affine batch normalisation in its ResNets only; its Conv-2/4/6 and
  fully connected models have no normalisation layer, and neither do these.

The bridge (:func:`run_edge_popup`): a dense *target* of hidden width factor $w$ is trained; random
networks of the same architecture at widths $f\cdot w$, $f \in$ ``factors``, are searched by
edge-popup. Beside them, :func:`construction_width` gives the random network that Pensia et al.'s
width rule (``lth.theory.dense``, $m = 2\lceil C\ln(d_{in}d_{out}l/\min(\varepsilon,
\delta))\rceil$ units per input) asks for to approximate the same target so closely that no more
than a fraction ``accuracy_gap`` of the test images can change class, and
:func:`certified_construction` builds that construction and certifies it, from the rule's width
down to the smallest width whose ticket is certified (``lth.simulations.certified_width``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from lth.simulations.data import Split
from lth.simulations.certified_width import (Build, frame_summary, random_weight_count, search_certified_width,
                                         theorem_frame)
from lth.simulations.imp import RunStore, stream
from lth.simulations.models import Architecture, build_architecture
from lth.simulations.supermask import (ScoreOptimisation, _finish, _resume, begin, fit_scores, generators, keep_count,
                                   top_k_mask)
# Defined without torch (the command line reads them before any work); imported here for the library's callers.
from lth.simulations.supermask_settings import WEIGHT_INITS, EdgePopupSettings  # noqa: F401
from lth.theory.dense import DEFAULT_C

def fan_in(layer) -> int:
    return layer.fan_in * (layer.kernel ** 2 if layer.kind == "conv" else 1)


def random_weights(arch: Architecture, kind: str, keep: float, scale_fan: bool,
                   generators_: list[torch.Generator], device: torch.device) -> list[torch.Tensor]:
    """Frozen weights [R, *shape] per layer: Kaiming normal or signed Kaiming constant."""
    if kind not in WEIGHT_INITS:
        raise ValueError(f"unknown random weights {kind!r}; choose one of {', '.join(WEIGHT_INITS)}")
    out = []
    for layer in arch.layers:
        std = math.sqrt(2.0 / (fan_in(layer) * (keep if scale_fan else 1.0)))
        if kind == "kaiming_normal":
            w = torch.stack([torch.randn(layer.weight_shape, generator=g, device=device) for g in generators_])
        else:
            w = torch.stack([torch.randint(0, 2, layer.weight_shape, generator=g, device=device)
                             for g in generators_]).float() * 2 - 1
        out.append(w * std)
    return out


def initial_scores(arch: Architecture, generators_: list[torch.Generator], device: torch.device) -> list[torch.Tensor]:
    """Kaiming-uniform scores (the reference code's ``kaiming_uniform_(a=√5)``: U[−1/√n, 1/√n])."""
    return [(torch.stack([torch.rand(layer.weight_shape, generator=g, device=device) for g in generators_]) * 2 - 1)
            / math.sqrt(fan_in(layer)) for layer in arch.layers]


def popup_masks(keep: float, frozen_scores: list[torch.Tensor] | None = None
                ) -> Callable[[list[torch.Tensor], bool], list[torch.Tensor]]:
    """Edge-popup's mask function: top-``keep`` of |score| per layer and replica, straight-through.

    ``frozen_scores`` (a deliberately broken instance) ranks by those fixed scores instead of the
    trained ones: a random subnetwork of the random network, whose scores get zero gradient.
    """

    def masks(scores: list[torch.Tensor], training: bool) -> list[torch.Tensor]:
        out = []
        for i, s in enumerate(scores):
            magnitude = s.abs()
            ranked = magnitude if frozen_scores is None else frozen_scores[i].abs()
            hard = top_k_mask(ranked.detach(), keep_count(s[0].numel(), keep)).to(s.dtype)
            if training:
                straight = magnitude - magnitude.detach()
                hard = hard + (straight if frozen_scores is None else 0.0 * straight)
            out.append(hard)
        return out

    return masks


def construction_width(weights: list[torch.Tensor], biases: list[torch.Tensor], test: Split, accuracy_gap: float,
                       delta: float, c: float = DEFAULT_C) -> dict[str, Any]:
    """The random network Pensia et al.'s width *rule* asks for one trained MLP target.

    ``weights[i]`` [d_i, d_{i-1}], ``biases[i]`` [d_i] (one replica). In the theorem's frame
    (``certified_width.theorem_frame``: $\\varepsilon$ = half the ``accuracy_gap``-quantile of the
    top-two logit gaps on ``test``, the ball of radius $R = \\max\\lVert x\\rVert$ mapped to the unit
    ball, layers rescaled to norm ≤ 1, tolerance $c\\varepsilon$) the width rule gives each block's
    fan-out. Returns the fan-outs, hidden widths, random-network weight count and the numbers behind
    them. A formula, not a built ticket: :func:`certified_construction` builds and certifies one.
    """
    frame = theorem_frame(weights, biases, test.x, accuracy_gap)
    units = frame.rule_units(delta, c)
    widths = frame.widths
    return {**frame_summary(frame), "units_per_input": units,
            "hidden_widths": [m * a for m, a in zip(units, widths[:-1])],
            "weights": random_weight_count(widths, units), "target_weights": sum(w.numel() for w in weights)}


def certified_construction(weights: list[torch.Tensor], biases: list[torch.Tensor], test: Split,
                           settings: "EdgePopupSettings", seed: int, perturbation: float = 0.0,
                           on_build: Callable[[Build], None] | None = None) -> dict[str, Any]:
    """The smallest certified construction for one trained MLP target (one replica, as above).

    ``certified_width.search_certified_width`` from the rule's width down, with the settings'
    ``construction_step``, ``construction_resolution``, ``pool_cap`` and ``retry_cap``; the random
    networks are drawn from the replica's ``seed``. ``perturbation`` builds the tickets for a perturbed
    target (a deliberately broken instance). Returns the frame's numbers and the search's result.
    """
    frame = theorem_frame(weights, biases, test.x, settings.accuracy_gap)
    search = search_certified_width(frame, frame.rule_units(settings.delta, settings.construction_c),
                                    seed=stream(seed, "construction", 0), step=settings.construction_step,
                                    resolution=settings.construction_resolution, pool_cap=settings.pool_cap,
                                    retry_cap=settings.retry_cap or None, perturbation=perturbation, on_build=on_build)
    return {**frame_summary(frame), **search}


def run_edge_popup(settings: EdgePopupSettings, device: torch.device, *, store: RunStore | None = None,
                   progress: bool = True, on_factor: Callable[[float], None] | None = None,
                   ignore_scores: bool = False, perturb_construction: float = 0.0) -> dict:
    """The bridge experiment: trained target, edge-popup at every width factor, the construction's width.

    Returns ``{"settings", "target": {"test_acc", "weights", "construction": [per seed] | None,
    "certified": [per constructed seed] | None}, "factors": [{"factor", "weights", "test_acc"}]}``:
    ``construction`` is the width rule (:func:`construction_width`) of every replica, ``certified`` the
    certified-width search (:func:`certified_construction`) of the first ``construction_seeds``; both
    for fully connected targets only (the dense theorem). The state is saved after the target and
    after every factor. ``ignore_scores`` (masks from the untrained scores) and ``perturb_construction``
    (tickets built for a target whose first layer is off by this relative amount) are deliberately
    broken instances, refused together with a store.
    """
    if perturb_construction and store is not None:
        raise ValueError("perturb_construction is a test fault; run it without a store")
    finished, setup = begin(settings, device, store, progress, ignore_scores)
    if finished is not None:
        return finished
    splits, target_arch, seeds, dense = setup.splits, setup.arch, setup.seeds, setup.dense
    state = _resume(store, settings, device) or {"settings": dataclasses.asdict(settings), "factors": []}
    if state.get("target") is None:
        construction = certified = None
        if all(layer.kind == "linear" for layer in target_arch.layers):
            test = splits.test.to("cpu")
            replicas = [([w[r].double().cpu() for w in dense.weights], [b[r].double().cpu() for b in dense.biases])
                        for r in range(len(seeds))]
            construction = [construction_width(w, b, test, settings.accuracy_gap, settings.delta, settings.construction_c)
                            for w, b in replicas]
            with tqdm(desc="certified construction (builds)", disable=not progress, leave=False) as bar:
                certified = [certified_construction(w, b, test, settings, seed, perturb_construction,
                                                    lambda build: bar.update())
                             for (w, b), seed in zip(replicas[:settings.construction_seeds], seeds)]
        state["target"] = {"test_acc": dense.test_acc, "weights": target_arch.weight_count,
                           "construction": construction, "certified": certified}
        if store is not None:
            store.save_state(state)
    opt = ScoreOptimisation(settings.score_iterations, settings.batch_size, settings.score_lr,
                            weight_decay=settings.weight_decay, eval_every=settings.eval_every)
    todo = [f for f in settings.factors if f not in [row["factor"] for row in state["factors"]]]
    with tqdm(total=len(settings.factors) * opt.iterations, initial=(len(settings.factors) - len(todo)) * opt.iterations,
              desc="edge-popup", disable=not progress, leave=False) as bar:
        for factor in todo:
            bar.set_postfix_str(f"width ×{factor:g}")
            arch = build_architecture(settings.arch, splits.image_shape, splits.num_classes, settings.width * factor)
            frozen = random_weights(arch, settings.weights, settings.keep, settings.scale_fan,
                                    generators(seeds, f"popup/weights/{factor:g}", 0, device), device)
            scores = initial_scores(arch, generators(seeds, f"popup/scores/{factor:g}", 0, device), device)
            masks = popup_masks(settings.keep, scores if ignore_scores else None)
            fitted = fit_scores(arch, frozen, scores, masks, splits, opt,
                                generators(seeds, f"popup/order/{factor:g}", 0, device), bar.update)
            state["factors"].append({"factor": factor, "weights": arch.weight_count,
                                     "hidden": [layer.fan_out for layer in arch.layers[:-1]],
                                     "test_acc": fitted.early_stop_test_acc()})
            if store is not None:
                store.save_state(state)
            if on_factor is not None:
                on_factor(factor)
    state["factors"].sort(key=lambda row: row["factor"])
    summary = {"experiment": "edge_popup", "target": state["target"], "factors": state["factors"]}
    _finish(store, settings, summary, {})
    return {"settings": dataclasses.asdict(settings), **summary}
