r"""Log-determinants of Hessians from Hessian-vector products: stochastic Lanczos quadrature with a
two-sided quadrature bracket, and the second-order (quadratic-model) basin volume built on it.

The object: a symmetric positive definite $H \in \mathbb{R}^{n\times n}$ seen only through products
$V \mapsto HV$ for blocks $V$ [k, n] (rows are vectors), never formed. Its log-determinant is a trace,
$\log\det H = \operatorname{tr}\log H = \mathbb{E}_v[v^\top \log(H)\, v]$ for Rademacher $v$
(Hutchinson). Each quadratic form is a Riemann–Stieltjes integral $\int \log\lambda\, d\mu_v(\lambda)$
against the spectral measure of $H$ seen from $v$; $k$ Lanczos steps from $v/\|v\|$ give the Jacobi
matrix $T_k$ whose Gauss rule integrates it (Golub & Meurant 2010; Ubaru, Chen & Saad 2017).

**The quadrature bracket.** The Gauss rule's error is $f^{(2k)}(\xi)/(2k)!\int\pi_k^2\,d\mu$, and every
even derivative of $\log$ is negative: the $k$-node Gauss value $G_k(v)$ is an *upper* bound of
$v^\top\log(H)v$. The Gauss–Radau rule with a node prescribed at $a \le \lambda_{\min}$ has error
$f^{(2k+1)}(\xi)/(2k+1)!\int(\lambda-a)\pi_k^2\,d\mu \ge 0$ (odd derivatives of $\log$ are positive):
$R_k(v)$ is a *lower* bound. So $R_k(v) \le v^\top\log(H)v \le G_k(v)$ for every probe, up to the
rounding of a fully re-orthogonalised Lanczos run in float64; it needs a positive lower bound $a$ of
the spectrum (``floor``).

**The interval.** With $m$ probes, $\operatorname{tr}\log H \in [\mathbb{E}R, \mathbb{E}G]$, and the
one-sided Student-t bounds $\bar R - t\,s_R/\sqrt m$ and $\bar G + t\,s_G/\sqrt m$ (each at level
$1-\alpha/2$) enclose it with probability $\ge 1-\alpha$ when the probe values are normal (a union
bound over the two sides). Hutchinson's variance with Rademacher probes is
$2\sum_{i\ne j}(\log H)_{ij}^2$, so the interval's width in nats grows like $\sqrt{n/m}$ and, per
dimension, shrinks like $1/\sqrt{nm}$.

**The quadratic-model volume.** Around a minimum with Hessian $H$ the model
$\tfrac12 u^\top H u \le \tau$ is an ellipsoid of log-volume
$\log\omega_n + \tfrac n2\log 2\tau - \tfrac12\log\det H$ (:func:`quadratic_model_log_volume`); it is the
basin's exact volume when the loss is quadratic, an upper bound when the loss lies above its quadratic
model on the basin and a lower bound when it lies below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from scipy.stats import t as student_t

from lth.simulations.basin import Minimum, log_unit_ball_volume
from lth.simulations.data import Split
from lth.simulations.models import forward

Matvec = Callable[[torch.Tensor], torch.Tensor]  # [k, n] -> [k, n]: rows v ↦ rows Hv


def rademacher(m: int, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``m`` Rademacher probes (entries ±1), [m, n]."""
    bits = torch.randint(0, 2, (m, n), generator=generator, device=generator.device)
    return (2 * bits - 1).to(dtype)


@dataclass(frozen=True)
class Jacobi:
    """Lanczos output per probe: diagonal ``alpha`` [m, k], off-diagonal ``beta`` [m, k] (``beta[:, j]``
    couples steps j and j+1; the last one is the residual norm that would start step k+1) and the probe
    norms ``norms`` [m]."""

    alpha: torch.Tensor
    beta: torch.Tensor
    norms: torch.Tensor

    def matrix(self) -> torch.Tensor:
        """The tridiagonal T_k per probe, [m, k, k]."""
        k = self.alpha.shape[1]
        off = self.beta[:, :k - 1]
        return torch.diag_embed(self.alpha) + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)


def lanczos(matvec: Matvec, start: torch.Tensor, steps: int) -> Jacobi:
    """``steps`` Lanczos steps from each row of ``start`` [m, n], batched over rows, with full
    re-orthogonalisation (classical Gram–Schmidt twice against the stored basis, [m, steps, n]).

    A step whose residual vanishes (an invariant Krylov space: the quadrature is already exact) sets
    beta = 0 there and repeats the last alpha afterwards: decoupled nodes of weight 0, so the quadrature
    is unchanged. ``steps`` must not exceed n.
    """
    m, n = start.shape
    if not 1 <= steps <= n:
        raise ValueError(f"Lanczos steps must lie in [1, n={n}], got {steps}")
    norms = start.norm(dim=1)
    q = start / norms[:, None]
    basis = torch.zeros(m, steps, n, dtype=start.dtype, device=start.device)
    alpha = torch.zeros(m, steps, dtype=start.dtype, device=start.device)
    beta = torch.zeros(m, steps, dtype=start.dtype, device=start.device)
    alive = torch.ones(m, dtype=torch.bool, device=start.device)
    for j in range(steps):
        basis[:, j] = q
        w = matvec(q)
        # After a breakdown q = 0: repeat the last diagonal entry, a decoupled node of weight 0 whose log
        # stays finite.
        alpha[:, j] = torch.where(alive, (q * w).sum(dim=1), alpha[:, j - 1] if j else alpha[:, 0])
        for _ in range(2):  # twice is enough (Kahan–Parlett): one pass loses orthogonality once Ritz values
            done = basis[:, :j + 1]  # converge, and the Gauss-Radau solve then breaks (measured: NaN bounds)
            w = w - torch.bmm(torch.bmm(done, w.unsqueeze(2)).transpose(1, 2), done).squeeze(1)
        b = w.norm(dim=1)
        # An invariant subspace: the residual is rounding noise relative to the operator's scale.
        alive = alive & (b > 1e-10 * alpha[:, :j + 1].abs().amax(dim=1).clamp(min=1e-300))
        beta[:, j] = torch.where(alive, b, torch.zeros_like(b))
        q = torch.where(alive[:, None], w / b.clamp(min=1e-300)[:, None], torch.zeros_like(w))
    return Jacobi(alpha, beta, norms)


def _quadrature(matrix: torch.Tensor, norms: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """‖v‖² Σ_j (e_1ᵀ y_j)² f(θ_j) over the eigenpairs (θ_j, y_j) of each Jacobi matrix [m, k, k] -> [m]."""
    nodes, vectors = torch.linalg.eigh(matrix)
    return norms.square() * (vectors[:, 0, :].square() * f(nodes)).sum(dim=1)


def gauss_log(jacobi: Jacobi) -> torch.Tensor:
    """Gauss values G_k(v) [m] of vᵀ log(H) v: upper bounds (see the module docstring)."""
    return _quadrature(jacobi.matrix(), jacobi.norms, torch.log)


def radau_log(jacobi: Jacobi, floor: float) -> torch.Tensor:
    """Gauss–Radau values R_k(v) [m] with a node fixed at ``floor`` (0 < floor < λ_min): lower bounds.

    The Jacobi matrix is extended by one row: off-diagonal β_k and diagonal floor + δ_k, where
    (T_k − floor·I) δ = β_k² e_k (Golub's construction), so that ``floor`` is an eigenvalue.
    """
    if not floor > 0:
        raise ValueError(f"the Gauss-Radau node must be a positive lower bound of the spectrum, got {floor}")
    t = jacobi.matrix()
    m, k, _ = t.shape
    last = jacobi.beta[:, k - 1]
    rhs = torch.zeros(m, k, 1, dtype=t.dtype, device=t.device)
    rhs[:, k - 1, 0] = last.square()
    delta = torch.linalg.solve(t - floor * torch.eye(k, dtype=t.dtype, device=t.device), rhs)[:, k - 1, 0]
    extended = torch.zeros(m, k + 1, k + 1, dtype=t.dtype, device=t.device)
    extended[:, :k, :k] = t
    extended[:, k - 1, k] = extended[:, k, k - 1] = last
    extended[:, k, k] = floor + delta
    # Eigenvalues of the extended matrix are >= floor > 0 in exact arithmetic; rounding may put the
    # prescribed node a few ulps below it, hence the clamp at half the floor (never binding otherwise).
    return _quadrature(extended, jacobi.norms, lambda x: x.clamp(min=0.5 * floor).log())


def clipped_log(jacobi: Jacobi, floor: float) -> torch.Tensor:
    """Gauss values [m] of vᵀ log(max(H, floor)) v for an indefinite H (a network's Hessian): eigenvalues
    below ``floor`` count as ``floor``. No bracket: log∘max has no signed derivatives; a point estimate."""
    return _quadrature(jacobi.matrix(), jacobi.norms, lambda x: x.clamp(min=floor).log())


@dataclass(frozen=True)
class LogDetEstimate:
    """log det H from ``probes`` Rademacher probes and ``steps`` Lanczos steps.

    ``estimate``: mean Gauss value (the usual SLQ estimate); ``ci``: the interval of the module
    docstring (sampling and quadrature together); ``gauss``/``radau``: per-probe bounds [probes];
    ``quadrature_gap``: mean G − R (what the Lanczos steps leave open); ``sampling_sd``: SD of the
    Gauss values over probes.
    """

    n: int
    probes: int
    steps: int
    estimate: float
    ci: tuple[float, float]
    quadrature_gap: float
    sampling_sd: float
    gauss: list[float]
    radau: list[float]


def slq_log_det(matvec: Matvec, n: int, *, probes: int, steps: int, floor: float, generator: torch.Generator,
                confidence: float = 0.95, chunk: int | None = None, dtype: torch.dtype = torch.float64
                ) -> LogDetEstimate:
    """Stochastic Lanczos quadrature of log det H with the bracketed interval (module docstring).

    ``floor``: a positive lower bound of H's spectrum (the Gauss–Radau node). ``steps`` is capped at n
    (the quadrature is then exact). ``chunk`` probes run at a time (memory: chunk·steps·n numbers).
    """
    if probes < 2:
        raise ValueError(f"an interval over probes needs at least 2 probes, got {probes}")
    steps = min(steps, n)
    size = chunk or probes
    gauss, radau = [], []
    all_probes = rademacher(probes, n, generator, dtype)
    for i in range(0, probes, size):
        jacobi = lanczos(matvec, all_probes[i:i + size], steps)
        gauss.append(gauss_log(jacobi))
        radau.append(radau_log(jacobi, floor))
    g, r = torch.cat(gauss), torch.cat(radau)
    # Each side at level 1 − α/2 (union bound): its one-sided quantile is the two-sided (1 − α/2) one.
    t = float(student_t.ppf(1 - (1 - confidence) / 2, probes - 1))
    lower = float(r.mean()) - t * float(r.std()) / math.sqrt(probes)
    upper = float(g.mean()) + t * float(g.std()) / math.sqrt(probes)
    return LogDetEstimate(n, probes, steps, float(g.mean()), (lower, upper), float((g - r).mean()), float(g.std()),
                          g.tolist(), r.tolist())


def quadratic_model_log_volume(log_det: LogDetEstimate, tau: float) -> tuple[float, tuple[float, float]]:
    """(estimate, interval) of log Vol{u : ½ uᵀHu ≤ τ} = log ω_n + (n/2) log 2τ − ½ log det H."""
    shift = log_unit_ball_volume(log_det.n) + 0.5 * log_det.n * math.log(2 * tau)
    return shift - 0.5 * log_det.estimate, (shift - 0.5 * log_det.ci[1], shift - 0.5 * log_det.ci[0])


def hadamard(v: torch.Tensor) -> torch.Tensor:
    """Orthonormal Walsh–Hadamard transform of rows v [k, n], n a power of 2, in O(n log n) per row."""
    k, n = v.shape
    if n & (n - 1):
        raise ValueError(f"the Hadamard transform needs n a power of 2, got {n}")
    x, h = v, 1
    while h < n:
        pairs = x.reshape(k, n // (2 * h), 2, h)
        x = torch.stack((pairs[:, :, 0] + pairs[:, :, 1], pairs[:, :, 0] - pairs[:, :, 1]), dim=2).reshape(k, n)
        h *= 2
    return x / math.sqrt(n)


@dataclass(frozen=True)
class RotatedSpectrum:
    """H = Q diag(λ) Qᵀ with Q orthogonal and dense: either H stored (``matrix`` [n, n], from a Haar Q),
    or, for n too large to store, the structured rotation Q = W S_3 W S_2 W S_1 with W the orthonormal
    Hadamard transform and S_i the random sign diagonals ``signs`` [3, n] (three rounds of Ailon–Chazelle
    mixing: every entry of Q is of size n^{-1/2}), so Hv costs O(n log n)."""

    eigenvalues: torch.Tensor
    matrix: torch.Tensor | None
    signs: torch.Tensor | None = None

    @property
    def n(self) -> int:
        return self.eigenvalues.numel()

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Rows v [k, n] -> rows Hv [k, n]."""
        if self.matrix is not None:
            return v @ self.matrix
        y = v
        for s in self.signs.flip(0):  # Qᵀ v = S_1 W S_2 W S_3 W v
            y = hadamard(y) * s
        y = y * self.eigenvalues
        for s in self.signs:  # Q y = W S_3 W S_2 W S_1 y
            y = hadamard(y * s)
        return y

    def form(self, points: torch.Tensor) -> torch.Tensor:
        """s(u) = ½ uᵀHu for points [k, n] -> [k]."""
        return 0.5 * (points * self.matvec(points)).sum(dim=1)


def rotated_spectrum(eigenvalues: torch.Tensor, generator: torch.Generator, *, structured: bool = False
                     ) -> RotatedSpectrum:
    """λ rotated by a random orthogonal Q: Haar-distributed dense Q from the QR of a Gaussian matrix
    (signs fixed by R's diagonal), H formed once; or with ``structured`` the three-round Hadamard rotation
    (n a power of 2; O(n log n) per product instead of O(n²) memory and time)."""
    n = eigenvalues.numel()
    dtype, device = eigenvalues.dtype, eigenvalues.device
    if structured:
        if n & (n - 1):
            raise ValueError(f"the structured rotation needs n a power of 2, got {n}")
        signs = 2 * torch.randint(0, 2, (3, n), generator=generator, device=device).to(dtype) - 1
        return RotatedSpectrum(eigenvalues, None, signs)
    q, r = torch.linalg.qr(torch.randn(n, n, generator=generator, device=device, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r))
    matrix = (q * eigenvalues) @ q.T
    return RotatedSpectrum(eigenvalues, 0.5 * (matrix + matrix.T))  # exactly symmetric


def drawn_spectrum(n: int, condition: float, shape: float, generator: torch.Generator,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n eigenvalues in [1/condition, 1] with both ends attained: λ = condition^{−U^shape} for U uniform
    (shape < 1 piles eigenvalues near 1/condition, shape > 1 near 1), the ends replacing two draws."""
    u = torch.rand(n, generator=generator, device=generator.device, dtype=dtype) ** shape
    if n >= 2:
        u[0], u[1] = 0.0, 1.0
    return condition ** (-u)


def network_matvec(minimum: Minimum, data: Split, scales: torch.Tensor | None = None,
                   images_per_chunk: int = 1024) -> Matvec:
    """Hessian-vector products of the mean cross-entropy of ``minimum`` on ``data`` at its center, by
    double backward (torch autograd; H is never formed). Rows v [k, n] -> rows Hv [k, n], all k at once
    as k replicas of the network. With ``scales`` (the diagonal of D) the operator is D H D, the Hessian
    in filter-normalised coordinates u (θ = θ* + D u)."""
    masks = [m.to(minimum.weights[0].dtype).unsqueeze(0) for m in minimum.masks]
    center = minimum.center

    def matvec(v: torch.Tensor) -> torch.Tensor:
        k = v.shape[0]
        step = v if scales is None else v * scales
        with torch.enable_grad():
            points = center.to(v.dtype).expand(k, -1).clone().requires_grad_(True)
            weights, biases = minimum.unflatten(points)
            expanded = [m.to(v.dtype).expand(k, *m.shape[1:]) for m in masks]
            total = torch.zeros((), dtype=v.dtype, device=v.device)
            for start in range(0, len(data), images_per_chunk):
                x, y = data.x[start:start + images_per_chunk], data.y[start:start + images_per_chunk]
                logits = forward(minimum.arch, weights, biases, expanded, x.to(v.dtype))
                total = total + F.cross_entropy(logits.transpose(1, 2), y.expand(k, -1), reduction="sum")
            grad, = torch.autograd.grad(total / len(data), points, create_graph=True)
            hv, = torch.autograd.grad((grad * step).sum(), points)
        return hv if scales is None else hv * scales

    return matvec
