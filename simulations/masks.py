r"""Layer-wise pruning masks: magnitude pruning as in iterative magnitude pruning, and its controls.

The object: for each layer a 0/1 tensor $M$ of the weight's shape, batched over replicas
([R, *weight_shape]). One pruning step removes exactly $q = \lfloor p\,n + \tfrac12 \rfloor$ of the
$n$ weights a layer still holds, chosen by a score (smallest first); ties are broken by flat index, so
the result is deterministic, and pruned weights are never revived, so masks nest across rounds.
"""

from __future__ import annotations

import torch

from lth.simulations.imp_settings import CRITERIA  # defined without torch (the command line reads it)


def prune_count(alive: int, rate: float) -> int:
    """How many of ``alive`` weights one step at ``rate`` removes (round half up)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"prune rate must lie in [0, 1), got {rate}")
    return int(rate * alive + 0.5)


def _scores(weight: torch.Tensor, criterion: str, generators: list[torch.Generator] | None) -> torch.Tensor:
    """Per-weight scores [R, n]; the smallest are pruned first."""
    flat = weight.reshape(weight.shape[0], -1)
    if criterion == "magnitude":
        return flat.abs()
    if criterion == "reverse_magnitude":
        return -flat.abs()
    if criterion == "random":
        if generators is None:
            raise ValueError("criterion 'random' needs one generator per replica")
        return torch.stack([torch.rand(flat.shape[1], generator=g, device=flat.device) for g in generators])
    raise ValueError(f"unknown pruning criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")


def prune_layer(mask: torch.Tensor, weight: torch.Tensor, rate: float, criterion: str = "magnitude",
                generators: list[torch.Generator] | None = None) -> torch.Tensor:
    """Remove ``prune_count(alive, rate)`` surviving weights per replica, smallest score first.

    ``mask`` and ``weight`` are [R, *shape]; every replica must hold the same number of surviving
    weights (true for all masks built here). Returns the new boolean mask, a subset of ``mask``.
    """
    flat_mask = mask.reshape(mask.shape[0], -1).bool()
    alive = flat_mask.sum(dim=1)
    if not torch.all(alive == alive[0]):
        raise ValueError("replicas hold different numbers of surviving weights in one layer")
    dead = int(flat_mask.shape[1] - alive[0])
    q = prune_count(int(alive[0]), rate)
    scores = _scores(weight, criterion, generators).masked_fill(~flat_mask, -float("inf"))
    # Stable sort: among equal scores the lower flat index is pruned first. Dead weights sort first.
    order = torch.sort(scores, dim=1, stable=True).indices
    new = flat_mask.clone()
    new.scatter_(1, order[:, dead:dead + q], False)
    return new.reshape(mask.shape)


def prune_masks(masks: list[torch.Tensor], weights: list[torch.Tensor], rates: list[float],
                criterion: str = "magnitude", generators: list[torch.Generator] | None = None) -> list[torch.Tensor]:
    """One round of layer-wise pruning: layer i loses ``rates[i]`` of its surviving weights."""
    return [prune_layer(m, w, r, criterion, generators) for m, w, r in zip(masks, weights, rates)]


def random_masks_like(masks: list[torch.Tensor], generators: list[torch.Generator]) -> list[torch.Tensor]:
    """Uniformly random masks with exactly the same number of kept weights per layer and replica."""
    out = []
    for mask in masks:
        flat = mask.reshape(mask.shape[0], -1)
        keep = int(flat[0].sum())
        scores = torch.stack([torch.rand(flat.shape[1], generator=g, device=mask.device) for g in generators])
        top = torch.topk(scores, keep, dim=1).indices
        out.append(torch.zeros_like(flat, dtype=torch.bool).scatter_(1, top, True).reshape(mask.shape))
    return out


def full_masks(weights: list[torch.Tensor]) -> list[torch.Tensor]:
    """All-ones boolean masks for the given weights."""
    return [torch.ones_like(w, dtype=torch.bool) for w in weights]


def remaining_fraction(masks: list[torch.Tensor]) -> float:
    """Fraction of all prunable weights still kept, in replica 0."""
    kept = sum(int(m[0].sum()) for m in masks)
    total = sum(m[0].numel() for m in masks)
    return kept / total
