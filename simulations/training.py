r"""Training masked replicas with Adam and early stopping on the validation set.

The object: $R$ masked networks trained side by side for $T$ iterations of mini-batch Adam on the
cross-entropy loss $\sum_r \frac1B \sum_{j} \ell(f_r(x_{r,j}), y_{r,j})$; each replica has its own
data order, and the loss is a sum over replicas, so every replica's gradient (and Adam state, which
is elementwise) is exactly what it would be alone. Every ``eval_every`` iterations validation and
test accuracy are recorded; the early-stop iteration is the first one of maximal validation accuracy
and the reported accuracy is the test accuracy there (Frankle & Carbin's protocol).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from simulations.data import Split, Splits
from theory.device import cpu_threads
from simulations.models import Architecture, forward, zero_biases


@dataclass(frozen=True)
class Optimisation:
    """Training hyperparameters (defaults: Frankle & Carbin's LeNet-300-100 settings)."""

    iterations: int = 5000
    batch_size: int = 60
    lr: float = 1.2e-3
    eval_every: int = 100


@dataclass
class Trained:
    """Outcome of one training call for R replicas.

    ``weights``: final weights per layer [R, *shape]; ``snapshots``: {iteration: weights} taken
    before the update of that iteration (iteration 0 = the initial weights); ``eval_iterations`` [E];
    ``val_acc``, ``test_acc`` [R, E]; ``best`` [R] index into eval_iterations of the early stop.
    """

    weights: list[torch.Tensor]
    snapshots: dict[int, list[torch.Tensor]]
    eval_iterations: list[int]
    val_acc: torch.Tensor
    test_acc: torch.Tensor

    @property
    def best(self) -> torch.Tensor:
        return self.val_acc.argmax(dim=1)

    def early_stop_iteration(self) -> list[int]:
        return [self.eval_iterations[i] for i in self.best.tolist()]

    def early_stop_test_acc(self) -> list[float]:
        return self.test_acc.gather(1, self.best.unsqueeze(1)).squeeze(1).tolist()


# Evaluation chunks hold at most this many patch elements (float32: 256 MiB) across replicas.
_EVAL_ELEMENTS = 2 ** 26


@torch.no_grad()
def accuracy(arch: Architecture, weights: list[torch.Tensor], biases: list[torch.Tensor],
             masks: list[torch.Tensor], split: Split) -> torch.Tensor:
    """Fraction of ``split`` classified correctly by each replica, [R]."""
    replicas = weights[0].shape[0]
    chunk = max(1, min(2048, _EVAL_ELEMENTS // max(1, replicas * arch.patch_elements)))
    correct = torch.zeros(replicas, device=weights[0].device)
    for start in range(0, len(split), chunk):
        logits = forward(arch, weights, biases, masks, split.x[start:start + chunk])
        correct += (logits.argmax(dim=2) == split.y[start:start + chunk]).sum(dim=1)
    return correct / len(split)


def _orders(n: int, generators: list[torch.Generator], device: torch.device) -> torch.Tensor:
    """One random permutation of range(n) per replica, [R, n]."""
    return torch.stack([torch.randperm(n, generator=g, device=device) for g in generators])


def train(arch: Architecture, init: list[torch.Tensor], masks: list[torch.Tensor], data: Splits,
          opt: Optimisation, data_generators: list[torch.Generator], snapshot_at: tuple[int, ...] = (),
          progress=None) -> Trained:
    """Train R masked replicas from ``init`` ([R, *shape] per layer) on ``data`` (already on device).

    Pruned weights start at zero and stay exactly zero: the forward pass multiplies by the mask, so
    their gradient is zero, and Adam with zero gradient from zero state makes no update.
    ``data_generators`` (one per replica) fix each replica's data order. ``progress`` is an optional
    callable taking the number of iterations done (for progress bars). On CPU the loop runs on one
    intra-op thread (see ``cpu_threads``).
    """
    with cpu_threads(1 if init[0].device.type == "cpu" else None):
        return _train(arch, init, masks, data, opt, data_generators, snapshot_at, progress)


def _train(arch: Architecture, init: list[torch.Tensor], masks: list[torch.Tensor], data: Splits,
           opt: Optimisation, data_generators: list[torch.Generator], snapshot_at: tuple[int, ...],
           progress) -> Trained:
    device = init[0].device
    replicas = init[0].shape[0]
    float_masks = [m.to(init[0].dtype) for m in masks]
    weights = [(w * m).clone().requires_grad_(True) for w, m in zip(init, float_masks)]
    biases = [b.requires_grad_(True) for b in zero_biases(arch, replicas, device)]
    optimiser = torch.optim.Adam(weights + biases, lr=opt.lr)
    snapshots: dict[int, list[torch.Tensor]] = {}
    evals, val_acc, test_acc = [], [], []
    n = len(data.train)
    order = _orders(n, data_generators, device)
    position = 0
    for iteration in range(opt.iterations + 1):
        if iteration in snapshot_at:
            snapshots[iteration] = [w.detach().clone() for w in weights]
        if iteration % opt.eval_every == 0 or iteration == opt.iterations:
            evals.append(iteration)
            val_acc.append(accuracy(arch, weights, biases, float_masks, data.val))
            test_acc.append(accuracy(arch, weights, biases, float_masks, data.test))
        if iteration == opt.iterations:
            break
        if position + opt.batch_size > n:
            order, position = _orders(n, data_generators, device), 0
        index = order[:, position:position + opt.batch_size]
        position += opt.batch_size
        logits = forward(arch, weights, biases, float_masks, data.train.x[index])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), data.train.y[index].reshape(-1),
                               reduction="sum") / opt.batch_size
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if progress is not None:
            progress(1)
    return Trained([w.detach() for w in weights], snapshots, evals, torch.stack(val_acc, dim=1),
                   torch.stack(test_acc, dim=1))
