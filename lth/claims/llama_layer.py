"""A certified strong lottery ticket for one decoder layer of SmolLM2 (proofs/llama_layer.md).

Method. Load the model causally (the cached copy of
:func:`lth.simulations.minitron.certified_layer.language_model`, so ``lth verify`` reads the GGUF once for all
its LM claims), take decoder layer ``layer`` with its norm gains folded into the
maps (``lth.theory.llama_layer.from_llama``), replace the chosen linear maps by pruned random two-layer
ReLU networks (Pensia et al.'s construction, ``lth.theory.dense``), and certify the layer's output error
(``certify_layer``) twice: on every input sequence, and on the sequences whose target post-attention
residuals have norm ≥ ρ, the smallest such norm met on held-out prose divided by ``margin``. The
held-out prose windows give the empirical side: the largest errors of the ticketed layer at their
hidden states (float64, they lie in the domain), and the held-out next-token NLL of the whole model
with the layer replaced by its ticket against the original (measured, not certified). The instance
holds when the post-attention residual's error is empirical ≤ certified ≤ ε, ε being ``eps`` times the
smallest post-attention residual norm met on the held-out windows, and the layer output's empirical
error is ≤ its certificate (``judge_certificate``). The output certificate is reported, not judged
against ε: its worst-case SwiGLU gain makes it vacuous at the accuracies a CPU builds
(proofs/llama_layer.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from lth.claims.minitron import HELDOUT_SEED, needs_prose
from lth.claims.slth_dense import flip_largest_kept
from lth.registry import COUNT, POSITIVE, Context, Quantity, Record, claim, param
from lth.validate import non_negative_int
from lth.verdict import combine, judge_certificate
from lth.simulations.minitron.certified_layer import language_model, measure_layer_ticket
from lth.theory.llama_layer import MAPS

PROOF = "proofs/llama_layer.md"


@dataclass(frozen=True)
class LayerFaults:
    prune_kept: int = param(0, "prune this many kept second-layer entries with the largest |b·a| in every row "
                               "block of the first ticketed map (a broken ticket)")


@dataclass(frozen=True)
class LayerParams:
    """One decoder layer of SmolLM2-135M-Instruct, some of its maps replaced by certified tickets."""

    model: str = param("smollm2", "smollm2 (the packaged GGUF), a .gguf file, a Llama model directory, or 'tiny'")
    text: str = param("prose", "held-out text: prose (Python documentation), code, or mixed")
    layer: int = param(15, "decoder layer replaced (0-based; SmolLM2 has 30)", domain=non_negative_int)
    maps: tuple[str, ...] = param(("v_proj",), f"maps replaced by tickets, from {MAPS}")
    units: int = param(64, "hidden units per input of each map's random network (both signs)", domain=COUNT)
    pool_cap: int = param(16, "largest subset-sum pool per weight and sign branch", domain=COUNT)
    retry_cap: int = param(24, "pool size of the second pass on the 2% of weights with the largest errors")
    margin: float = param(2.0, "rho = (smallest post-attention residual norm on the held-out windows) / margin",
                          domain=POSITIVE)
    # any ε > 0: the certificate is rigorous at every tolerance, and the tiny model's tests judge at ε ≫ 1
    eps: float = param(0.1, "tolerance on the certified max-over-positions l2 error of the layer's output, as a "
                            "fraction of the smallest post-attention residual norm met on the held-out windows",
                       domain=POSITIVE)
    length: int = param(64, "tokens per held-out window", domain=COUNT)
    heldout: int = param(8, "held-out windows (seed fixed: the same windows as the Minitron claims' draw 0)",
                         domain=COUNT)
    batch_size: int = param(8, "windows per forward pass", domain=COUNT)
    search_restarts: int = param(2, "held-out windows the adversarial search starts from (the worst ones)",
                                 domain=COUNT)
    search_steps: int = param(10, "projected gradient steps of the adversarial search on the post-attention error",
                              domain=COUNT)
    tiny_steps: int = param(120, "pre-training steps of the 'tiny' model (ignored otherwise)", domain=COUNT)


@claim("slth.llama.layer", "a strong lottery ticket for a real LM layer: the chosen linear maps of one SmolLM2 "
       "decoder layer (grouped-query attention with rotary positions, SwiGLU MLP, RMSNorm) replaced by pruned "
       "random U[-1,1] two-layer ReLU networks (Pensia et al.'s construction); the layer's output error, "
       "propagated through RoPE, causal softmax, RMSNorm and SwiGLU, is certified in float64 on every input "
       "sequence and on the hidden states held-out prose reaches (post-attention residual norm ≥ its held-out "
       "minimum / margin); the post-attention residual's certified error stays within ε and every sampled error "
       "below its certificate; held-out NLL with the layer ticketed is measured beside it",
       kind="instance", proof=PROOF, params=LayerParams, faults=LayerFaults, uses=("slth.dense.layer",),
       full={"maps": MAPS, "heldout": 64, "length": 256, "search_restarts": 8, "search_steps": 60},
       full_cost="measured 2026-12-08 (commit 610c810, clean clone, one thread on 2 cores shared with other jobs): "
                 "20 min 15 s wall, 861 CPU-s (765 user + 96 system), peak 6.0 GB; 505 M random weights, one map at a "
                 "time")
@needs_prose
def check_layer(p: LayerParams, ctx: Context) -> Record:
    net, encode = language_model(p.model, p.length, p.tiny_steps, str(ctx.device))
    m = measure_layer_ticket(net, encode, layer=p.layer, maps=tuple(p.maps), units=p.units, seed=ctx.stream(100),
                             pool_cap=p.pool_cap, retry_cap=p.retry_cap, margin=p.margin, text=p.text,
                             heldout=p.heldout, length=p.length, heldout_seed=HELDOUT_SEED, batch_size=p.batch_size,
                             search_restarts=p.search_restarts, search_steps=p.search_steps, device=ctx.device,
                             tamper=lambda t: flip_largest_kept(t, 0, ctx.faults.prune_kept))
    eps = p.eps * m.rho_seen
    details = {**m.details(eps), "statement": STATEMENT}
    nll, attention = details["nll"], details["certified_attention"]
    verdict, reason = combine([judge_certificate(attention, m.empirical_attention, eps, "post-attention residual"),
                               judge_certificate(m.reached.value, details["empirical_max"], m.reached.value,
                                                 "layer output")])
    return Record(verdict, f"{reason} (maps {', '.join(p.maps)} of layer {p.layer}); held-out NLL "
                           f"{nll['original']:.4f} → {nll['ticketed']:.4f} nats",
                  bound=Quantity(eps, f"tolerance ε = {p.eps:g} × the smallest held-out post-attention residual norm "
                                 "(residual-stream units)"),
                  certified=Quantity(attention, "rigorous float64 bound on max_t ‖h_t − h̃_t‖₂, the post-attention "
                                     "residual, over every input sequence (any length); the layer output's bound "
                                     "through RMSNorm and SwiGLU is details.certified_reached"),
                  empirical=Quantity(m.empirical_attention, "largest post-attention residual error found: the held-out "
                                     "windows' hidden states and an adversarial gradient search from the worst of "
                                     "them, tokens kept within the largest held-out norm (float64; a lower bound on "
                                     "the sup)"),
                  details=details)


STATEMENT = ("certified: the layer's output error, exact real arithmetic on the stored weights, for the maps "
             "named (the others exact); measured: the held-out and searched errors and NLL (95% Student-t interval of the "
             "paired per-window NLL difference)")
