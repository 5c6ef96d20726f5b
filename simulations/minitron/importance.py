r"""Importance of the prunable parts of a Llama model, estimated from forward passes.

**Width** (Muralidharan et al. 2024, §2.2), on calibration windows $X$ of shape [B, S]:

* head $h$ of layer $l$: $\|\mathrm{Attn}_h(X)\|_2$ over the head's ``head_dim`` outputs (the input of
  ``o_proj``), a value per token, [B, S, H];
* MLP neuron $i$: the SwiGLU activation $\mathrm{silu}(xW_g^i)\,(xW_u^i)$ entering ``down_proj``, [B, S, I];
* embedding channel $c$: the output of every RMSNorm (both per block and the final one), summed over
  the norms, [B, S, D].

Per-token values are aggregated over the sequence first and the batch second, each with one of
``mean`` (of absolute values), ``l2`` (Euclidean norm) or ``var`` (variance); the paper's best,
(batch ``l2``, sequence ``mean``), is the default. The sequence aggregate of every sample is streamed
into sums and sums of squares, so one pass yields all nine (batch, sequence) pairs.

**Depth**: with $x_i$ the residual stream entering block $i$,

* perplexity drop: $\mathrm{PPL}(\text{model without block } i) - \mathrm{PPL}(\text{model})$;
* Block Importance $\mathrm{BI}_i = 1 - \mathbb{E}_{X,t}\big[x_{i,t}^\top x_{i+1,t} / (\|x_{i,t}\|\|x_{i+1,t}\|)\big]$.

Both come from one pass that stores every $x_i$ (the perplexity drop re-runs only blocks $i+1..L-1$).

**Baselines** at the same architecture: weight magnitude (the L2 norm of every weight a head, neuron
or channel owns) and uniform random scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

AGGREGATIONS = ("mean", "l2", "var")
DEFAULT_BATCH, DEFAULT_SEQUENCE = "l2", "mean"
OnTokens = Callable[[int], None] | None


def reduce(values: torch.Tensor, dim: int, how: str) -> torch.Tensor:
    """Aggregate ``values`` over ``dim``: ``mean`` of |values|, ``l2`` norm, or (population) ``var``."""
    if how == "mean":
        return values.abs().mean(dim)
    if how == "l2":
        return values.norm(dim=dim)
    if how == "var":
        return values.var(dim, unbiased=False)
    raise ValueError(f"aggregation {how!r} not in {AGGREGATIONS}")


def batches(ids: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """Consecutive mini-batches of the rows of ``ids`` [N, S]."""
    for start in range(0, ids.shape[0], batch_size):
        yield ids[start:start + batch_size]


@dataclass
class WidthScores:
    """Importance per prunable width unit: ``heads`` [L, H], ``neurons`` [L, I], ``channels`` [D]."""

    heads: torch.Tensor
    neurons: torch.Tensor
    channels: torch.Tensor
    method: str = "activation"

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"heads": self.heads, "neurons": self.neurons, "channels": self.channels}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], method: str = "activation") -> "WidthScores":
        return cls(tensors["heads"], tensors["neurons"], tensors["channels"], method)

    def shuffled(self, gen: torch.Generator) -> "WidthScores":
        """The same score values assigned to units at random (each layer's row permuted): a broken ranking."""
        def permute(rows: torch.Tensor) -> torch.Tensor:
            return torch.stack([r[torch.randperm(r.numel(), generator=gen, device=gen.device).to(r.device)]
                                for r in rows.reshape(-1, rows.shape[-1])]).reshape(rows.shape)
        return WidthScores(permute(self.heads), permute(self.neurons), permute(self.channels), f"{self.method}-shuffled")


@dataclass
class _Moments:
    """Per-unit sums over samples of one sequence aggregate (and its square), for every aggregate."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    squares: dict[str, torch.Tensor] = field(default_factory=dict)
    samples: int = 0

    def add(self, per_sample: dict[str, torch.Tensor]) -> None:
        for how, values in per_sample.items():
            values = values.double()
            self.sums[how] = self.sums.get(how, 0) + values.sum(0)
            self.squares[how] = self.squares.get(how, 0) + (values ** 2).sum(0)
        self.samples += next(iter(per_sample.values())).shape[0]

    def score(self, batch: str, sequence: str) -> torch.Tensor:
        mean = self.sums[sequence] / self.samples
        if batch == "mean":
            return mean.float()
        if batch == "l2":
            return self.squares[sequence].sqrt().float()
        if batch == "var":
            return (self.squares[sequence] / self.samples - mean ** 2).clamp_min(0).float()
        raise ValueError(f"aggregation {batch!r} not in {AGGREGATIONS}")


def _per_sample(values: torch.Tensor) -> dict[str, torch.Tensor]:
    """[B, S, C] → {aggregate: [B, C]} over the sequence axis."""
    return {how: reduce(values.float(), 1, how) for how in AGGREGATIONS}


@dataclass
class WidthStatistics:
    """Streamed activation moments; :meth:`scores` turns them into :class:`WidthScores`."""

    heads: list[_Moments]
    neurons: list[_Moments]
    channels: _Moments
    tokens: int = 0

    def scores(self, batch: str = DEFAULT_BATCH, sequence: str = DEFAULT_SEQUENCE) -> WidthScores:
        for how in (batch, sequence):
            if how not in AGGREGATIONS:
                raise ValueError(f"aggregation {how!r} not in {AGGREGATIONS}")
        return WidthScores(torch.stack([m.score(batch, sequence) for m in self.heads]),
                           torch.stack([m.score(batch, sequence) for m in self.neurons]),
                           self.channels.score(batch, sequence), f"activation({batch},{sequence})")

    def grid(self) -> dict[tuple[str, str], WidthScores]:
        """All nine (batch, sequence) aggregations."""
        return {(b, s): self.scores(b, s) for b in AGGREGATIONS for s in AGGREGATIONS}


@torch.no_grad()
def score_width(model: torch.nn.Module, ids: torch.Tensor, batch_size: int = 8,
                on_tokens: OnTokens = None) -> WidthStatistics:
    """Activation statistics of heads, neurons and channels over calibration windows ``ids`` [N, S]."""
    layers = model.model.layers
    head_dim = layers[0].self_attn.head_dim
    stats = WidthStatistics([_Moments() for _ in layers], [_Moments() for _ in layers], _Moments())
    channel_sums: dict[str, torch.Tensor] = {}

    def head_hook(index: int):
        def hook(module, args):
            x = args[0]
            stats.heads[index].add(_per_sample(x.view(*x.shape[:2], -1, head_dim).norm(dim=-1)))
        return hook

    def neuron_hook(index: int):
        def hook(module, args):
            stats.neurons[index].add(_per_sample(args[0]))
        return hook

    def norm_hook(module, args, output):
        for how, values in _per_sample(output).items():
            channel_sums[how] = channel_sums.get(how, 0) + values

    handles = []
    for index, layer in enumerate(layers):
        handles.append(layer.self_attn.o_proj.register_forward_pre_hook(head_hook(index)))
        handles.append(layer.mlp.down_proj.register_forward_pre_hook(neuron_hook(index)))
        handles.append(layer.input_layernorm.register_forward_hook(norm_hook))
        handles.append(layer.post_attention_layernorm.register_forward_hook(norm_hook))
    handles.append(model.model.norm.register_forward_hook(norm_hook))
    try:
        for batch in batches(ids, batch_size):
            channel_sums.clear()
            model.model(input_ids=batch.to(model.device), use_cache=False)
            stats.channels.add(channel_sums)
            stats.tokens += batch.numel()
            if on_tokens:
                on_tokens(batch.numel())
    finally:
        for handle in handles:
            handle.remove()
    return stats


def magnitude_scores(model: torch.nn.Module) -> WidthScores:
    """Weight-norm importance: the L2 norm of all weights each head, neuron or channel owns.

    Head h: its rows of q_proj and its columns of o_proj; neuron i: row i of gate_proj and up_proj,
    column i of down_proj; channel c: column c of the embedding and of every matrix reading the
    residual stream, row c of every matrix writing to it.
    """
    layers = model.model.layers
    head_dim = layers[0].self_attn.head_dim
    heads, neurons = [], []
    channels = model.model.embed_tokens.weight.detach().pow(2).sum(0)
    if not model.config.tie_word_embeddings:
        channels = channels + model.lm_head.weight.detach().pow(2).sum(0)
    for layer in layers:
        attn, mlp = layer.self_attn, layer.mlp
        q = attn.q_proj.weight.detach().pow(2).view(-1, head_dim, attn.q_proj.in_features).sum((1, 2))
        o = attn.o_proj.weight.detach().pow(2).view(attn.o_proj.out_features, -1, head_dim).sum((0, 2))
        heads.append((q + o).sqrt())
        neurons.append((mlp.gate_proj.weight.detach().pow(2).sum(1) + mlp.up_proj.weight.detach().pow(2).sum(1)
                        + mlp.down_proj.weight.detach().pow(2).sum(0)).sqrt())
        for reader in (attn.q_proj, attn.k_proj, attn.v_proj, mlp.gate_proj, mlp.up_proj):
            channels = channels + reader.weight.detach().pow(2).sum(0)
        for writer in (attn.o_proj, mlp.down_proj):
            channels = channels + writer.weight.detach().pow(2).sum(1)
    return WidthScores(torch.stack(heads), torch.stack(neurons), channels.sqrt(), "magnitude")


def random_scores(like: WidthScores, gen: torch.Generator) -> WidthScores:
    """Uniform random scores of the same shapes (drawn from ``gen``)."""
    def draw(t: torch.Tensor) -> torch.Tensor:
        return torch.rand(t.shape, generator=gen, device=gen.device).to(t.device)
    return WidthScores(draw(like.heads), draw(like.neurons), draw(like.channels), "random")


@dataclass(frozen=True)
class Perplexity:
    """Mean next-token negative log-likelihood ``nll`` (nats) over ``tokens`` predicted tokens."""

    nll: float
    tokens: int

    @property
    def ppl(self) -> float:
        return math.exp(self.nll)


def next_token_nll(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Summed NLL of ``ids[:, 1:]`` under ``logits[:, :-1]`` ([B, S, V], [B, S])."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten(), reduction="sum")


@torch.no_grad()
def perplexity(model: torch.nn.Module, ids: torch.Tensor, batch_size: int = 8, on_tokens: OnTokens = None) -> Perplexity:
    """Held-out perplexity of ``model`` on windows ``ids`` [N, S]."""
    total, count = 0.0, 0
    for batch in batches(ids, batch_size):
        batch = batch.to(model.device)
        total += float(next_token_nll(model(input_ids=batch, use_cache=False).logits, batch))
        count += batch[:, 1:].numel()
        if on_tokens:
            on_tokens(batch.numel())
    return Perplexity(total / count, count)


@dataclass
class DepthScores:
    """Per block: Block Importance ``bi`` [L] and perplexity increase when dropped ``ppl_drop`` [L]."""

    bi: torch.Tensor
    ppl_drop: torch.Tensor
    base: Perplexity | None = None

    def ranking(self, by: str) -> list[int]:
        """Block indices from least to most important by ``bi`` or ``ppl_drop``."""
        if by not in ("bi", "ppl_drop"):
            raise ValueError(f"depth importance {by!r} not in ('bi', 'ppl_drop')")
        return torch.argsort(getattr(self, by), stable=True).tolist()

    def keep(self, layers: int, by: str) -> list[int]:
        """The ``layers`` most important blocks by ``by``, in model order."""
        return sorted(self.ranking(by)[len(self.bi) - layers:])

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"bi": self.bi, "ppl_drop": self.ppl_drop}


def _block_inputs(model: torch.nn.Module, ids: torch.Tensor) -> tuple[list[torch.Tensor], dict]:
    """The residual stream entering every block and leaving the last ([L + 1] × [B, S, D]) and the
    keyword arguments the model passes its blocks (masks, rotary embeddings)."""
    states: list[torch.Tensor] = []
    captured: dict = {}

    def enter(module, args, kwargs):
        states.append(args[0] if args else kwargs["hidden_states"])
        if not captured:
            captured.update({k: v for k, v in kwargs.items() if k != "hidden_states"})

    layers = model.model.layers
    handles = [layer.register_forward_pre_hook(enter, with_kwargs=True) for layer in layers]
    handles.append(layers[-1].register_forward_hook(lambda module, args, output: states.append(
        output[0] if isinstance(output, tuple) else output)))
    try:
        model.model(input_ids=ids, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    return states, captured


@torch.no_grad()
def score_depth(model: torch.nn.Module, ids: torch.Tensor, batch_size: int = 8, with_ppl: bool = True,
                on_tokens: OnTokens = None) -> DepthScores:
    """Block Importance and (if ``with_ppl``) the perplexity increase of dropping each block, on ``ids``."""
    layers = model.model.layers
    count = len(layers)
    cosine = torch.zeros(count, dtype=torch.float64)
    nll = torch.zeros(count + 1, dtype=torch.float64)  # nll[i]: block i dropped; nll[count]: none dropped
    tokens = predicted = 0
    head = lambda h: model.lm_head(model.model.norm(h))  # noqa: E731 - the model's own output head
    for batch in batches(ids, batch_size):
        batch = batch.to(model.device)
        states, kwargs = _block_inputs(model, batch)
        for i in range(count):
            cosine[i] += F.cosine_similarity(states[i], states[i + 1], dim=-1).double().sum()
        nll[count] += float(next_token_nll(head(states[count]), batch))
        if with_ppl:
            for i in range(count):
                h = states[i]
                for j in range(i + 1, count):
                    h = layers[j](h, **kwargs)
                    h = h[0] if isinstance(h, tuple) else h
                nll[i] += float(next_token_nll(head(h), batch))
        tokens += batch.numel()
        predicted += batch[:, 1:].numel()
        if on_tokens:
            on_tokens(batch.numel())
    mean_nll = nll / predicted
    base = Perplexity(float(mean_nll[count]), predicted)
    drop = (mean_nll[:count].exp() - math.exp(base.nll)).float() if with_ppl else torch.full((count,), float("nan"))
    return DepthScores((1 - cosine / tokens).float(), drop, base)
