"""The parameters of ``basin.generalisation`` (Huang et al.'s clean-vs-poisoned minima, proofs/basin.md),
which are also the flags of ``lth simulate basin``: a dataclass of :func:`lth.parameters.param` fields,
without torch, so the command's parser is built and bad input refused before the check module
(:mod:`lth.claims.basin`, torch and scipy) is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

from lth.parameters import param
from lth.validate import int_at_least


@dataclass(frozen=True)
class GeneralisationParams:
    """Huang et al.'s comparison at one scale: data, training to the matched loss, the basin's radii and the
    Hessian probes (each field's help text says what it sets)."""

    dataset: str = param("mnist5k", "data set (28x28)")
    width: float = param(0.25, "LeNet-300-100 width factor")
    seeds: int = param(4, "independent seeds (θ_0, minibatches, directions and probes)", domain=int_at_least(2))
    poison: int = param(200, "training images moved to the poison set with wrong labels")
    target_loss: float = param(0.01, "training loss (nats, each minimum on its own training set, poison included) "
                               "at which the minimum is taken")
    max_iterations: int = param(8000, "Adam iterations allowed to reach the target")
    lr: float = param(1e-3, "Adam learning rate (batch 60)")
    check_every: int = param(100, "iterations between full training-loss checks")
    directions: int = param(16, "filter-normalised random directions per minimum, shared by a seed's two minima",
                            domain=int_at_least(2))
    tau: float = param(0.1, "basin threshold above each minimum's loss on the basin images (nats)")
    loss_images: int = param(500, "clean training images on which the basin's loss is evaluated (0: all)")
    rtol: float = param(1e-2, "relative width of the radius brackets")
    probes: int = param(4, "Rademacher probes of the Hessian spectrum per minimum (reported confound)",
                        domain=int_at_least(2))
    lanczos_steps: int = param(10, "Lanczos steps per probe")
    relative_floor: float = param(1e-3, "eigenvalues of the filter-normalised Hessian below this multiple of its "
                                  "mean eigenvalue count as it in the clipped log-determinant (flat and negative "
                                  "directions)")
    split_seed: int = param(0, "seed of the train/validation/test split")
    confidence: float = param(0.95, "confidence of the t-intervals over seeds")
