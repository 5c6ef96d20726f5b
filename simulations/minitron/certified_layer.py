r"""A certified strong lottery ticket for one decoder layer of a real causal LM, measured on held-out text.

The object. For a Llama-style model, decoder layer $\ell$ with chosen linear maps replaced by pruned random
ReLU networks (:mod:`lth.theory.llama_layer`, Pensia et al.'s construction): the hidden states
$x\in\mathbb{R}^{N\times T\times d}$ that held-out windows feed into layer $\ell$, the smallest target
post-attention residual norm $\rho_{\rm seen}$ among them and the certificate on sequences whose residuals have
norm $\ge\rho = \rho_{\rm seen}/\mathrm{margin}$ (Proposition L of proofs/llama_layer.md), beside measured
errors (the windows' own and an adversarial search from the worst of them) and the held-out next-token NLL
of the whole model with the layer ticketed against the original. :func:`measure_layer_ticket` computes all
of it; the claim ``slth.llama.layer`` judges it and ``lth ticket MODEL --llama-layer L`` writes it out.

The model (:func:`language_model`): ``smollm2`` (the packaged GGUF), a ``.gguf`` file, a Llama model directory
(:func:`lth.simulations.minitron.llama.load_causal_lm`, causal, float32), or ``tiny``: a small grouped-query
Llama pre-trained for a few seconds on the code source with byte tokens (tests). :func:`model_architecture`
reads its sizes from the config alone, without torch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from lth.simulations.minitron.corpus import SOURCES

if TYPE_CHECKING:  # torch is imported where a model runs: model_architecture answers the CLI's checks without it
    import torch

    from lth.theory.dense import DenseTicket
    from lth.theory.llama_layer import DecoderLayer, LayerTicket
    from lth.simulations.minitron.llama import Architecture
    from lth.theory.objects import Certificate, Witness

TINY = "tiny"
TEXTS = ("mixed", *SOURCES)


@functools.lru_cache(maxsize=1)
def language_model(model: str, length: int, tiny_steps: int, device: str) -> tuple[torch.nn.Module, Callable]:
    """``(causal LM, text → token ids)`` for ``model`` (module docstring). One cached copy per process, replaced
    when another is asked for; ``length`` and ``tiny_steps`` shape the 'tiny' model's pre-training only."""
    import torch

    from lth.simulations.minitron.corpus import mixed_windows
    from lth.simulations.minitron.distillation import recover
    from lth.simulations.minitron.llama import byte_encode, load_causal_lm, load_tokenizer, text_encoder, tiny_llama
    from lth.theory.device import generator

    if model != TINY:
        return load_causal_lm(model, device), text_encoder(model, load_tokenizer(model))
    net = tiny_llama(generator(0, torch.device("cpu"))).to(device)
    train = torch.cat(list(mixed_windows("train", byte_encode, 128, length, 1, ("code",)).values()))
    recover(net, train, method="ce", steps=tiny_steps, batch_size=8, lr=1e-2, gen=generator(2, torch.device("cpu")))
    return net, byte_encode


def model_architecture(model: str) -> Architecture:
    """The sizes of ``model`` from its config alone (GGUF header or config.json; no torch, no weight); for
    ``tiny``, those of :func:`lth.simulations.minitron.llama.tiny_llama` at its defaults. ``ValueError`` for
    a checkpoint that is not a Llama-style causal LM."""
    from lth.simulations.minitron.llama import Architecture, model_sizes

    if model == TINY:
        return Architecture(hidden=32, heads=4, kv_heads=2, intermediate=64, layers=4, head_dim=8)
    return model_sizes(model).architecture


def text_sources(text: str) -> tuple[str, ...]:
    """The corpus sources of ``text`` (``mixed``: all of them); ``ValueError`` for another name."""
    if text not in TEXTS:
        raise ValueError(f"text {text!r} not in {TEXTS}")
    return SOURCES if text == "mixed" else (text,)


def layer_inputs(model: torch.nn.Module, index: int, ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The residual stream entering decoder layer ``index`` for windows ``ids`` ``[N, S]`` → ``[N, S, d]``."""
    import torch

    captured = []

    def keep(module, args, kwargs):
        captured.append((args[0] if args else kwargs["hidden_states"]).detach())

    handle = model.model.layers[index].register_forward_pre_hook(keep, with_kwargs=True)
    try:
        with torch.no_grad():
            for batch in ids.split(batch_size):
                model(input_ids=batch.to(model.device), use_cache=False)
    finally:
        handle.remove()
    return torch.cat(captured)


def window_nlls(model: torch.nn.Module, ids: torch.Tensor) -> list[float]:
    """Mean next-token NLL (nats) of each window of ``ids`` ``[N, S]``."""
    from lth.simulations.minitron.importance import perplexity

    return [perplexity(model, ids[i:i + 1], 1).nll for i in range(ids.shape[0])]


@dataclass
class LayerMeasurement:
    """What :func:`measure_layer_ticket` found for one ticketed decoder layer.

    ``target`` and ``ticket``: the float64 layer and its ticket; ``ids`` ``[N, S]`` the held-out windows (by
    source in ``sources``) and ``x`` ``[N, S, d]`` their hidden states entering the layer; ``rho_seen`` the
    smallest target post-attention residual norm among them and ``rho = rho_seen / margin``; ``everywhere`` and
    ``reached`` the certificates for ``rho = 0`` and ``rho``; measured (float64, lower bounds on the sups):
    ``errors`` ``[N, S]`` the layer output's errors at ``x``, ``heldout_attention`` the largest post-attention
    residual error at ``x``, ``searched`` the adversarial search (:func:`lth.theory.llama_layer.search_residual_error`);
    ``nll_original`` and ``nll_ticketed`` the per-window held-out NLLs of the whole model; ``settings`` the
    arguments of the call that are not tensors (layer, maps, units, margin, search_restarts, search_steps).
    """

    settings: dict
    target: DecoderLayer
    ticket: LayerTicket
    ids: torch.Tensor
    sources: list[str]
    x: torch.Tensor
    rho_seen: float
    rho: float
    everywhere: Certificate
    reached: Certificate
    errors: torch.Tensor
    heldout_attention: float
    searched: Witness
    nll_original: list[float]
    nll_ticketed: list[float]

    @property
    def empirical_attention(self) -> float:
        """The largest post-attention residual error found: held-out windows and the search."""
        return max(self.heldout_attention, self.searched.error)

    def nll(self) -> dict[str, float]:
        """Mean held-out next-token NLL (nats) of the whole model, ``original`` and ``ticketed``."""
        return {"original": sum(self.nll_original) / len(self.nll_original),
                "ticketed": sum(self.nll_ticketed) / len(self.nll_ticketed)}

    def nll_difference(self) -> dict:
        """95% Student-t interval of the paired per-window NLL difference (ticketed − original)."""
        from lth.simulations.statistics import t_interval

        diff = t_interval([b - a for a, b in zip(self.nll_original, self.nll_ticketed)])
        return {"mean": diff[0], "ci": [diff[1], diff[2]], "windows": len(self.nll_original)}

    def details(self, eps: float) -> dict:
        """The numbers as the claim's record holds them (``eps``: the tolerance in residual-stream units)."""
        s, target, ticket, errors, reached = self.settings, self.target, self.ticket, self.errors, self.reached
        token_norms = self.x.norm(dim=-1)
        nll = self.nll()
        return {
            "layer": s["layer"], "maps": list(s["maps"]), "units": s["units"],
            "layer_parameters": target.parameters,
            "ticketed_parameters": sum(target.maps[n].numel() for n in s["maps"]),
            "random_parameters": ticket.total, "kept_parameters": ticket.kept,
            "random_per_layer_parameter": ticket.total / target.parameters,
            "certified_everywhere": self.everywhere.value, "certified_reached": reached.value,
            "rho": self.rho, "rho_seen": self.rho_seen, "margin": s["margin"], "eps": eps,
            "input_norm_max": float(token_norms.max()), "input_norm_min": float(token_norms.min()),
            "output_norm_median": float(target(self.x).norm(dim=-1).median()),
            "certified_attention": reached.parts["attention"], "empirical_attention": self.empirical_attention,
            "heldout_attention": self.heldout_attention, "searched_attention": self.searched.error,
            "searched_token_norm_max": float(self.searched.x.norm(dim=-1).max()),
            "search": {"restarts": s["search_restarts"], "steps": s["search_steps"]},
            "empirical_max": float(errors.max()), "empirical_mean": float(errors.mean()),
            "positions": int(errors.numel()),
            "parts_reached": reached.parts, "parts_everywhere": self.everywhere.parts,
            "nll": nll, "perplexity": {k: math.exp(v) for k, v in nll.items()},
            "nll_difference": self.nll_difference(), "tokens": int(self.ids.numel()), "sources": self.sources,
        }


def measure_layer_ticket(net: torch.nn.Module, encode: Callable[[str], list[int]], *, layer: int,
                         maps: tuple[str, ...], units: int, seed: int, pool_cap: int, retry_cap: int | None,
                         margin: float, text: str, heldout: int, length: int, heldout_seed: int, batch_size: int,
                         search_restarts: int, search_steps: int, device: torch.device | str = "cpu",
                         tamper: Callable[[DenseTicket], None] | None = None) -> LayerMeasurement:
    """Ticket decoder layer ``layer`` of ``net`` (maps ``maps``, map ``i`` of MAPS drawn from ``seed + i``,
    :func:`lth.theory.llama_layer.construct_layer_ticket`), certify it and measure it on ``heldout`` windows of
    ``length`` tokens of ``text`` drawn with ``heldout_seed`` (:class:`LayerMeasurement`). ``ValueError`` for a
    layer index out of range. ``tamper``: see :func:`lth.theory.llama_layer.construct_map_ticket`."""
    import torch

    from lth.simulations.minitron.corpus import mixed_windows
    from lth.theory.llama_layer import (certify_layer, construct_layer_ticket, from_llama, layer_constants,
                                        position_errors, search_residual_error, substituted)

    blocks = net.model.layers
    if not 0 <= layer < len(blocks):
        raise ValueError(f"layer {layer} not in 0..{len(blocks) - 1}")
    target = from_llama(blocks[layer], net.config)
    ticket = construct_layer_ticket(target, tuple(maps), units, seed, pool_cap=pool_cap, retry_cap=retry_cap,
                                    device=device, tamper=tamper)
    windows = mixed_windows("heldout", encode, heldout, length, heldout_seed, text_sources(text))
    ids = torch.cat(list(windows.values()))
    x = layer_inputs(net, layer, ids, batch_size).to(torch.float64)
    with torch.no_grad():
        h = target.residual(x)
        residual_errors = (target.residual(x, ticket.linear()) - h).norm(dim=-1)
        errors = position_errors(target, ticket, x)
    rho_seen = float(h.norm(dim=-1).min())
    rho = rho_seen / margin
    constants = layer_constants(target, ticket)
    everywhere = certify_layer(target, ticket, 0.0, constants)
    reached = certify_layer(target, ticket, rho, constants)
    searched = search_residual_error(target, ticket, x, restarts=search_restarts, steps=search_steps)
    original = window_nlls(net, ids)
    with substituted(blocks[layer], target, ticket):
        ticketed = window_nlls(net, ids)
    settings = {"layer": layer, "maps": tuple(maps), "units": units, "margin": margin,
                "search_restarts": search_restarts, "search_steps": search_steps}
    return LayerMeasurement(settings, target, ticket, ids, list(windows), x, rho_seen, rho, everywhere, reached, errors,
                            float(residual_errors.max()), searched, original, ticketed)
