"""A certified ticket for a Llama decoder layer (theory/llama_layer.py, proofs/llama_layer.md).

Every model here is the tiny grouped-query ``tiny_llama`` (never the 135M one); the claim runs on
``model="tiny"`` with the Minitron tests' cached copy.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lth.registry import run_claim
from lth.simulations.minitron.llama import tiny_llama
from lth.theory.dense import DenseTicket
from lth.theory.device import cpu_threads, generator
from lth.theory.llama_layer import (MAPS, SILU_LIPSCHITZ, _norm_shift, certify_layer, construct_layer_ticket,
                                construct_map_ticket, from_llama, position_errors, rms_normalise,
                                    search_residual_error, substituted)

CPU = torch.device("cpu")
CLAIM = {"model": "tiny", "text": "code", "length": 32, "heldout": 4, "tiny_steps": 120, "layer": 1,
         "maps": ("v_proj", "down_proj"), "units": 24, "pool_cap": 10, "retry_cap": 14}


@pytest.fixture(autouse=True)
def one_thread():
    with cpu_threads(1):
        yield


def tiny(seed: int = 0) -> torch.nn.Module:
    return tiny_llama(generator(seed, CPU), vocab=64, layers=2)


def layer_io(net: torch.nn.Module, ids: torch.Tensor, index: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The hidden states entering and leaving decoder layer ``index`` in transformers' own forward."""
    seen = {}
    block = net.model.layers[index]
    pre = block.register_forward_pre_hook(lambda m, a, k: seen.__setitem__("in", (a[0] if a else k["hidden_states"])),
                                          with_kwargs=True)
    post = block.register_forward_hook(lambda m, a, out: seen.__setitem__("out", out[0] if isinstance(out, tuple)
                                                                          else out))
    with torch.no_grad():
        net(input_ids=ids, use_cache=False)
    pre.remove()
    post.remove()
    return seen["in"].double(), seen["out"].double()


def ids(seed: int, rows: int = 2, length: int = 10) -> torch.Tensor:
    return torch.randint(0, 64, (rows, length), generator=generator(seed, CPU))


@given(st.integers(0, 2**16))
@settings(max_examples=3, deadline=None)
def test_the_float64_layer_is_transformers_decoder_layer(seed):
    net = tiny(seed)
    x, out = layer_io(net, ids(seed))
    layer = from_llama(net.model.layers[1], net.config)
    assert torch.allclose(layer(x), out, rtol=1e-4, atol=1e-5)


def test_folding_the_gains_changes_nothing_and_substitution_restores_the_model():
    net, tokens = tiny(1), ids(1)
    block = net.model.layers[1]
    with torch.no_grad():  # gains away from 1, so folding them matters
        block.input_layernorm.weight.uniform_(0.5, 2.0, generator=generator(2, CPU))
        block.post_attention_layernorm.weight.uniform_(-1.5, 1.5, generator=generator(3, CPU))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    layer = from_llama(block, net.config)
    with torch.no_grad():
        reference = net(input_ids=tokens, use_cache=False).logits
        with substituted(block, layer, None):
            folded = net(input_ids=tokens, use_cache=False).logits
        after = net(input_ids=tokens, use_cache=False).logits
    assert torch.allclose(folded, reference, atol=1e-4)
    assert torch.equal(after, reference)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_a_map_ticket_computes_its_pruned_random_network():
    weight = 0.3 * torch.randn(5, 7, generator=generator(4, CPU), dtype=torch.float64)
    blocks: list[DenseTicket] = []
    ticket = construct_map_ticket("q_proj", weight, 12, 5, pool_cap=8, tamper=blocks.append)
    assert len(blocks) == 1
    u = torch.randn(16, 7, generator=generator(6, CPU), dtype=torch.float64)
    assert torch.allclose(ticket(u), blocks[0].sequential()(u), atol=1e-12)
    assert ticket.total == 12 * 7 * 7 + 5 * 12 * 7 and 0 < ticket.kept < ticket.total


def small_ticket(seed: int, names=MAPS):
    net = tiny(seed)
    layer = from_llama(net.model.layers[1], net.config)
    return net, layer, construct_layer_ticket(layer, names, 8, seed, pool_cap=6)


@given(st.integers(0, 2**16), st.integers(1, 9))
@settings(max_examples=3, deadline=None)
def test_the_ticketed_layer_is_causal(seed, cut):
    net, layer, ticket = small_ticket(seed)
    x = torch.randn(2, 10, 32, generator=generator(seed, CPU), dtype=torch.float64)
    changed = x.clone()
    changed[:, cut:] = torch.randn(2, 10 - cut, 32, generator=generator(seed + 1, CPU), dtype=torch.float64)
    out, out_changed = layer(x, ticket.linear()), layer(changed, ticket.linear())
    assert torch.equal(out[:, :cut], out_changed[:, :cut])
    tokens = ids(seed)
    other = tokens.clone()
    other[:, cut:] = (other[:, cut:] + 1) % 64
    with torch.no_grad(), substituted(net.model.layers[1], layer, ticket):
        a, b = (net(input_ids=t, use_cache=False).logits for t in (tokens, other))
    assert torch.allclose(a[:, :cut], b[:, :cut], atol=1e-6)


@given(st.integers(0, 2**16), st.sampled_from([("k_proj",), ("v_proj", "o_proj"), ("gate_proj", "down_proj"), MAPS]))
@settings(max_examples=5, deadline=None)
def test_no_sampled_error_exceeds_the_certificate(seed, names):
    """Sequences of hidden states of very different norms (including tiny ones, where RMSNorm is steep),
    each judged against the all-sequences certificate, and against the reached-set one where every
    target post-attention residual clears its rho."""
    _, layer, ticket = small_ticket(seed, names)
    gen = generator(seed, CPU)
    scales = torch.tensor([1e-3, 0.1, 1.0, 10.0, 1e3], dtype=torch.float64)[:, None, None]
    x = torch.randn(5, 12, 32, generator=gen, dtype=torch.float64) * scales
    with torch.no_grad():
        errors = position_errors(layer, ticket, x).max(dim=1).values
        norms = layer.residual(x).norm(dim=-1).min(dim=1).values
    everywhere = certify_layer(layer, ticket, 0.0).value
    assert float(errors.max()) <= everywhere
    rho = float(norms.median())
    reached = certify_layer(layer, ticket, rho).value
    assert reached <= everywhere
    assert float(errors[norms >= rho].max()) <= reached


@given(st.integers(0, 2**16), st.sampled_from([("q_proj",), ("v_proj", "o_proj"), MAPS]))
@settings(max_examples=4, deadline=None)
def test_the_search_climbs_from_its_starts_and_stays_below_the_attention_certificate(seed, names):
    """The adversarial search returns at least the worst starting sequence's error, climbs above it (the
    gradient steps do something), keeps every token in the starts' largest ball, and never passes the
    post-attention certificate (which holds on every sequence)."""
    _, layer, ticket = small_ticket(seed, names)
    x = torch.randn(4, 8, 32, generator=generator(seed, CPU), dtype=torch.float64) * 3.0
    with torch.no_grad():
        start = float((layer.residual(x, ticket.linear()) - layer.residual(x)).norm(dim=-1).max())
    found = search_residual_error(layer, ticket, x, restarts=2, steps=8)
    assert start < found.error <= certify_layer(layer, ticket, 0.0).parts["attention"]
    assert float(found.x.norm(dim=-1).max()) <= float(x.norm(dim=-1).max()) * (1 + 1e-12)
    again = (layer.residual(found.x[None], ticket.linear()) - layer.residual(found.x[None])).norm(dim=-1).max()
    assert float(again) == pytest.approx(found.error, rel=1e-12)


@given(st.integers(0, 2**16), st.floats(1e-4, 10.0), st.floats(0.0, 50.0))
@settings(max_examples=30, deadline=None)
def test_rmsnorm_moves_by_at_most_lemma_n(seed, delta, norm):
    gen = generator(seed, CPU)
    d, eps = 16, 1e-5
    h = torch.randn(64, d, generator=gen, dtype=torch.float64)
    h = h / h.norm(dim=1, keepdim=True) * (norm + torch.rand(64, 1, generator=gen, dtype=torch.float64))
    step = torch.randn(64, d, generator=gen, dtype=torch.float64)
    moved = h + step / step.norm(dim=1, keepdim=True) * delta * torch.rand(64, 1, generator=gen, dtype=torch.float64)
    shift = (rms_normalise(moved, eps) - rms_normalise(h, eps)).norm(dim=1)
    bound = _norm_shift(delta, float(h.norm(dim=1).min()), d, eps, math.sqrt(d))
    assert float(shift.max()) <= bound


def test_silu_is_lipschitz_with_the_constant_the_certificate_uses():
    t = torch.arange(0.0, 5.0, 1e-5, dtype=torch.float64)
    s = torch.sigmoid(t)
    slope = s * (1 + t * (1 - s))
    # Lemma S: grid step 1e-5 and |silu''| <= 7/4 on [0, 5]; silu'(-t) = 1 - silu'(t); beyond 5, <= 1 + 5e^-5
    assert float(slope.max()) + 1.75 * 1e-5 < SILU_LIPSCHITZ
    assert 1 + 5 * math.exp(-5) < SILU_LIPSCHITZ


def test_the_certificate_refuses_a_negative_rho():
    _, layer, ticket = small_ticket(0, ("v_proj",))
    with pytest.raises(ValueError, match="rho"):
        certify_layer(layer, ticket, -1.0)


@pytest.mark.claim("slth.llama.layer")
def test_claim_holds_on_the_tiny_model_and_a_broken_ticket_fails():
    clean = run_claim("slth.llama.layer", eps=1e6, **CLAIM)
    assert clean.verdict == "holds", clean.reason
    d = clean.details
    assert d["empirical_max"] <= d["certified_reached"] <= d["certified_everywhere"]
    assert 0 < d["empirical_attention"] <= d["certified_attention"] <= d["certified_reached"]
    assert d["empirical_attention"] == max(d["heldout_attention"], d["searched_attention"])
    assert d["searched_attention"] >= d["heldout_attention"]
    assert d["random_parameters"] > d["ticketed_parameters"] and d["rho"] == d["rho_seen"] / 2
    eps = 2 * d["certified_attention"] / d["rho_seen"]  # the clean ticket holds there too (its certificate is half)
    broken = run_claim("slth.llama.layer", eps=eps, faults={"prune_kept": 200}, **CLAIM)
    assert broken.verdict == "fails", broken.reason
