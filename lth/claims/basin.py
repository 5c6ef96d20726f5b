"""Claims on loss basins (proofs/basin.md): an estimator of their volume that can be trusted in high
dimension, the talk's "wider networks, wider basins", and Huang et al.'s clean-vs-poisoned comparison.

``basin.estimator`` judges the second-order estimator of ``lth.simulations.hessian`` (stochastic Lanczos
quadrature of log det H) by the coverage of its intervals and its bias per dimension on quadratic
basins with drawn spectra and dense rotations (exact volumes known), and on two non-quadratic basins
of known volume; the Monte-Carlo estimator of ``lth.simulations.basin`` is run beside it as the reference.
``basin.dimension`` and ``basin.generalisation`` train minima to a matched training loss and compare
mean log radii along filter-normalised random directions (t-intervals over seeds, preregistered).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from scipy.stats import t as student_t

from lth.simulations.basin import (Minimum, estimate_log_volume, find_radii, poisoned, quadratic_log_volume, train_to_loss,
                               unit_directions)
from lth.simulations.hessian import (RotatedSpectrum, clipped_log, drawn_spectrum, lanczos, network_matvec,
                                 quadratic_model_log_volume, rademacher, rotated_spectrum, slq_log_det)
from lth.simulations.data import MissingDataset, Split, load_dataset
from lth.simulations.imp import stream
from lth.simulations.models import build_architecture, init_weights
from lth.simulations.statistics import describe, t_interval
from lth.simulations.training import accuracy
from lth.protocol import Protocol
from lth.registry import Context, Quantity, Record, claim, param
from lth.claims.simulations import interval_dict
from lth.basin_params import GeneralisationParams
from lth.verdict import (clopper_pearson, combine, judge_above, judge_equivalent, judge_rate,
                         tost_interval)
from lth.theory.device import generator

PROOF = "proofs/basin.md"


@dataclass(frozen=True)
class EstimatorFaults:
    unbracketed_steps: int = param(0, "if > 0: run only this many Lanczos steps and treat the Gauss values as "
                                   "exact (no Gauss-Radau side: a broken interval)")


@dataclass(frozen=True)
class EstimatorParams:
    cases: int = param(300, "drawn quadratic basins with a dense Haar rotation, n log-uniform in [10, dense_max]")
    dense_max: int = param(1000, "largest n of the dense (stored Haar Q) cases")
    large_dims: tuple[int, ...] = param((8192,), "n of the structured-rotation (Hadamard) cases, powers of 2")
    large_cases: int = param(6, "drawn cases per large n")
    max_condition: float = param(1000.0, "condition numbers are drawn log-uniform in [1, max_condition]")
    probes: int = param(16, "Rademacher probes per dense case")
    large_probes: int = param(8, "Rademacher probes per large case")
    steps: int = param(60, "Lanczos steps (capped at n)")
    floor_factor: float = param(0.9, "Gauss-Radau node at this multiple of the smallest eigenvalue (a known "
                                "lower bound of the spectrum: a hypothesis of the bracket)")
    tau: float = param(0.5, "loss threshold above the minimum")
    coverage: float = param(0.9, "required coverage rate of the nominal intervals (Clopper-Pearson judged)")
    bias_margin: float = param(0.01, "equivalence margin on the mean bias per dimension (nats), per decade of n")
    reference_cases: int = param(20, "cases (n <= reference_max_n) also estimated by the Monte-Carlo reference")
    reference_max_n: int = param(200, "largest n of the reference cases")
    reference_directions: int = param(256, "random directions of the Monte-Carlo reference")
    shapes: tuple[int, ...] = param((100, 1000), "n of the non-quadratic test basins (one per n and per side)")
    shape_directions: int = param(64, "random directions of the radius correction on the non-quadratic basins")
    confidence: float = param(0.95, "nominal confidence of every interval")


def drawn_case(n: int, structured: bool, p: EstimatorParams, gen: torch.Generator, device) -> RotatedSpectrum:
    """A quadratic basin with a drawn spectrum (condition log-uniform in [1, max_condition], shape
    exponent log-uniform in [1/4, 4]) and a random dense rotation."""
    condition = p.max_condition ** float(torch.rand((), generator=gen, device=gen.device, dtype=torch.float64))
    shape = 4.0 ** (2 * float(torch.rand((), generator=gen, device=gen.device, dtype=torch.float64)) - 1)
    lam = drawn_spectrum(n, condition, shape, gen).to(device)
    return rotated_spectrum(lam, gen, structured=structured)


def slq_case(h: RotatedSpectrum, probes: int, p: EstimatorParams, ctx: Context, gen: torch.Generator) -> dict:
    """The second-order estimate of one quadratic basin against its exact log-volume."""
    unbracketed = ctx.faults.unbracketed_steps
    est = slq_log_det(h.matvec, h.n, probes=probes, steps=unbracketed or p.steps,
                      floor=p.floor_factor * float(h.eigenvalues.min()), generator=gen, confidence=p.confidence,
                      chunk=max(1, 2 ** 26 // (h.n * p.steps)))  # at most 2^26 float64 in the Lanczos basis
    if unbracketed:
        est = replace(est, ci=_gauss_only(est, p.confidence))
    value, ci = quadratic_model_log_volume(est, p.tau)
    exact = quadratic_log_volume(h.eigenvalues, p.tau)
    lam = h.eigenvalues
    return {"n": h.n, "condition": float(lam.max() / lam.min()), "probes": probes, "steps": est.steps,
            "exact": exact, "estimate": value, "ci": list(ci), "covers": ci[0] <= exact <= ci[1],
            "error_per_dim": (value - exact) / h.n, "quadrature_gap": est.quadrature_gap,
            "sampling_sd": est.sampling_sd}


def _gauss_only(est, confidence: float) -> tuple[float, float]:
    t = float(student_t.ppf(0.5 + confidence / 2, est.probes - 1))
    half = t * est.sampling_sd / math.sqrt(est.probes)
    return est.estimate - half, est.estimate + half


def reference_case(h: RotatedSpectrum, p: EstimatorParams, ctx: Context, gen: torch.Generator) -> dict:
    """Huang et al.'s Monte-Carlo estimate of the same basin (reported beside the judged estimator)."""
    est, _ = estimate_log_volume(h.form, torch.zeros(h.n, dtype=torch.float64, device=ctx.device), p.tau,
                                 p.reference_directions, gen, rtol=1e-4, confidence=p.confidence)
    exact = quadratic_log_volume(h.eigenvalues, p.tau)
    return {"n": h.n, "exact": exact, "estimate": est.log_volume, "ci": list(est.ci),
            "covers": est.ci[0] <= exact <= est.ci[1], "error_per_dim": (est.log_volume - exact) / h.n,
            "ess": est.ess}


# Non-quadratic basins L = φ(s), s = ½ uᵀHu, with φ(0) = 0, φ'(0) = 1 (so H is L's Hessian): the sublevel
# set {φ(s) ≤ τ} is the ellipsoid s ≤ φ⁻¹(τ), known exactly. "above": φ(s) = s + s²/τ ≥ s (the loss
# rises faster than its quadratic model: the model's volume is an upper bound); "below": φ(s) =
# τ log(1 + s/τ) ≤ s (it rises slower: a lower bound).
SHAPES = {"above": (lambda s, tau: s + s * s / tau, lambda tau: 0.5 * tau * (math.sqrt(5.0) - 1.0)),
          "below": (lambda s, tau: tau * torch.log1p(s / tau), lambda tau: tau * (math.e - 1.0))}


def nonquadratic_case(n: int, side: str, p: EstimatorParams, ctx: Context, gen: torch.Generator,
                      confidence: float) -> dict:
    """Second-order estimate of a non-quadratic basin, and its radial correction by directional radii,
    with intervals at ``confidence`` (the Bonferroni level of the family of non-quadratic cases).

    The correction: along each direction φ the true radius r(φ) (bisection) against the model's
    r_q(φ) = (2τ/φᵀHφ)^{1/2} (one Hessian-vector product); log V ≈ log V_q + n·mean log(r/r_q). It is
    exact when r/r_q is the same along every direction (as for every L = φ(s)); the SD of log(r/r_q)
    over directions is reported as the measure of departure from that hypothesis.
    """
    h = drawn_case(n, False, p, gen, ctx.device)
    phi, level = SHAPES[side]
    est = slq_log_det(h.matvec, n, probes=p.probes, steps=p.steps, floor=p.floor_factor * float(h.eigenvalues.min()),
                      generator=gen, confidence=confidence)
    model, model_ci = quadratic_model_log_volume(est, p.tau)
    exact = quadratic_log_volume(h.eigenvalues, level(p.tau))
    directions = unit_directions(p.shape_directions, n, gen)
    radii = find_radii(lambda x: phi(h.form(x), p.tau), torch.zeros(n, dtype=torch.float64, device=ctx.device),
                       directions, p.tau, rtol=1e-6)
    log_c = radii.log_radii - 0.5 * (2 * p.tau / (directions * h.matvec(directions)).sum(dim=1)).log()
    mean_c, lo_c, hi_c = t_interval(log_c.tolist(), confidence)
    slack = radii.log_volume_error(n)
    corrected_ci = (model_ci[0] + n * lo_c - slack, model_ci[1] + n * hi_c + slack)
    return {"n": n, "side": side, "confidence": confidence, "exact": exact, "model": model,
            "model_ci": list(model_ci),
            "model_side_holds": model_ci[0] > exact if side == "above" else model_ci[1] < exact,
            "corrected": model + n * mean_c, "corrected_ci": list(corrected_ci),
            "corrected_covers": corrected_ci[0] <= exact <= corrected_ci[1], "log_ratio_sd": float(log_c.std())}


def _bias_bins(rows: list[dict], p: EstimatorParams) -> list[dict]:
    """Per decade of n: mean (estimate − exact)/n with its TOST interval."""
    bins: dict[int, list[float]] = {}
    for row in rows:
        bins.setdefault(int(math.floor(math.log10(row["n"]))), []).append(row["error_per_dim"])
    out = []
    for decade, errors in sorted(bins.items()):
        mean, lo, hi = tost_interval(errors, (1 - p.confidence))
        out.append({"decade": 10 ** decade, "cases": len(errors), "mean": mean, "ci": [lo, hi]})
    return out


ESTIMATOR_PROTOCOL = Protocol(
    statistic="the miss rate of the nominal-95% log-volume intervals over the drawn quadratic cases (dense Haar "
              "rotations, n log-uniform in [10, dense_max], plus structured-rotation cases at large n), with its "
              "Clopper-Pearson interval; per decade of n, the mean of (log V̂ − log V)/n with its 90% t-interval "
              "(TOST); on the non-quadratic basins, the side of the model interval and the cover of the corrected "
              "interval",
    levels="condition numbers log-uniform in [1, 1e3], spectrum shape exponent log-uniform in [1/4, 4]; quick: "
           "300 dense cases to n = 1,000 and 6 at n = 8,192; full: 1,000 to n = 2,000 and 10 each at 16,384 and "
           "131,072",
    margin="coverage >= 0.90 (the issue's requirement for nominal-95% intervals); bias per dimension within "
           "±0.01 nats (half the smallest bias of the Monte-Carlo reference reported in issue 23, 0.02 nats per "
           "dimension)",
    seeds="one independent stream per case (case i draws from the stream (seed, 1000 + i), lth.registry.Context.stream); 300 cases resolve a coverage of 0.95 from the "
          "0.90 threshold (Clopper-Pearson lower end about 0.92)",
    correction="every part must hold (combine; the parts are not alternatives); the k = 2·len(shapes) "
               "non-quadratic cases are judged case by case, so each of their model and corrected intervals is "
               "taken at the Bonferroni level 1 − 0.05/k: a correct estimator then fails part (iii) on at most 5% "
               "of draws (amended 2026-12-07: before, each was a nominal-95% interval judged with no allowance)",
    regimes="quadratic basins (exact), L = s + s²/τ and L = τ log(1 + s/τ) of a quadratic s (exact ellipsoids)",
)


@claim("basin.estimator", "the second-order basin-volume estimator (quadratic model from stochastic Lanczos "
       "quadrature of log det H over Hessian-vector products, Gauss/Gauss-Radau bracket plus Hutchinson t-bounds) "
       "covers the exact log-volume with at least 90% of its nominal-95% intervals on quadratics with drawn "
       "spectra (condition up to 1e3, dense rotations, n from 10 to 8,192; full to 131,072), with mean bias "
       "per dimension within ±0.01 nats per decade of n; on non-quadratic basins of known volume its model "
       "volume is the predicted bound and the radius-corrected estimate covers the exact value (these intervals "
       "at the Bonferroni level over the non-quadratic cases)",
       proof=PROOF, params=EstimatorParams, faults=EstimatorFaults, protocol=ESTIMATOR_PROTOCOL, kind="rate",
       full={"cases": 1000, "dense_max": 2000, "large_dims": (16384, 131072), "large_cases": 10,
             "reference_cases": 100, "shapes": (100, 1000, 10000)},
       full_cost="measured 2026-12-07 (commit 6d6238d): 12 min 34 s wall, 750 CPU-s, peak 4.4 GB (one thread, on 2 "
                 "cores shared with other jobs), most of it the ten n = 131,072 cases and the n = 10,000 dense rotation")
def check_estimator(p: EstimatorParams, ctx: Context) -> Record:
    if p.cases < 2 or p.dense_max < 10 or p.probes < 2 or p.large_probes < 2 or not 0 < p.floor_factor < 1:
        raise ValueError("basin.estimator needs cases >= 2, dense_max >= 10, probes >= 2, 0 < floor_factor < 1")
    dense, reference = [], []
    for i in range(p.cases):
        gen = ctx.generator(1000 + i)
        n = int(round(10 * (p.dense_max / 10) ** float(torch.rand((), generator=gen, device=gen.device,
                                                                    dtype=torch.float64))))
        h = drawn_case(n, False, p, gen, ctx.device)
        dense.append(slq_case(h, p.probes, p, ctx, gen))
        if len(reference) < p.reference_cases and n <= p.reference_max_n:
            reference.append(reference_case(h, p, ctx, gen))
    large = [slq_case(drawn_case(n, True, p, gen, ctx.device), p.large_probes, p, ctx, gen)
             for j, n in enumerate(p.large_dims) for i in range(p.large_cases)
             for gen in [ctx.generator(100000 + 1000 * j + i)]]
    rows = dense + large
    misses = sum(not r["covers"] for r in rows)
    coverage_lo, coverage_hi = (1 - b for b in reversed(clopper_pearson(misses, len(rows), p.confidence)))
    parts = [judge_rate(misses, len(rows), 1 - p.coverage, p.confidence)]
    parts[0] = (parts[0][0], f"coverage {len(rows) - misses}/{len(rows)} = {1 - misses / len(rows):.3f}, "
                f"{p.confidence:.0%} CI [{coverage_lo:.3f}, {coverage_hi:.3f}] vs >= {p.coverage:g} ({parts[0][1]})")
    bins = _bias_bins(rows, p)
    parts += [judge_equivalent(b["ci"][0], b["ci"][1], p.bias_margin, f"bias per dimension, n in "
                               f"[{b['decade']}, {10 * b['decade']}) ({b['cases']} cases)", " nats")
              for b in bins]
    family = 1 - (1 - p.confidence) / (len(p.shapes) * len(SHAPES))  # Bonferroni over the non-quadratic cases
    shapes = [nonquadratic_case(n, side, p, ctx, ctx.generator(200000 + 10 * i + k), family)
              for i, n in enumerate(p.shapes) for k, side in enumerate(SHAPES)]
    for row in shapes:
        parts.append(("holds" if row["model_side_holds"] else "fails",
                      f"non-quadratic n={row['n']} ({row['side']} its model): model interval "
                      f"[{row['model_ci'][0]:.1f}, {row['model_ci'][1]:.1f}] {'is' if row['model_side_holds'] else 'is not'} "
                      f"{'above' if row['side'] == 'above' else 'below'} the exact {row['exact']:.1f}"))
        parts.append(("holds" if row["corrected_covers"] else "fails",
                      f"radius-corrected [{row['corrected_ci'][0]:.1f}, {row['corrected_ci'][1]:.1f}] "
                      f"{'covers' if row['corrected_covers'] else 'misses'} it"))
    verdict, why = combine(parts)
    ref_misses = sum(not r["covers"] for r in reference)
    if reference:
        why += (f"; reported, not judged: the Monte-Carlo reference covers {len(reference) - ref_misses}/"
                f"{len(reference)} of the cases with n <= {p.reference_max_n}, mean bias per dimension "
                f"{sum(r['error_per_dim'] for r in reference) / len(reference):+.3g} nats")
    worst = max(abs(b["mean"]) for b in bins)
    return Record(
        verdict, why,
        bound=Quantity(1 - p.coverage, "largest allowed miss rate of the nominal intervals"),
        empirical=Quantity(misses / len(rows), f"miss rate over {len(rows)} drawn quadratic basins (sampled)"),
        details={"cases": rows, "coverage": {"covered": len(rows) - misses, "cases": len(rows),
                                             "rate": 1 - misses / len(rows), "ci": [coverage_lo, coverage_hi]},
                 "bias_per_dimension": bins, "worst_bias_per_dimension": worst, "nonquadratic": shapes,
                 "reference": reference},
    )


def _float64(m: Minimum) -> Minimum:
    return Minimum(m.arch, [w.double() for w in m.weights], [b.double() for b in m.biases], m.masks)


def typical_log_radius(m: Minimum, data: Split, tau: float, directions: int, rtol: float,
                       gen: torch.Generator) -> tuple[torch.Tensor, float]:
    """log r(φ) [directions] along filter-normalised random directions to the level L* + τ on ``data``, and L*."""
    m = _float64(m)
    center, scales = m.center, m.filter_scales()
    loss = m.loss(data)
    _, radii = estimate_log_volume(loss, center, tau, directions, gen, scales=scales, rtol=rtol)
    return radii.log_radii, float(loss(center.unsqueeze(0))[0])


@dataclass(frozen=True)
class GeneralisationFaults:
    poisoned_tau_factor: float = param(1.0, "measure the poisoned basin at this multiple of τ (unequal "
                                       "thresholds: a broken comparison)")


def spectrum_row(m: Minimum, data: Split, p: GeneralisationParams, gen: torch.Generator) -> dict:
    """Hutchinson/Lanczos summary of the filter-normalised Hessian D H D at the minimum: mean curvature
    λ̄ = tr(H)/n, clipped log det / n (Gauss quadrature of log max(λ, relative_floor·λ̄)), and the
    concentration gap per coordinate ½(log λ̄ − mean log max(λ, floor)) they imply: the spectral shape that
    biases Monte-Carlo log V per coordinate (at most ½ log(1/relative_floor) by construction)."""
    n = m.center.numel()
    matvec = network_matvec(m, data, m.filter_scales())
    start = rademacher(p.probes, n, gen)
    jacobi = lanczos(matvec, start, min(p.lanczos_steps, n))
    mean_curvature = float((jacobi.norms.square() * jacobi.alpha[:, 0]).mean()) / n  # vᵀHv = ‖v‖² α_1
    if not mean_curvature > 0:
        raise ValueError(f"the Hessian's mean eigenvalue is {mean_curvature:.3g}: not a minimum")
    logdet = clipped_log(jacobi, p.relative_floor * mean_curvature)
    mean_log, lo, hi = t_interval((logdet / n).tolist(), p.confidence)
    return {"log_det_per_dim": mean_log, "log_det_per_dim_ci": [lo, hi], "mean_curvature": mean_curvature,
            "concentration_gap_per_dim": 0.5 * (math.log(mean_curvature) - mean_log)}


def generalisation_minimum(m: Minimum, kind: str, data: Split, own: Split, poison: Split, test: Split,
                           p: GeneralisationParams, tau: float, seed: int, ctx: Context) -> dict:
    """One minimum's row: radii along the seed's shared directions to its loss on ``data`` + ``tau``, its
    losses on its own training set and on the poison set (wrong labels), test accuracy and spectrum."""
    log_r, level = typical_log_radius(m, data, tau, p.directions, p.rtol,
                                      generator(stream(seed, "basin-directions"), ctx.device))
    w, b = m.unflatten(m.center.unsqueeze(0))  # accuracy in the training dtype, the basin in float64
    masks = [x.float().unsqueeze(0) for x in m.masks]
    m = _float64(m)
    row = {"kind": kind, "seed": seed, "n": m.center.numel(), "basin_loss": level,
           "train_loss": float(m.loss(own)(m.center.unsqueeze(0))[0]),
           "test_acc": float(accuracy(m.arch, w, b, masks, test)[0]),
           "poison_loss": float(m.loss(poison)(m.center.unsqueeze(0))[0]),
           "poison_acc": float(accuracy(m.arch, w, b, masks, poison)[0]),
           "log_radius_mean": float(log_r.mean()), "log_radius_sd": float(log_r.std()), "log_radii": log_r.tolist()}
    row.update(spectrum_row(m, data, p, generator(stream(seed, "basin-probes"), ctx.device)))
    return row


GENERALISATION_PROTOCOL = Protocol(
    statistic="per seed s, d_s = mean over the shared filter-normalised directions u_i (16 quick, 64 full) of "
              "log r_clean(u_i) − log r_poisoned(u_i), radii to each minimum's own loss + 0.1 nats of cross-entropy "
              "on the first 500 clean training images (all at full scale); summarised by the 95% Student-t interval "
              "over seeds (paired by seed, θ_0 and direction). Each minimum is taken at the first check (every 100 "
              "iterations) where its own training loss (poison included for the poisoned one) is <= 0.01 nats, so "
              "the poisoned minimum fits its wrong labels; a minimum that misses it in 8,000 iterations makes the "
              "verdict inconclusive",
    levels="one comparison: clean vs poisoned (200 wrong labels of the 3,500 training images) LeNet-300-100 ×1/4 "
           "on mnist5k (quick); full: ×1",
    margin="0 (Huang et al. report a direction, a large effect; no practical margin is claimed); holds if the "
           "interval lies above 0, fails if at or below 0",
    seeds="quick 4 (the budget of a quick run); full 12 from the pilot, run before this protocol was fixed on "
          "seeds 100-102 (not reused) with the quick design: d_s = +0.129, +0.131, +0.186, SD 0.032 nats; 12 "
          "seeds give a 95% half-width of about 0.020 nats (2.20 x 0.032 / sqrt 12), a sixth of the pilot mean; "
          "the SD at width 1 is not measured",
    correction="none: one judged statistic; test accuracy, poison-set fit and the Hessian spectrum (mean "
               "curvature, clipped log det per coordinate, concentration gap) are reported, not judged",
    regimes="one regime: Adam 1e-3, batch 60, minibatches drawn with replacement, no early stopping",
)


@claim("basin.generalisation", "a minimum trained on clean data has wider basin radii than one trained to also fit "
       "a poisoned set with wrong labels (Huang et al. 2020): the paired mean over shared filter-normalised "
       "directions of log r(clean) − log r(poisoned) is positive (95% t-interval over seeds), both minima at "
       "matched training loss; the Hessian spectrum of each minimum is measured and reported",
       proof=PROOF, params=GeneralisationParams, faults=GeneralisationFaults, protocol=GENERALISATION_PROTOCOL,
       full={"width": 1.0, "seeds": 12, "directions": 64, "loss_images": 0, "probes": 8, "lanczos_steps": 20},
       full_cost="measured 2026-12-07: 1 h 4 min wall, 2,495 CPU-s (2,142 user + 353 system; one thread, on 2 "
                 "cores shared with other jobs), 1.9 GB peak; minutes on a GPU")
def check_generalisation(p: GeneralisationParams, ctx: Context) -> Record:
    if p.loss_images < 0 or p.directions < 2 or p.seeds < 2 or p.probes < 2:
        raise ValueError("loss_images must be >= 0, directions, seeds and probes >= 2")
    try:
        splits = load_dataset(p.dataset, seed=p.split_seed)
    except MissingDataset as exc:
        return Record("inconclusive", f"data set missing: {exc}")
    clean, dirty = poisoned(splits, p.poison, generator(stream(ctx.seed, "poison"), torch.device("cpu")))
    clean, dirty = clean.to(ctx.device), dirty.to(ctx.device)
    keep = len(clean.train)
    poison = Split(dirty.train.x[keep:], dirty.train.y[keep:])
    seeds = [ctx.seed + i for i in range(p.seeds)]
    arch = build_architecture("lenet", splits.image_shape, splits.num_classes, p.width)
    theta0 = init_weights(arch, [generator(stream(s, "init"), ctx.device) for s in seeds], ctx.device)
    fits = {kind: train_to_loss(arch, theta0, data.train, [generator(stream(s, "order"), ctx.device) for s in seeds],
                                target=p.target_loss, max_iterations=p.max_iterations, lr=p.lr,
                                check_every=p.check_every)
            for kind, data in (("clean", clean), ("poisoned", dirty))}
    data = clean.train if not p.loss_images else Split(clean.train.x[:p.loss_images], clean.train.y[:p.loss_images])
    taus = {"clean": p.tau, "poisoned": p.tau * ctx.faults.poisoned_tau_factor}
    rows = {kind: [dict(generalisation_minimum(m, kind, data, (clean if kind == "clean" else dirty).train, poison,
                                               clean.test, p, taus[kind], s, ctx), iterations=it)
                   for s, m, it in zip(seeds, fit.minima, fit.iterations)] for kind, fit in fits.items()}
    paired = [sum(a - b for a, b in zip(c["log_radii"], q["log_radii"])) / len(c["log_radii"])
              for c, q in zip(rows["clean"], rows["poisoned"])]
    stats = t_interval(paired, p.confidence)
    unmatched = [kind for kind, fit in fits.items() if max(fit.losses) > p.target_loss]
    if unmatched:
        verdict, why = "inconclusive", (f"{', '.join(unmatched)} minima did not reach the training loss "
                                        f"{p.target_loss:g} nats in {p.max_iterations} iterations")
    else:
        verdict, why = judge_above(stats[1], stats[2], 0.0, "paired mean log r(clean) − log r(poisoned)")
    spectrum = t_interval([c["log_det_per_dim"] - q["log_det_per_dim"] for c, q in zip(rows["clean"], rows["poisoned"])],
                          p.confidence)
    curvature = t_interval([math.log(c["mean_curvature"] / q["mean_curvature"])
                            for c, q in zip(rows["clean"], rows["poisoned"])], p.confidence)
    summary = {kind: {key: describe([r[key] for r in rs], p.confidence)
                      for key in ("log_radius_mean", "log_det_per_dim", "mean_curvature", "concentration_gap_per_dim",
                                  "basin_loss", "train_loss", "test_acc")} | {"n": rs[0]["n"]}
               for kind, rs in rows.items()}
    summary["poisoned"]["poison_loss"] = describe([r["poison_loss"] for r in rows["poisoned"]], p.confidence)
    summary["poisoned"]["poison_acc"] = describe([r["poison_acc"] for r in rows["poisoned"]], p.confidence)
    return Record(
        verdict, f"{why} ({p.seeds} seeds, {p.directions} shared directions each, τ = {p.tau:g} nats on "
        f"{len(data)} clean training images; poisoned minima fit their {p.poison} wrong labels to cross-entropy "
        f"{summary['poisoned']['poison_loss']['mean']:.3f} (accuracy {summary['poisoned']['poison_acc']['mean']:.1%}); "
        f"test accuracy clean {summary['clean']['test_acc']['mean']:.1%}, poisoned "
        f"{summary['poisoned']['test_acc']['mean']:.1%}); reported, not judged: spectrum confound, clean − poisoned "
        f"clipped log det per coordinate {spectrum[0]:+.3g} [{spectrum[1]:+.3g}, {spectrum[2]:+.3g}], log mean "
        f"curvature ratio {curvature[0]:+.3g} [{curvature[1]:+.3g}, {curvature[2]:+.3g}]",
        bound=Quantity(0.0, "paired mean log r(clean) − log r(poisoned) must exceed this"),
        empirical=Quantity(stats[1], f"lower {p.confidence:.0%} t-bound of the paired mean log-radius difference "
                           "(sampled seeds and directions)"),
        details={"minima": rows, "summary": summary, "paired_log_radius": describe(paired, p.confidence),
                 "log_det_per_dim_difference": interval_dict(spectrum),
                 "log_mean_curvature_ratio": interval_dict(curvature),
                 "threshold": {"tau": p.tau, "loss": "mean cross-entropy", "images": len(data)},
                 "iterations": {kind: fit.iterations for kind, fit in fits.items()}},
    )


@dataclass(frozen=True)
class DimensionFaults:
    reverse_widths: bool = param(False, "attribute each width's basins to the widths in reverse order (broken "
                                 "bookkeeping)")


@dataclass(frozen=True)
class DimensionParams:
    dataset: str = param("digits", "data set")
    widths: tuple[float, ...] = param((0.125, 0.25, 0.5, 1.0), "LeNet-300-100 width factors (at least 4)")
    seeds: int = param(4, "independent seeds (θ_0, minibatches and directions per width)")
    target_loss: float = param(0.01, "training loss (nats) at which every minimum is taken: matched training loss")
    max_iterations: int = param(6000, "Adam iterations allowed to reach the target")
    lr: float = param(1e-3, "Adam learning rate (batch 60)")
    check_every: int = param(50, "iterations between full training-loss checks")
    directions: int = param(16, "filter-normalised random directions per minimum")
    tau: float = param(0.1, "basin threshold above each minimum's training loss (nats, whole training set)")
    rtol: float = param(1e-2, "relative width of the radius brackets")
    split_seed: int = param(0, "seed of the train/validation/test split")
    confidence: float = param(0.95, "confidence of the t-intervals over seeds")


def log_width_slope(widths: tuple[float, ...], values: list[float]) -> float:
    """Least-squares slope of ``values`` on log2(width): change per doubling of the width."""
    x = [math.log2(w) for w in widths]
    mx, my = sum(x) / len(x), sum(values) / len(values)
    return sum((a - mx) * (b - my) for a, b in zip(x, values)) / sum((a - mx) ** 2 for a in x)


DIMENSION_PROTOCOL = Protocol(
    statistic="per minimum, ℓ = mean over 16 filter-normalised random directions of log r(φ), r the radius to "
              "L* + 0.1 nats of training cross-entropy; per seed, the least-squares slope of ℓ on log2(width) "
              "over the widths; summarised by the 95% Student-t interval over seeds",
    levels="widths ×1/8, ×1/4, ×1/2, ×1 of LeNet-300-100 on digits (quick; full adds ×2), every minimum taken at "
           "the first check where its whole-training-set loss is <= 0.01 nats (matched training loss; a minimum "
           "that misses it in 6,000 iterations makes the verdict inconclusive)",
    margin="0 (a direction claim: the talk states no effect size); holds if the interval lies above 0, fails if "
           "at or below 0",
    seeds="4 quick, 8 full: a pilot (4 seeds on other random streams, fixed 1,500 iterations, unmatched losses) "
          "gave per-width SDs of ℓ of 0.02-0.11 and a slope near 0.85 per doubling, so 4 seeds resolve a slope "
          "ten times smaller",
    correction="none: one judged statistic; ℓ − ½ log n (the relative RMS perturbation per filter) and its slope "
               "are reported, not judged",
    regimes="one regime: Adam 1e-3, batch 60, digits 8x8 (1,259 training images), fully connected ReLU network",
)


@claim("basin.dimension", "the talk's 'a larger dimension gives the basin more directions to spread in': at "
       "matched training loss, the typical basin radius exp E[log r(φ)] along filter-normalised random directions "
       "grows with the width (per-seed slope on log2 width, 95% t-interval above 0, 4 widths)",
       proof=PROOF, params=DimensionParams, faults=DimensionFaults, protocol=DIMENSION_PROTOCOL,
       full={"widths": (0.125, 0.25, 0.5, 1.0, 2.0), "seeds": 8, "directions": 64},
       full_cost="measured 2026-12-08 (commit 610c810, clean): 14 min 39 s wall, 324 CPU-s (201 user + 123 system), "
                 "peak 1.6 GB (one thread, on 2 cores shared with other jobs)")
def check_dimension(p: DimensionParams, ctx: Context) -> Record:
    if len(p.widths) < 4 or len(set(p.widths)) != len(p.widths) or p.seeds < 2 or p.directions < 2:
        raise ValueError("basin.dimension needs at least 4 distinct widths, 2 seeds and 2 directions")
    try:
        splits = load_dataset(p.dataset, seed=p.split_seed)
    except MissingDataset as exc:
        return Record("inconclusive", f"data set missing: {exc}")
    train_set = splits.train.to(ctx.device)
    seeds = [ctx.seed + i for i in range(p.seeds)]
    rows: list[list[dict]] = []  # [width][seed]
    for width in p.widths:
        arch = build_architecture("lenet", splits.image_shape, splits.num_classes, width)
        init = init_weights(arch, [generator(stream(s, f"dimension-init-{width}"), ctx.device) for s in seeds],
                            ctx.device)
        fitted = train_to_loss(arch, init, train_set, [generator(stream(s, f"dimension-order-{width}"), ctx.device)
                                                       for s in seeds],
                               target=p.target_loss, max_iterations=p.max_iterations, lr=p.lr,
                               check_every=p.check_every)
        width_rows = []
        for s, m, it, fit in zip(seeds, fitted.minima, fitted.iterations, fitted.losses):
            log_r, level = typical_log_radius(m, train_set, p.tau, p.directions, p.rtol,
                                              generator(stream(s, f"dimension-directions-{width}"), ctx.device))
            n = m.center.numel()
            width_rows.append({"width": width, "seed": s, "n": n, "iterations": it, "train_loss": level,
                               "matched": fit <= p.target_loss, "log_radius_mean": float(log_r.mean()),
                               "log_radius_sd": float(log_r.std()),
                               "relative_log_radius": float(log_r.mean()) - 0.5 * math.log(n),
                               "log_radii": log_r.tolist()})
        rows.append(width_rows)
    labels = tuple(reversed(p.widths)) if ctx.faults.reverse_widths else p.widths
    slopes = [log_width_slope(labels, [rows[w][i]["log_radius_mean"] for w in range(len(p.widths))])
              for i in range(p.seeds)]
    relative = [log_width_slope(labels, [rows[w][i]["relative_log_radius"] for w in range(len(p.widths))])
                for i in range(p.seeds)]
    slope = t_interval(slopes, p.confidence)
    rel = t_interval(relative, p.confidence)
    unmatched = [r for width_rows in rows for r in width_rows if not r["matched"]]
    if unmatched:
        verdict, why = "inconclusive", (f"training loss not matched: {len(unmatched)} minima stayed above "
                                        f"{p.target_loss:g} nats after {p.max_iterations} iterations")
    else:
        verdict, why = judge_above(slope[1], slope[2], 0.0, "slope of E[log r] per doubling of the width")
    per_width = [{"width": w, "n": width_rows[0]["n"],
                  "log_radius_mean": describe([r["log_radius_mean"] for r in width_rows], p.confidence),
                  "relative_log_radius": describe([r["relative_log_radius"] for r in width_rows], p.confidence),
                  "train_loss": describe([r["train_loss"] for r in width_rows], p.confidence),
                  "iterations": [r["iterations"] for r in width_rows]}
                 for w, width_rows in zip(p.widths, rows)]
    typical = ", ".join(f"×{row['width']:g} (n = {row['n']:,}): {row['log_radius_mean']['mean']:.2f}"
                        for row in per_width)
    losses = [r["train_loss"] for width_rows in rows for r in width_rows]
    return Record(
        verdict, f"{why} ({p.seeds} seeds; E[log r] {typical}; training losses {min(losses):.4f}-{max(losses):.4f} "
        f"nats); reported, not judged: slope of E[log r] − ½ log n (relative perturbation per filter) "
        f"{rel[0]:+.3g} [{rel[1]:+.3g}, {rel[2]:+.3g}]",
        bound=Quantity(0.0, "slope of E[log r] on log2(width) must exceed this"),
        empirical=Quantity(slope[1], f"lower {p.confidence:.0%} t-bound of the slope of E[log r] per doubling "
                           "(sampled seeds and directions)"),
        details={"per_width": per_width, "minima": rows, "slope": interval_dict(slope),
                 "relative_slope": interval_dict(rel), "slopes": slopes, "relative_slopes": relative,
                 "threshold": {"tau": p.tau, "target_loss": p.target_loss, "images": len(train_set)}},
    )
