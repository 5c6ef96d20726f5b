r"""The smallest random network in which Pensia et al.'s construction builds a *certified* ticket for
a trained MLP: the constructed side of the edge-popup bridge (``lth.simulations.edge_popup``).

The objects (proofs/supermask.md, claim ``sim.edge_popup.width``):

* the trained target $f(x) = W_3\sigma(W_2\sigma(W_1x + b_1) + b_2) + b_3$ (one replica:
  ``weights[i]`` ``[d_i, d_{i-1}]``, ``biases[i]`` ``[d_i]``) and the test images ``x`` ``[n, d_0]``;
* the *prediction tolerance* $\varepsilon = g_{(k)}/2$, half the $(k+1)$-th smallest top-two logit gap
  $g(x)$ over the $n$ test images, $k = \lfloor a n\rfloor$ with $a$ = ``accuracy_gap``: a network
  within $\eta < \varepsilon$ of $f$ in $\sup_x\lVert\cdot\rVert_2$ over a ball holding the test images
  changes each logit by at most $\eta$, so only predictions with $g(x) \le 2\eta < g_{(k)}$ can change,
  at most $k \le a n$ of them;
* the theorem's frame (:class:`TheoremFrame`): the ball of radius $R = \max\lVert x\rVert_2$ is mapped
  to the unit ball (first layer times $R$) and layers with spectral norm above 1 are divided by it
  (``lth.theory.dense.rescale``, product $c$); a ticket of the rescaled target with output scale $1/c$
  approximates $f$ in logit units;
* a *build* (:class:`Build`) at units per input $(m_1, m_2, m_3)$: ``lth.theory.dense.build_ticket`` and
  its rigorous float64 certificate ``lth.theory.dense.certify_sup_error`` on the unit ball, and, measured
  on the test images, the ticket's outputs computed from its masks and random weights alone;
* the *search* (:func:`search_certified_width`) over $m_1$ (block 1 holds all but about 0.2% of the
  random weights), the later blocks at the width rule's value: from the rule's $m_1$ down in steps
  until a build fails to certify, then bisection between the failed and the certified width.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from lth.theory.dense import (DEFAULT_C, DenseTicket, Domain, Target, bound_units_per_input, build_ticket,
                          certify_sup_error, rescale)
from lth.simulations.supermask_settings import DEFAULT_POOL_CAP, DEFAULT_RETRY_CAP  # the edge-popup settings' defaults

IMAGES_PER_CHUNK = 500  # test images per pass through a ticket (bounds the hidden activations' memory)


@dataclass(frozen=True)
class TheoremFrame:
    """A trained MLP in the dense theorem's frame, with what its test predictions tolerate.

    ``target``: the rescaled target on the unit ball (float64); ``scale``: the rescaling product $c$
    (outputs of ``target`` are $c f(Rx)$); ``radius`` $R$; ``x_unit`` ``[n, d_0]`` the test images
    divided by $R$; ``logits`` ``[n, d_l]`` and ``gaps`` ``[n]`` the target's outputs and top-two gaps
    on them; ``eps_logits`` the prediction tolerance $\\varepsilon$ (a sup error strictly below it
    changes at most ``accuracy_gap`` of the test predictions).
    """

    target: Target
    scale: float
    radius: float
    x_unit: torch.Tensor
    logits: torch.Tensor
    gaps: torch.Tensor
    eps_logits: float

    @property
    def tolerance(self) -> float:
        """$\\varepsilon$ on the rescaled target ($c\\varepsilon$, capped at 1/2 for the width rule)."""
        return min(self.eps_logits * self.scale, 0.5)

    @property
    def widths(self) -> list[int]:
        """Augmented widths $(d_0 + 1, d_1 + 1, \\dots, d_l)$ of the construction's blocks."""
        return [w.shape[1] for w in self.target.augmented()] + [self.target.widths[-1]]

    def rule_units(self, delta: float, c: float = DEFAULT_C) -> list[int]:
        """The width rule's units per input of every block at tolerance $c\\varepsilon$."""
        w = self.widths
        return [bound_units_per_input(a, b, self.target.depth, self.tolerance, delta, c) for a, b in zip(w[:-1], w[1:])]

    def may_change(self, sup_error: float) -> int:
        """Test predictions a network within ``sup_error`` of $f$ could change: those with $g \\le 2\\,$sup_error."""
        return int((self.gaps <= 2 * sup_error).sum())


def theorem_frame(weights: list[torch.Tensor], biases: list[torch.Tensor], x: torch.Tensor,
                  accuracy_gap: float) -> TheoremFrame:
    """The frame of one trained MLP target (``weights``/``biases`` one replica, ``x`` ``[n, ...]`` images)."""
    x = x.reshape(len(x), -1).to(torch.float64)
    weights = [w.to(torch.float64) for w in weights]
    biases = [b.to(torch.float64) for b in biases]
    logits = Target(weights, biases)(x)
    top2 = logits.topk(2, dim=1).values
    gaps = top2[:, 0] - top2[:, 1]
    radius = float(x.norm(dim=1).max())
    unit, scale = rescale(Target([weights[0] * radius] + weights[1:], biases))
    k = math.floor(accuracy_gap * len(gaps))  # fewer than k + 1 gaps lie strictly below the (k+1)-th smallest
    return TheoremFrame(unit, scale, radius, x / radius, logits, gaps, 0.5 * float(gaps.sort().values[k]))


def random_weight_count(widths: list[int], units: list[int]) -> int:
    """Weights of the construction's random network: block $i$ is $[m_i d_{i-1}, d_{i-1}]$ then $[d_i, m_i d_{i-1}]$."""
    return sum(m * a * a + b * m * a for a, b, m in zip(widths[:-1], widths[1:], units))


def ticket_outputs(ticket: DenseTicket, x: torch.Tensor) -> torch.Tensor:
    """The pruned network's outputs ``[n, d_l]`` on ``x`` ``[n, d_0]`` (float64).

    Read from the masks and random weights alone (sparse products over the kept entries), so it
    checks the network itself, not the construction's bookkeeping.
    """
    h = torch.cat([x, x.new_ones(len(x), 1)], dim=1) if ticket.has_bias else x
    for i, (w, mask) in enumerate(zip(ticket.random.weights, ticket.masks)):
        kept = torch.sparse_coo_tensor(mask.nonzero().T, w[mask], w.shape, check_invariants=False)
        h = torch.sparse.mm(kept, h.T).T
        if i < len(ticket.masks) - 1:
            h = torch.relu(h)
    return h * ticket.output_scale


@dataclass(frozen=True)
class Build:
    """One construction at ``units`` per input and what is known about it.

    ``certificate``: rigorous float64 upper bound on $\\sup_{\\lVert x\\rVert\\le R}\\lVert f(x) -
    \\text{ticket}(x)\\rVert_2$ in logits; ``certified``: it is below $\\varepsilon$; ``may_change``:
    test predictions with gap $\\le 2\\,$certificate (only these can change). Measured on the test
    images: ``changed`` predictions and ``max_test_error`` (a lower bound on the supremum).
    """

    units: list[int]
    random_weights: int
    kept: int
    certificate: float
    certified: bool
    may_change: int
    changed: int
    max_test_error: float

    def as_dict(self) -> dict:
        return asdict(self)


def build_and_certify(frame: TheoremFrame, units: list[int], *, seed: int, pool_cap: int = DEFAULT_POOL_CAP,
                      retry_cap: int | None = DEFAULT_RETRY_CAP, built_for: Target | None = None) -> Build:
    """Build the ticket at ``units`` per input, certify it against ``frame.target`` on the unit ball,
    and compare its predictions with the target's on the test images.

    ``built_for`` (default ``frame.target``) is the target the masks are chosen for; another one is
    a deliberately broken instance (the certificate is still taken against ``frame.target``).
    """
    # build_ticket's eps and delta only set the widths when units are not given
    _, ticket = build_ticket(built_for or frame.target, frame.tolerance, 0.5, seed=seed, units_per_input=units,
                             output_scale=1 / frame.scale, pool_cap=pool_cap, retry_cap=retry_cap)
    certificate = certify_sup_error(frame.target, ticket, Domain("ball", 1.0)).value
    with torch.no_grad():  # in chunks: the hidden layers of a 784-input ticket hold ~66,000 units per image
        outputs = torch.cat([ticket_outputs(ticket, chunk) for chunk in frame.x_unit.split(IMAGES_PER_CHUNK)])
    return Build(list(units), ticket.total, ticket.kept, certificate, certificate < frame.eps_logits,
                 frame.may_change(certificate), int((outputs.argmax(1) != frame.logits.argmax(1)).sum()),
                 float((outputs - frame.logits).norm(dim=1).max()))


def perturbed(target: Target, relative: float) -> Target:
    """``target`` with its first layer multiplied by ``1 + relative`` (a broken-instance helper)."""
    return Target([target.weights[0] * (1 + relative)] + target.weights[1:], target.biases)


def search_certified_width(frame: TheoremFrame, rule_units: list[int], *, seed: int, step: int, resolution: int = 1,
                           pool_cap: int = DEFAULT_POOL_CAP, retry_cap: int | None = DEFAULT_RETRY_CAP,
                           perturbation: float = 0.0, on_build: Callable[[Build], None] | None = None) -> dict:
    """The smallest $m_1$ (to ``resolution``) whose ticket certifies, the later blocks at ``rule_units``.

    The rule's width $m_1^{\\text{rule}}$ is built first; if it does not certify, nothing narrower is
    tried. Otherwise $m_1$ descends by ``step`` until a build fails to certify (or reaches 0), then
    the bracket (failed, certified] is bisected until it is at most ``resolution`` wide. Certification
    need not be monotone in $m_1$ (every width draws a new random network), so the answer is
    "certified at $m_1$, not at the failed width below it", both built. ``perturbation`` > 0 builds
    every ticket for a perturbed first layer (:func:`perturbed`), a deliberately broken instance.

    Returns ``{"rule_units", "rule_weights", "step", "resolution", "builds": [Build dicts in build
    order], "certified": Build dict | None, "narrower": Build dict | None}``.
    """
    if step < 1 or resolution < 1:
        raise ValueError(f"step and resolution must be >= 1, got {step} and {resolution}")
    built_for = perturbed(frame.target, perturbation) if perturbation else None
    builds: list[Build] = []

    def attempt(m1: int) -> Build:
        build = build_and_certify(frame, [m1] + rule_units[1:], seed=seed, pool_cap=pool_cap, retry_cap=retry_cap,
                                  built_for=built_for)
        builds.append(build)
        if on_build is not None:
            on_build(build)
        return build

    best = attempt(rule_units[0])
    narrower = None
    if best.certified:
        while narrower is None and best.units[0] > 1:
            build = attempt(max(best.units[0] - step, 1))
            best, narrower = (build, None) if build.certified else (best, build)
        while narrower is not None and best.units[0] - narrower.units[0] > resolution:
            build = attempt((best.units[0] + narrower.units[0]) // 2)
            best, narrower = (build, narrower) if build.certified else (best, build)
    return {"rule_units": list(rule_units), "rule_weights": random_weight_count(frame.widths, rule_units),
            "step": step, "resolution": resolution, "builds": [b.as_dict() for b in builds],
            "certified": best.as_dict() if best.certified else None,
            "narrower": None if narrower is None else narrower.as_dict()}


def frame_summary(frame: TheoremFrame) -> dict:
    """The frame's numbers for a JSON record (no tensors)."""
    return {"eps_logits": frame.eps_logits, "input_radius": frame.radius, "rescale_factor": frame.scale,
            "tolerance": frame.tolerance, "n_test": len(frame.gaps)}
