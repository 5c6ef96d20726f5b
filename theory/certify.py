r"""Rigorous float64 certificates for perturbed ReLU networks.

The object. A target network $f(x) = W_l\,\sigma(\dots\sigma(W_1 x))$ and a realised network $g$
whose layer $i$ maps its input $y$ to $W_i y + E_i^+ y^+ - E_i^- y^-$ before the ReLU
($y^\pm = \max(\pm y, 0)$; $E^\pm$ are the *realised error matrices*). Two-layer pruned blocks of
the strong-lottery-ticket constructions have exactly this form (proofs/slth_dense.md). The
functions here bound $\sup_x \lVert f(x) - g(x)\rVert_2$ over a ball or a box.

Rigour. Every float64 operation is accounted for: matrix products carry the a-priori bound
$|\mathrm{fl}(AB) - AB| \le \gamma_k |A||B|$ ($\gamma_k = ku/(1-ku)$, $u = 2^{-53}$), scalar
recursions round upward with ``nextafter``, and each error matrix comes with an entrywise ``slack``
bounding the rounding made when it was computed (the rules are :mod:`lth.theory.numerics`). Spectral
norms are bounded by repeated squaring
of $A^\top A$ inside a midpoint-radius enclosure: $\lambda_{\max}(G) \le \lVert G^{2^T}\rVert_F^{2^{-T}}$.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lth.theory.numerics import (LIBM_MARGIN, TINY, UNIT_ROUNDOFF, enclosed_product, gamma, interval_matvec,
                             round_down, round_up, up)
from lth.theory.objects import Certificate


def frobenius_upper(a: torch.Tensor) -> float:
    """Rigorous upper bound on $\\lVert a\\rVert_F$ for ``a`` ``[m, n]`` (float64)."""
    a = a.to(torch.float64)
    squares = float((a * a).sum())
    return up(math.sqrt(up(squares * (1 + gamma(a.numel() + 1)) + TINY)))


def spectral_norm_upper(a: torch.Tensor, squarings: int = 8) -> float:
    """Rigorous upper bound on the spectral norm $\\lVert a\\rVert_2$ of ``a`` ``[m, n]``.

    $G = a^\\top a$ (or $a a^\\top$, whichever is smaller) is enclosed as ``mid ± rad`` and squared
    ``squarings`` times, rescaling by exact powers of two. Since $G$ is symmetric positive
    semi-definite, $\\lambda_{\\max}(G)^{2^T} = \\lVert G^{2^T}\\rVert_2 \\le \\lVert G^{2^T}\\rVert_F$; the
    bound overestimates $\\lVert a\\rVert_2$ by at most a factor $\\mathrm{rank}^{2^{-T-2}}$.
    """
    a = a.to(torch.float64)
    if a.numel() == 0 or not bool(a.any()):
        return 0.0
    if not torch.isfinite(a).all():
        raise ValueError("matrix has non-finite entries")
    if a.shape[0] < a.shape[1]:
        a = a.T
    zero = torch.zeros_like(a)
    mid, rad = enclosed_product(a.T, zero.T, a, zero)
    log2_scale = 0.0  # true G^(2^t) lies in 2^log2_scale · (mid ± rad)
    for _ in range(squarings):
        exponent = math.frexp(float((mid.abs() + rad).max()))[1]
        mid, rad = mid * 2.0**-exponent, rad * 2.0**-exponent  # exact: a power of two
        log2_scale += exponent
        mid, rad = enclosed_product(mid, rad, mid, rad)
        log2_scale *= 2
    frob = frobenius_upper(mid.abs() + rad * (1 + 2 * UNIT_ROUNDOFF))
    power = 2.0**squarings
    lam = math.exp((log2_scale * math.log(2) + math.log(frob)) / power)
    # exp/log are accurate to a few ulps; LIBM_MARGIN covers them with room to spare
    return up(math.sqrt(lam) * (1 + LIBM_MARGIN))


# What certify_ball and certify_box need of the realised network besides its matrices.
ASSUMPTIONS = ("realised layer i maps y to W_i y + E_i⁺y⁺ − E_i⁻y⁻ with the true E± within slack of the stored ones",
               "ReLU between layers, none after the last")


@dataclass
class PerturbedLayer:
    """One realised layer: input ``y`` ``[d_in]`` ↦ ``weight @ y + err_pos @ y⁺ − err_neg @ y⁻``.

    ``weight``, ``err_pos``, ``err_neg``: ``[d_out, d_in]`` float64; ``slack_pos``, ``slack_neg``:
    entrywise bounds on the difference between the true error matrices and the stored ones.
    ``err_neg`` columns of coordinates known to be non-negative may be zero.
    """

    weight: torch.Tensor
    err_pos: torch.Tensor
    err_neg: torch.Tensor
    slack_pos: torch.Tensor
    slack_neg: torch.Tensor


def layer_error_norm(layer: PerturbedLayer, nonnegative_input: bool) -> float:
    """Rigorous $\\eta$ with $\\lVert E^+y^+ - E^-y^-\\rVert_2 \\le \\eta\\lVert y\\rVert_2$ for every input.

    For signed inputs $E^+y^+ - E^-y^- = [E^+, -E^-]\\,[y^+; y^-]$ and $\\lVert[y^+; y^-]\\rVert = \\lVert y\\rVert$;
    for non-negative inputs only $E^+$ acts.
    """
    if nonnegative_input:
        return up(spectral_norm_upper(layer.err_pos) + frobenius_upper(layer.slack_pos))
    both = torch.cat([layer.err_pos, layer.err_neg], dim=1)
    slack = torch.cat([layer.slack_pos, layer.slack_neg], dim=1)
    return up(spectral_norm_upper(both) + frobenius_upper(slack))


def certify_ball(layers: list[PerturbedLayer], radius: float, nonnegative_input: bool = False) -> Certificate:
    """Rigorous bound on $\\sup_{\\lVert x\\rVert_2 \\le r}\\lVert f(x) - g(x)\\rVert_2$.

    The proof's recursion with the actual matrices: $r_i = \\lVert W_i\\rVert r_{i-1}$ bounds the
    target's activations, $\\Delta_i = \\lVert W_i\\rVert\\Delta_{i-1} + \\eta_i (r_{i-1} + \\Delta_{i-1})$ the
    deviation (ReLU is 1-Lipschitz with $\\sigma(0) = 0$). Inputs of layers after the first are
    non-negative. ``parts``: the per-layer weight norms, error norms and deviations.
    """
    r, delta = float(radius), 0.0
    norms, etas, deltas = [], [], []
    for index, layer in enumerate(layers):
        w_norm = spectral_norm_upper(layer.weight)
        eta = layer_error_norm(layer, nonnegative_input or index > 0)
        delta = up(up(w_norm * delta) + up(eta * up(r + delta)))
        r = up(w_norm * r)
        norms.append(w_norm)
        etas.append(eta)
        deltas.append(delta)
    return Certificate(delta, "rigorous", f"ball ‖x‖₂ ≤ {radius:g}", "l2", ASSUMPTIONS,
                       {"weight_norms": norms, "error_norms": etas, "deviation_after_layer": deltas})


def separable_error_range(layer: PerturbedLayer, lo: torch.Tensor, hi: torch.Tensor):
    """Exact range (outward rounded) of $E^+y^+ - E^-y^-$ over the box $lo \\le y \\le hi$.

    The map is a sum of one-variable piecewise-linear functions, so its range over a box is the sum
    of their ranges, each attained at an end of $[lo_j, hi_j]$ or at 0.
    """
    candidates = torch.stack([lo, hi, torch.clamp(torch.zeros_like(lo), lo, hi)])  # [3, n]
    pos, neg = candidates.clamp(min=0), (-candidates).clamp(min=0)
    values = layer.err_pos[None] * pos[:, None, :] - layer.err_neg[None] * neg[:, None, :]  # [3, m, n]
    low, high = values.min(dim=0).values, values.max(dim=0).values
    n = lo.shape[0]
    magnitude = torch.maximum(lo.abs(), hi.abs())
    slack = torch.maximum(layer.slack_pos, layer.slack_neg) @ magnitude
    rounding = gamma(n + 2) * (values.abs().max(dim=0).values.sum(1) + slack) + n * TINY
    return round_down(low.sum(1) - slack - rounding), round_up(high.sum(1) + slack + rounding)


def relu_deviation_range(u_lo: torch.Tensor, u_hi: torch.Tensor, v_lo: torch.Tensor,
                         v_hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Bounds on $\sigma(u+v) - \sigma(u)$ (ReLU) for $u\in[u_{lo}, u_{hi}]$, $v\in[v_{lo}, v_{hi}]$, elementwise
    (tensors of one shape): 0 where both are surely inactive, $v$ where both are surely active, else
    between $\min(v, 0)$ and $\max(v, 0)$ ($\sigma$ is monotone and 1-Lipschitz). The activity tests round
    outward, so a point on the kink counts as undecided."""
    inactive = (u_hi <= 0) & (round_up(u_hi + v_hi) <= 0)
    active = (u_lo >= 0) & (round_down(u_lo + v_lo) >= 0)
    d_lo = torch.where(inactive, 0.0, torch.where(active, v_lo, v_lo.clamp(max=0)))
    d_hi = torch.where(inactive, 0.0, torch.where(active, v_hi, v_hi.clamp(min=0)))
    return d_lo, d_hi


def certify_box(layers: list[PerturbedLayer], lo: torch.Tensor, hi: torch.Tensor) -> Certificate:
    """Rigorous bound on $\\sup_{lo \\le x \\le hi}\\lVert f(x) - g(x)\\rVert_2$ by interval propagation.

    Propagates intervals of the target's activations $z$ and of the deviation $d = y - z$. Layer:
    target pre-activation $u = Wz$, deviation $v = Wd + (E^+y^+ - E^-y^-)$ with $y = z + d$; after the
    ReLU, $\\sigma(u+v) - \\sigma(u)$ lies between $\\min(v, 0)$ and $\\max(v, 0)$, is 0 where both are
    inactive and equals $v$ where both are active. The last layer has no ReLU.
    """
    z_lo, z_hi = lo.to(torch.float64), hi.to(torch.float64)
    if not bool((z_lo <= z_hi).all()):
        raise ValueError("box has lo > hi in some coordinate")
    d_lo, d_hi = torch.zeros_like(z_lo), torch.zeros_like(z_hi)
    for index, layer in enumerate(layers):
        y_lo, y_hi = round_down(z_lo + d_lo), round_up(z_hi + d_hi)
        if index > 0:
            y_lo, y_hi = y_lo.clamp(min=0), y_hi.clamp(min=0)
        u_lo, u_hi = interval_matvec(layer.weight, z_lo, z_hi)
        wd_lo, wd_hi = interval_matvec(layer.weight, d_lo, d_hi)
        e_lo, e_hi = separable_error_range(layer, y_lo, y_hi)
        v_lo, v_hi = round_down(wd_lo + e_lo), round_up(wd_hi + e_hi)
        if index == len(layers) - 1:
            d_lo, d_hi = v_lo, v_hi
            break
        d_lo, d_hi = relu_deviation_range(u_lo, u_hi, v_lo, v_hi)
        z_lo, z_hi = u_lo.clamp(min=0), u_hi.clamp(min=0)
    worst = torch.maximum(d_lo.abs(), d_hi.abs())
    return Certificate(frobenius_upper(worst[None]), "rigorous", "box lo ≤ x ≤ hi", "l2", ASSUMPTIONS,
                       {"output_deviation_max": float(worst.max())})
