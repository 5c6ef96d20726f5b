"""Four strong-ticket constructions side by side on the same targets, ε grid and domain
(proofs/slth_compare.md).

Method. Every target (a random-weight target, an MLP trained on scikit-learn's digits, at full scale an MLP
trained on MNIST-5k) is made unbiased (biases become a constant input, :meth:`Target.augmented`) and rescaled
to ‖W_i‖₂ ≤ 1 (:func:`lth.theory.dense.rescale`), so all four theorems' hypotheses hold for the same function
on the same domain, the unit ball. For each ε of the grid and each construction — Pensia's U[−1, 1] 2L-layer
network (pool rule B), the hyperbolic 2L-layer network (rule H, after Orseau et al.), Burkholz's (L+1)-layer
network (ReLU) and an Erdős–Rényi sparse 2L-layer network (after Gadhikar et al.) — the *measured size* is the
least width of :data:`WIDTHS` (units per input, or copies per neuron, the same in every layer) whose ticket's
rigorous float64 certificate is ≤ ε, scanned upwards on one draw per width; the proven size is the closed form
of the construction's theorem. The judged ordering (the one the explicit constants of Theorems P and H
predict): at small enough ε Pensia's construction needs fewer random weights than the hyperbolic one, on every
target and draw; the crossing ε is the largest grid ε from which on it holds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

import lth.theory.dense as dense
import lth.theory.depth as depth
from lth.claims.slth_dense import flip_largest_kept, train_mlp
from lth.registry import COUNT, OPEN_UNIT, Context, Quantity, Record, claim, param
from lth.verdict import Verdict
from lth.theory.dense import Domain, Target, build_ticket, random_target, rescale
from lth.theory.dense_bounds import bound_proven_units_per_input, bound_weight_accuracy
from lth.theory.hyperbolic import bound_proven_hyperbolic_units_per_input, build_hyperbolic_ticket
from lth.theory.sparse import bound_proven_sparse_units_per_input, build_sparse_ticket

PROOF = "proofs/slth_compare.md"
CONSTRUCTIONS = ("pensia", "hyperbolic", "burkholz", "sparse")
NAMES = {"pensia": "Pensia et al. (U[-1,1], 2L)", "hyperbolic": "hyperbolic (after Orseau et al., 2L)",
         "burkholz": "Burkholz (L+1, ReLU)", "sparse": "Erdős–Rényi sparse (after Gadhikar et al., 2L)"}
WIDTHS = tuple(2 ** k for k in range(1, 13))  # units per input (2L networks) or copies per neuron (L+1), 2..4096
JUDGED = ("pensia", "hyperbolic")  # the ordering judged: the first needs fewer random weights at small ε
STATEMENT = ("Theorems P and H with explicit constants: Theorem H's proven width grows like log² of 1/ε, Theorem "
             "P's like log, so at small enough ε Pensia's construction needs fewer random weights than the "
             "hyperbolic one; judged on the least certified widths (one draw per width) at the smallest grid ε "
             "on every target and draw (proofs/slth_compare.md)")


@dataclass(frozen=True)
class CompareFaults:
    flip: int = param(0, "prune this many kept entries with the largest |b·a| in the last block of every Pensia "
                         "ticket: its certificates exceed ε, so it is never certified")
    swap: bool = param(False, "judge the reverse ordering (hyperbolic fewer than Pensia): the prediction swapped")


@dataclass(frozen=True)
class CompareParams:
    """The same targets, ε grid and domain (unit ball) for every construction."""

    target: tuple[int, ...] = param((8, 6, 4), "widths of the unbiased random target (‖W_i‖₂ = 1)", domain=COUNT)
    digits_hidden: tuple[int, ...] = param((4,), "hidden widths of the MLP trained on digits (64-…-10)")
    digits_steps: int = param(150, "full-batch Adam steps training the digits MLP (0: no digits target)")
    mnist_hidden: tuple[int, ...] = param((32,), "hidden widths of the MLP trained on MNIST-5k (784-…-10)")
    mnist_steps: int = param(0, "full-batch Adam steps training the MNIST-5k MLP (0: no MNIST target)")
    eps_grid: tuple[float, ...] = param((0.1, 0.03), "ε values, sup error on the unit ball", domain=OPEN_UNIT)
    delta: float = param(0.1, "failure probability δ of the proven sizes (closed forms, not built)",
                         domain=OPEN_UNIT)
    density: float = param(0.5, "Erdős–Rényi density p of both layers of every sparse block", domain=OPEN_UNIT)
    draws: int = param(1, "independent draws per target and ε of the two judged constructions (the other two: "
                          "one draw, reported)", domain=COUNT)
    pool_cap: int = param(20, "units per value-independent block of pool rule B", domain=COUNT)
    max_parameters: int = param(1_000_000, "largest source (dense-shape entries) a scan builds; above it the row "
                                           "is censored", domain=COUNT)


def refuse_bad_params(p: CompareParams) -> None:
    """One line before any work: ε grid, δ and density in (0, 1), a target of at least two positive widths,
    positive hidden widths, non-negative training steps."""
    if not p.eps_grid or not all(0 < e < 1 for e in p.eps_grid) or not (0 < p.delta < 1 and 0 < p.density <= 1):
        raise ValueError(f"eps_grid must be non-empty in (0, 1), delta in (0, 1) and density in (0, 1], got "
                         f"{p.eps_grid}, {p.delta} and {p.density}")
    if len(p.target) < 2 or min(p.target) < 1 or min(p.digits_hidden + p.mnist_hidden, default=1) < 1:
        raise ValueError(f"the random target needs at least two positive widths and hidden widths must be "
                         f"positive, got {p.target}, {p.digits_hidden} and {p.mnist_hidden}")
    if p.digits_steps < 0 or p.mnist_steps < 0:
        raise ValueError(f"training steps must be non-negative, got {p.digits_steps} and {p.mnist_steps}")


def normalised(target: Target) -> tuple[Target, float]:
    """The unbiased target on $(x, 1)$ (the augmented matrices) rescaled to ‖W_i‖₂ ≤ 1, and the factor $c$ of
    :func:`lth.theory.dense.rescale`: it computes $c\\,f(x)$ at $(x, 1)$."""
    return rescale(Target(target.augmented(), [None] * target.depth))


def source_size(name: str, widths: list[int], width: int) -> int:
    """Entries of the construction's source at ``width`` units per input (copies per neuron for Burkholz's),
    dense shape (the sparse source has about ``density`` times as many present)."""
    if name == "burkholz":
        rows = depth.rows_per_layer(widths, [width] * (len(widths) - 1))
        return width * widths[0] ** 2 + sum(r * width * d for r, d in zip(rows, widths[:-1]))
    return sum(width * a * (a + b) for a, b in zip(widths[:-1], widths[1:]))


def proven_size(name: str, target: Target, eps: float, p: CompareParams) -> dict:
    """The construction's proven size at (ε, δ): its theorem's widths and random weights (closed forms; for the
    sparse source the expected number of present entries). ``units`` None where the theorem's widths do not
    reach a fixed point."""
    widths = target.widths
    if name == "burkholz":
        try:
            copies = depth.bound_proven_copies(widths, eps, p.delta, depth.activation("relu"),
                                               depth.row_sum_bounds(target)).copies
        except RuntimeError:
            return {"units": None, "random_parameters": None}
        rows = depth.rows_per_layer(widths, copies)
        count = copies[0] * widths[0] ** 2 + sum(r * c * d for r, c, d in zip(rows, copies, widths[:-1]))
        return {"units": copies, "random_parameters": count}
    if name == "pensia":
        units = bound_proven_units_per_input(widths, eps, p.delta)
    elif name == "hyperbolic":
        units = bound_proven_hyperbolic_units_per_input(widths, eps, p.delta)
    else:
        units = bound_proven_sparse_units_per_input(widths, eps, p.delta, (p.density, p.density))
    count = sum(m * a * (a + b) for m, a, b in zip(units, widths[:-1], widths[1:]))
    return {"units": units, "random_parameters": count * (p.density if name == "sparse" else 1)}


def build(name: str, target: Target, eps: float, width: int, seed: int, p: CompareParams, ctx: Context) -> dict:
    """One source of ``name`` at ``width`` in every layer and its ticket for ``target``, certified on the unit ball:
    random weights (the source's entries; present ones for the sparse source), kept weights, depth, certificate
    (rigorous float64) and build time (wall clock, certificate excluded)."""
    layers = [width] * target.depth
    ball = Domain("ball")
    start = time.perf_counter()
    if name == "burkholz":
        net, ticket, _ = depth.build_depth_ticket(target, eps, p.delta, depth.activation("relu"), seed=seed,
                                                  device=ctx.device, copies=layers, pool_cap=p.pool_cap)
        seconds, random = time.perf_counter() - start, net.parameters
        certified = depth.certify_sup_error(target, ticket, ball).value
        return {"random_parameters": random, "kept_parameters": ticket.kept, "depth": target.depth + 1,
                "certified": certified, "build_seconds": seconds}
    if name == "pensia":
        net, ticket = build_ticket(target, eps, p.delta, seed=seed, device=ctx.device, units_per_input=layers,
                                   pool_cap=p.pool_cap, pool_rule="blocks",
                                   pool_tolerance=bound_weight_accuracy(target.widths, eps))
        random = net.parameters
    elif name == "hyperbolic":
        net, ticket = build_hyperbolic_ticket(target, eps, p.delta, seed=seed, device=ctx.device,
                                              units_per_input=layers)
        random = net.parameters
    else:
        source, ticket = build_sparse_ticket(target, eps, p.delta, (p.density, p.density), seed=seed,
                                             device=ctx.device, units_per_input=layers, pool_cap=p.pool_cap)
        random = source.parameters
    seconds = time.perf_counter() - start
    if name == "pensia":
        flip_largest_kept(ticket, target.depth - 1, ctx.faults.flip)
    return {"random_parameters": random, "kept_parameters": ticket.kept, "depth": 2 * target.depth,
            "certified": dense.certify_sup_error(target, ticket, ball).value, "build_seconds": seconds}


def least_certified(name: str, target: Target, eps: float, seed: int, p: CompareParams, ctx: Context) -> dict:
    """Scan :data:`WIDTHS` upwards until a ticket is certified ≤ ε (``width`` then set), or the next source
    would exceed ``max_parameters`` (``width`` None: censored; ``tried_width`` and ``tried_random_parameters``
    the largest built). Each width is a fresh draw from ``seed``."""
    tried, start = None, time.perf_counter()
    for width in WIDTHS:
        if source_size(name, target.widths, width) > p.max_parameters:
            break
        built = build(name, target, eps, width, seed + width, p, ctx)
        tried = {"tried_width": width, "tried_random_parameters": built["random_parameters"],
                 "tried_certified": built["certified"]}
        if built["certified"] <= eps:
            return {"width": width, **built, **tried, "scan_seconds": time.perf_counter() - start}
    return {"width": None, **(tried or {"tried_width": None, "tried_random_parameters": 0, "tried_certified": None}),
            "scan_seconds": time.perf_counter() - start}


def compare(first: dict, second: dict) -> str:
    """Which of two scans has fewer random weights: ``"first"``, ``"second"``, ``"tie"`` or ``"undecided"``.

    A censored scan has more random weights than its largest source built (its least certified size is larger),
    so it loses to a certified count at most that large; two censored scans, or a certified count above the
    other's censoring point, are undecided."""
    a, b = first["width"] is not None, second["width"] is not None
    if a and b:
        x, y = first["random_parameters"], second["random_parameters"]
        return "first" if x < y else "second" if y < x else "tie"
    if a and first["random_parameters"] <= second["tried_random_parameters"]:
        return "first"
    if b and second["random_parameters"] <= first["tried_random_parameters"]:
        return "second"
    return "undecided"


def ordering_cells(rows: list[dict], judged: tuple[str, str]) -> list[dict]:
    """Per (target, ε, draw): which of the two ``judged`` constructions has fewer random weights."""
    cells = {}
    for r in rows:
        if r["construction"] in judged:
            cells.setdefault((r["target"], r["eps"], r["draw"]), {})[r["construction"]] = r
    return [{"target": t, "eps": e, "draw": d,
             "fewer": {"first": judged[0], "second": judged[1]}.get(outcome, outcome)}
            for (t, e, d), pair in cells.items()
            for outcome in [compare(pair[judged[0]], pair[judged[1]])]]


def crossing(cells: list[dict], predicted: str) -> float | None:
    """The largest grid ε such that at it and every smaller grid ε ``predicted`` has fewer random weights in
    every cell (None: not even at the smallest ε)."""
    found = None
    for eps in sorted({c["eps"] for c in cells}):
        if not all(c["fewer"] == predicted for c in cells if c["eps"] == eps):
            break
        found = eps
    return found


def judge_ordering(cells: list[dict], predicted: str) -> Verdict:
    """Holds when ``predicted`` has fewer random weights in every cell at the smallest grid ε; fails when the
    other construction has as few or fewer in some cell there; inconclusive when only undecided (censored)
    cells stand in the way."""
    smallest = min(c["eps"] for c in cells)
    last = [c for c in cells if c["eps"] == smallest]
    against = [c for c in last if c["fewer"] not in (predicted, "undecided")]
    undecided = [c for c in last if c["fewer"] == "undecided"]
    cross = crossing(cells, predicted)
    where = f"crossing ε = {cross:g}" if cross is not None else "no crossing in the grid"
    if against:
        names = "; ".join(f"{c['target']} draw {c['draw']}: {c['fewer']}" for c in against)
        return "fails", f"at ε = {smallest:g} {predicted} does not have fewer random weights ({names}); {where}"
    if undecided:
        return "inconclusive", (f"at ε = {smallest:g} {len(undecided)} cell(s) undecided: neither construction "
                                f"certified within max_parameters; {where}")
    return "holds", f"{predicted} has fewer random weights at every grid ε ≤ {cross:g} on every target and draw ({where})"


def targets(p: CompareParams, ctx: Context) -> list[tuple[str, Target]]:
    """The targets compared: the random one, then the trained ones the parameters ask for (original form)."""
    out = [(f"random {'-'.join(map(str, p.target))}", random_target(list(p.target), ctx.generator(100)))]
    if p.digits_steps:
        trained, _ = train_mlp("digits", p.digits_hidden, p.digits_steps, ctx.seed, ctx.device)
        out.append((f"digits MLP {'-'.join(map(str, trained.widths))}", trained))
    if p.mnist_steps:
        trained, _ = train_mlp("mnist5k", p.mnist_hidden, p.mnist_steps, ctx.seed, ctx.device)
        out.append((f"MNIST-5k MLP {'-'.join(map(str, trained.widths))}", trained))
    return out


@claim("slth.constructions.compare", "on the same targets (random, trained on digits, trained on MNIST-5k), the "
       "same ε grid and the unit ball, four strong-ticket constructions (Pensia et al.; hyperbolic after Orseau, "
       "Hutter & Rivasplata; Burkholz's depth L+1; Erdős–Rényi sparse after Gadhikar, Mukherjee & Burkholz) are "
       "built at their least certified widths and reported side by side with their proven sizes; judged: at small "
       "enough ε Pensia's construction needs fewer random weights than the hyperbolic one (the ordering the "
       "explicit constants of Theorems P and H predict), on every target and draw, with the crossing ε reported",
       proof=PROOF, params=CompareParams, faults=CompareFaults, kind="instance",
       full_cost="measured 2026-12-08 (clean commit 2385deb, one thread on 2 shared cores): 12 min 18 s wall, "
                 "677 CPU-s (578 user + 99 system), peak 3.3 GB (three targets up to a 784-32-10 MNIST-5k MLP, "
                 "three ε, two draws of the judged pair, sources up to 10⁸ entries)",
       full={"target": (32, 32, 10), "digits_hidden": (32,), "digits_steps": 1000, "mnist_steps": 300,
             "eps_grid": (0.1, 0.03, 0.01), "delta": 0.01, "draws": 2, "max_parameters": 100_000_000},
       uses=("slth.dense.network", "slth.hyperbolic.network", "slth.depth.network", "slth.sparse.network"))
def check_compare(p: CompareParams, ctx: Context) -> Record:
    refuse_bad_params(p)
    rows, summaries = [], []
    for label, original in targets(p, ctx):
        target, factor = normalised(original)
        summaries.append({"target": label, "widths": original.widths, "normalised_widths": target.widths,
                          "target_parameters": original.parameters, "rescale_factor": factor})
        for index, eps in enumerate(p.eps_grid):
            for name in ctx.bar(CONSTRUCTIONS, desc=f"{label}, ε = {eps:g}"):
                proven = proven_size(name, target, eps, p)
                for draw in range(p.draws if name in JUDGED else 1):
                    scan = least_certified(name, target, eps, ctx.stream(10_000 * (index + 1) + 100 * draw), p, ctx)
                    rows.append({"target": label, "eps": eps, "construction": name, "name": NAMES[name],
                                 "draw": draw, **scan, "target_parameters": original.parameters,
                                 "proven_units": proven["units"],
                                 "proven_random_parameters": proven["random_parameters"],
                                 "random_per_target_weight": (scan["random_parameters"] / original.parameters
                                                              if scan["width"] is not None else None)})
    judged = JUDGED[::-1] if ctx.faults.swap else JUDGED
    cells = ordering_cells(rows, judged)
    verdict, reason = judge_ordering(cells, judged[0])
    smallest = min(p.eps_grid)
    certified = [r["certified"] for r in rows if r["width"] is not None and r["eps"] == smallest]
    return Record(verdict, reason,
                  bound=Quantity(smallest, "smallest ε of the grid, where the ordering is judged"),
                  certified=Quantity(max(certified, default=None), "largest certified sup error of the counted "
                                     "rows at the smallest ε (rigorous float64; each ≤ ε by the rows' definition)"),
                  details={"targets": summaries, "rows": rows, "cells": cells, "judged": list(judged),
                           "crossing_eps": crossing(cells, judged[0]), "widths": list(WIDTHS),
                           "statement": STATEMENT})
