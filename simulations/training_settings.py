"""The names and hyperparameters every simulation's training run is configured by, without torch.

:data:`DATASETS` (``lth.simulations.data``), :data:`ARCHITECTURES` (``lth.simulations.models``), the
optimisers and early-stop rules, and :class:`Optimisation` (``lth.simulations.training`` trains with
it). They are read by the settings dataclasses of the experiments (``lth.simulations.imp_settings``,
``lth.simulations.supermask_settings``), which the command line checks before any work: importing
this module costs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DATASETS = ("digits", "mnist5k", "fashion_mnist")
ARCHITECTURES = ("lenet", "conv2", "conv4", "conv6")
OPTIMIZERS = ("adam", "sgd")
STOP_RULES = ("val_loss", "val_acc")


@dataclass(frozen=True)
class Optimisation:
    """Training hyperparameters (defaults: Frankle & Carbin's LeNet-300-100 settings).

    ``optimizer`` "adam" or "sgd" (heavy-ball ``momentum``, no weight decay); ``stop_on`` the early-stop
    rule: "val_loss" (first minimum of validation loss, the paper's) or "val_acc" (first maximum of
    validation accuracy).
    """

    iterations: int = 5000
    batch_size: int = 60
    lr: float = 1.2e-3
    eval_every: int = 100
    optimizer: str = "adam"
    momentum: float = 0.9
    stop_on: str = "val_acc"

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.stop_on not in STOP_RULES:
            raise ValueError(f"unknown early-stop rule {self.stop_on!r}; choose one of {', '.join(STOP_RULES)}")

    def optimiser(self, parameters: list[torch.Tensor]) -> torch.optim.Optimizer:
        import torch  # here, not at the top: the settings are read (and refused) without torch

        if self.optimizer == "sgd":
            return torch.optim.SGD(parameters, lr=self.lr, momentum=self.momentum)
        return torch.optim.Adam(parameters, lr=self.lr)
