r"""Structured pruning of a Llama model to a smaller architecture, GQA-aware.

Given importance scores (:mod:`.importance`) and a target :class:`~.llama.Architecture`, keep in every
kept block the most important

* query heads — ``gqa="within"``: the top ``heads / kv_heads`` heads *inside each* KV group, so every
  KV head keeps serving the same number of query heads and ``h // group`` still names a head's KV
  head; ``gqa="groups"``: the top ``kv_heads`` whole groups by summed head score (a KV head with all
  its query heads);
* MLP neurons (rows of ``gate_proj`` / ``up_proj``, columns of ``down_proj``);
* embedding channels, the same set everywhere on the residual stream (embedding and LM head columns,
  every norm weight, the input columns of q/k/v/gate/up and the output rows of o/down);
* blocks, from a depth ranking (``keep_layers``).

The result is a fresh model of the same class whose config states the new sizes: ``save_pretrained``
then ``from_pretrained`` reload it with nothing but transformers. Iterative pruning reaches the
target in ``steps`` equal moves, re-estimating importance on the partly pruned model before each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from lth.simulations.minitron.importance import DepthScores, WidthScores
from lth.simulations.minitron.llama import Architecture, build_like, check_target, target_config


@dataclass
class Pruned:
    """A pruned model and, relative to the model it came from, what it kept.

    ``layers`` [L'] kept block indices; ``channels`` [D'] kept residual channels; per kept block,
    ``heads`` [L'][H'] query heads, ``kv_heads`` [L'][KV'] and ``neurons`` [L'][I'] kept units.
    """

    model: torch.nn.Module
    architecture: Architecture
    layers: list[int]
    channels: torch.Tensor
    heads: list[torch.Tensor]
    kv_heads: list[torch.Tensor]
    neurons: list[torch.Tensor]

    def summary(self) -> dict:
        return {"architecture": self.architecture.to_dict(), "layers": list(self.layers),
                "parameters": sum(p.numel() for p in self.model.parameters())}


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` largest entries, ascending (ties broken by the lower index)."""
    order = torch.argsort(-scores.float().cpu(), stable=True)
    return order[:k].sort().values


def select_heads(scores: torch.Tensor, arch: Architecture, target: Architecture, gqa: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept query heads, kept KV heads) of one block from its head scores [H]."""
    grouped = scores.float().cpu().view(arch.kv_heads, arch.group)
    if gqa == "within":
        per_group = target.heads // arch.kv_heads
        heads = torch.cat([g * arch.group + _top(grouped[g], per_group) for g in range(arch.kv_heads)])
        return heads, torch.arange(arch.kv_heads)
    groups = _top(grouped.sum(1), target.kv_heads)
    heads = (groups[:, None] * arch.group + torch.arange(arch.group)).flatten()
    return heads, groups


def _rows(weight: torch.Tensor, units: torch.Tensor, size: int) -> torch.Tensor:
    """The rows of ``weight`` belonging to ``units`` of ``size`` rows each."""
    index = (units[:, None] * size + torch.arange(size)).flatten().to(weight.device)
    return weight.index_select(0, index)


def prune(model: torch.nn.Module, scores: WidthScores, target: Architecture,
          keep_layers: Sequence[int] | None = None, gqa: str = "within") -> Pruned:
    """One-shot structured pruning of ``model`` to ``target`` (a fresh model; ``model`` is untouched)."""
    arch = Architecture.of(model)
    check_target(arch, target, gqa)
    target_config(model, target)
    layers = list(range(arch.layers)) if keep_layers is None else sorted(int(i) for i in keep_layers)
    if len(layers) != target.layers or len(set(layers)) != len(layers) or not set(layers) <= set(range(arch.layers)):
        raise ValueError(f"keep_layers must name {target.layers} distinct blocks of 0..{arch.layers - 1}, got {layers}")
    channels = _top(scores.channels, target.hidden)
    ch = channels.to(next(model.parameters()).device)
    d = arch.head_dim
    state: dict[str, torch.Tensor] = {}
    kept_heads, kept_kv, kept_neurons = [], [], []
    with torch.no_grad():
        state["model.embed_tokens.weight"] = model.model.embed_tokens.weight[:, ch].clone()
        state["lm_head.weight"] = model.lm_head.weight[:, ch].clone()
        state["model.norm.weight"] = model.model.norm.weight[ch].clone()
        for new, old in enumerate(layers):
            block = model.model.layers[old]
            attn, mlp = block.self_attn, block.mlp
            heads, kv = select_heads(scores.heads[old], arch, target, gqa)
            neurons = _top(scores.neurons[old], target.intermediate)
            nd = neurons.to(ch.device)
            p = f"model.layers.{new}."
            state[p + "input_layernorm.weight"] = block.input_layernorm.weight[ch].clone()
            state[p + "post_attention_layernorm.weight"] = block.post_attention_layernorm.weight[ch].clone()
            state[p + "self_attn.q_proj.weight"] = _rows(attn.q_proj.weight, heads, d)[:, ch].clone()
            state[p + "self_attn.k_proj.weight"] = _rows(attn.k_proj.weight, kv, d)[:, ch].clone()
            state[p + "self_attn.v_proj.weight"] = _rows(attn.v_proj.weight, kv, d)[:, ch].clone()
            state[p + "self_attn.o_proj.weight"] = _rows(attn.o_proj.weight.t(), heads, d).t()[ch].clone()
            state[p + "mlp.gate_proj.weight"] = mlp.gate_proj.weight[nd][:, ch].clone()
            state[p + "mlp.up_proj.weight"] = mlp.up_proj.weight[nd][:, ch].clone()
            state[p + "mlp.down_proj.weight"] = mlp.down_proj.weight[ch][:, nd].clone()
            kept_heads.append(heads)
            kept_kv.append(kv)
            kept_neurons.append(neurons)
    expected = {_generic(name) for name, _ in model.named_parameters(remove_duplicate=False)} | {"lm_head.weight"}
    unknown = sorted(expected ^ {_generic(name) for name in state})
    if unknown:
        raise ValueError(f"parameters outside the Llama layout: {', '.join(unknown[:5])}")
    pruned = build_like(model, target, state)
    return Pruned(pruned, target, layers, channels, kept_heads, kept_kv, kept_neurons)


def _generic(name: str) -> str:
    """A parameter name with block numbers replaced by ``*``."""
    return ".".join("*" if part.isdigit() else part for part in name.split("."))


def interpolate(start: Architecture, end: Architecture, fraction: float, gqa: str) -> Architecture:
    """The architecture ``fraction`` of the way from ``start`` to ``end`` (head counts kept legal)."""
    def step(a: int, b: int, multiple: int = 1) -> int:
        value = round(a + fraction * (b - a))
        return max(b, min(a, multiple * round(value / multiple)))
    if gqa == "within":
        heads, kv = step(start.heads, end.heads, start.kv_heads), start.kv_heads
    else:
        kv = step(start.kv_heads, end.kv_heads)
        heads = kv * start.group
    return start.replace(hidden=step(start.hidden, end.hidden), heads=heads, kv_heads=kv,
                         intermediate=step(start.intermediate, end.intermediate), layers=step(start.layers, end.layers))


def prune_iteratively(model: torch.nn.Module, target: Architecture, steps: int,
                      importance: Callable[[torch.nn.Module], tuple[WidthScores, DepthScores | None]],
                      gqa: str = "within", depth_by: str = "bi") -> Pruned:
    """Prune in ``steps`` moves toward ``target``, re-scoring the current model with ``importance``
    before each move (``steps=1`` is one-shot). Kept indices are composed back to ``model``'s units."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    arch = Architecture.of(model)
    check_target(arch, target, gqa)
    current = model
    result: Pruned | None = None
    for step in range(1, steps + 1):
        now = Architecture.of(current)
        goal = target if step == steps else interpolate(arch, target, step / steps, gqa)
        width, depth = importance(current)
        if goal.layers < now.layers and depth is None:
            raise ValueError("depth pruning needs depth scores from the importance function")
        keep = depth.keep(goal.layers, depth_by) if goal.layers < now.layers else None
        moved = prune(current, width, goal, keep, gqa)
        result = moved if result is None else _compose(result, moved)
        current = moved.model
    return result


def _compose(first: Pruned, second: Pruned) -> Pruned:
    """``second`` (pruned from ``first.model``) with its kept units named in ``first``'s source model."""
    layers = [first.layers[i] for i in second.layers]
    heads = [first.heads[i][h] for i, h in zip(second.layers, second.heads)]
    kv = [first.kv_heads[i][k] for i, k in zip(second.layers, second.kv_heads)]
    neurons = [first.neurons[i][n] for i, n in zip(second.layers, second.neurons)]
    return Pruned(second.model, second.architecture, layers, first.channels[second.channels], heads, kv, neurons)


def scaled(arch: Architecture, *, hidden: float = 1.0, heads: float = 1.0, intermediate: float = 1.0,
           layers: float = 1.0, gqa: str = "within") -> Architecture:
    """``arch`` with each size multiplied by a keep fraction and rounded to a legal target:
    heads to a multiple of the KV heads (``within``) or of the group size (``groups``), hidden to a
    multiple of the heads (transformers' Llama config asks for it), at least one unit of each, and at
    least one block dropped when ``layers < 1``."""
    multiple = arch.kv_heads if gqa == "within" else arch.group
    h = max(multiple, multiple * round(arch.heads * heads / multiple))
    d = max(h, h * int(arch.hidden * hidden / h))
    depth = arch.layers if layers >= 1 else max(1, min(arch.layers - 1, round(arch.layers * layers)))
    return arch.replace(hidden=d, heads=h, kv_heads=arch.kv_heads if gqa == "within" else h // arch.group,
                        intermediate=max(1, round(arch.intermediate * intermediate)), layers=depth)
