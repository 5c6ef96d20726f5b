"""The vocabulary shared by every construction: tickets, certificates, witnesses.

Types
-----
``Ticket``
    A pruned random network: random weights that are never trained, boolean masks on them, and
    what a construction needs to rebuild it. Every ticket spells its size the same way: ``kept``
    (unmasked random weights, plus any random biases it still uses) and ``total`` (all random
    weights before pruning). Implemented by :class:`lth.theory.dense.DenseTicket`,
    :class:`lth.theory.conv.LayerTicket` and :class:`lth.theory.conv.NetworkTicket`,
    :class:`lth.theory.universal.RandomBlock` and :class:`lth.theory.universal.PolyTicket`.
``Certificate``
    An upper bound ``value`` on ``sup_{x ∈ domain} ‖f(x) − g(x)‖`` for a target ``f`` and a ticket
    ``g``. ``kind`` says how it was obtained: ``rigorous`` (every float64 rounding bounded, by
    :mod:`lth.theory.numerics`) or ``sampled`` (a statistic of samples, not a bound). ``domain`` and
    ``norm`` describe the supremum in words, ``assumptions`` what must hold for it to be valid, and
    ``parts`` the named terms it is made of (per layer, per segment, exact part and rounding, ...).
``Witness``
    The input ``x`` reaching the largest error a search found, and that ``error``: a lower bound on
    the supremum a certificate bounds from above.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

KINDS = ("rigorous", "sampled")


class Ticket(Protocol):
    """A pruned random network (see the module docstring)."""

    @property
    def kept(self) -> int: ...

    @property
    def total(self) -> int: ...


@dataclass(frozen=True)
class Certificate:
    """``value`` bounds ``sup_{x ∈ domain} ‖f(x) − g(x)‖`` (``norm``) when ``assumptions`` hold.

    ``value`` is ``inf`` when the ticket is not of the form the bound needs (``parts["reason"]``).
    """

    value: float
    kind: str
    domain: str
    norm: str
    assumptions: tuple[str, ...] = ()
    parts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"certificate kind {self.kind!r} not in {KINDS}")


@dataclass(frozen=True)
class Witness:
    """An input ``x`` (the target's input shape) with ``error`` = ‖f(x) − g(x)‖ as evaluated in float64."""

    x: torch.Tensor
    error: float


def ascend(gap: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, restarts: int, steps: int, step: float,
           project: Callable[[torch.Tensor], torch.Tensor], chunk: int | None = None) -> Witness:
    """Projected normalised-gradient ascent of ``gap`` (points ``[B, ...]`` → values ``[B]``, differentiable).

    ``x`` ``[S, ...]`` are sampled points of the domain; from the ``restarts`` best of them, step ``s`` moves
    each point by ``step·(1 − s/steps)`` along its gradient normalised over the last axis, then ``project``
    puts it back in the domain. ``chunk``: sampled points evaluated at a time (their activations can be
    large). Returns the worst point found and its value: a lower bound on the sup of ``gap``.
    """
    with torch.no_grad():
        values = torch.cat([gap(part) for part in x.split(chunk)]) if chunk else gap(x)
    best_value, best_x = float(values.max()), x[values.argmax()].clone()
    start = x[values.argsort(descending=True)[:restarts]].clone()
    for s in range(steps):
        start.requires_grad_(True)
        values = gap(start)
        grad, = torch.autograd.grad(values.sum(), start)
        with torch.no_grad():
            top = int(values.argmax())
            if float(values[top]) > best_value:
                best_value, best_x = float(values[top]), start[top].detach().clone()
            size = step * (1 - s / steps)
            start = project(start + size * grad / grad.norm(dim=-1, keepdim=True).clamp(min=1e-300))
    with torch.no_grad():
        values = gap(start)
        top = int(values.argmax())
        if float(values[top]) > best_value:
            best_value, best_x = float(values[top]), start[top].clone()
    return Witness(best_x.cpu(), best_value)


def into_balls(x: torch.Tensor, radius: float) -> torch.Tensor:
    """Every vector along the last axis of ``x`` ``[..., d]`` moved radially into the ball of radius ``radius``
    (the projection that sequence searches use on each token)."""
    return x * (radius / x.norm(dim=-1, keepdim=True).clamp(min=radius))
