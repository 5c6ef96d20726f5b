r"""Lightweight architecture search (Muralidharan et al. 2024 §2.4), as an exploratory measurement.

1. **Enumerate** the sub-architectures of a grid (keep fractions of hidden, heads, MLP and depth;
   heads in multiples of the KV groups, hidden in multiples of the heads) whose parameter count lies
   within ``tolerance`` of a target; keep the ``limit`` closest to it, always including the closest
   *width-only* (all blocks kept) and *depth-only* (all widths kept) candidates when the grid has them.
2. **Rank zero-shot**: prune each candidate from the same scores (activation importance for widths,
   Block Importance for depth, one calibration draw) and measure held-out NLL without retraining.
3. **Retrain briefly**: distil every candidate from the unpruned teacher with the same token budget
   (forward KL), measure held-out NLL again.
4. Report both rankings, their Spearman rank correlation, the winner after retraining and the
   width-only vs depth-only comparison at (nearly) equal parameters (the talk: prefer width).

Nothing here is a verdict: one calibration draw, one training draw; the numbers are sampled.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from scipy.stats import spearmanr

from lth.simulations.minitron.distillation import recover
from lth.simulations.minitron.importance import DepthScores, WidthScores, perplexity
from lth.simulations.minitron.llama import Architecture
from lth.simulations.minitron.pruning import prune

GRID = {"hidden": (1.0, 0.875, 0.75, 0.625), "heads": (1.0, 2 / 3, 1 / 3), "intermediate": (1.0, 5 / 6, 2 / 3, 1 / 2),
        "layers": (1.0, 0.9, 0.8, 0.7, 0.6)}


@dataclass(frozen=True)
class Candidate:
    """A sub-architecture and its parameter count."""

    architecture: Architecture
    parameters: int

    def kind(self, source: Architecture) -> str:
        """``depth-only`` (widths of ``source`` kept), ``width-only`` (all blocks kept) or ``mixed``."""
        a = self.architecture
        if (a.hidden, a.heads, a.intermediate) == (source.hidden, source.heads, source.intermediate):
            return "depth-only"
        return "width-only" if a.layers == source.layers else "mixed"


def _legal(source: Architecture, hidden: float, heads: float, intermediate: float, layers: float) -> Architecture:
    h = max(source.kv_heads, source.kv_heads * round(source.heads * heads / source.kv_heads))
    d = max(h, h * round(source.hidden * hidden / h))
    return source.replace(hidden=d, heads=h, intermediate=max(1, round(source.intermediate * intermediate)),
                          layers=max(1, round(source.layers * layers)))


def enumerate_candidates(source: Architecture, vocab: int, target: int, tolerance: float = 0.05, limit: int = 6,
                         grid: dict[str, Sequence[float]] = GRID) -> list[Candidate]:
    """Grid sub-architectures of ``source`` within ``tolerance`` (relative) of ``target`` parameters."""
    found: dict[Architecture, Candidate] = {}
    for fractions in itertools.product(*(grid[k] for k in ("hidden", "heads", "intermediate", "layers"))):
        arch = _legal(source, *fractions)
        count = arch.parameters(vocab)
        if abs(count - target) <= tolerance * target and arch != source:
            found[arch] = Candidate(arch, count)
    ranked = sorted(found.values(), key=lambda c: (abs(c.parameters - target), c.parameters))
    chosen = []
    for kind in ("width-only", "depth-only"):
        chosen += [c for c in ranked if c.kind(source) == kind][:1]
    chosen += [c for c in ranked if c not in chosen]
    return sorted(chosen[:limit], key=lambda c: c.parameters)


def search(teacher: torch.nn.Module, width: WidthScores, depth: DepthScores, candidates: Sequence[Candidate],
           train: torch.Tensor, heldout: torch.Tensor, *, steps: int, batch: int, lr: float, seed: int = 0,
           batch_size: int = 8, on_candidate: Callable[[int], None] | None = None) -> dict:
    """Zero-shot and briefly distilled held-out NLL of every candidate, both rankings and their
    Spearman correlation; ``train`` / ``heldout`` [N, S] windows, ``steps`` x ``batch`` windows each."""
    source = Architecture.of(teacher)
    rows = []
    for index, candidate in enumerate(candidates):
        arch = candidate.architecture
        keep = depth.keep(arch.layers, "bi") if arch.layers < source.layers else None
        student = prune(teacher, width, arch, keep).model
        zero_shot = perplexity(student, heldout, batch_size).nll
        recover(student, train, method="kd", steps=steps, batch_size=batch, lr=lr,
                gen=torch.Generator().manual_seed(seed), teacher=teacher)
        rows.append({"architecture": arch.to_dict(), "parameters": candidate.parameters,
                     "kind": candidate.kind(source), "zero_shot_nll": zero_shot,
                     "retrained_nll": perplexity(student, heldout, batch_size).nll})
        if on_candidate:
            on_candidate(index)
    for key in ("zero_shot_nll", "retrained_nll"):
        order = sorted(range(len(rows)), key=lambda i: rows[i][key])
        for rank, i in enumerate(order, 1):
            rows[i][key.replace("nll", "rank")] = rank
    rho = float(spearmanr([r["zero_shot_nll"] for r in rows], [r["retrained_nll"] for r in rows]).statistic) \
        if len(rows) > 2 else float("nan")
    by_kind = {kind: min((r for r in rows if r["kind"] == kind), key=lambda r: r["retrained_nll"], default=None)
               for kind in ("width-only", "depth-only")}
    return {"rows": rows, "spearman": rho, "winner": min(rows, key=lambda r: r["retrained_nll"]),
            "width_only": by_kind["width-only"], "depth_only": by_kind["depth-only"],
            "budget": {"steps": steps, "batch": batch, "lr": lr, "tokens_per_candidate": steps * batch * train.shape[1]}}
