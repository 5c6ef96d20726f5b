"""Every certificate against an independent oracle on small instances: certificate ≥ true supremum.

One table of cases per certificate, in the style of a ``lax_numpy_test`` suite: hypothesis draws the
data (``hypothesis.extra.numpy`` arrays, so failures shrink), the oracle recomputes the supremum
without the certificate's code, and each case records ``certificate / oracle`` (its tightness) in
``TIGHTNESS``; ``pytest -s tests/test_oracles.py`` prints the table at the end of the module.

What each oracle computes, and why it is the true supremum (or a stated lower bound of it):

* RSS worst case: all ``2^n`` subset sums in exact rationals (``fractions.Fraction`` of the float64
  entries), sorted; the distance to the nearest sum is a tent between neighbours, so its sup over
  ``[lo, hi]`` is at a clipped midpoint or an end. Exact.
* Dense, one block, box: ``x ↦ E⁺x⁺ − E⁻x⁻`` is linear on every sub-box cut at ``x_j = 0``, and a
  2-norm of a linear map is convex, so the sup is at a vertex of those sub-boxes, i.e. at a point of
  ``{lo_j, 0, hi_j}^d``. The ticket's own pruned weights are evaluated there in rationals. Exact.
* Dense / perturbed networks with one input coordinate (the ball is then an interval): the network
  is piecewise linear in ``x``; ``exact_sup_1d`` inserts, layer by layer, every zero crossing of a
  pre-activation (exact, as activations are linear between the points already found) and
  evaluates both networks exactly at all points; ``‖f − g‖`` is convex between them. Exact.
* Conv kernel/layer: kept ``U`` entries are ≥ 0 and inputs ≥ 0, so the pruned pair is linear on the
  box and ``‖·‖_max`` of a linear map peaks at a corner: all ``2^{c·D·D}`` corners are evaluated
  through the actual two-layer computation (ReLU included) in rationals. Exact.
* Conv network: with a single input pixel and 1×1 kernels the CNN is a 1-D piecewise-linear
  network (exact, as above); with spatial maps the corners give a lower bound (kinks may lie inside).
* Universal blocks and compositions: mpmath at 50 digits on a dense grid that contains every knot,
  the block's coefficients summed exactly from its float64 weights: a lower bound (a grid), exact
  at the knots.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lth.theory import conv, dense, universal
from lth.theory.certify import PerturbedLayer, certify_ball, certify_box
from lth.theory.subset_sum import covers_interval, rounding_slack, worst_case_error

Q = Fraction
TIGHTNESS: dict[str, list[tuple[float, bool]]] = defaultdict(list)  # case → [(certificate / oracle, exact?)]


def record(case: str, certificate: float, oracle: float, exact: bool) -> None:
    """Store the tightness ratio of one instance (skipped when the oracle is 0: no ratio)."""
    if oracle > 1e-12:  # below this the oracle is rounding noise and the ratio says nothing
        TIGHTNESS[case].append((certificate / oracle, exact))


def tightness_table() -> str:
    """One line per case: instances, median and largest ratio, whether the oracle is exact."""
    lines = [f"{'case':<34} {'n':>4} {'median':>10} {'max':>10}  oracle"]
    for case, rows in sorted(TIGHTNESS.items()):
        ratios = np.array([r for r, _ in rows])
        kind = "exact" if all(e for _, e in rows) else "lower bound"
        lines.append(f"{case:<34} {len(rows):>4} {np.median(ratios):>10.4g} {ratios.max():>10.4g}  {kind}")
    return "\n".join(lines)


@pytest.fixture(scope="module", autouse=True)
def tightness_summary():
    yield
    print("\ncertificate / true supremum (tests/test_oracles.py):\n" + tightness_table())


def value(certificate) -> float:
    """The certified number, whatever container the certificate function returns."""
    if isinstance(certificate, dict):
        return float(certificate["bound"])
    if isinstance(certificate, tuple):
        return float(certificate[0])
    for name in ("value", "sup_error", "bound"):
        if hasattr(certificate, name):
            return float(getattr(certificate, name))
    return float(certificate)


def rational(t: torch.Tensor) -> np.ndarray:
    """A float64 tensor as an object array of exact rationals."""
    flat = [Q(float(v)) for v in t.detach().to(torch.float64).cpu().reshape(-1).tolist()]
    return np.array(flat + [None], dtype=object)[:-1].reshape(tuple(t.shape))


def relu(v: np.ndarray) -> np.ndarray:
    return np.array([max(x, Q(0)) for x in v.reshape(-1)] + [None], dtype=object)[:-1].reshape(v.shape)


def floats(lo: float = -1.0, hi: float = 1.0):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)


# ------------------------------------------------------------------------------------ exact oracles


def exact_rss_sup(x: list[float], lo: float, hi: float) -> Fraction:
    """``sup_{z∈[lo,hi]} min_S |z − Σ_S x|`` in rationals, by listing all subset sums."""
    sums = sorted({sum(subset, Q(0)) for k in range(len(x) + 1)
                   for subset in itertools.combinations([Q(v) for v in x], k)})
    lo_q, hi_q = Q(lo), Q(hi)
    best = max(Q(0), sums[0] - lo_q, hi_q - sums[-1])
    for left, right in zip(sums, sums[1:]):
        point = min(max((left + right) / 2, lo_q), hi_q)
        best = max(best, min(point - left, right - point))
    return best


def exact_sup_1d(networks, lo: Fraction, hi: Fraction, kinks=()) -> Fraction:
    """``sup_{x∈[lo,hi]} ‖F(x) − G(x)‖₂²`` for two piecewise-linear networks of one input, exactly.

    ``networks``: two lists of steps ``(map, relu)``, ``map`` an exact function of an object vector
    (affine between the points already known). ``kinks``: input points where a map itself bends.
    Zero crossings of every pre-activation are inserted layer by layer, so both networks are linear
    between consecutive points and the convex squared distance peaks at one of them.
    """
    points = sorted({lo, hi} | {k for k in kinks if lo <= k <= hi})
    depth = max(len(n) for n in networks)
    for layer in range(depth):
        new = set()
        for steps in networks:
            if layer >= len(steps) or not steps[layer][1]:
                continue
            pre = [run(steps[:layer], p, last=steps[layer][0]) for p in points]
            for a, b, ua, ub in zip(points, points[1:], pre, pre[1:]):
                for s, t in zip(ua, ub):
                    if (s < 0 < t) or (t < 0 < s):
                        new.add(a + (b - a) * s / (s - t))
        points = sorted(set(points) | new)
    return max(squared_gap(networks, p) for p in points)


def run(steps, x: Fraction, last=None) -> np.ndarray:
    """Apply ``steps`` to the scalar input ``x``; with ``last``, also apply that map (no ReLU after it)."""
    v = np.array([x], dtype=object)
    for apply, act in steps:
        v = apply(v)
        v = relu(v) if act else v
    return v if last is None else last(v)


def squared_gap(networks, x: Fraction) -> Fraction:
    f, g = (run(steps, x) for steps in networks)
    return sum((a - b) ** 2 for a, b in zip(f, g))


def affine(matrix: np.ndarray, bias: np.ndarray | None = None):
    """``v ↦ matrix @ v (+ bias)`` on object vectors."""
    return lambda v: matrix.dot(v) if bias is None else matrix.dot(v) + bias


def perturbed(layer: PerturbedLayer, signed: bool):
    """``y ↦ W y + E⁺y⁺ − E⁻y⁻`` exactly (``E⁻`` ignored for non-negative inputs)."""
    w, ep, en = rational(layer.weight), rational(layer.err_pos), rational(layer.err_neg)

    def apply(y: np.ndarray) -> np.ndarray:
        pos, neg = relu(y), relu(-y)
        return w.dot(y) + ep.dot(pos) - (en.dot(neg) if signed else 0)
    return apply


def steps_of(weights: list[np.ndarray], biases: list | None = None):
    """ReLU MLP steps (no ReLU after the last layer)."""
    biases = biases or [None] * len(weights)
    return [(affine(w, b), i < len(weights) - 1) for i, (w, b) in enumerate(zip(weights, biases))]


def ticket_steps(ticket: dense.Ticket) -> list:
    """The pruned network of a dense ticket, from its masked random weights (constant input appended)."""
    weights = [rational(w) for w in ticket.masked_weights()]
    if ticket.has_bias:
        first = weights[0]
        weights[0] = first[:, :-1]
        biases = [first[:, -1]] + [None] * (len(weights) - 1)
        return steps_of(weights, biases)
    return steps_of(weights)


def target_steps(target: dense.Target) -> list:
    return steps_of([rational(w) for w in target.weights],
                    [None if b is None else rational(b) for b in target.biases])


def dominates(certificate: float, squared: Fraction) -> bool:
    """``certificate ≥ √squared`` decided exactly."""
    return certificate >= 0 and Q(certificate) ** 2 >= squared


def sqrt_float(squared: Fraction) -> float:
    return math.sqrt(float(squared))


# ----------------------------------------------------------------------------------------------- RSS


pools = arrays(np.float64, st.integers(1, 7), elements=floats())
intervals = st.sampled_from([(-1.0, 1.0), (-0.5, 0.5), (0.0, 1.0), (0.2, 0.9)])


@given(x=pools, interval=intervals)
def test_the_rss_worst_case_plus_slack_is_at_least_the_exact_rational_supremum(x, interval):
    lo, hi = interval
    pool = torch.tensor(x)
    exact = exact_rss_sup(x.tolist(), lo, hi)
    certified = float(worst_case_error(pool, lo, hi) + rounding_slack(pool, lo, hi))
    assert Q(certified) >= exact
    record("rss worst_case_error + slack", certified, float(exact), exact=True)


@given(x=pools, interval=intervals)
@example(x=np.array([-0.4604265724722594, -0.9180529521276106, -0.9669447289429418, 0.6265404784005448,
                     0.8255111545554434]), interval=(-1.0, 1.0))
def test_covers_interval_never_accepts_a_radius_below_the_exact_supremum(x, interval):
    """At the largest float ε below the exact sup a True would be a false certificate.

    The example is a pool whose float64 subset sums land on the other side of ε than the exact
    ones: without the rounding shrink of the radius it is accepted.
    """
    lo, hi = interval
    exact = exact_rss_sup(x.tolist(), lo, hi)
    eps = float(exact)
    if Q(eps) >= exact:
        eps = math.nextafter(eps, -math.inf)
    assume(eps > 0)
    assert not bool(covers_interval(torch.tensor(x), eps, lo, hi))


@given(x=pools, interval=intervals, margin=st.floats(1e-9, 0.5))
def test_covers_interval_accepts_every_radius_clearly_above_the_exact_supremum(x, interval, margin):
    lo, hi = interval
    exact = exact_rss_sup(x.tolist(), lo, hi)
    eps = float(exact) * (1 + margin) + margin
    assert bool(covers_interval(torch.tensor(x), eps, lo, hi))


# --------------------------------------------------------------------------------------------- dense


def small_target(draw, widths: list[int], bias: bool) -> dense.Target:
    weights = [torch.tensor(draw(arrays(np.float64, (b, a), elements=floats())))
               for a, b in zip(widths[:-1], widths[1:])]
    biases = [torch.tensor(draw(arrays(np.float64, (b,), elements=floats(-0.5, 0.5)))) if bias else None
              for b in widths[1:]]
    return dense.Target(weights, biases)


@st.composite
def one_block_cases(draw):
    widths = [draw(st.integers(1, 3)), draw(st.integers(1, 2))]
    target = small_target(draw, widths, bias=False)
    fan_out = draw(st.sampled_from([2, 4, 6]))
    lo = draw(arrays(np.float64, (widths[0],), elements=floats(-1, 0)))
    hi = lo + draw(arrays(np.float64, (widths[0],), elements=floats(0, 1.5)))
    return target, fan_out, draw(st.integers(0, 2**16)), lo, hi


@given(case=one_block_cases())
def test_the_dense_box_certificate_covers_the_exact_vertex_supremum_of_one_block(case):
    """Kills a dense rounding slack of 0: the error matrices cancel to ~1e-2 from sums of ~1."""
    target, fan_out, seed, lo, hi = case
    _, ticket = dense.build_ticket(target, 0.1, 0.1, seed=seed, units_per_input=[fan_out])
    certified = value(dense.certify_sup_error(target, ticket, dense.Domain("box", lo=tuple(lo), hi=tuple(hi))))
    networks = (target_steps(target), ticket_steps(ticket))
    grid = [{Q(a), Q(b)} | ({Q(0)} if a <= 0 <= b else set()) for a, b in zip(lo, hi)]
    worst = max(squared_gap_at(networks, point) for point in itertools.product(*grid))
    assert dominates(certified, worst)
    record("dense box, one block", certified, sqrt_float(worst), exact=True)


def squared_gap_at(networks, point) -> Fraction:
    v = np.array(list(point), dtype=object)
    outs = []
    for steps in networks:
        y = v
        for apply, act in steps:
            y = apply(y)
            y = relu(y) if act else y
        outs.append(y)
    return sum((a - b) ** 2 for a, b in zip(*outs))


@st.composite
def scalar_input_cases(draw):
    depth = draw(st.integers(1, 3))
    widths = [1] + [draw(st.integers(1, 3)) for _ in range(depth)]
    target = small_target(draw, widths, bias=draw(st.booleans()))
    fan_out = [draw(st.sampled_from([2, 4])) for _ in range(depth)]
    return target, fan_out, draw(st.integers(0, 2**16)), draw(st.sampled_from([0.5, 1.0, 2.0]))


@given(case=scalar_input_cases())
def test_the_dense_ball_and_box_certificates_cover_the_exact_supremum_of_a_scalar_input_network(case):
    target, fan_out, seed, radius = case
    _, ticket = dense.build_ticket(target, 0.1, 0.1, seed=seed, units_per_input=fan_out)
    r = Q(radius)
    worst = exact_sup_1d((target_steps(target), ticket_steps(ticket)), -r, r, kinks=(Q(0),))
    ball = value(dense.certify_sup_error(target, ticket, dense.Domain("ball", radius=radius)))
    box = value(dense.certify_sup_error(target, ticket, dense.Domain("box", lo=(-radius,), hi=(radius,))))
    assert dominates(ball, worst) and dominates(box, worst)
    record("dense ball, scalar input", ball, sqrt_float(worst), exact=True)
    record("dense box, scalar input", box, sqrt_float(worst), exact=True)


@st.composite
def perturbed_networks(draw):
    """Weights and realised error matrices of 1–3 layers on one signed input (slack 0)."""
    depth = draw(st.integers(1, 3))
    widths = [1] + [draw(st.integers(1, 3)) for _ in range(depth)]
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        w, ep, en = (torch.tensor(draw(arrays(np.float64, (b, a), elements=floats(-lim, lim))))
                     for lim in (1.0, 0.6, 0.6))
        zero = torch.zeros(b, a, dtype=torch.float64)
        layers.append(PerturbedLayer(w, ep, en, zero, zero))
    return layers, draw(st.sampled_from([0.5, 1.0, 3.0]))


def perturbed_pair(layers: list[PerturbedLayer]):
    target = [(affine(rational(layer.weight)), i < len(layers) - 1) for i, layer in enumerate(layers)]
    realised = [(perturbed(layer, signed=i == 0), i < len(layers) - 1) for i, layer in enumerate(layers)]
    return target, realised


ONE_D_DELTA_CASE = [PerturbedLayer(*(torch.tensor([[v]], dtype=torch.float64) for v in (1.0, 0.5, 0.5, 0.0, 0.0))),
                    PerturbedLayer(*(torch.tensor([[v]], dtype=torch.float64) for v in (1.0, 0.5, 0.5, 0.0, 0.0)))]


@given(case=perturbed_networks())
@example(case=(ONE_D_DELTA_CASE, 1.0))
def test_the_ball_recursion_covers_the_exact_supremum_of_a_perturbed_network(case):
    """The example has true error (1.5·1.5 − 1 = 1.25) equal to the recursion's Δ₂: dropping the
    deviation Δ₁ from ``r + Δ`` certifies 1.0."""
    layers, radius = case
    r = Q(radius)
    worst = exact_sup_1d(perturbed_pair(layers), -r, r, kinks=(Q(0),))
    certified = value(certify_ball(layers, radius))
    assert dominates(certified, worst)
    record("certify_ball (perturbed layers)", certified, sqrt_float(worst), exact=True)


@given(case=perturbed_networks())
def test_the_box_propagation_covers_the_exact_supremum_of_a_perturbed_network(case):
    layers, radius = case
    r = Q(radius)
    worst = exact_sup_1d(perturbed_pair(layers), -r, r, kinks=(Q(0),))
    bound = torch.tensor([radius], dtype=torch.float64)
    certified = value(certify_box(layers, -bound, bound))
    assert dominates(certified, worst)
    record("certify_box (perturbed layers)", certified, sqrt_float(worst), exact=True)


# ---------------------------------------------------------------------------------------------- conv


def conv_exact(x: np.ndarray, weight: np.ndarray, pad: int) -> np.ndarray:
    """Stride-1 zero-padded cross-correlation in rationals: ``[c, D, D]``, ``[m, c, d, d]`` → ``[m, D', D']``."""
    c, size, _ = x.shape
    d = weight.shape[2]
    padded = np.full((c, size + 2 * pad, size + 2 * pad), Q(0), dtype=object)
    padded[:, pad:pad + size, pad:pad + size] = x
    out_size = size + 2 * pad - d + 1
    out = np.full((weight.shape[0], out_size, out_size), Q(0), dtype=object)
    for i in range(d):
        for j in range(d):
            out = out + np.tensordot(weight[:, :, i, j], padded[:, i:i + out_size, j:j + out_size], axes=([1], [0]))
    return out


def lemma_pair_exact(ticket: conv.LayerTicket):
    """The actual two-layer pruned computation ``(V⊙T) * σ((U⊙S) * X)`` in rationals."""
    us, vt = rational(ticket.u * ticket.s), rational(ticket.v * ticket.t)
    pad = ticket.target.pad
    return lambda x: conv_exact(relu(conv_exact(x, us, pad)), vt, 0)


@st.composite
def conv_layer_cases(draw):
    m, c, d = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = "same" if d == 1 or draw(st.booleans()) and d % 2 else "valid"
    size = draw(st.integers(d, 3 if c == 1 else 2))
    n = draw(st.integers(1, 4))
    kernel = draw(arrays(np.float64, (m, c, d, d), elements=floats()))
    kernel = kernel / max(1.0, float(np.abs(kernel).sum(axis=(1, 2, 3)).max()))
    u = draw(arrays(np.float64, (m * n, c, d, d), elements=floats()))
    v = draw(arrays(np.float64, (m, m * n, 1, 1), elements=floats()))
    return conv.TargetLayer(torch.tensor(kernel), padding), torch.tensor(u), torch.tensor(v), size


@given(case=conv_layer_cases())
def test_the_conv_layer_certificate_is_at_least_the_exact_corner_supremum(case):
    spec, u, v, size = case
    ticket = conv.construct_supermasks(spec, u, v)
    certified = value(conv.certify_layer(ticket, size))
    pair, kernel = lemma_pair_exact(ticket), rational(spec.weight)
    c = spec.weight.shape[1]
    worst = Q(0)
    for bits in itertools.product((Q(0), Q(1)), repeat=c * size * size):
        x = np.array(bits, dtype=object).reshape(c, size, size)
        gap = conv_exact(x, kernel, spec.pad) - pair(x)
        worst = max(worst, max(abs(g) for g in gap.reshape(-1)))
    assert Q(certified) >= worst
    case_name = "conv kernel (m = 1)" if spec.weight.shape[0] == 1 else "conv layer"
    record(case_name, certified, float(worst), exact=True)


@st.composite
def pixel_network_cases(draw):
    """A CNN on one input pixel with 1×1 kernels: channels 1 → h → 1, the first layer's pool small."""
    hidden = draw(st.integers(1, 3))
    first = draw(arrays(np.float64, (hidden, 1, 1, 1), elements=floats()))
    second = draw(arrays(np.float64, (1, hidden, 1, 1), elements=floats()))
    kernels = [first / max(1.0, float(np.abs(first).max())), second / max(1.0, float(np.abs(second).sum()))]
    ns = [draw(st.integers(1, 3)), draw(st.integers(3, 8))]
    return kernels, ns, draw(st.integers(0, 2**16)), draw(st.booleans())


def network_pair_exact(tickets: list[conv.LayerTicket]):
    """Target and ticket of a pixel CNN as exact 1-D steps (1×1 kernels are matrices)."""
    target, ticket = [], []
    for t in tickets:
        target.append((affine(rational(t.target.weight[:, :, 0, 0])), t.target.relu))
        ticket.append((affine(rational((t.u * t.s)[:, :, 0, 0])), True))
        ticket.append((affine(rational((t.v * t.t)[:, :, 0, 0])), t.target.relu))
    return target, ticket


ONE_PIXEL_PROPAGATION_CASE = ([np.array([[[[1.0]]]]), np.array([[[[1.0]]]])], [1, 8], 3, True)


@given(case=pixel_network_cases())
@example(case=ONE_PIXEL_PROPAGATION_CASE)
def test_the_conv_network_certificate_covers_the_exact_supremum_on_one_pixel(case):
    """Kills the network bound without its ``|K| * e`` term: a poor first layer (n = 1) whose error
    the second layer carries to the output."""
    kernels, ns, seed, final_relu = case
    gen = torch.Generator().manual_seed(seed)
    specs = [conv.TargetLayer(torch.tensor(kernels[0])), conv.TargetLayer(torch.tensor(kernels[1]), relu=final_relu)]
    tickets = [conv.construct_supermasks(s, *conv.sample_random_pair(s.weight.shape[0], s.weight.shape[1], 1, n, gen))
               for s, n in zip(specs, ns)]
    certified = value(conv.certify_network(tickets, 1))
    worst = exact_sup_1d(network_pair_exact(tickets), Q(0), Q(1))
    assert dominates(certified, worst)
    record("conv network, one pixel", certified, sqrt_float(worst), exact=True)


@given(seed=st.integers(0, 2**16), ns=st.tuples(st.integers(1, 3), st.integers(2, 6)))
def test_the_conv_network_certificate_is_at_least_the_error_at_every_corner(seed, ns):
    gen = torch.Generator().manual_seed(seed)
    first = torch.rand(2, 1, 3, 3, generator=gen, dtype=torch.float64) * 2 - 1
    second = torch.rand(1, 2, 2, 2, generator=gen, dtype=torch.float64) * 2 - 1
    specs = [conv.TargetLayer(first / float(first.abs().sum((1, 2, 3)).max()), "same"),
             conv.TargetLayer(second / float(second.abs().sum((1, 2, 3)).max()), "valid", relu=False)]
    tickets = [conv.construct_supermasks(s, *conv.sample_random_pair(*s.weight.shape[:3], n, gen)) for s, n in zip(specs, ns)]
    certified = value(conv.certify_network(tickets, 3))
    corners = torch.tensor(list(itertools.product((0.0, 1.0), repeat=9)), dtype=torch.float64).reshape(-1, 1, 3, 3)
    gap = (conv.target_forward(specs, corners) - conv.forward_layers([(t.forward, t.target.relu) for t in tickets],
                                                                        corners)).abs().flatten(1).max(1).values
    top = int(gap.argmax())  # the float64 ranking picks the corner; its error is then recomputed exactly
    x = rational(corners[top])
    exact_gap = conv_exact(relu(conv_exact(x, rational(specs[0].weight), 1)), rational(specs[1].weight), 0)
    for t in tickets:
        x = relu(lemma_pair_exact(t)(x)) if t.target.relu else lemma_pair_exact(t)(x)
    worst = max(abs(a - b) for a, b in zip(exact_gap.reshape(-1), x.reshape(-1)))
    assert Q(certified) >= worst
    record("conv network, 3×3 map (corners)", certified, float(worst), exact=False)


# ----------------------------------------------------------------------------------------- universal

mpmath.mp.dps = 50
PIECES = {"log": (universal.log_piece, lambda x: mpmath.log((1 + x) / 2)),
          "exp": (lambda: universal.exp_piece(-2.0, 0.01), mpmath.exp),
          "sin": (lambda: universal.sin_piece(1.25), lambda y: mpmath.sin(2 * mpmath.pi * y))}


def block_exact(block: universal.RandomBlock):
    """The block's real function from its float64 weights, ``β + Σ_k c_k σ(a_k x + b_k)`` with the
    coefficients summed exactly and the first layer in exact arithmetic, in mpmath."""
    coef = [Q(0)] * (block.units.shape[0] + 1)
    w, v, mask, feature = rational(block.w), rational(block.v), block.mask.cpu().numpy(), block.feature.tolist()
    for p in range(len(feature)):
        coef[feature[p]] += sum((w[p, i] * v[p, i] for i in np.flatnonzero(mask[p])), Q(0))
    mp = [mpmath.mpf(c.numerator) / c.denominator for c in coef]
    a = [mpmath.mpf(Q(t).numerator) / Q(t).denominator for t in block.first_weight.tolist()]
    b = [mpmath.mpf(Q(t).numerator) / Q(t).denominator for t in block.first_bias.tolist()]
    return lambda x: mp[0] + sum(c * max(ak * x + bk, 0) for c, ak, bk in zip(mp[1:], a, b))


def grid_with_knots(block: universal.RandomBlock, per_segment: int = 12) -> list:
    knots = [mpmath.mpf(Q(t).numerator) / Q(t).denominator for t in block.knots.tolist()]
    points = list(knots)
    for a, b in zip(knots, knots[1:]):
        points += [a + (b - a) * mpmath.mpf(i) / per_segment for i in range(1, per_segment)]
    return points


def block_cases():
    return dict(piece=st.sampled_from(sorted(PIECES)), seed=st.integers(0, 2**16),
                eps=st.sampled_from([0.05, 0.01, 0.003]), pool=st.sampled_from([3, 6, 10]),
                solver=st.sampled_from(universal.SOLVERS))


@given(**block_cases())
def test_the_block_certificate_is_at_least_the_50_digit_error_on_a_grid_through_every_knot(piece, seed, eps, pool,
                                                                                           solver):
    """Small pools make the knot deviation dominate: kills a certificate without that term."""
    make, exact_g = PIECES[piece]
    block = universal.construct_block(make(), eps, pool, torch.Generator().manual_seed(seed), solver=solver,
                                      half_terms=1)
    certified = value(universal.certify_block(block))
    realised = block_exact(block)
    worst = max(abs(realised(x) - exact_g(x)) for x in grid_with_knots(block))
    assert certified >= worst
    record(f"universal block ({piece})", certified, float(worst), exact=False)


def test_the_block_certificate_covers_a_worst_first_segment(monkeypatch):
    """Knots with one long first segment: the largest error lies there, so skipping it under-certifies."""
    make, exact_g = PIECES["log"]
    select = universal.select_units

    def long_first_segment(piece, eps, weight, bias, min_weight):  # no kept kink in (0, 0.4)
        units = select(piece, eps, weight, bias, min_weight)
        return torch.cat([units[:1], units[1:][(-bias / weight)[units[1:]] >= 0.4]])

    monkeypatch.setattr(universal, "select_units", long_first_segment)
    block = universal.construct_block(make(), 0.01, 14, torch.Generator().manual_seed(0), solver="dense")
    assert float(block.knots[1]) >= 0.4
    realised = block_exact(block)
    first = [mpmath.mpf(i) / 100 * mpmath.mpf(0.4) for i in range(101)]
    worst_first = max(abs(realised(x) - exact_g(x)) for x in first)
    assert value(universal.certify_block(block)) >= worst_first
    record("universal block, long first segment", value(universal.certify_block(block)), float(worst_first),
           exact=False)


@pytest.fixture(scope="module")
def poly_ticket():
    """A fine exp block and a coarser log block, so that the log error, amplified by |r|, dominates."""
    log_block = universal.construct_block(universal.log_piece(), 0.002, 12, torch.Generator().manual_seed(1),
                                          solver="dense", c_max=0.5)
    exp_block = universal.construct_block(universal.exp_piece(*universal.bound_exponent_interval(3, 0.1)), 0.0003,
                                          18, torch.Generator().manual_seed(2), solver="dense")
    return universal.PolyTicket(log_block, exp_block, 3, 0.1)


@given(r=st.lists(st.integers(0, 3), min_size=1, max_size=2).filter(lambda r: 1 <= sum(r) <= 3))
def test_the_composed_polynomial_bound_covers_the_50_digit_error_on_a_grid(poly_ticket, r):
    """A bound keeping only the exp block's term (3e-4 here) is far below the observed error."""
    eps_log = value(universal.certify_block(poly_ticket.log_block))
    eps_exp = value(universal.certify_block(poly_ticket.exp_block))
    bound = value(universal.certify_poly_basis(poly_ticket, torch.tensor([r]), eps_log, eps_exp))
    log_hat, exp_hat = block_exact(poly_ticket.log_block), block_exact(poly_ticket.exp_block)
    axis = [mpmath.mpf(i) / 24 for i in range(25)]
    worst = mpmath.mpf(0)
    for x in itertools.product(axis, repeat=len(r)):
        u_hat = sum(k * log_hat(xi) for k, xi in zip(r, x))
        exact = mpmath.fprod([((1 + xi) / 2) ** k for k, xi in zip(r, x)])
        worst = max(worst, abs(exp_hat(u_hat) - exact))
    assert bound >= worst
    record("universal polynomial basis", bound, float(worst), exact=False)
