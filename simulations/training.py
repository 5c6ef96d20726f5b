r"""Training masked replicas (Adam or SGD with momentum) with early stopping on the validation set.

The object: $R$ masked networks trained side by side for $T$ iterations of mini-batch Adam or SGD
with heavy-ball momentum on the cross-entropy loss $\sum_r \frac1B \sum_{j} \ell(f_r(x_{r,j}), y_{r,j})$;
each replica has its own data order, and the loss is a sum over replicas, so every replica's
gradient (and optimiser state, which is elementwise for both) is exactly what it would be alone.
Every ``eval_every`` iterations validation loss, validation accuracy and test accuracy are recorded;
the early-stop iteration is the first one of minimal validation loss (Frankle & Carbin's protocol;
``stop_on="val_acc"`` takes the first maximum of validation accuracy instead) and the reported
accuracy is the test accuracy there.

:func:`fit_full_batch` is the plain full-batch loop for a ``torch.nn.Module`` that the strong-ticket
claims use to make their trained targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lth.simulations.data import Split, Splits
from lth.theory.device import cpu_threads
from lth.simulations.models import Architecture, forward, zero_biases
# Defined without torch (the command line reads them before any work); imported here for the library's callers.
from lth.simulations.training_settings import OPTIMIZERS, STOP_RULES, Optimisation  # noqa: F401


@dataclass
class Trained:
    """Outcome of one training call for R replicas.

    ``weights``, ``biases``: final values per layer [R, *shape]; ``snapshots``: {iteration: weights}
    taken before the update of that iteration (iteration 0 = the initial weights);
    ``eval_iterations`` [E]; ``val_loss``, ``val_acc``, ``test_acc`` [R, E]; ``best`` [R] index into
    eval_iterations of the early stop under ``stop_on``.
    """

    weights: list[torch.Tensor]
    snapshots: dict[int, list[torch.Tensor]]
    eval_iterations: list[int]
    val_acc: torch.Tensor
    test_acc: torch.Tensor
    val_loss: torch.Tensor
    biases: list[torch.Tensor]
    stop_on: str = "val_acc"

    @property
    def best(self) -> torch.Tensor:
        # argmin/argmax return the first extremum, so ties resolve to the earliest evaluation.
        return self.val_loss.argmin(dim=1) if self.stop_on == "val_loss" else self.val_acc.argmax(dim=1)

    def early_stop_iteration(self) -> list[int]:
        return [self.eval_iterations[i] for i in self.best.tolist()]

    def early_stop_test_acc(self) -> list[float]:
        return self.test_acc.gather(1, self.best.unsqueeze(1)).squeeze(1).tolist()


# Evaluation chunks hold at most this many patch elements (float32: 256 MiB) across replicas.
_EVAL_ELEMENTS = 2 ** 26


@torch.no_grad()
def evaluate(arch: Architecture, weights: list[torch.Tensor], biases: list[torch.Tensor],
             masks: list[torch.Tensor], split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    """(accuracy, mean cross-entropy) of each replica on ``split``, both [R]."""
    replicas = weights[0].shape[0]
    chunk = max(1, min(2048, _EVAL_ELEMENTS // max(1, replicas * arch.patch_elements)))
    correct = torch.zeros(replicas, device=weights[0].device)
    loss = torch.zeros(replicas, device=weights[0].device)
    for start in range(0, len(split), chunk):
        logits = forward(arch, weights, biases, masks, split.x[start:start + chunk])
        labels = split.y[start:start + chunk]
        correct += (logits.argmax(dim=2) == labels).sum(dim=1)
        loss += F.cross_entropy(logits.transpose(1, 2), labels.expand(replicas, -1), reduction="none").sum(dim=1)
    return correct / len(split), loss / len(split)


def accuracy(arch: Architecture, weights: list[torch.Tensor], biases: list[torch.Tensor],
             masks: list[torch.Tensor], split: Split) -> torch.Tensor:
    """Fraction of ``split`` classified correctly by each replica, [R]."""
    return evaluate(arch, weights, biases, masks, split)[0]


def _orders(n: int, generators: list[torch.Generator], device: torch.device) -> torch.Tensor:
    """One random permutation of range(n) per replica, [R, n]."""
    return torch.stack([torch.randperm(n, generator=g, device=device) for g in generators])


def train(arch: Architecture, init: list[torch.Tensor], masks: list[torch.Tensor], data: Splits,
          opt: Optimisation, data_generators: list[torch.Generator], snapshot_at: tuple[int, ...] = (),
          progress=None, start: int = 0) -> Trained:
    """Train R masked replicas from ``init`` ([R, *shape] per layer) on ``data`` (already on device).

    Pruned weights start at zero and stay exactly zero: the forward pass multiplies by the mask, so
    their gradient is zero, and Adam or momentum SGD with zero gradient from zero state makes no
    update. ``start`` > 0 resumes the schedule at that iteration (a ticket rewound to θ_k trains the
    remaining T − k iterations; evaluation and snapshot iterations stay absolute).
    ``data_generators`` (one per replica) fix each replica's data order. ``progress`` is an optional
    callable taking the number of iterations done (for progress bars). On CPU the loop runs on one
    intra-op thread (see ``cpu_threads``).
    """
    if not 0 <= start < opt.iterations:
        raise ValueError(f"start={start} must lie in [0, iterations={opt.iterations})")
    with cpu_threads(1 if init[0].device.type == "cpu" else None):
        return _train(arch, init, masks, data, opt, data_generators, snapshot_at, progress, start)


def _train(arch: Architecture, init: list[torch.Tensor], masks: list[torch.Tensor], data: Splits,
           opt: Optimisation, data_generators: list[torch.Generator], snapshot_at: tuple[int, ...],
           progress, start: int) -> Trained:
    device = init[0].device
    replicas = init[0].shape[0]
    float_masks = [m.to(init[0].dtype) for m in masks]
    weights = [(w * m).clone().requires_grad_(True) for w, m in zip(init, float_masks)]
    biases = [b.requires_grad_(True) for b in zero_biases(arch, replicas, device)]
    optimiser = opt.optimiser(weights + biases)
    snapshots: dict[int, list[torch.Tensor]] = {}
    evals, val_acc, val_loss, test_acc = [], [], [], []
    n = len(data.train)
    order = _orders(n, data_generators, device)
    position = 0
    for iteration in range(start, opt.iterations + 1):
        if iteration in snapshot_at:
            snapshots[iteration] = [w.detach().clone() for w in weights]
        if iteration % opt.eval_every == 0 or iteration in (start, opt.iterations):
            evals.append(iteration)
            acc, loss = evaluate(arch, weights, biases, float_masks, data.val)
            val_acc.append(acc)
            val_loss.append(loss)
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
                   torch.stack(test_acc, dim=1), torch.stack(val_loss, dim=1), [b.detach() for b in biases],
                   opt.stop_on)


def fit_full_batch(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int,
                   lr: float = 1e-2) -> torch.nn.Module:
    """Train ``model`` in place: ``steps`` full-batch Adam steps on the cross-entropy of (x [N, ...], y [N]).

    No early stopping and no replicas: the strong-ticket claims use it to make a trained target
    (the seeding of the model's own initialisation is the caller's).
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimiser.step()
    return model
