"""The settings of the supermask experiments, without torch: :class:`DataSettings` (data, architecture and
the dense reference run they share), Zhou et al.'s mask criteria (:class:`CriteriaSettings`, run by
``lth.simulations.supermask``), learned supermasks (:class:`LearnedSettings`) and edge-popup beside the
subset-sum construction (:class:`EdgePopupSettings`, run by ``lth.simulations.edge_popup``), with the
names their string fields take and the construction's default pool caps (``lth.simulations.certified_width``
builds with them).

``lth simulate supermask|learned-supermask|edge-popup`` builds its flags from these fields and refuses
bad values before any work; importing this module costs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lth.simulations.training_settings import Optimisation

if TYPE_CHECKING:
    from lth.simulations.models import Architecture

CRITERIA = ("large_final", "small_final", "random", "large_init", "small_init", "large_init_large_final",
            "small_init_small_final", "magnitude_increase", "movement", "large_final_same_sign",
            "large_final_diff_sign", "magnitude_increase_same_sign")
ESTIMATORS = ("sampled", "straight_through")
INITS = ("glorot", "signed_constant")
WEIGHT_INITS = ("kaiming_normal", "signed_constant")
DEFAULT_POOL_CAP = 24  # subset-sum pool per weight and branch; at 20 even the rule's width misses 1e-4
DEFAULT_RETRY_CAP = 32  # pools of the 2% worst-approximated weights, re-solved (the certificate's tail)
# lth.theory.dense.DEFAULT_C, the width rule's measured constant (slth.dense.rule), kept here without importing
# torch; tests/test_cold_refusal.py checks that they agree.
DEFAULT_C = 3.0


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


# Shared settings of every supermask experiment --------------------------------------------------------

@dataclass(frozen=True)
class DataSettings:
    """Data, architecture and the dense reference run shared by every supermask experiment."""

    dataset: str = _help("data set: digits, mnist5k or fashion_mnist", default="mnist5k")
    image_size: int = _help("resize images to this many pixels a side (0: native)", default=0)
    arch: str = _help("architecture: lenet, conv2 or conv4", default="lenet")
    width: float = _help("multiply every hidden width by this factor", default=1.0)
    seeds: int = _help("number of independent seeds (seed, seed+1, ...)", default=5)
    seed: int = _help("first seed", default=0)
    iterations: int = _help("training iterations of the dense network (and of each retrained ticket)",
                            default=5000)
    batch_size: int = _help("mini-batch size", default=60)
    lr: float = _help("Adam learning rate of weight training", default=1.2e-3)
    eval_every: int = _help("evaluate validation and test accuracy every this many iterations", default=100)
    split_seed: int = _help("seed of the train/validation/test split", default=0)

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.iterations < 1 or self.eval_every < 1 or self.batch_size < 1:
            raise ValueError("seeds, iterations, eval_every and batch_size must be >= 1")

    @property
    def optimisation(self) -> Optimisation:
        return Optimisation(self.iterations, self.batch_size, self.lr, self.eval_every)

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]


# Mask criteria, IMP-style and zero-shot -----------------------------------------------------------

@dataclass(frozen=True)
class CriteriaSettings(DataSettings):
    """Zhou et al.'s mask criteria: masks per level, trained tickets, zero-shot and sign-only masks."""

    criteria: tuple[str, ...] = _help("mask criteria to run (default: all twelve)", default=CRITERIA)
    rounds: int = _help("pruning levels after the dense run", default=5)
    prune_rate: float = _help("fraction of surviving fully connected weights pruned per level", default=0.2)
    prune_rate_conv: float = _help("fraction of surviving convolution weights pruned per level", default=0.1)
    prune_rate_output: float = _help("fraction of surviving output-layer weights pruned per level", default=0.1)
    retrain: bool = _help("IMP-style: retrain each criterion's ticket from θ0 every level and score the "
                          "next level on it (off: one-shot masks from the dense run at every level)",
                          default=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [c for c in self.criteria if c not in CRITERIA]
        if unknown or not self.criteria:
            raise ValueError(f"unknown mask criteria {unknown}; choose from {', '.join(CRITERIA)}")
        if self.rounds < 1:
            raise ValueError("rounds must be >= 1")
        for name in ("prune_rate", "prune_rate_conv", "prune_rate_output"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")

    def keep(self, arch: Architecture, level: int) -> list[float]:
        """Fraction of each layer kept at ``level``: (1 - rate)^level with the layer's rate."""
        rates = [self.prune_rate_conv if layer.kind == "conv" else self.prune_rate for layer in arch.layers]
        rates[-1] = self.prune_rate_output
        return [(1 - r) ** level for r in rates]


# Learned supermasks -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LearnedSettings(DataSettings):
    """Learned supermasks on frozen θ0 (Zhou et al. §5), beside the dense network from the same θ0."""

    weights: str = _help("frozen weights: glorot (θ0 itself) or signed_constant (sign(θ0)·σ)", default="glorot")
    estimator: str = _help("sampled (Bernoulli(σ(s)) forward) or straight_through ([σ(s) > 1/2] forward); "
                           "both pass σ'(s) straight through", default="sampled")
    score_iterations: int = _help("training iterations of the scores", default=5000)
    score_lr: float = _help("SGD learning rate of the scores (momentum 0.9, cosine decay)", default=100.0)
    score_init: float = _help("scores start at this value plus U[-0.1, 0.1] noise (σ(0) = 1/2)", default=0.0)
    rescale: bool = _help("dynamic weight rescaling: multiply each layer by (weights / kept weights)",
                          default=True)
    test_samples: int = _help("Bernoulli masks drawn per seed at test time (Zhou et al. evaluate sampled masks); "
                              "their mean test accuracy is reported beside the fixed [σ > 1/2] mask's", default=10)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.weights not in INITS:
            raise ValueError(f"unknown frozen weights {self.weights!r}; choose one of {', '.join(INITS)}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)}")
        if self.score_iterations < 1 or self.test_samples < 1:
            raise ValueError("score_iterations and test_samples must be >= 1")


# Edge-popup ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EdgePopupSettings(DataSettings):
    """Edge-popup on random networks of several widths beside a trained dense target.

    ``width`` (inherited) is the target's hidden width factor; ``iterations``/``lr`` train the target.
    """

    factors: tuple[float, ...] = _help("random-network widths, as multiples of the target's", default=(1, 2, 4, 8, 16))
    keep: float = _help("fraction k of each layer's weights the subnetwork keeps", default=0.5)
    weights: str = _help("frozen random weights: kaiming_normal or signed_constant", default="signed_constant")
    scale_fan: bool = _help("scale the weights' variance by 1/k (the paper's scaled variant)", default=True)
    score_iterations: int = _help("training iterations of the scores", default=5000)
    score_lr: float = _help("SGD learning rate of the scores (momentum 0.9, cosine decay)", default=0.1)
    weight_decay: float = _help("weight decay on the scores", default=5e-4)
    accuracy_gap: float = _help("the construction may change at most this fraction of test predictions",
                                default=0.01)
    delta: float = _help("failure probability δ in the construction's width rule", default=0.01)
    construction_c: float = _help("constant C of the construction's width rule (measured, not proven)",
                                  default=DEFAULT_C)
    construction_seeds: int = _help("build and certify the construction for the first this many replicas (0: none)",
                                    default=1)
    construction_step: int = _help("units per input the certified-width search descends by from the rule's width",
                                   default=8)
    construction_resolution: int = _help("the search bisects until certified and failed widths are this close",
                                         default=1)
    pool_cap: int = _help("subset-sum pool per target weight and branch in the construction", default=DEFAULT_POOL_CAP)
    retry_cap: int = _help("larger pools for the worst-approximated 2 percent of weights (0: no retry)", default=DEFAULT_RETRY_CAP)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.factors or any(f <= 0 for f in self.factors):
            raise ValueError(f"factors must be positive, got {self.factors}")
        if not 0 < self.keep <= 1:
            raise ValueError(f"keep must lie in (0, 1], got {self.keep}")
        if self.weights not in WEIGHT_INITS:
            raise ValueError(f"unknown random weights {self.weights!r}; choose one of {', '.join(WEIGHT_INITS)}")
        if self.score_iterations < 1:
            raise ValueError("score_iterations must be >= 1")
        if not 0 < self.accuracy_gap < 1 or not 0 < self.delta < 1:
            raise ValueError("accuracy_gap and delta must lie in (0, 1)")
        if not 0 <= self.construction_seeds <= self.seeds:
            raise ValueError(f"construction_seeds must lie in 0..seeds={self.seeds}, got {self.construction_seeds}")
        if self.construction_step < 1 or self.construction_resolution < 1 or self.pool_cap < 1 or self.retry_cap < 0:
            raise ValueError("construction_step, construction_resolution and pool_cap must be >= 1, retry_cap >= 0")
