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
construction (``theory.dense``, width rule $m = 2\lceil C\ln(d_{in}d_{out}l/\min(\varepsilon,
\delta))\rceil$ units per input) needs to approximate the same target so closely that no more than
a fraction ``accuracy_gap`` of the test images can change class.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from simulations.data import Split
from simulations.imp import RunStore
from simulations.models import Architecture, build_architecture
from simulations.supermask import (DataSettings, ScoreOptimisation, _finish, _help, _resume, begin, fit_scores,
                                   generators, keep_count, top_k_mask)
from theory.dense import DEFAULT_C, Target, bound_units_per_input, rescale

WEIGHT_INITS = ("kaiming_normal", "signed_constant")


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


@dataclass(frozen=True)
class EdgePopupSettings(DataSettings):
    """Edge-popup on random networks of several widths beside a trained dense target.

    ``width`` (inherited) is the target's hidden width factor; ``iterations``/``lr`` train the target.
    """

    factors: tuple[float, ...] = _help("random-network widths, as multiples of the target's", default=(1, 2, 4, 8, 16))
    keep: float = _help("fraction k of each layer's weights the subnetwork keeps", default=0.5)
    weights: str = _help("frozen random weights: kaiming_normal or signed_constant", default="signed_constant")
    scale_fan: bool = _help("scale the weights' variance by 1/k (the paper's scaled variant)", default=True)
    score_iterations: int = _help("training iterations of the scores", default=5000)
    score_lr: float = _help("SGD learning rate of the scores (momentum 0.9, cosine decay)", default=0.1)
    weight_decay: float = _help("weight decay on the scores", default=5e-4)
    accuracy_gap: float = _help("the construction may change at most this fraction of test predictions",
                                default=0.01)
    delta: float = _help("failure probability δ in the construction's width rule", default=0.01)
    construction_c: float = _help("constant C of the construction's width rule (measured, not proven)",
                                  default=DEFAULT_C)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.factors or any(f <= 0 for f in self.factors):
            raise ValueError(f"factors must be positive, got {self.factors}")
        if not 0 < self.keep <= 1:
            raise ValueError(f"keep must lie in (0, 1], got {self.keep}")
        if self.weights not in WEIGHT_INITS:
            raise ValueError(f"unknown random weights {self.weights!r}; choose one of {', '.join(WEIGHT_INITS)}")
        if self.score_iterations < 1:
            raise ValueError("score_iterations must be >= 1")
        if not 0 < self.accuracy_gap < 1 or not 0 < self.delta < 1:
            raise ValueError("accuracy_gap and delta must lie in (0, 1)")


def construction_width(weights: list[torch.Tensor], biases: list[torch.Tensor], test: Split, accuracy_gap: float,
                       delta: float, c: float = DEFAULT_C) -> dict[str, Any]:
    """The random network Pensia et al.'s construction needs for one trained MLP target.

    ``weights[i]`` [d_i, d_{i-1}], ``biases[i]`` [d_i] (one replica). Steps: the target's top-two
    logit gaps on ``test``; $\\varepsilon$ = half their ``accuracy_gap``-quantile, so a ticket within
    $\\varepsilon$ (sup over the inputs, Euclidean) keeps every other test prediction; the ball of
    radius $R = \\max\\|x\\|$ over the test images is mapped to the unit ball (first layer times R)
    and layers with norm above 1 are rescaled (``theory.dense.rescale``), which scales the tolerance
    to $c\\varepsilon$; the width rule then gives each block's fan-out. Returns the fan-outs, hidden
    widths, random-network weight count and the numbers behind them.
    """
    x = test.x.reshape(len(test), -1).to(torch.float64)
    weights = [w.to(torch.float64) for w in weights]
    biases = [b.to(torch.float64) for b in biases]
    target = Target(weights, biases)
    logits = target(x)
    top2 = logits.topk(2, dim=1).values
    gaps = top2[:, 0] - top2[:, 1]
    eps = 0.5 * float(torch.quantile(gaps, accuracy_gap))
    radius = float(x.norm(dim=1).max())
    unit, factor = rescale(Target([weights[0] * radius] + weights[1:], biases))
    tolerance = min(eps * factor, 0.5)
    widths = [w.shape[1] for w in unit.augmented()] + [unit.widths[-1]]
    units = [bound_units_per_input(a, b, unit.depth, tolerance, delta, c) for a, b in zip(widths[:-1], widths[1:])]
    hidden = [m * a for m, a in zip(units, widths[:-1])]
    parameters = sum(h * a + b * h for h, a, b in zip(hidden, widths[:-1], widths[1:]))
    return {"eps_logits": eps, "input_radius": radius, "rescale_factor": factor, "tolerance": tolerance,
            "units_per_input": units, "hidden_widths": hidden, "weights": parameters,
            "target_weights": sum(w.numel() for w in weights)}


def run_edge_popup(settings: EdgePopupSettings, device: torch.device, *, store: RunStore | None = None,
                   progress: bool = True, on_factor: Callable[[float], None] | None = None,
                   ignore_scores: bool = False) -> dict:
    """The bridge experiment: trained target, edge-popup at every width factor, the construction's width.

    Returns ``{"settings", "target": {"test_acc", "weights", "construction": [per seed] | None},
    "factors": [{"factor", "weights", "test_acc"}]}``; the construction is computed for fully
    connected targets only (the dense theorem). The state is saved after every factor.
    ``ignore_scores`` is a deliberately broken instance (masks from the untrained scores), refused
    together with a store.
    """
    finished, setup = begin(settings, device, store, progress, ignore_scores)
    if finished is not None:
        return finished
    splits, target_arch, seeds, dense = setup.splits, setup.arch, setup.seeds, setup.dense
    state = _resume(store, settings, device) or {"settings": dataclasses.asdict(settings), "factors": []}
    if state.get("target") is None:
        construction = None
        if all(layer.kind == "linear" for layer in target_arch.layers):
            construction = [construction_width([w[r].double().cpu() for w in dense.weights],
                                               [b[r].double().cpu() for b in dense.biases], splits.test.to("cpu"),
                                               settings.accuracy_gap, settings.delta, settings.construction_c)
                            for r in range(len(seeds))]
        state["target"] = {"test_acc": dense.test_acc, "weights": target_arch.weight_count,
                           "construction": construction}
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
