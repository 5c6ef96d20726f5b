r"""Volume of a loss basin around a minimum (Huang et al. 2020), estimated in log space.

The object: around a minimum $\theta^* \in \mathbb{R}^n$ the basin
$B = \{\theta^* + u : L(\theta^* + u) \le L(\theta^*) + \tau\}$, taken star-shaped about $\theta^*$:
along a unit direction $\varphi$ it extends to the radius $r(\varphi)$, the first crossing of the level
$L(\theta^*) + \tau$. In polar coordinates
$$V = \int_{S^{n-1}} \frac{r(\varphi)^n}{n}\, d\sigma(\varphi) = \omega_n\, \mathbb{E}_\varphi\!\left[r(\varphi)^n\right],
\qquad \omega_n = \frac{\pi^{n/2}}{\Gamma(n/2 + 1)},$$
with $\varphi$ uniform on the sphere. With $n$ in the thousands to millions neither $\omega_n$ nor $r^n$
exists in floating point, so everything is carried as logarithms: $\log\omega_n$ by ``lgamma`` and
$\log \mathbb{E}[r^n] \approx \operatorname{logsumexp}_i(n \log r_i) - \log m$ over $m$ sampled
directions. That estimate of $V$ is unbiased but **dominated by the largest radii** (a weight
$w_i \propto r_i^n$ per direction; the effective sample size $(\sum w_i)^2 / \sum w_i^2$ is near 1 for
large $n$), and $\log \hat V$ is biased low (Jensen). :class:`VolumeEstimate` reports both.

Radii come from bracketing (doubling or halving) and bisection, batched over directions; the
bracket $[r_{lo}, r_{hi}]$ has $L \le$ level at $r_{lo}$ and $L >$ level at $r_{hi}$ and bounds the
error of $\log \hat V$ from the radii by $n \max_i \log(r_{hi}/r_{lo}) / 2$ (the midpoint is geometric).

Filter normalisation (Li et al. 2018, as Huang et al. use it) is a linear change of variables
$\theta = \theta^* + D u$ with $D$ the per-filter RMS weight: directions are uniform in $u$, the volume
in $u$ is scale-invariant per filter, and $\log V_\theta = \log V_u + \log\det D$.

Quadratic basins $L = \tfrac12 \theta^\top H \theta$ have the exact volume
$\omega_n \prod_i \sqrt{2\tau/\lambda_i}$ (:func:`quadratic_log_volume`), the validation target. The
second-order estimate from Hessian-vector products, which does not concentrate on the largest radius,
is in :mod:`lth.simulations.hessian`. Minima at a matched training loss come from :func:`train_to_loss`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from scipy.stats import norm

from lth.simulations.data import Split, Splits
from lth.simulations.models import Architecture, forward, zero_biases

Loss = Callable[[torch.Tensor], torch.Tensor]


def log_unit_ball_volume(n: int) -> float:
    """log ω_n = (n/2) log π − lgamma(n/2 + 1), finite for every n ≥ 1."""
    if n < 1:
        raise ValueError(f"dimension must be >= 1, got {n}")
    return 0.5 * n * math.log(math.pi) - math.lgamma(0.5 * n + 1)


def unit_directions(m: int, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``m`` directions uniform on the unit sphere of R^n (normalised Gaussians), [m, n]."""
    g = torch.randn(m, n, generator=generator, device=generator.device, dtype=dtype)
    return g / g.norm(dim=1, keepdim=True)


@dataclass(frozen=True)
class Radii:
    """Bracketed radii per direction, [m] each: L(center + lo φ) ≤ level < L(center + hi φ)."""

    lo: torch.Tensor
    hi: torch.Tensor
    evaluations: int

    @property
    def log_radii(self) -> torch.Tensor:
        """log of the geometric midpoint of each bracket, [m]."""
        return 0.5 * (self.lo.log() + self.hi.log())

    def log_volume_error(self, n: int) -> float:
        """Bound on |log V̂(midpoints) − log V̂(true radii)| from the brackets: n max log(hi/lo) / 2."""
        return 0.5 * n * float((self.hi.log() - self.lo.log()).max())


def find_radii(loss: Loss, center: torch.Tensor, directions: torch.Tensor, level: float, *, r_init: float = 1.0,
               rtol: float = 1e-3, max_steps: int = 200) -> Radii:
    """Radius to ``level`` along each direction by bracketing then bisection, batched over directions.

    ``loss`` maps points [k, n] to losses [k]; ``center`` [n] must lie inside (loss ≤ level).
    Brackets start at ``r_init``: doubling until the level is crossed (or halving while the point at
    ``r_init`` is outside), then bisection until hi − lo ≤ rtol·lo. Each step evaluates only the
    directions not yet converged. The bracket holds *a* crossing; it is the first one whenever the
    loss grows monotonically along the ray (assumed, as in Huang et al.).
    """
    m = directions.shape[0]
    lo = torch.zeros(m, dtype=directions.dtype, device=directions.device)
    hi = torch.full_like(lo, math.inf)
    r = torch.full_like(lo, r_init)
    evaluations = 0
    for _ in range(max_steps):
        active = ~(torch.isfinite(hi) & (lo > 0) & (hi - lo <= rtol * lo))
        if not active.any():
            return Radii(lo, hi, evaluations)
        idx = active.nonzero().squeeze(1)
        outside = loss(center + r[idx, None] * directions[idx]) > level
        evaluations += 1
        hi[idx] = torch.where(outside, r[idx], hi[idx])
        lo[idx] = torch.where(outside, lo[idx], r[idx])
        r[idx] = torch.where(torch.isfinite(hi[idx]), 0.5 * (lo[idx] + hi[idx]), 2 * r[idx])
    raise ValueError(f"radii did not converge in {max_steps} steps (level never crossed along some direction?)")


@dataclass(frozen=True)
class VolumeEstimate:
    """log V̂ of one basin from m radii, with its spread over directions.

    ``ci``: a ``confidence`` interval for log V from the normal approximation to the mean of
    r^n (lower end −inf when the interval for the mean reaches 0, as it does when one direction
    dominates); ``ess``: effective sample size of the weights r_i^n; ``log_jacobian``: log det D of
    filter normalisation (0 without), already included in ``log_volume``; ``bracket_error``: the
    bound from the radius brackets; radii statistics are of log r in the sampled coordinates.
    """

    n: int
    directions: int
    log_volume: float
    ci: tuple[float, float]
    ess: float
    log_jacobian: float
    bracket_error: float
    log_radius_mean: float
    log_radius_sd: float
    log_radius_max: float

    @property
    def per_dimension(self) -> float:
        """log V̂ / n: the log of the radius of the ball with the same volume, minus log ω_n^{1/n}."""
        return self.log_volume / self.n


def log_volume(log_radii: torch.Tensor, n: int, *, log_jacobian: float = 0.0, bracket_error: float = 0.0,
               confidence: float = 0.95) -> VolumeEstimate:
    """log V̂ = log ω_n + logsumexp(n log r) − log m + log_jacobian, with CI and effective sample size."""
    x = n * log_radii.double()
    m = x.numel()
    top = float(x.max())
    w = torch.exp(x - top)  # in (0, 1]; the largest radius has weight 1
    mean = float(w.mean())
    sd = float(w.std()) if m > 1 else 0.0
    half = float(norm.ppf(0.5 + confidence / 2)) * sd / math.sqrt(m)
    shift = log_unit_ball_volume(n) + top + log_jacobian
    lower = shift + math.log(mean - half) if mean - half > 0 else -math.inf
    upper = shift + math.log(mean + half)
    ess = float(w.sum() ** 2 / (w * w).sum())
    lr = log_radii.double()
    return VolumeEstimate(n, m, shift + math.log(mean), (lower, upper), ess, log_jacobian, bracket_error,
                          float(lr.mean()), float(lr.std()) if m > 1 else 0.0, float(lr.max()))


def estimate_log_volume(loss: Loss, center: torch.Tensor, tau: float, directions: int, generator: torch.Generator, *,
                        scales: torch.Tensor | None = None, rtol: float = 1e-3, r_init: float = 1.0,
                        chunk: int | None = None, confidence: float = 0.95) -> tuple[VolumeEstimate, Radii]:
    """Estimate the log-volume of {L ≤ L(center) + tau} from ``directions`` random directions.

    ``scales`` [n] (optional) is the diagonal of the filter-normalising D: directions are drawn in u
    and mapped to D u, the volume is reported in θ (log det D added). ``chunk`` splits the directions
    into groups of that many for memory; radii and the estimate are the same either way.
    """
    n = center.numel()
    level = float(loss(center.unsqueeze(0))[0]) + tau
    phis = unit_directions(directions, n, generator, center.dtype)
    steps = phis if scales is None else phis * scales
    size = chunk or directions
    parts = [find_radii(loss, center, steps[i:i + size], level, r_init=r_init, rtol=rtol)
             for i in range(0, directions, size)]
    radii = Radii(torch.cat([p.lo for p in parts]), torch.cat([p.hi for p in parts]),
                  sum(p.evaluations for p in parts))
    jacobian = 0.0 if scales is None else float(scales.double().log().sum())
    return log_volume(radii.log_radii, n, log_jacobian=jacobian, bracket_error=radii.log_volume_error(n),
                      confidence=confidence), radii


def quadratic_log_volume(eigenvalues: torch.Tensor, tau: float) -> float:
    """Exact log-volume of {½ θᵀHθ ≤ τ} for H with the given positive eigenvalues:
    log ω_n + Σ_i ½ log(2τ/λ_i)."""
    lam = eigenvalues.double()
    if not bool((lam > 0).all()):
        raise ValueError("a quadratic basin needs positive eigenvalues")
    return log_unit_ball_volume(lam.numel()) + 0.5 * float((math.log(2 * tau) - lam.log()).sum())


def quadratic_loss(eigenvalues: torch.Tensor) -> Loss:
    """L(θ) = ½ Σ λ_i θ_i² for points [k, n] (H diagonal in its eigenbasis; directions are isotropic,
    so the basis does not matter)."""
    return lambda points: 0.5 * (points * points * eigenvalues).sum(dim=1)


def log_uniform_spectrum(n: int, condition: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n eigenvalues spaced evenly in log between 1/condition and 1 (condition 1: isotropic, all 1)."""
    if condition < 1:
        raise ValueError(f"condition number must be >= 1, got {condition}")
    if n == 1 or condition == 1:
        return torch.ones(n, dtype=dtype)
    return torch.logspace(-math.log10(condition), 0.0, n, dtype=dtype)


@dataclass(frozen=True)
class Minimum:
    """One trained network as a point of its basin: the kept weights and all biases, flattened.

    ``weights`` / ``biases`` per layer (one replica, no replica axis); ``masks`` the kept weights.
    The basin lives in the n = (kept weights + biases) coordinates; pruned weights stay 0.
    """

    arch: Architecture
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    masks: list[torch.Tensor]

    @property
    def center(self) -> torch.Tensor:
        """[n]: kept weights layer by layer (flat order), then the biases."""
        kept = [w[m.bool()] for w, m in zip(self.weights, self.masks)]
        return torch.cat(kept + [b.reshape(-1) for b in self.biases])

    def unflatten(self, points: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Points [k, n] as replica-batched weights [k, *shape] (zeros where pruned) and biases [k, out]."""
        k, offset = points.shape[0], 0
        weights, biases = [], []
        for w, m in zip(self.weights, self.masks):
            keep = m.bool()
            count = int(keep.sum())
            full = torch.zeros(k, *w.shape, dtype=points.dtype, device=points.device)
            full[:, keep] = points[:, offset:offset + count]
            weights.append(full)
            offset += count
        for b in self.biases:
            biases.append(points[:, offset:offset + b.numel()].reshape(k, *b.shape))
            offset += b.numel()
        return weights, biases

    def filter_scales(self) -> torch.Tensor:
        """The diagonal of D [n]: each output unit's (filter's) kept weights get their RMS, each layer's
        biases theirs; a group of zeros gets 1 (no rescaling)."""
        groups = []
        for w, m in zip(self.weights, self.masks):
            keep = m.bool()
            rows = w.reshape(w.shape[0], -1)
            kept_rows = keep.reshape(w.shape[0], -1)
            count = kept_rows.sum(dim=1).clamp(min=1)
            rms = ((rows * kept_rows) ** 2).sum(dim=1).div(count).sqrt()
            rms = torch.where(rms > 0, rms, torch.ones_like(rms))
            groups.append(rms[:, None].expand_as(rows)[kept_rows])
        for b in self.biases:
            rms = b.pow(2).mean().sqrt()
            groups.append(torch.full((b.numel(),), float(rms) if float(rms) > 0 else 1.0, dtype=b.dtype,
                                     device=b.device))
        return torch.cat(groups)

    def loss(self, data: Split, images_per_chunk: int = 1024) -> Loss:
        """Mean cross-entropy on ``data`` of the networks at points [k, n], [k]."""
        masks = [m.to(self.weights[0].dtype).unsqueeze(0) for m in self.masks]

        @torch.no_grad()
        def evaluate(points: torch.Tensor) -> torch.Tensor:
            weights, biases = self.unflatten(points)
            k = points.shape[0]
            expanded = [m.expand(k, *m.shape[1:]) for m in masks]
            total = torch.zeros(k, dtype=points.dtype, device=points.device)
            for start in range(0, len(data), images_per_chunk):
                x, y = data.x[start:start + images_per_chunk], data.y[start:start + images_per_chunk]
                logits = forward(self.arch, weights, biases, expanded, x.to(points.dtype))
                total += F.cross_entropy(logits.transpose(1, 2), y.expand(k, -1), reduction="none").sum(dim=1)
            return total / len(data)

        return evaluate


@dataclass(frozen=True)
class Fitted:
    """Minima reached by :func:`train_to_loss`, one per replica, with the iteration at which each was
    taken and its training loss there (mean cross-entropy over the whole training set, float32)."""

    minima: list[Minimum]
    iterations: list[int]
    losses: list[float]


def train_to_loss(arch: Architecture, init: list[torch.Tensor], data: Split, generators: list[torch.Generator], *,
                  target: float, max_iterations: int, batch_size: int = 60, lr: float = 1e-3,
                  check_every: int = 50) -> Fitted:
    """Adam on the cross-entropy of ``data`` from ``init`` ([R, *shape] per layer, dense, zero biases),
    each replica taken at the first check (every ``check_every`` iterations) where its full training loss
    is <= ``target``: minima matched in training loss whatever their width or data. Minibatches are drawn
    with replacement by each replica's generator. A replica that never reaches the target is taken at
    ``max_iterations`` (its loss is reported; callers decide whether it counts as matched).
    """
    replicas = init[0].shape[0]
    device = init[0].device
    weights = [w.clone().requires_grad_(True) for w in init]
    biases = [b.requires_grad_(True) for b in zero_biases(arch, replicas, device)]
    ones = [torch.ones_like(w) for w in init]
    optimiser = torch.optim.Adam(weights + biases, lr=lr)
    taken: dict[int, tuple[list[torch.Tensor], list[torch.Tensor], int, float]] = {}
    n = len(data)
    for iteration in range(max_iterations + 1):
        if iteration % check_every == 0 or iteration == max_iterations:
            with torch.no_grad():
                losses = torch.zeros(replicas, device=device)
                for start in range(0, n, 1024):
                    logits = forward(arch, weights, biases, ones, data.x[start:start + 1024])
                    y = data.y[start:start + 1024]
                    losses += F.cross_entropy(logits.transpose(1, 2), y.expand(replicas, -1), reduction="none").sum(1)
                losses /= n
            for r in range(replicas):
                if r not in taken and (float(losses[r]) <= target or iteration == max_iterations):
                    taken[r] = ([w[r].detach().clone() for w in weights], [b[r].detach().clone() for b in biases],
                                iteration, float(losses[r]))
            if len(taken) == replicas:
                break
        index = torch.stack([torch.randint(0, n, (batch_size,), generator=g, device=g.device) for g in generators])
        logits = forward(arch, weights, biases, ones, data.x[index])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), data.y[index].reshape(-1), reduction="sum")
        optimiser.zero_grad(set_to_none=True)
        (loss / batch_size).backward()
        optimiser.step()
    minima = [Minimum(arch, taken[r][0], taken[r][1], [torch.ones_like(w, dtype=torch.bool) for w in taken[r][0]])
              for r in range(replicas)]
    return Fitted(minima, [taken[r][2] for r in range(replicas)], [taken[r][3] for r in range(replicas)])


def poisoned(splits: Splits, poison: int, generator: torch.Generator) -> tuple[Splits, Splits]:
    """(clean, poisoned) training sets from ``splits``: the last ``poison`` training images are held out
    of the clean set and added to the poisoned one with wrong labels (label + a uniform offset in
    1..classes−1, mod classes); both keep the same first (train − poison) images with true labels."""
    n = len(splits.train)
    if not 0 < poison < n:
        raise ValueError(f"poison={poison} must lie in (0, {n})")
    keep = n - poison
    clean = Split(splits.train.x[:keep], splits.train.y[:keep])
    offset = torch.randint(1, splits.num_classes, (poison,), generator=generator, device=generator.device)
    wrong = (splits.train.y[keep:] + offset.to(splits.train.y.device)) % splits.num_classes
    dirty = Split(torch.cat([clean.x, splits.train.x[keep:]]), torch.cat([clean.y, wrong]))
    return (Splits(splits.name, clean, splits.val, splits.test, splits.num_classes),
            Splits(splits.name + "+poison", dirty, splits.val, splits.test, splits.num_classes))
