"""Public testing API: hypothesis strategies for the theorems' objects and certified assertions.

For a researcher's own property tests (needs the ``test`` extra: ``pip install 'lth-toolkit[test]'``).

Strategies draw seeds and shapes, never large tensors, and build each object with the library's own
samplers, so a failing example shrinks to a small case. Each passes what it builds through the
hypothesis checkers of the module the theorem lives in, so it can never yield an object outside the
theorem's hypotheses (a checker that refused one would be an error in this module, not a skipped
example):

* :func:`rss_instances` — a random-subset-sum pool ``[n]`` from a named law of
  :data:`lth.theory.subset_sum.POOL_LAWS`, a target interval ``[lo, hi]`` and targets ``[T]`` inside it
  (the objects of ``lth.theory.subset_sum`` and the ``rss.*`` claims); checked by the pool checker of
  :mod:`lth.theory.subset_sum`;
* :func:`dense_targets` — a ReLU MLP :class:`lth.theory.dense.Target` with ``‖W_i‖₂ ≤ 1`` (Theorem P's
  hypothesis), checked by :func:`lth.theory.dense.check_norms`; :func:`dense_domains` — a ball or box
  :class:`lth.theory.dense.Domain` (a box of non-negative inputs when ``signed=False``);
* :func:`conv_kernels` and :func:`conv_targets` — :class:`lth.theory.conv.TargetLayer` kernels
  ``[m, c, d, d]`` with ``max_o Σ|K[o]| ≤ 1``, stride 1, valid or odd-kernel same padding, ReLU between
  layers, and an input side ``size`` every layer fits, checked by :func:`lth.theory.conv.check_layer_norms`
  and :func:`lth.theory.conv.require_relu_between`;
* :func:`seeds` — seeds for the library's generators.

Assertions certify rigorously and, on failure, raise :class:`CertificateError` (an ``AssertionError``)
whose message holds the certificate (value, kind, domain, norm, parts, assumptions) and a witness input
from the library's search (a lower bound on the same supremum); both are attributes of the error too:

* :func:`assert_pool_covers` — every ``z ∈ [lo, hi]`` is within ε of a subset sum (exact worst case plus
  its rounding bound; the witness is the worst target and its best subset from the exact solver);
* :func:`assert_ticket_approximates` — a dense or convolutional ticket approximates its target within ε
  on a domain (:func:`lth.theory.dense.certify_sup_error` / :func:`lth.theory.conv.certify_network`, witnesses
  from :func:`lth.theory.dense.search_sup_error` / :func:`lth.theory.conv.search_max_error`);
* :func:`assert_verdict` — a registered claim's check gives the expected verdict;
* :func:`assert_claims_linked` — every claim of a distribution has its proof section and a marked test
  (the audit of :mod:`lth.audit`, run on that package's files).
"""

# No ``from __future__ import annotations``: st.composite rebuilds the strategies' signatures outside this
# module, where string annotations no longer resolve (the API reference printed them as quoted strings).
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

try:
    from hypothesis import strategies as st
except ModuleNotFoundError as exc:  # hypothesis is in the test extra, not a dependency of the library
    raise ModuleNotFoundError("lth.testing needs hypothesis: pip install 'lth-toolkit[test]'") from exc

from lth.audit import Links, audit, marked_tests, proof_anchors
from lth.registry import Record, all_claims, run_claim
from lth.theory.conv import (PADDINGS, LayerTicket, NetworkTicket, TargetLayer, certify_layer, certify_network,
                         check_layer_norms, conv, norm_inf, require_relu_between, search_max_error, target_forward)
from lth.theory.dense import DenseTicket, Domain, Target, certify_sup_error, check_norms, random_target, search_sup_error
from lth.theory.device import generator
from lth.theory.numerics import up
from lth.theory.objects import Certificate, Witness
from lth.theory.subset_sum import POOL_LAWS, checked_pools, best_subsets, rounding_slack, sample_pools, sorted_subset_sums, \
    worst_case_error

SEED_MAX = 2**32 - 1

# Types ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RssInstance:
    """A random-subset-sum instance: ``pool`` ``[n]`` (float64, law ``law``), the target interval
    ``[lo, hi]`` and ``targets`` ``[T]`` inside it."""

    pool: torch.Tensor
    law: str
    lo: float
    hi: float
    targets: torch.Tensor


@dataclass(frozen=True)
class ConvTarget:
    """A target CNN: ``layers`` in order and the side ``size`` of its input box ``[0,1]^{c×size×size}``."""

    layers: tuple[TargetLayer, ...]
    size: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.layers[0].weight.shape[1], self.size, self.size)


# Strategies -----------------------------------------------------------------------------------------


def seeds() -> st.SearchStrategy[int]:
    """Seeds for :func:`lth.theory.device.generator` (draw these, not tensors, so failures shrink)."""
    return st.integers(0, SEED_MAX)


def _cpu_generator(seed: int) -> torch.Generator:
    return generator(seed, torch.device("cpu"))


@st.composite
def rss_instances(draw, sizes: st.SearchStrategy[int] = st.integers(1, 14),
                  laws: st.SearchStrategy[str] = st.sampled_from(sorted(POOL_LAWS)),
                  half_widths: st.SearchStrategy[float] = st.floats(0.0, 1.0), max_targets: int = 8) -> RssInstance:
    """An :class:`RssInstance`: a pool of ``n`` i.i.d. draws of ``law`` (``sizes``; keep ``n`` small, the
    exact solvers enumerate ``2^n`` sums), an interval ``[c − w, c + w]`` inside ``[−1, 1]`` with half-width
    from ``half_widths``, and 1 to ``max_targets`` targets in it (its ends included)."""
    law, n, seed = draw(laws), draw(sizes), draw(seeds())
    pool = checked_pools(sample_pools(law, (n,), _cpu_generator(seed)))
    half = draw(half_widths)
    centre = draw(st.floats(-(1.0 - half), 1.0 - half)) if half < 1.0 else 0.0
    lo, hi = max(-1.0, centre - half), min(1.0, centre + half)
    ends = st.sampled_from((lo, hi))
    inside = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    values = draw(st.lists(st.one_of(ends, inside), min_size=1, max_size=max_targets))
    return RssInstance(pool, law, lo, hi, torch.tensor(values, dtype=torch.float64))


@st.composite
def dense_targets(draw, widths: st.SearchStrategy[list[int]] = st.lists(st.integers(1, 6), min_size=2, max_size=4),
                  bias: st.SearchStrategy[bool] = st.booleans(),
                  norms: st.SearchStrategy[float] = st.floats(0.25, 1.0)) -> Target:
    """A ReLU MLP with layer widths ``widths`` (``[d_0, ..., d_l]``) whose Gaussian layers are rescaled to
    spectral norm ``norm ≤ 1``, optional biases N(0, 0.1²) (:func:`lth.theory.dense.random_target`)."""
    shape, with_bias, norm = draw(widths), draw(bias), draw(norms)
    if len(shape) < 2 or min(shape) < 1 or not 0 < norm <= 1:
        raise ValueError(f"dense_targets needs >= 2 positive widths and a norm in (0, 1], got {shape}, {norm}")
    target = random_target(shape, _cpu_generator(draw(seeds())), norm=norm, bias=with_bias)
    check_norms(target)
    return target


@st.composite
def dense_domains(draw, d0: int, signed: bool = True, radii: st.SearchStrategy[float] = st.floats(0.1, 2.0)) -> Domain:
    """A :class:`lth.theory.dense.Domain` for ``d0`` inputs: a ball of radius from ``radii`` or a box
    ``lo ≤ hi`` inside ``[−2, 2]^{d0}``; with ``signed=False`` (a ticket built with ``signed_input=False``)
    only boxes with ``lo ≥ 0``."""
    if not signed or draw(st.booleans()):
        low = 0.0 if not signed else -2.0
        ends = [sorted(draw(st.tuples(st.floats(low, 2.0), st.floats(low, 2.0)))) for _ in range(d0)]
        return Domain("box", lo=tuple(e[0] for e in ends), hi=tuple(e[1] for e in ends))
    return Domain("ball", radius=draw(radii))


def _normalised_kernel(shape: tuple[int, int, int, int], seed: int, norm: float) -> torch.Tensor:
    """A Gaussian kernel scaled to ``max_o Σ|K[o]| = norm`` (float64)."""
    weight = torch.randn(shape, generator=_cpu_generator(seed), dtype=torch.float64)
    return weight * (norm / norm_inf(weight))


@st.composite
def conv_kernels(draw, out_channels: st.SearchStrategy[int] = st.integers(1, 3),
                 in_channels: st.SearchStrategy[int] = st.integers(1, 3),
                 kernel_sizes: st.SearchStrategy[int] = st.integers(1, 3),
                 norms: st.SearchStrategy[float] = st.floats(0.25, 1.0),
                 relu: st.SearchStrategy[bool] = st.booleans()) -> TargetLayer:
    """One target layer ``[m, c, d, d]`` with ``max_o Σ|K[o]| ≤ 1``, valid or (odd ``d``) same padding."""
    d = draw(kernel_sizes)
    padding = draw(st.sampled_from(PADDINGS if d % 2 else ("valid",)))
    shape = (draw(out_channels), draw(in_channels), d, d)
    layer = TargetLayer(_normalised_kernel(shape, draw(seeds()), draw(norms)), padding, draw(relu))
    check_layer_norms([layer], rescale=False)
    return layer


@st.composite
def conv_targets(draw, depths: st.SearchStrategy[int] = st.integers(1, 3),
                 channels: st.SearchStrategy[int] = st.integers(1, 3),
                 kernel_sizes: st.SearchStrategy[int] = st.integers(1, 3),
                 extra_size: st.SearchStrategy[int] = st.integers(0, 3),
                 norms: st.SearchStrategy[float] = st.floats(0.25, 1.0)) -> ConvTarget:
    """A :class:`ConvTarget`: ``depth`` chained layers (each reads the previous one's channels), a ReLU after
    every layer but possibly the last, and the smallest input side every layer fits plus ``extra_size``."""
    depth = draw(depths)
    width = draw(channels)
    layers = []
    for index in range(depth):
        layer = draw(conv_kernels(out_channels=channels, in_channels=st.just(width), kernel_sizes=kernel_sizes,
                                  norms=norms, relu=st.booleans() if index == depth - 1 else st.just(True)))
        layers.append(layer)
        width = layer.weight.shape[0]
    size = 1 + sum(layer.weight.shape[2] - 1 for layer in layers if layer.padding == "valid") + draw(extra_size)
    require_relu_between(layers)
    check_layer_norms(layers, rescale=False)
    return ConvTarget(tuple(layers), size)


# Assertions -----------------------------------------------------------------------------------------


def _tensor_text(x: torch.Tensor, shown: int = 16) -> str:
    values = [f"{v:.6g}" for v in x.detach().reshape(-1)[:shown].tolist()]
    more = f", … ({x.numel()} entries)" if x.numel() > shown else ""
    return f"shape {tuple(x.shape)} [{', '.join(values)}{more}]"


def certificate_text(certificate: Certificate) -> str:
    """A certificate in words, for failure messages."""
    parts = {k: v for k, v in certificate.parts.items() if not isinstance(v, (list, tuple)) or len(v) <= 8}
    return (f"certificate: {certificate.value:.6g} ({certificate.kind} upper bound on sup over {certificate.domain}, "
            f"{certificate.norm} norm); parts: {parts}; assumes: {'; '.join(certificate.assumptions) or 'nothing'}")


def witness_text(witness: Witness, how: str) -> str:
    """One line for an assertion message: the witness input, its error and ``how`` it was found."""
    return f"witness: x = {_tensor_text(witness.x)} reaches error {witness.error:.6g} ({how}; a lower bound on the sup)"


class CertificateError(AssertionError):
    """A certificate above the tolerance: ``certificate`` and ``witness`` as objects, both in the message."""

    def __init__(self, message: str, certificate: Certificate, witness: Witness) -> None:
        super().__init__(message)
        self.certificate = certificate
        self.witness = witness


def _failure(what: str, eps: float, certificate: Certificate, witness: Witness, how: str) -> CertificateError:
    lines = [f"{what} not certified within eps={eps:g}", certificate_text(certificate), witness_text(witness, how)]
    if witness.error > certificate.value:
        lines.append("the witness exceeds the certificate: the certificate is wrong")
    return CertificateError("\n  ".join(lines), certificate, witness)


def assert_pool_covers(pool: torch.Tensor, eps: float, lo: float = -1.0, hi: float = 1.0) -> Certificate:
    """Assert that every ``z ∈ [lo, hi]`` is within ``eps`` of a subset sum of ``pool`` ``[n]``, rigorously.

    The certificate is the exact float64 worst case plus :func:`lth.theory.subset_sum.rounding_slack`; on
    failure the witness is the worst target (the middle of the widest gap between subset sums, or an end
    of the interval) with its error from the exact solver :func:`lth.theory.subset_sum.best_subsets`.
    Returns the certificate when it holds.
    """
    pool = checked_pools(pool.to(torch.float64))
    if pool.ndim != 1:
        raise ValueError(f"assert_pool_covers takes one pool [n], got shape {tuple(pool.shape)}")
    exact = float(worst_case_error(pool, lo, hi))
    slack = float(rounding_slack(pool, lo, hi))
    certificate = Certificate(up(exact + slack), "rigorous", f"z in [{lo:g}, {hi:g}]", "abs",
                              ("float64 subset sums, rounding bounded by gamma_(n+4)·(Σ|x| + max(|lo|, |hi|))",),
                              {"exact": exact, "rounding": slack, "n": pool.numel()})
    if certificate.value <= eps:
        return certificate
    sums = sorted_subset_sums(pool)
    candidates = torch.cat([torch.tensor([lo, hi], dtype=torch.float64), ((sums[:-1] + sums[1:]) / 2).clamp(lo, hi)])
    solution = best_subsets(pool[None], candidates[None])
    worst = int(solution.error[0].argmax())
    kept = solution.mask[0, worst].nonzero().flatten().tolist()
    raise _failure("random subset sum cover", eps, certificate,
          Witness(candidates[worst:worst + 1], float(solution.error[0, worst])),
          f"worst target, nearest subset sum {float(solution.sums[0, worst]):.6g} from entries {kept}")


def assert_ticket_approximates(target: Target | ConvTarget | TargetLayer,
                               ticket: DenseTicket | NetworkTicket | LayerTicket, eps: float, domain: Domain | int | None = None, *, seed: int = 0) -> Certificate:
    """Assert, by a rigorous float64 certificate, that ``ticket`` approximates ``target`` within ``eps``.

    * Dense: ``target`` a :class:`lth.theory.dense.Target`, ``ticket`` the :class:`lth.theory.dense.DenseTicket` built for
      it, ``domain`` a :class:`lth.theory.dense.Domain` (default: the unit ball); error in the 2-norm.
    * Convolutional: ``target`` a :class:`ConvTarget` (or one :class:`lth.theory.conv.TargetLayer`), ``ticket`` a
      :class:`lth.theory.conv.NetworkTicket` (or a :class:`lth.theory.conv.LayerTicket`, compared before the layer's
      ReLU as in the layer lemma) built for exactly those layers, ``domain`` the input side ``D`` of
      ``[0,1]^{c×D×D}`` (default: the target's ``size``); error in the max-norm.

    Returns the certificate when its value is ``≤ eps``. Otherwise raises :class:`CertificateError` with
    the certificate and the worst input the library's search finds from ``seed``.
    """
    if isinstance(ticket, DenseTicket) and isinstance(target, Target):
        return _assert_dense(target, ticket, eps, Domain("ball") if domain is None else domain, seed)
    if isinstance(ticket, (NetworkTicket, LayerTicket)) and isinstance(target, (ConvTarget, TargetLayer)):
        layers = target.layers if isinstance(target, ConvTarget) else (target,)
        size = (target.size if isinstance(target, ConvTarget) else None) if domain is None else domain
        if not isinstance(size, int) or size < 1:
            raise TypeError(f"a convolutional domain is the input side D of [0,1]^(c×D×D), got {size!r}")
        return _assert_conv(layers, ticket, eps, size, seed)
    raise TypeError(f"no certificate for a {type(ticket).__name__} approximating a {type(target).__name__}")


def _assert_dense(target: Target, ticket: DenseTicket, eps: float, domain: Domain, seed: int) -> Certificate:
    certificate = certify_sup_error(target, ticket, domain)
    if certificate.value <= eps:
        return certificate
    witness = search_sup_error(target, ticket, domain, seed=seed)
    raise _failure("dense ticket", eps, certificate, witness, f"search_sup_error, seed {seed}")


def _assert_conv(layers: tuple[TargetLayer, ...], ticket: NetworkTicket | LayerTicket, eps: float, size: int,
                 seed: int) -> Certificate:
    tickets = ticket.layers if isinstance(ticket, NetworkTicket) else [ticket]
    same = len(tickets) == len(layers) and all(
        (t.target.padding, t.target.relu) == (s.padding, s.relu) and torch.equal(t.target.weight, s.weight)
        for t, s in zip(tickets, layers))
    if not same:
        raise ValueError("the ticket was built for other layers than the target's: its certificate would not be "
                         "about this target")
    if isinstance(ticket, LayerTicket):
        certificate = certify_layer(ticket, size)
        target_map = lambda x: conv(x, layers[0].weight, layers[0].pad)  # noqa: E731 - the lemma's K * X
    else:
        normalised = certify_network(tickets, size)
        scale = abs(ticket.scale)
        certificate = normalised if scale == 1 else dataclasses.replace(
            normalised, value=up(scale * normalised.value), parts={**normalised.parts, "normalised": normalised.value})
        target_map = lambda x: target_forward(list(layers), x, ticket.scale)  # noqa: E731
    if certificate.value <= eps:
        return certificate
    shape = (layers[0].weight.shape[1], size, size)
    witness = search_max_error(target_map, ticket.forward, shape, generator(seed, tickets[0].u.device))
    raise _failure("convolutional ticket", eps, certificate, witness, f"search_max_error, seed {seed}")


def assert_verdict(claim_id: str, verdict: str = "holds", **run: Any) -> Record:
    """Run a registered claim (``run`` as for :func:`lth.registry.run_claim`: ``scale``, ``seed``, ``faults``,
    parameter overrides) and assert its verdict; the message holds the record's reason and numbers."""
    record = run_claim(claim_id, **run)
    if record.verdict != verdict:
        numbers = "; ".join(f"{name}: {q.value!r} ({q.label})" for name, q in
                            (("bound", record.bound), ("certified", record.certified), ("empirical", record.empirical))
                            if q is not None)
        lines = [f"{claim_id}: expected {verdict}, got {record.verdict}: {record.reason}", numbers,
                 f"faults {record.faults}, params {record.params}", record.details.get("traceback", "")]
        raise AssertionError("\n  ".join(line for line in lines if line))
    return record


def assert_claims_linked(distribution: str, tests: Path) -> None:
    """Assert that every claim registered by ``distribution`` (through its ``lth.claims`` entry point)
    has its ``<a id="ID"></a>`` section in its proof file and a test in ``tests`` marked
    ``@pytest.mark.claim("ID")``, and that no anchor or mark there names an unknown claim (the audit of
    :func:`lth.audit.audit`, on the package's ``proofs/`` folder and the given tests folder)."""
    claims = {cid: entry for cid, entry in all_claims().items() if entry.origin == distribution}
    if not claims:
        raise AssertionError(f"{distribution} registers no claim: is it installed, with an lth.claims entry point?")
    root = next(iter(claims.values())).root
    links = Links(proof_anchors(root / "proofs"), marked_tests(Path(tests)))
    problems = audit({cid: entry.proof for cid, entry in claims.items()}, links, root)
    if problems:
        raise AssertionError(f"{distribution}: " + "\n  ".join(problems))


__all__ = ["CertificateError", "ConvTarget", "RssInstance", "assert_claims_linked", "assert_pool_covers",
           "assert_ticket_approximates", "assert_verdict", "certificate_text", "conv_kernels", "conv_targets",
           "dense_domains", "dense_targets", "rss_instances", "seeds", "witness_text"]
