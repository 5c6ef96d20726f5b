"""The settings of IMP experiments (:mod:`lth.simulations.imp`), without torch: :class:`ImpSettings`, whose
defaults are Frankle & Carbin's LeNet-300-100 protocol, the named presets :data:`PROTOCOLS`, and the
pruning criteria :data:`CRITERIA` (``lth.simulations.masks`` scores weights by them).

The protocol is defined once, here. ``lth simulate imp|transfer`` builds its flags from these fields
and refuses bad values before any work; importing this module costs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lth.simulations.training_settings import Optimisation

CRITERIA = ("magnitude", "reverse_magnitude", "random")


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass(frozen=True)
class ImpSettings:
    """One IMP experiment. Defaults: Frankle & Carbin's LeNet-300-100 protocol on the data here."""

    dataset: str = _help("data set: digits, mnist5k or fashion_mnist", default="mnist5k")
    image_size: int = _help("resize images to this many pixels a side (0: native)", default=0)
    arch: str = _help("architecture: lenet, conv2, conv4 or conv6", default="lenet")
    width: float = _help("multiply every hidden width by this factor", default=1.0)
    seeds: int = _help("number of independent seeds (seed, seed+1, ...)", default=5)
    seed: int = _help("first seed", default=0)
    rounds: int = _help("pruning rounds after the dense run", default=15)
    prune_rate: float = _help("fraction of surviving fully connected weights pruned per round", default=0.2)
    prune_rate_conv: float = _help("fraction of surviving convolution weights pruned per round", default=0.1)
    prune_rate_output: float = _help("fraction of surviving output-layer weights pruned per round", default=0.1)
    rewind_to: tuple[int, ...] = _help("iterations k to rewind tickets to (0: original LTH; >0: late "
                                       "resetting); one ticket chain per k", default=(0,))
    criterion: str = _help("pruning score: magnitude, reverse_magnitude (prunes the largest) or random",
                           default="magnitude")
    controls: bool = _help("also train random re-init and random-mask controls", default=True)
    reinit_offset: int = _help("seed offset of the re-initialisation control's fresh init", default=1_000_000)
    iterations: int = _help("training iterations per level", default=5000)
    batch_size: int = _help("mini-batch size", default=60)
    lr: float = _help("learning rate", default=1.2e-3)
    eval_every: int = _help("evaluate validation and test accuracy every this many iterations", default=100)
    split_seed: int = _help("seed of the train/validation/test split", default=0)
    optimizer: str = _help("optimiser: adam or sgd (heavy-ball momentum, no weight decay)", default="adam")
    momentum: float = _help("SGD momentum (ignored by adam)", default=0.9)
    stop_on: str = _help("early stop at the first minimum of val_loss (the paper's) or maximum of val_acc",
                         default="val_loss")
    max_images: int = _help("cap the data set at this many images, cut 70/10/20 into train/validation/test "
                            "like mnist5k (0: all)", default=0)

    def __post_init__(self) -> None:
        Optimisation(optimizer=self.optimizer, stop_on=self.stop_on)  # refuses unknown names
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown pruning criterion {self.criterion!r}; choose one of {', '.join(CRITERIA)}")
        if self.seeds < 1 or self.rounds < 0 or self.iterations < 1:
            raise ValueError("seeds and iterations must be >= 1 and rounds >= 0")
        if not self.rewind_to or any(k < 0 or k >= self.iterations for k in self.rewind_to):
            raise ValueError(f"rewind_to={self.rewind_to} must be non-empty and lie in [0, iterations)")
        for name in ("prune_rate", "prune_rate_conv", "prune_rate_output"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")

    @property
    def optimisation(self) -> Optimisation:
        return Optimisation(self.iterations, self.batch_size, self.lr, self.eval_every, self.optimizer,
                            self.momentum, self.stop_on)

    def level_work(self) -> int:
        """Batched training iterations of one pruned level (each θ_k chain trains T − k)."""
        return sum(self.iterations - k for k in self.rewind_to)

    def variants(self) -> list[str]:
        """Replica groups trained at every pruned level: ticket chains, then controls."""
        return [f"ticket@{k}" for k in self.rewind_to] + (["reinit", "random"] if self.controls else [])


# The named protocols, as changes to ImpSettings (whose defaults are the paper's). "quick" is what
# `lth verify --scale quick` and `lth simulate --preset quick` run: 8x8 digits, 5 seeds, 5 rounds at
# two paper rounds each (0.8**2 = 0.64 of hidden, 0.9**2 = 0.81 of conv/output weights kept), 250
# iterations. "paper": Frankle & Carbin's LeNet-300-100 protocol on the MNIST subset (15 rounds at
# 20% / 10%, 5,000 iterations of Adam 1.2e-3, batch 60).
PROTOCOLS: dict[str, dict[str, Any]] = {
    "quick": {"dataset": "digits", "seeds": 5, "rounds": 5, "prune_rate": 0.36, "prune_rate_conv": 0.19,
              "prune_rate_output": 0.19, "iterations": 250, "eval_every": 25},
    "paper": {},
}


def protocol(name: str, **changes: Any) -> ImpSettings:
    """The settings of protocol ``name`` (a key of :data:`PROTOCOLS`) with ``changes`` applied."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return ImpSettings(**{**PROTOCOLS[name], **changes})
